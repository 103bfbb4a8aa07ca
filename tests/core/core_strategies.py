"""Hypothesis strategies shared by the core's property tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from harness.core import RetryPolicy


def retry_policies(
    attempts: int, delay: float, multiplier: float, max_delay: float, **more: st.SearchStrategy[Any]
) -> st.SearchStrategy[RetryPolicy]:
    """Retry policies of up to ``attempts`` attempts, an initial delay up to ``delay``, a
    multiplier from 1 up to ``multiplier``, a cap up to ``max_delay``, any jitter; ``more`` draws
    further fields, in the order given."""
    return st.builds(
        RetryPolicy,
        max_attempts=st.integers(1, attempts),
        initial_delay=st.floats(0.0, delay),
        multiplier=st.floats(1.0, multiplier),
        max_delay=st.floats(0.0, max_delay),
        jitter=st.sampled_from(["full", "equal", "decorrelated", "none"]),
        **more,
    )
