"""Fixtures of the engine's tests: a loaded plugin manager, a clean environment."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_support import install_demo_plugin

from harness.plugin.manager import DISABLE_ENV, PluginManager, get_plugin_manager


@pytest.fixture(autouse=True)
def _no_disabled_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's ``HARNESS_DISABLE_PLUGINS`` must not change what these tests see."""
    monkeypatch.delenv(DISABLE_ENV, raising=False)


@pytest.fixture(scope="session")
def pm() -> PluginManager:
    """The built-in plugins, loaded once (tests that register more build their own manager)."""
    return get_plugin_manager()


@pytest.fixture
def demo_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The tiny third-party plugin of ``engine_support.DEMO_PLUGIN``, "installed" the public way:
    a dist-info with a ``harness`` entry point, on ``sys.path``. Yields the directory."""
    site = install_demo_plugin(tmp_path)
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("harness_demo_plugin", None)
