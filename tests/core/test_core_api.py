"""The public surface of harness.core is pinned (in ``core_api.txt`` beside this file), and the
core imports nothing it must not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def test_core_imports_no_harness_engine_pytest_locust_or_toxiproxy() -> None:
    code = (
        "import sys, harness.core\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('pytest', 'locust', 'gevent', 'toxiproxy', 'respx', 'pluggy', 'harness_respx', "
        "'harness_fake_vendor', 'harness_toxiproxy', 'harness_reporters')"
        " or (m.startswith('harness.') and not m.startswith('harness.core'))]\n"
        "print(','.join(sorted(bad)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_errors_form_the_documented_hierarchy() -> None:
    from harness.core import (
        AllProvidersFailed,
        AuthError,
        BadRequest,
        CircuitOpen,
        ConnectError,
        ContextWindowExceeded,
        DeadlineExceeded,
        Locked,
        NotFound,
        Overloaded,
        PermanentError,
        PoolTimeout,
        QuotaExhausted,
        RateLimited,
        ResilienceError,
        RetryBudgetExhausted,
        ServerError,
        StreamInterrupted,
        Timeout,
        TransientError,
        UpstreamError,
    )

    for cls in (RateLimited, Overloaded, ServerError, Timeout, ConnectError, Locked):
        assert issubclass(cls, TransientError) and cls("x").retryable
    assert issubclass(PoolTimeout, Timeout) and not PoolTimeout.counts_for_breaker
    for cls in (QuotaExhausted, BadRequest, AuthError, NotFound, ContextWindowExceeded):
        assert issubclass(cls, PermanentError) and not cls("x").retryable
    for cls in (TransientError, PermanentError, StreamInterrupted):
        assert issubclass(cls, UpstreamError)
    for cls in (
        UpstreamError,
        CircuitOpen,
        RetryBudgetExhausted,
        DeadlineExceeded,
        AllProvidersFailed,
    ):
        assert issubclass(cls, ResilienceError)
    assert BadRequest.fallback is False and ContextWindowExceeded.fallback is True
