"""The public surface of harness.core is pinned (in ``core_api.txt`` beside this file), and the
core imports nothing it must not."""

from __future__ import annotations

from pathlib import Path

from import_support import modules_after

import harness.core

PINNED = Path(__file__).parent / "core_api.txt"


def test_exported_names_are_pinned() -> None:
    names = PINNED.read_text("utf-8").split()
    assert names == sorted(set(names)), "keep core_api.txt sorted, each name once"
    assert set(harness.core.__all__) == set(names)
    for name in harness.core.__all__:
        assert (
            getattr(harness.core, name).__module__.startswith(("harness.core", "builtins"))
            or name == "GLOBAL_EVENTS"
        )


# what the core must not load (nor the engine, see below): test and load tools, the plugins
TOOLS = "pytest locust gevent toxiproxy respx pluggy"
PLUGINS = "harness_respx harness_fake_vendor harness_toxiproxy harness_reporters"


def test_core_imports_no_harness_engine_pytest_locust_or_toxiproxy() -> None:
    loaded = modules_after("import harness.core")
    bad = [m for m in loaded if m.split(".")[0] in f"{TOOLS} {PLUGINS}".split()]
    bad += [m for m in loaded if m.startswith("harness.") and not m.startswith("harness.core")]
    assert sorted(bad) == []


def test_errors_form_the_documented_hierarchy() -> None:
    core = harness.core
    for cls in (
        core.RateLimited,
        core.Overloaded,
        core.ServerError,
        core.Timeout,
        core.ConnectError,
        core.Locked,
    ):
        assert issubclass(cls, core.TransientError) and cls("x").retryable
    assert issubclass(core.PoolTimeout, core.Timeout) and not core.PoolTimeout.counts_for_breaker
    for cls in (
        core.QuotaExhausted,
        core.BadRequest,
        core.AuthError,
        core.NotFound,
        core.ContextWindowExceeded,
    ):
        assert issubclass(cls, core.PermanentError) and not cls("x").retryable
    for cls in (core.TransientError, core.PermanentError, core.StreamInterrupted):
        assert issubclass(cls, core.UpstreamError)
    for cls in (
        core.UpstreamError,
        core.CircuitOpen,
        core.RetryBudgetExhausted,
        core.DeadlineExceeded,
        core.AllProvidersFailed,
    ):
        assert issubclass(cls, core.ResilienceError)
    assert core.BadRequest.fallback is False and core.ContextWindowExceeded.fallback is True
