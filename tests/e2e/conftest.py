"""Fixtures of the end-to-end tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

BURNERS = 2
"""CPU-burning processes beside a noise test: as many as the CI machine has cores."""


@pytest.fixture
def cpu_noise() -> Iterator[list[int]]:
    """Two processes that burn a core each for the test's duration (the shared, busy CI
    machine a verdict must survive), killed by their pids afterwards, whatever happened."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(BURNERS)]
    try:
        yield [b.pid for b in burners]
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
