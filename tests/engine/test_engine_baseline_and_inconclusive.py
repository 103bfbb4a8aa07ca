"""Verdicts that move only when resilience moves: baseline-relative limits, the sample floor of
percentiles, and a saturated load generator that can only make the service look worse."""

from __future__ import annotations

import math

import pytest
from engine_support import FakeNow, threshold_error
from hypothesis import given
from hypothesis import strategies as st

from harness.measure.recorder import Recorder
from harness.measure.sla import parse_threshold
from harness.measure.verdicts import PhaseWindow, evaluate, judge, min_samples

PHASES = [
    PhaseWindow("warmup", 0.0, 2.0, faulty=False),
    PhaseWindow("storm", 2.0, 4.0, faulty=True),
    PhaseWindow("after", 4.0, 6.0, faulty=False),
]


@pytest.fixture
def recorder() -> Recorder:
    """warmup: 100 ok at 100 ms; storm: 100 ok at 300 ms; after: 100 ok at 120 ms."""
    now = FakeNow()
    rec = Recorder(now=now)
    for phase, start, latency in (("warmup", 0, 0.1), ("storm", 2, 0.3), ("after", 4, 0.12)):
        now.t = float(start)
        rec.set_phase(phase)
        for i in range(100):
            rec.record_request("chat", latency, ok=True, at=start + i * 0.02)
    now.t = 6.0
    rec.finish()
    return rec


@pytest.mark.parametrize(
    ("text", "relative", "value"),
    [
        ("p95 < baseline + 300ms", "+", 0.3),
        ("p95 < baseline+300ms", "+", 0.3),
        ("p95 < baseline - 10ms", "-", 0.01),
        ("p99 < 3x baseline phase=after", "x", 3.0),
        ("p99 < 3 x baseline", "x", 3.0),
        ("rps >= 0.8x baseline", "x", 0.8),
        ("rps >= baseline*0.8", "x", 0.8),
        ("error_rate <= baseline + 1%", "+", 0.01),
        ("avg < baseline", "x", 1.0),
        ("p95 < baseline + 200ms baseline=warmup", "+", 0.2),
    ],
)
def test_baseline_forms_parse(text: str, relative: str, value: float) -> None:
    threshold = parse_threshold(text)
    assert (threshold.relative, threshold.value) == (relative, pytest.approx(value))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("recovery_time < baseline + 1s", "recovery_time cannot be relative to the baseline"),
        ("p95 < baseline + 300", "p95 needs a unit"),
        ("p95 < 0x baseline", "expected a positive number"),
        ("p95 < baseline ^ 2", "cannot read the limit 'baseline ^ 2'"),
        ("p95 < 300ms baseline=warmup", "names the phase a relative limit is measured against"),
    ],
)
def test_bad_baseline_forms_say_what_was_expected(text: str, message: str) -> None:
    assert message in threshold_error(text)


def test_the_baseline_is_the_first_fault_free_phase_or_the_named_one(recorder: Recorder) -> None:
    (verdict,) = evaluate([parse_threshold("p95 < baseline + 100ms phase=after")], recorder, PHASES)
    assert verdict.baseline == pytest.approx(0.1, rel=2e-3)
    assert verdict.limit == pytest.approx(0.2, rel=2e-3)
    assert verdict.held
    assert "(baseline 100ms + 100ms)" in verdict.detail
    (storm,) = evaluate([parse_threshold("p95 < 2x baseline phase=storm")], recorder, PHASES)
    assert not storm.held and storm.limit == pytest.approx(0.2, rel=2e-3)
    (named,) = evaluate(
        [parse_threshold("p95 < 1.1x baseline phase=after baseline=after")], recorder, PHASES
    )
    assert named.held and named.baseline == pytest.approx(0.12, rel=2e-3)


def test_a_baseline_without_data_is_a_breach(recorder: Recorder) -> None:
    (verdict,) = evaluate(
        [parse_threshold("p95 < baseline + 1s baseline=nowhere")], recorder, PHASES
    )
    assert verdict.status == "breached"
    assert "no baseline: no requests were recorded in phase 'nowhere'" in verdict.detail


