"""Hypothesis strategies for property-based chaos tests (importing this imports Hypothesis).

The pattern: generate a sequence of faults, install them so they fire once each, in order, on
consecutive requests, run the code under test, and state what must hold for *every* sequence::

    from hypothesis import given, note
    from harness import strategies
    from harness_respx import mock_vendor

    @given(strategies.fault_sequences(kinds=strategies.TRANSIENT, max_size=4))
    def test_short_storms_are_absorbed(faults):
        note(strategies.scenario_snippet(faults))      # printed for the failing example
        with use_clock(VirtualClock()), mock_vendor(URL) as vendor:
            for fault in strategies.in_order(faults):
                vendor.inject(fault)
            answer = llm.complete_sync("hi")
        assert answer.attempts == len(faults) + 1

When a property fails, Hypothesis shrinks the sequence to the smallest one that still fails and
``scenario_snippet`` prints it as phases you can paste into ``scenarios/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml
from hypothesis import strategies as st

from harness.scenario.faults import (
    ConnectionResetFault,
    EmptyResponseFault,
    FaultSpec,
    HttpFault,
    HttpStatusFault,
    LatencyFault,
)

TRANSIENT_STATUSES = (429, 500, 502, 503, 504, 529)
PERMANENT_STATUSES = (400, 401, 403, 404)
TRANSIENT = ("http_status", "connection_reset", "empty_response", "latency")
PERMANENT = ("permanent_status", "insufficient_quota")


def retry_afters(max_seconds: float = 5.0) -> st.SearchStrategy[tuple[float | None, str]]:
    """A ``Retry-After`` (seconds, or None) and the form a vendor sends it in."""
    return st.tuples(
        st.one_of(
            st.none(),
            st.floats(0.0, max_seconds, allow_nan=False).map(lambda s: round(s, 3)),
        ),
        st.sampled_from(["seconds", "ms", "http-date"]),
    )


@st.composite
def http_status_faults(
    draw: st.DrawFn,
    statuses: Sequence[int] = TRANSIENT_STATUSES,
    max_retry_after: float = 5.0,
) -> HttpStatusFault:
    """An ``http_status`` fault with one of ``statuses`` and maybe a ``Retry-After``."""
    status = draw(st.sampled_from(list(statuses)))
    retry_after, form = (
        draw(retry_afters(max_retry_after)) if status in (429, 503, 529) else (None, "seconds")
    )
    if form == "http-date" and retry_after is not None:
        retry_after = float(max(1, round(retry_after)))  # an HTTP-date has whole seconds
    return HttpStatusFault(
        status=status,
        retry_after=retry_after,
        retry_after_format=form,  # type: ignore[arg-type]
    )


def _kind(name: str, max_retry_after: float) -> st.SearchStrategy[HttpFault]:
    if name == "http_status":
        return http_status_faults(TRANSIENT_STATUSES, max_retry_after)
    if name == "permanent_status":
        return http_status_faults(PERMANENT_STATUSES, max_retry_after)
    if name == "insufficient_quota":
        return st.just(HttpStatusFault(status=429, error_code="insufficient_quota"))
    if name == "connection_reset":
        return st.just(ConnectionResetFault())
    if name == "empty_response":
        return st.just(EmptyResponseFault())
    if name == "latency":
        return st.floats(0.01, 2.0).map(lambda s: LatencyFault(latency=round(s, 3)))
    raise ValueError(
        f"unknown fault kind for strategies: {name!r}; expected one of "
        f"{', '.join(TRANSIENT + PERMANENT)}"
    )


def http_faults(
    kinds: Sequence[str] = TRANSIENT, *, max_retry_after: float = 5.0
) -> st.SearchStrategy[HttpFault]:
    """One HTTP fault of one of ``kinds`` (``TRANSIENT``, ``PERMANENT`` or your own mix)."""
    return st.one_of(*(_kind(k, max_retry_after) for k in kinds))


def fault_sequences(
    kinds: Sequence[str] = TRANSIENT,
    *,
    min_size: int = 0,
    max_size: int = 4,
    max_retry_after: float = 5.0,
) -> st.SearchStrategy[list[HttpFault]]:
    """Sequences of faults played out on consecutive requests (see :func:`in_order`). Shrinks
    towards fewer, simpler faults."""
    return st.lists(
        http_faults(kinds, max_retry_after=max_retry_after), min_size=min_size, max_size=max_size
    )


def in_order(faults: Sequence[HttpFault]) -> list[HttpFault]:
    """The faults scheduled so that the sequence plays out on consecutive requests.

    Each terminal fault (status, reset, empty body) answers one request, in order: it fires once
    (``first: 1``) and only sees requests no earlier terminal fault answered. A latency slows down
    the request of the next terminal fault in the sequence (or the final, successful request), so
    ``k`` terminal faults always take ``k + 1`` requests.
    """
    scheduled: list[HttpFault] = []
    terminals_before = 0
    for index, fault in enumerate(faults):
        name = f"step{index}"
        if isinstance(fault, LatencyFault):
            update = {"after": terminals_before, "first": 1, "name": name}
        else:
            update = {"after": 0, "first": 1, "name": name}
            terminals_before += 1
        scheduled.append(fault.model_copy(update=update))
    return scheduled


def scenario_snippet(faults: Sequence[FaultSpec], *, target: str = "primary") -> str:
    """The sequence as scenario phases, ready to paste into a file under ``scenarios/``."""
    phases: list[dict[str, Any]] = []
    for fault in in_order([f for f in faults if isinstance(f, HttpFault)]):
        spec = fault.model_dump(mode="json", exclude_defaults=True, exclude={"name"})
        phases.append({"kind": fault.kind, "target": target, **spec})
    body = {"phases": [{"name": "replay", "duration": "10s", "faults": phases}]}
    return (
        "# paste into a scenario under scenarios/ (the minimal failing sequence)\n"
        + yaml.safe_dump(body, sort_keys=False)
    )


def scenarios(
    *, kinds: Sequence[str] = TRANSIENT, max_phases: int = 3, max_faults: int = 2
) -> st.SearchStrategy[dict[str, Any]]:
    """Whole scenario documents (as mappings, for ``harness.parse_scenario`` after a YAML dump):
    a core target over a respx primary and backup, phases with HTTP faults, a fixed SLA."""

    def phase(index: int) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries(
            {
                "name": st.just(f"phase{index}"),
                "duration": st.sampled_from(["200ms", "500ms", "1s"]),
                "faults": st.lists(http_faults(kinds), max_size=max_faults).map(
                    lambda fs: [
                        {
                            **f.model_dump(mode="json", exclude_defaults=True),
                            "kind": f.kind,
                            "target": "primary",
                            "optional": True,
                        }
                        for f in fs
                    ]
                ),
            }
        )

    return st.integers(1, max_phases).flatmap(
        lambda n: st.tuples(*(phase(i) for i in range(n))).map(
            lambda phases: {
                "name": "generated",
                "target": {"core": "llm"},
                "upstreams": [
                    {"name": "primary", "api": "openai", "backend": "respx"},
                    {"name": "backup", "api": "anthropic", "backend": "respx"},
                ],
                "load": {"users": 2},
                "phases": list(phases),
                "sla": ["availability >= 99%"],
            }
        )
    )


__all__ = [
    "PERMANENT",
    "PERMANENT_STATUSES",
    "TRANSIENT",
    "TRANSIENT_STATUSES",
    "fault_sequences",
    "http_faults",
    "http_status_faults",
    "in_order",
    "retry_afters",
    "scenario_snippet",
    "scenarios",
]
