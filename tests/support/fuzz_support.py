"""What the fuzzers of the fake vendor and the embedded Toxiproxy share: their Hypothesis
settings, any JSON value (with numbers too large for the server's types), and JSON nested past
a parser's limit."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def any_json(huge_integers: st.SearchStrategy[int]) -> st.SearchStrategy[Any]:
    """Any JSON value, its integers sometimes drawn from ``huge_integers``."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | huge_integers
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=20)
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=16,
    )


def nested(depth: int, kind: str, prefix: bytes = b"") -> bytes:
    """An ``array`` or ``object`` nested ``depth`` deep, as the value of the field ``prefix``
    opens (``b'{"name":'``), or alone."""
    inner = (
        b"[" * depth + b"]" * depth if kind == "array" else b'{"a":' * depth + b"1" + b"}" * depth
    )
    return prefix + inner + (b"}" if prefix else b"")