def test_a_percentile_on_too_few_samples_is_inconclusive() -> None:
    now = FakeNow()
    rec = Recorder(now=now)
    for _ in range(99):
        rec.record_request("chat", 0.1, ok=True)
    rec.finish()
    (verdict,) = evaluate([parse_threshold("p99 < 1s")], rec)
    assert verdict.status == "inconclusive"
    assert verdict.detail.endswith("p99 needs 100 samples to be stated, got 99")
    rec.record_request("chat", 0.1, ok=True)
    (verdict,) = evaluate([parse_threshold("p99 < 1s")], rec)
    assert verdict.status == "held"


@pytest.mark.parametrize(
    ("percentile", "needed"), [(50, 2), (90, 10), (95, 20), (99, 100), (99.9, 1000)]
)
def test_min_samples(percentile: float, needed: int) -> None:
    assert min_samples(percentile) == needed


SATURATED = "event-loop lag p99 250ms > 100ms"


@pytest.mark.parametrize(
    ("metric", "op", "observed", "limit", "worst", "status"),
    [
        # a latency limit that held despite a generator that only adds latency: sound
        ("p95", "<", 0.2, 1.0, None, "held"),
        # ... unless the missed starts, had they been slow, would break it
        ("p95", "<", 0.2, 1.0, math.inf, "inconclusive"),
        ("p95", "<", 0.2, 1.0, 0.5, "held"),
        # a latency limit that broke may be the generator's doing
        ("p95", "<", 2.0, 1.0, None, "inconclusive"),
        # a lower latency limit that held may be the generator's doing; one that broke is sound
        ("min", ">", 0.5, 0.1, None, "inconclusive"),
        ("min", ">", 0.05, 0.1, None, "inconclusive"),
        # throughput: a floor that held is sound, one that broke may be the generator
        ("rps", ">=", 50.0, 40.0, None, "held"),
        ("rps", ">=", 30.0, 40.0, None, "inconclusive"),
        # ratios of answers do not depend on the generator's speed
        ("availability", ">=", 0.9, 0.99, None, "breached"),
        ("error_rate", "<", 0.0, 0.01, None, "held"),
    ],
)
def test_a_saturated_generator_only_makes_the_service_look_worse(
    metric: str, op: str, observed: float, limit: float, worst: float | None, status: str
) -> None:
    got, _ = judge(metric, op, observed, limit, samples=1000, worst=worst, saturation=SATURATED)
    assert got == status


@given(
    op=st.sampled_from(["<", "<=", ">", ">=", "=="]),
    metric=st.sampled_from(["p95", "p99", "avg", "max", "min", "rps", "availability"]),
    observed=st.floats(0, 1e4, allow_nan=False),
    limit=st.floats(0, 1e4, allow_nan=False),
    samples=st.integers(1000, 10**6),
)
def test_without_saturation_the_verdict_is_the_numbers(
    op: str, metric: str, observed: float, limit: float, samples: int
) -> None:
    status, doubt = judge(metric, op, observed, limit, samples=samples, worst=None, saturation="")
    held = {"<": observed < limit, "<=": observed <= limit, ">": observed > limit}.get(
        op, observed >= limit if op == ">=" else observed == limit
    )
    assert (status, doubt) == ("held" if held else "breached", "")


@given(
    metric=st.sampled_from(["p95", "p99", "avg", "max", "rps", "recovery_time"]),
    op=st.sampled_from(["<", "<=", ">", ">=", "=="]),
    observed=st.floats(0, 1e4, allow_nan=False),
    limit=st.floats(0, 1e4, allow_nan=False),
)
def test_saturation_never_turns_a_verdict_into_its_opposite(
    metric: str, op: str, observed: float, limit: float
) -> None:
    """Saturation can only withhold a verdict (inconclusive), never flip held and breached."""
    calm, _ = judge(metric, op, observed, limit, samples=10**6, worst=None, saturation="")
    busy, _ = judge(metric, op, observed, limit, samples=10**6, worst=None, saturation=SATURATED)
    assert busy in (calm, "inconclusive")
