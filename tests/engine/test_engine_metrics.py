"""The recorder (``harness.measure.recorder``): HDR percentiles per name and phase, resilience counters
from the core's events, exact snapshot/merge, per-source scoping."""

from __future__ import annotations

import json
import math
import random
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from engine_support import FakeNow
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import core
from harness.measure.recorder import (
    HIGHEST_US,
    SAMPLES_PER_SECOND,
    Recorder,
    ResilienceStats,
    merge_snapshots,
)


@pytest.fixture
def now() -> FakeNow:
    return FakeNow(100.0)  # the recorder measures from its start, whatever the clock says


def _exact_percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered) - 1e-9) - 1)]


def test_percentiles_from_hdr_histograms_within_three_significant_digits(now: FakeNow) -> None:
    rng = random.Random(5)
    values = [rng.lognormvariate(math.log(0.2), 0.8) for _ in range(5000)]
    rec = Recorder(now=now)
    for value in values:
        rec.record_request("chat", value, ok=True)
    stats = rec.stats()
    for p in (50, 90, 95, 99, 99.9):
        exact = _exact_percentile(values, p)
        observed = stats.percentile(p)
        assert observed is not None and observed == pytest.approx(exact, rel=1e-3), p
        assert observed >= exact  # read at the top of the bucket: never optimistic
    assert stats.max() == pytest.approx(max(values), rel=1e-3)
    assert stats.min() == pytest.approx(min(values), rel=1e-3)
    assert stats.mean() == pytest.approx(sum(values) / len(values), rel=1e-3)
    assert stats.count == stats.ok == 5000


def test_empty_stats_have_no_percentiles(now: FakeNow) -> None:
    stats = Recorder(now=now).stats()
    assert (stats.count, stats.percentile(95), stats.mean(), stats.max(), stats.min()) == (
        0,
        None,
        None,
        None,
        None,
    )


def test_latencies_are_clamped_to_the_histogram_range(now: FakeNow) -> None:
    rec = Recorder(now=now)
    rec.record_request("x", 0.0, ok=True)
    rec.record_request("x", -1.0, ok=True)  # a clock that went backwards
    rec.record_request("x", 10 * 3600.0, ok=True)
    stats = rec.stats()
    assert stats.min() == 1e-6
    assert stats.max() == pytest.approx(HIGHEST_US / 1e6, rel=1e-3)


@pytest.fixture
def two_phases(now: FakeNow) -> Recorder:
    rec = Recorder(now=now)
    rec.set_phase("calm")
    rec.record_request("chat", 0.1, ok=True, status=200)
    rec.record_request("search", 0.2, ok=True, status=200)
    now.t += 2.0
    rec.set_phase("storm")
    rec.record_request("chat", 0.5, ok=False, error="RateLimited", status=429)
    rec.record_request("chat", 0.6, ok=False, error="RateLimited", status=429)
    rec.record_request("chat", 0.7, ok=False, error="Timeout")
    rec.record_request("chat", 0.3, ok=True, status=200)
    rec.record_request("search", 0.4, ok=True, phase="calm")  # started in calm, ended later
    now.t += 3.0
    rec.finish()
    return rec


def test_stats_per_name_and_phase(two_phases: Recorder) -> None:
    rec = two_phases
    assert rec.names() == ["chat", "search"]
    assert rec.phases() == ["calm", "storm"]
    storm_chat = rec.stats(name="chat", phase="storm")
    assert (storm_chat.count, storm_chat.ok, storm_chat.failed) == (4, 1, 3)
    assert storm_chat.errors == Counter({"RateLimited": 2, "Timeout": 1})
    assert storm_chat.statuses == Counter({"429": 2, "200": 1})
    # latency is kept for successful requests only: the one ok request, at 300 ms
    assert storm_chat.percentile(50) == pytest.approx(0.3, rel=1e-3)
    assert storm_chat.histogram.get_total_count() == storm_chat.ok
    calm = rec.stats(phase="calm")
    assert (calm.count, calm.ok) == (3, 3)
    assert rec.stats(name="search").count == 2
    assert rec.stats().count == 7
    assert rec.stats(name="nobody").count == 0


