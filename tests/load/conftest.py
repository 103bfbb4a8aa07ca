"""Fixtures for the Locust driver's tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from load_support import SCENARIO


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "outage.yaml"
    path.write_text(SCENARIO.format(name="load outage", users=8))
    return path
