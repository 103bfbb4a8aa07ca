"""The threshold grammar's vendor-side additions: the six vendor metrics, the ``upstream=``
scope and ``==`` for counts, for all inputs (Hypothesis). The errors that name the fix stand in
the error table of ``test_engine_sla.py``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.measure.sla import SLAError, parse_threshold
from harness.measure.vendor import COUNT_METRICS, UPSTREAM_SCOPED, VENDOR_METRICS

WORDS = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
VALUES = {
    "upstream_calls_per_request": st.sampled_from(["0", "1", "3.5", "10"]),
    "retry_after_violations": st.sampled_from(["0", "1", "25"]),
    "backup_share": st.sampled_from(["0%", "50%", "99.5%", "0.9"]),
    "served_share": st.sampled_from(["0%", "50%", "100%"]),
    "failover_time": st.sampled_from(["500ms", "2s", "1.5s"]),
    "back_to_primary_time": st.sampled_from(["100ms", "3s"]),
}


@st.composite
def vendor_thresholds(draw: st.DrawFn) -> tuple[str, dict[str, str | None]]:
    metric = draw(st.sampled_from(sorted(VENDOR_METRICS)))
    ops = ["<", "<=", ">", ">="]
    if metric in COUNT_METRICS:
        ops.append("==")
    op = draw(st.sampled_from(ops))
    value = draw(VALUES[metric])
    phase = draw(st.none() | WORDS)
    upstream = draw(WORDS) if metric == "served_share" else None
    if metric in UPSTREAM_SCOPED and metric != "served_share":
        upstream = draw(st.none() | WORDS)
    scopes = [f"phase={phase}" if phase else "", f"upstream={upstream}" if upstream else ""]
    scopes = draw(st.permutations([s for s in scopes if s]))
    separator = draw(st.sampled_from([" ", ", ", "  "]))  # between scopes
    text = f"{metric} {op} {value}" + (" " + separator.join(scopes) if scopes else "")
    return text, {"metric": metric, "op": op, "phase": phase, "upstream": upstream}


@given(vendor_thresholds())
def test_every_vendor_threshold_parses_with_its_scope(
    case: tuple[str, dict[str, str | None]],
) -> None:
    text, want = case
    threshold = parse_threshold(text)
    assert threshold.metric == want["metric"]
    assert threshold.op == want["op"]
    assert threshold.phase == want["phase"]
    assert threshold.upstream == want["upstream"]
    assert threshold.name is None
    if want["upstream"]:
        assert f"upstream={want['upstream']}" in threshold.scope
    assert parse_threshold(threshold.text) == threshold  # what the report shows parses back


@given(
    metric=st.sampled_from(
        ["p95", "availability", "rps", "retries_per_call", "upstream_calls_per_request"]
    ),
    value=st.sampled_from(["1s", "50%", "2"]),
)
def test_equality_is_for_counts_only(metric: str, value: str) -> None:
    with pytest.raises(SLAError, match=r"unsupported operator '==' .*; use <, <=, > or >=$"):
        parse_threshold(f"{metric} == {value}")
    with pytest.raises(SLAError, match=r"use <, <=, >, >= or ==$"):
        parse_threshold("retry_after_violations = 0")


@given(
    metric=st.sampled_from(
        [*sorted(VENDOR_METRICS - UPSTREAM_SCOPED), "p95", "availability", "fallback_rate"]
    ),
    upstream=WORDS,
)
def test_upstream_scopes_only_the_metrics_that_take_it(metric: str, upstream: str) -> None:
    value = {"p95": "1s", "failover_time": "1s", "back_to_primary_time": "1s"}.get(metric, "50%")
    with pytest.raises(SLAError, match="takes no upstream= scope"):
        parse_threshold(f"{metric} < {value} upstream={upstream}")


@given(op=st.sampled_from(["<", "<=", ">", ">=", "=="]), count=st.integers(0, 10**6))
def test_a_count_compares_with_every_operator(op: str, count: int) -> None:
    threshold = parse_threshold(f"retry_after_violations {op} {count}")
    assert threshold.value == count
    assert threshold.holds(float(count)) is (op in ("<=", ">=", "=="))
