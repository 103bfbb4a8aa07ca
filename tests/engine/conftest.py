"""Fixtures of the engine's tests: a loaded plugin manager, a clean environment."""

from __future__ import annotations

import pytest

from harness._plugins import DISABLE_ENV, PluginManager, get_plugin_manager


@pytest.fixture(autouse=True)
def _no_disabled_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's ``HARNESS_DISABLE_PLUGINS`` must not change what these tests see."""
    monkeypatch.delenv(DISABLE_ENV, raising=False)


@pytest.fixture(scope="session")
def pm() -> PluginManager:
    """The built-in plugins, loaded once (tests that register more build their own manager)."""
    return get_plugin_manager()