def test_phase_spans_and_duration(two_phases: Recorder) -> None:
    assert two_phases.phase_spans == {"calm": [0.0, 2.0], "storm": [2.0, 5.0]}
    assert (two_phases.span("calm"), two_phases.span("storm"), two_phases.span()) == (2.0, 3.0, 5.0)
    assert two_phases.span("never") == 0.0
    assert two_phases.duration == 5.0
    assert two_phases.phase is None


def test_requests_outside_phases_go_to_the_empty_phase(now: FakeNow) -> None:
    rec = Recorder(now=now)
    rec.record_request("x", 0.1, ok=True)
    assert list(rec.requests) == [("x", "")]
    assert rec.stats(phase="").count == 1


def test_per_second_series(now: FakeNow) -> None:
    rec = Recorder(now=now)
    rec.set_phase("a")
    rec.record_request("x", 0.1, ok=True)
    now.t += 1.5
    rec.record_request("x", 0.2, ok=False)
    rec.record_request("x", 0.3, ok=True, at=1.9)
    rec.record_request("x", 0.4, ok=True, at=7.2, phase="b")
    assert [(s.t, s.phase, s.requests, s.errors, s.samples) for s in rec.series()] == [
        (0, "a", 1, 0, [0.1]),
        (1, "a", 2, 1, [0.3]),  # the failed request counts, its latency does not
        (7, "b", 1, 0, [0.4]),
    ]


def test_a_busy_second_keeps_a_bounded_fair_sample(now: FakeNow) -> None:
    rec = Recorder(now=now, seed=3)
    n = SAMPLES_PER_SECOND * 4
    for i in range(n):
        rec.record_request("x", i / n, ok=True, at=0.5)
    (second,) = rec.series()
    assert (second.requests, second.seen, len(second.samples)) == (n, n, SAMPLES_PER_SECOND)
    assert len(set(second.samples)) == SAMPLES_PER_SECOND
    # reservoir sampling: the sample spans the whole second, not only its first requests
    assert max(second.samples) > 0.9 and sum(second.samples) / SAMPLES_PER_SECOND == pytest.approx(
        0.5, abs=0.05
    )


# -- resilience counters from the core's events ------------------------------------------------


def _call(
    source: str,
    call_id: int,
    *,
    attempts: int = 1,
    fallback: bool = False,
    ok: bool = True,
    breaker_open: bool = False,
    budget: bool = False,
) -> list[core.ResilienceEvent]:
    base: dict[str, Any] = {"source": source, "call_id": call_id, "at": 0.0}
    events: list[core.ResilienceEvent] = []
    for attempt in range(1, attempts + 1):
        events.append(core.AttemptStarted(**base, provider="p", attempt=attempt))
        if attempt < attempts:
            events.append(
                core.AttemptFailed(
                    **base,
                    provider="p",
                    attempt=attempt,
                    error="ServerError",
                    status=503,
                    retryable=True,
                    elapsed=0.1,
                )
            )
            events.append(
                core.RetryScheduled(
                    **base, provider="p", attempt=attempt, delay=1.0, reason="backoff"
                )
            )
    if breaker_open:
        events.append(core.BreakerStateChanged(**base, provider="p", old="closed", new="open"))
        events.append(core.BreakerStateChanged(**base, provider="p", old="open", new="half_open"))
    if budget:
        events.append(core.BudgetExhausted(**base, provider="p"))
    if fallback:
        events.append(
            core.FallbackUsed(**base, from_provider="p", to_provider="b", reason="ServerError")
        )
    events.append(
        core.CallFinished(
            **base,
            outcome="ok" if ok else "error",
            provider=("b" if fallback else "p") if ok else None,
            attempts=attempts,
            elapsed=0.2,
            error=None if ok else "ServerError",
            fallback=fallback,
        )
    )
    return events


