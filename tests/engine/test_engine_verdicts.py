"""Evaluating thresholds against a recorder (``harness.measure.verdicts``): held and breached verdicts
with their observed values and margins, no data is a breach, recovery time."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from engine_support import FakeNow

from harness.core import AttemptStarted, CallFinished, FallbackUsed, RetryScheduled
from harness.measure.recorder import Recorder
from harness.measure.sla import parse_threshold
from harness.measure.verdicts import RECOVERY_WINDOW, PhaseWindow, Verdict, evaluate, recovery_time


def _one(text: str, recorder: Recorder, phases: list[PhaseWindow] | None = None) -> Verdict:
    (verdict,) = evaluate([parse_threshold(text)], recorder, phases or [])
    return verdict


@pytest.fixture
def now() -> FakeNow:
    return FakeNow()


@pytest.fixture
def recorder(now: FakeNow) -> Recorder:
    """10 s run: phase ``calm`` 0-5 s (100 ok at 100 ms), ``storm`` 5-10 s (80 ok at 400 ms,
    20 failed at 1 s, which latency thresholds ignore), request names ``chat`` and ``search``."""
    rec = Recorder(now=now)
    rec.set_phase("calm")
    for i in range(100):
        rec.record_request("chat" if i % 2 else "search", 0.1, ok=True, status=200, at=i * 0.05)
    now.t = 5.0
    rec.set_phase("storm")
    for i in range(100):
        ok = i >= 20
        rec.record_request(
            "chat",
            0.4 if ok else 1.0,
            ok=ok,
            error=None if ok else "RateLimited",
            status=200 if ok else 429,
            at=5.0 + i * 0.05,
        )
    now.t = 10.0
    rec.finish()
    return rec


@pytest.mark.parametrize(
    ("text", "observed", "held", "margin", "detail"),
    [
        ("p95 < 1500ms", 0.4, True, -1.1, "held: 400.1ms < 1.5s"),
        ("p50 < 200ms", 0.1, True, -0.1, "held: 100ms < 200ms"),
        ("p95 < 300ms", 0.4, False, 0.1, "breached: 400.1ms is not < 300ms (off by 100.1ms)"),
        ("max <= 450ms", 0.4, True, -0.05, "held: 400.1ms <= 450ms"),
        # min reads at the bottom of its bucket: conservative for "min >" limits
        ("min > 50ms", 0.1, True, -0.05, "held: 99.97ms > 50ms"),
        ("min > 200ms", 0.1, False, 0.1, "breached: 99.97ms is not > 200ms (off by 100ms)"),
        ("p95 < 500ms phase=calm", 0.1, True, -0.4, "held: 100ms < 500ms"),
        ("avg < 1s phase=storm", 0.4, True, -0.6, "held: 400ms < 1s"),
        ("error_rate < 5%", 0.1, False, 0.05, "breached: 10% is not < 5% (off by 5%)"),
        ("error_rate < 25% phase=storm", 0.2, True, -0.05, "held: 20% < 25%"),
        ("error_rate < 0.1% phase=calm", 0.0, True, -0.001, "held: 0% < 0.1%"),
        (
            "availability >= 99.5%",
            0.9,
            False,
            0.095,
            "breached: 90% is not >= 99.5% (off by 9.5%)",
        ),
        ("availability >= 80% phase=storm", 0.8, True, 0.0, "held: 80% >= 80%"),
        ("rps >= 20", 20.0, True, 0.0, "held: 20 >= 20"),
        ("rps >= 25 phase=storm", 20.0, False, 5.0, "breached: 20 is not >= 25 (off by 5)"),
        ("p95 < 500ms name=search", 0.1, True, -0.4, "held: 100ms < 500ms"),
        ("error_rate < 1% name=search", 0.0, True, -0.01, "held: 0% < 1%"),
        ("availability >= 75% name=chat phase=storm", 0.8, True, -0.05, "held: 80% >= 75%"),
    ],
)
def test_held_and_breached_with_observed_value_and_margin(
    recorder: Recorder, text: str, observed: float, held: bool, margin: float, detail: str
) -> None:
    verdict = _one(text, recorder)
    assert verdict.held is held
    assert verdict.observed == pytest.approx(observed, rel=2e-3)
    # the margin is how far beyond the limit, whichever way the operator points
    assert verdict.margin is not None and verdict.observed is not None
    assert verdict.margin == pytest.approx(margin, abs=1e-3)
    assert (verdict.margin > 0) == (not held) or verdict.margin == pytest.approx(0, abs=1e-9)
    assert verdict.detail == detail
    assert verdict.observed_text == parse_threshold(text).format_value(verdict.observed)


def test_latencies_read_at_the_top_of_their_hdr_bucket(now: FakeNow) -> None:
    """HDR keeps 3 significant digits; a latency reads at its bucket's upper bound, so an
    observation is never below the truth and a limit cannot pass by rounding."""
    rec = Recorder(now=now)
    rec.record_request("x", 1.0, ok=True)
    verdict = _one("max <= 1s", rec)
    assert 1.0 < verdict.observed <= 1.0 * 1.001  # type: ignore[operator]
    assert not verdict.held


def test_percentiles_come_from_the_hdr_histogram(recorder: Recorder) -> None:
    # 180 successful samples: 100 at 100 ms, 80 at 400 ms (the 20 failures do not count)
    assert _one("p50 < 1s", recorder).observed == pytest.approx(0.1, rel=1e-3)
    assert _one("p55 < 1s", recorder).observed == pytest.approx(0.1, rel=1e-3)
    assert _one("p56 < 1s", recorder).observed == pytest.approx(0.4, rel=1e-3)
    assert _one("max < 1s", recorder).observed == pytest.approx(0.4, rel=1e-3)


def test_latency_is_judged_over_successful_responses_only(now: FakeNow) -> None:
    """A dead target answers every request in a millisecond with a refused connection: its
    latency thresholds are no data (a breach), never held."""
    rec = Recorder(now=now)
    rec.set_phase("dead")
    for i in range(200):
        rec.record_request("chat", 0.001, ok=False, error="ConnectError", at=i * 0.01)
    now.t = 2.0
    rec.finish()
    verdict = _one("p95 < 2s", rec)
    assert verdict.status == "breached" and verdict.observed is None
    assert verdict.detail == ("breached: no successful response (200 failed) (no data is a breach)")
    assert _one("availability >= 99%", rec).observed == 0.0


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("p95 < 1s phase=nothing", "no requests were recorded in phase 'nothing'"),
        ("error_rate < 1% name=ghost", "no requests were recorded for 'ghost'"),
        (
            "availability >= 99% phase=calm name=ghost",
            "no requests were recorded in phase 'calm' for 'ghost'",
        ),
        ("rps >= 1 phase=nothing", "no requests were recorded in phase 'nothing'"),
        ("retries_per_call <= 1", "no calls of the resilient core were observed"),
        ("fallback_rate < 10%", "no calls of the resilient core were observed"),
        (
            "retries_per_call <= 1 phase=storm name=llm.complete",
            "no calls of the resilient core were observed in phase 'storm' from source "
            "'llm.complete'",
        ),
        ("recovery_time < 1s", "no fault-free phase before the faults to take as the baseline"),
    ],
)
def test_no_data_is_a_breach(recorder: Recorder, text: str, why: str) -> None:
    verdict = _one(text, recorder)
    assert (verdict.held, verdict.observed, verdict.margin) == (False, None, None)
    assert verdict.detail == f"breached: {why} (no data is a breach)"
    assert verdict.observed_text == "no data"


def test_an_empty_recorder_breaches_everything(now: FakeNow) -> None:
    empty = Recorder(now=now)
    texts = ["p95 < 1h", "error_rate <= 100%", "availability >= 0%", "rps >= 0", "max < 1h"]
    verdicts = evaluate([parse_threshold(t) for t in texts], empty)
    assert [v.held for v in verdicts] == [False] * len(texts)
    assert {v.detail for v in verdicts} == {
        "breached: no requests were recorded (no data is a breach)"
    }


def test_rps_over_a_run_without_duration_is_no_data(now: FakeNow) -> None:
    rec = Recorder(now=now)
    rec.record_request("x", 0.1, ok=True)
    rec.finish()  # no time passed
    verdict = _one("rps >= 0", rec)
    assert verdict.detail == "breached: the run has no duration (no data is a breach)"


def test_a_nan_observation_is_no_data(now: FakeNow, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder(now=now)
    rec.record_request("x", 0.1, ok=True)
    monkeypatch.setattr(
        "harness.measure.verdicts.observe", lambda *a, **k: (float("nan"), "weird", 1)
    )
    assert _one("p95 < 1s", rec).detail == "breached: weird (no data is a breach)"


def _core_call(
    rec: Recorder, call_id: int, *, attempts: int, fallback: bool, ok: bool = True
) -> None:
    source = "llm"
    for attempt in range(1, attempts + 1):
        rec.on_event(
            AttemptStarted(source=source, call_id=call_id, at=0.0, provider="p", attempt=attempt)
        )
        if attempt < attempts:
            rec.on_event(
                RetryScheduled(
                    source=source,
                    call_id=call_id,
                    at=0.0,
                    provider="p",
                    attempt=attempt,
                    delay=1.0,
                    reason="backoff",
                )
            )
    if fallback:
        rec.on_event(
            FallbackUsed(
                source=source,
                call_id=call_id,
                at=0.0,
                from_provider="p",
                to_provider="b",
                reason="X",
            )
        )
    rec.on_event(
        CallFinished(
            source=source,
            call_id=call_id,
            at=0.0,
            outcome="ok" if ok else "error",
            provider="b" if fallback else "p",
            attempts=attempts,
            elapsed=0.1,
            error=None if ok else "X",
            fallback=fallback,
        )
    )


def test_retries_per_call_and_fallback_rate_from_core_events(now: FakeNow) -> None:
    rec = Recorder(now=now)
    rec.set_phase("calm")
    for i in range(4):
        _core_call(rec, i, attempts=1, fallback=False)
    rec.set_phase("storm")
    _core_call(rec, 10, attempts=3, fallback=False)  # 2 retries
    _core_call(rec, 11, attempts=2, fallback=True)  # 1 retry, served by the backup
    _core_call(rec, 12, attempts=1, fallback=True, ok=False)  # a failed fallback is not served
    _core_call(rec, 13, attempts=1, fallback=False)
    storm = _one("retries_per_call <= 0.5 phase=storm", rec)
    assert (storm.observed, storm.held) == (0.75, False)
    assert storm.detail == "breached: 0.75 is not <= 0.5 (off by 0.25)"
    assert _one("retries_per_call <= 0.5", rec).observed == pytest.approx(3 / 8)
    assert _one("retries_per_call <= 0 phase=calm", rec).held
    fallback = _one("fallback_rate < 10% phase=storm", rec)
    assert (fallback.observed, fallback.held) == (0.25, False)
    assert _one("fallback_rate < 20%", rec).observed == pytest.approx(1 / 8)
    # name= scopes the core metrics by event source
    assert _one("retries_per_call <= 1 name=llm", rec).observed == pytest.approx(3 / 8)
    assert _one("retries_per_call <= 1 name=tool:sql", rec).detail == (
        "breached: no calls of the resilient core were observed from source 'tool:sql' "
        "(no data is a breach)"
    )


# -- recovery time ------------------------------------------------------------------------------

BASELINE = PhaseWindow("baseline", 0.0, 3.0, faulty=False)
OUTAGE = PhaseWindow("outage", 3.0, 6.0, faulty=True)


def _after_baseline(**ends: float) -> list[PhaseWindow]:
    """BASELINE (0-3 s), then the phases named in order, each ending at its value, alternately
    faulty (the first) and fault-free."""
    phases = [BASELINE]
    for i, (name, end) in enumerate(ends.items()):
        phases.append(PhaseWindow(name, phases[-1].end, end, faulty=i % 2 == 0))
    return phases


def _series(
    healthy: dict[int, bool],
    *,
    end: int = 12,
    slow: set[int] = frozenset(),  # type: ignore[assignment]
    phases: list[PhaseWindow] | None = None,
) -> Recorder:
    """10 requests in each second ``t < end``: all ok at 10 ms when ``healthy[t]`` (default:
    healthy outside 3..5), all failed otherwise; seconds in ``slow`` answer ok but in 1 s. Each
    request is in the phase of ``phases`` (default: :func:`_phases`) it falls in."""
    windows = phases or _phases(end)
    now = FakeNow()
    rec = Recorder(now=now)
    for t in range(end):
        ok = healthy.get(t, not 3 <= t < 6)
        for k in range(10):
            latency = 1.0 if t in slow else 0.01
            at = t + k / 10
            phase = next((w.name for w in windows if w.start <= at < w.end), "after")
            rec.record_request("x", latency, ok=ok, phase=phase, at=at)
    now.t = end
    rec.finish()
    return rec


def _phases(end: float = 12.0) -> list[PhaseWindow]:
    return [BASELINE, OUTAGE, PhaseWindow("recovery", 6.0, end, faulty=False)]


def test_recovers_at_once() -> None:
    assert recovery_time(_series({}), _phases()) == (0.0, "")


@pytest.mark.parametrize("seconds", [1, 2, 4])
def test_recovers_after_n_seconds(seconds: int) -> None:
    rec = _series(dict.fromkeys(range(6, 6 + seconds), False))
    assert recovery_time(rec, _phases()) == (float(seconds), "")
    verdict = _one("recovery_time < 3s", rec, _phases())
    assert verdict.observed == seconds
    assert verdict.held is (seconds < 3)


def test_latency_counts_too() -> None:
    rec = _series({}, slow={6, 7, 8})
    assert recovery_time(rec, _phases()) == (3.0, "")


def test_a_single_healthy_second_is_not_recovery() -> None:
    rec = _series({7: False, 8: False, 6: True})
    # 6 is healthy, but 7 is not: recovery needs RECOVERY_WINDOW healthy seconds in a row
    assert RECOVERY_WINDOW == 2
    assert recovery_time(rec, _phases()) == (3.0, "")


def test_the_last_fault_second_does_not_count_as_recovered() -> None:
    # the outage's last second (5) happens to be healthy, and so is 6; then 7 and 8 fail: the
    # service recovered for good at 9, not "at 5" (a second that ended with the outage)
    rec = _series({5: True, 6: True, 7: False, 8: False})
    assert recovery_time(rec, _phases()) == (3.0, "")


def test_never_recovers_is_a_breach() -> None:
    rec = _series(dict.fromkeys(range(6, 12), False))
    assert recovery_time(rec, _phases()) == (None, "did not recover after 'outage' before 12.0s")
    verdict = _one("recovery_time < 1h", rec, _phases())
    assert verdict.detail == (
        "breached: did not recover after 'outage' before 12.0s (no data is a breach)"
    )


def test_recovery_window_is_cut_by_the_next_fault_phase() -> None:
    phases = _after_baseline(outage=6.0, pause=8.0, again=12.0)
    rec = _series({6: False, 7: False, 8: True, 9: True}, phases=phases)
    assert recovery_time(rec, phases, "outage") == (
        None,
        "did not recover after 'outage' before 8.0s",
    )


def test_no_baseline() -> None:
    phases = [PhaseWindow("a", 0, 3, True), PhaseWindow("b", 3, 6, True)]
    assert recovery_time(_series({}), phases) == (
        None,
        "no fault-free phase before the faults to take as the baseline",
    )


def test_empty_baseline() -> None:
    rec = _series({})
    phases = [PhaseWindow("warmup", 20.0, 21.0, faulty=False), OUTAGE]
    assert recovery_time(rec, phases) == (None, "no requests in the baseline phase 'warmup'")


def test_no_fault_phase() -> None:
    phases = [BASELINE, PhaseWindow("more", 3.0, 12.0, faulty=False)]
    assert recovery_time(_series({}), phases) == (None, "no fault phase to recover from")
    assert recovery_time(_series({}), _phases(), "baseline") == (
        None,
        "no fault phase to recover from named 'baseline'",
    )


def test_a_fault_phase_at_the_end_has_nothing_to_recover_in() -> None:
    phases = [BASELINE, PhaseWindow("outage", 3.0, 12.0, faulty=True)]
    assert recovery_time(_series({}, phases=phases), phases) == (
        None,
        "nothing fault-free follows 'outage' to recover in (the last phase has faults, or the "
        "run ended during it)",
    )


def _masked_outage(phases: list[PhaseWindow], *, last_at: float, end: float) -> Recorder:
    """A run whose requests all succeed (a fallback hides the outage), the last one recorded at
    ``last_at``, finished at ``end``."""
    now = FakeNow()
    rec = Recorder(now=now)
    for window in phases:
        t = window.start
        while t < min(window.end, last_at):
            rec.record_request("x", 0.01, ok=True, phase=window.name, at=t)
            t += 0.1
    at_end = next((w for w in phases if w.start <= last_at < w.end), phases[-1])
    rec.record_request("x", 0.01, ok=True, phase=at_end.name, at=last_at)
    now.t = end
    rec.finish()
    return rec


@pytest.mark.parametrize(
    "phases",
    [
        # the scenario ends with a fault phase
        [BASELINE, OUTAGE],
        # the run was interrupted during the outage: the recovery phase never started
        [BASELINE, PhaseWindow("outage", 3.0, 4.2, faulty=True)],
    ],
    ids=["last-phase-faulty", "interrupted"],
)
def test_no_recovery_after_the_last_fault_phase_is_no_data_not_0ms(
    phases: list[PhaseWindow],
) -> None:
    # the last request finishes just after the fault phase ended, and looks healthy
    end = phases[-1].end
    rec = _masked_outage(phases, last_at=end + 0.001, end=end + 0.003)
    observed, why = recovery_time(rec, phases)
    assert observed is None
    assert why.startswith("nothing fault-free follows 'outage' to recover in")
    verdict = _one("recovery_time < 10s", rec, phases)
    assert (verdict.held, verdict.observed_text) == (False, "no data")


def test_a_later_fault_phase_at_the_end_leaves_the_worst_unknown() -> None:
    phases = _after_baseline(first=6.0, gap=9.0, second=12.0)
    rec = _series({}, phases=phases)
    assert recovery_time(rec, phases, "first") == (0.0, "")
    observed, why = recovery_time(rec, phases)
    assert observed is None
    assert why.startswith("nothing fault-free follows 'second' to recover in")


@pytest.mark.parametrize(
    ("phases", "record", "why"),
    [
        pytest.param(
            _after_baseline(outage=5.5, recovery=8.0),
            # the run ran on into the recovery phase, but no request was recorded in it
            lambda phases: _masked_outage(phases, last_at=5.4, end=8.0),
            "no requests after 'outage' (in 'recovery') to see recovery in",
            id="no-request-after-the-fault-phase",
        ),
        pytest.param(
            [PhaseWindow("outage", 0.0, 3.0, True), PhaseWindow("recovery", 3.0, 12.0, False)],
            # comparing the recovery phase with itself would always say "recovered at once"
            lambda phases: _series({0: False, 1: False, 2: False}, phases=phases),
            "no fault-free phase before the faults to take as the baseline",
            id="a-fault-free-phase-after-the-faults-is-no-baseline",
        ),
    ],
)
def test_recovery_time_says_why_it_has_no_data(
    phases: list[PhaseWindow], record: Callable[[list[PhaseWindow]], Recorder], why: str
) -> None:
    assert recovery_time(record(phases), phases) == (None, why)


def test_the_worst_block_counts_and_scope_picks_one() -> None:
    phases = _after_baseline(first=4.0, gap=7.0, second=8.0, tail=14.0)
    # first block recovers at once (4), the second after 3 s (8, 9, 10 fail)
    healthy = {3: False, 4: True, 5: True, 6: True, 7: False, 8: False, 9: False, 10: False}
    rec = _series(healthy, end=14, phases=phases)
    assert recovery_time(rec, phases) == (3.0, "")
    assert recovery_time(rec, phases, "first") == (0.0, "")
    assert recovery_time(rec, phases, "second") == (3.0, "")