def _feed(rec: Recorder, events: list[core.ResilienceEvent]) -> None:
    for event in events:
        rec.on_event(event)


def test_resilience_counters_from_core_events(now: FakeNow) -> None:
    rec = Recorder(now=now)
    rec.set_phase("storm")
    _feed(rec, _call("llm", 1, attempts=3))
    _feed(rec, _call("llm", 2, attempts=2, fallback=True, breaker_open=True))
    _feed(rec, _call("llm", 3, fallback=True, ok=False, budget=True))
    res = rec.resilience_stats(phase="storm")
    assert (res.calls, res.calls_ok, res.attempts, res.retries) == (3, 2, 6, 3)
    assert (res.fallbacks, res.fallback_calls, res.breaker_opens, res.budget_exhausted) == (
        2,
        1,
        1,
        1,
    )
    assert res.attempts_per_call == Counter({3: 1, 2: 1, 1: 1})
    assert rec.resilience_stats(phase="calm") == ResilienceStats()


def test_resilience_stats_are_scoped_per_source(now: FakeNow) -> None:
    rec = Recorder(now=now)
    rec.set_phase("a")
    _feed(rec, _call("llm", 1, attempts=2))
    _feed(rec, _call("backup-llm", 2, attempts=1))
    _feed(rec, _call("tool:catalog", 3, attempts=4))
    _feed(rec, _call("memory:sqlite", 4, attempts=3))
    rec.set_phase("b")
    _feed(rec, _call("llm", 5, attempts=1, fallback=True))
    # default: the LLM wrappers only (tools and memory retry on their own terms)
    default = rec.resilience_stats()
    assert (default.calls, default.retries, default.fallback_calls) == (3, 1, 1)
    everything = rec.resilience_stats(source="*")
    assert (everything.calls, everything.retries) == (5, 1 + 3 + 2)
    tool = rec.resilience_stats(source="tool:catalog")
    assert (tool.calls, tool.attempts, tool.retries) == (1, 4, 3)
    assert rec.resilience_stats(source="llm", phase="a").calls == 1
    assert rec.resilience_stats(source="llm").calls == 2
    assert rec.resilience_stats(source="nobody").calls == 0
    assert rec.resilience_stats(phase="b", source="*").calls == 1


# -- snapshot and merge --------------------------------------------------------------------------

requests = st.lists(
    st.tuples(
        st.sampled_from(["chat", "search"]),
        st.floats(min_value=0, max_value=2.0),  # hdrh reads walk the buckets up to the max
        st.booleans(),
        st.sampled_from([None, 200, 429, 503]),
        st.sampled_from(["calm", "storm", ""]),
        st.floats(min_value=0, max_value=20.0),
    ),
    max_size=60,
)
calls = st.lists(
    st.tuples(
        st.sampled_from(["llm", "tool:t", "memory:m"]),
        st.integers(1, 4),
        st.booleans(),
        st.booleans(),
        st.sampled_from(["calm", "storm"]),
    ),
    max_size=10,
)


def _record(rec: Recorder, now: FakeNow, reqs: list[Any], calls: list[Any]) -> None:
    for name, latency, ok, status, phase, at in reqs:
        rec.record_request(
            name, latency, ok=ok, error=None if ok else "E", status=status, phase=phase, at=at
        )
    for i, (source, attempts, fallback, ok, phase) in enumerate(calls):
        rec.set_phase(phase)
        _feed(rec, _call(source, i, attempts=attempts, fallback=fallback, ok=ok))


def _summary(rec: Recorder) -> dict[str, Any]:
    """Everything a report reads, per name and phase."""
    out: dict[str, Any] = {"mean": rec.stats().mean()}  # (hdrh's mean walks every bucket: once)
    for name in [None, "chat"]:
        for phase in [None, "calm", ""]:
            s = rec.stats(name=name, phase=phase)
            out[f"{name}/{phase}"] = (
                s.ok,
                s.failed,
                dict(s.errors),
                dict(s.statuses),
                [s.percentile(p) for p in (50, 95, 100)],
                s.min(),
                s.max(),
            )
    for source in [None, "*", "llm", "tool:t"]:
        for phase in [None, "calm", "storm"]:
            out[f"res:{source}/{phase}"] = rec.resilience_stats(phase=phase, source=source)
    out["series"] = [(s.t, s.requests, s.errors, s.seen) for s in rec.series()]
    return out


@settings(deadline=None)
@given(requests, requests, calls, calls)
def test_merging_two_snapshots_equals_recording_in_one(
    reqs_a: list[Any], reqs_b: list[Any], core_a: list[Any], core_b: list[Any]
) -> None:
    now = FakeNow()
    one, a, b = Recorder(now=now), Recorder(now=now), Recorder(now=now)
    _record(one, now, reqs_a + reqs_b, core_a + core_b)
    _record(a, now, reqs_a, core_a)
    _record(b, now, reqs_b, core_b)
    # snapshots travel as JSON between processes
    snapshots = [json.loads(json.dumps(r.snapshot())) for r in (a, b)]
    merged = merge_snapshots(snapshots)
    assert _summary(merged) == _summary(one)


def test_merge_keeps_phase_spans_and_the_longest_duration(now: FakeNow) -> None:
    a, b = Recorder(now=now), Recorder(now=FakeNow(now.t))
    a.set_phase("x")
    now.t += 4
    a.finish()
    b.finish()
    merged = merge_snapshots([b.snapshot(), a.snapshot()])
    assert merged.phase_spans == {"x": [0.0, 4.0]}
    assert merged.duration == 4.0
    assert merge_snapshots([]).stats().count == 0


def test_a_snapshot_is_a_copy(now: FakeNow) -> None:
    rec = Recorder(now=now)
    rec.record_request("x", 0.1, ok=True, at=0.0)
    snapshot = rec.snapshot()
    rec.record_request("x", 0.2, ok=True, at=0.0)
    assert snapshot["seconds"][0]["samples"] == [0.1]
    assert snapshot["requests"][0]["ok"] == 1


def test_drain_hands_over_everything_once(now: FakeNow) -> None:
    rec = Recorder(now=now)
    rec.record_request("x", 0.1, ok=True)
    _feed(rec, _call("llm", 1))
    first = rec.drain()
    rec.record_request("x", 0.2, ok=False)
    second = rec.drain()
    third = rec.drain()
    merged = merge_snapshots([first, second, third])
    assert (merged.stats().ok, merged.stats().failed, merged.resilience_stats().calls) == (1, 1, 1)
    assert (third["requests"], third["resilience"], third["seconds"]) == ([], [], [])


@pytest.fixture
def busy_thread_switching() -> Iterator[None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


@pytest.mark.usefixtures("busy_thread_switching")
def test_drain_loses_nothing_recorded_concurrently() -> None:
    rec = Recorder()
    total = 3000
    done = threading.Event()

    def writer() -> None:
        for _ in range(total):
            rec.record_request("x", 0.01, ok=True, at=0.0)
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    drained = []
    while not done.is_set():
        drained.append(rec.drain())
    thread.join()
    drained.append(rec.drain())
    assert merge_snapshots(drained).stats().count == total


def test_recording_from_threads_counts_exactly() -> None:
    rec = Recorder()
    barrier = threading.Barrier(4)

    def hammer(k: int) -> None:
        barrier.wait()
        for i in range(500):
            rec.record_request(f"n{k % 2}", 0.001 * (i % 50 + 1), ok=i % 10 != 0)
            rec.on_event(_call("llm", i)[-1])

    threads = [threading.Thread(target=hammer, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = rec.stats()
    assert (stats.count, stats.ok, stats.failed, stats.histogram.get_total_count()) == (
        2000,
        1800,
        200,
        1800,  # latency of the successful ones only
    )
    assert rec.resilience_stats().calls == 2000
