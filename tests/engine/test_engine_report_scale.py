"""The report of a run with thousands of phases: the same numbers as hdrh and ``Recorder.stats``
give, read once per (name, phase) key and never by walking every counter of a histogram."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
from engine_support import FakeNow
from hdrh.histogram import HdrHistogram
from hypothesis import given, settings
from hypothesis import strategies as st
from report_support import assemble

from harness.measure.hdr import Distribution
from harness.measure.recorder import HIGHEST_US, LOWEST_US, Recorder, RequestStats, new_histogram
from harness.measure.verdicts import PhaseWindow
from harness.report.build import request_rows
from harness.report.model import FaultRecord, ScenarioInfo

LATENCIES_US = st.lists(st.integers(LOWEST_US, HIGHEST_US), max_size=60)
PERCENTILES = [0, 1, 50, 95, 99.9, 100]


def _histogram(values: list[int]) -> HdrHistogram:
    histogram = new_histogram()
    for value in values:
        histogram.record_value(value)
    return histogram


@settings(deadline=None)
@given(st.lists(LATENCIES_US, min_size=1, max_size=4))
def test_a_distribution_reads_exactly_what_hdrh_reads(groups: list[list[int]]) -> None:
    """Merged or not, every reader agrees with hdrh's on the summed histogram. (hdrh's slow
    readers make this the slowest test here: few examples.)"""
    parts = [_histogram(values) for values in groups]
    summed = new_histogram()
    for part in parts:
        if part.get_total_count():  # hdrh's add() takes an empty histogram's min to be 0
            summed.add(part)
    merged = Distribution.merge(Distribution.of(p) for p in parts)
    assert merged is not None
    for distribution, histogram in [(merged, summed), (Distribution.of(summed), summed)]:
        assert distribution.total == histogram.get_total_count()
        if not distribution.total:
            continue
        for p in PERCENTILES:
            assert distribution.percentile(p) == histogram.get_value_at_percentile(p), p
        assert distribution.mean() == histogram.get_mean_value()
        assert distribution.max() == histogram.get_max_value()
        assert distribution.min() == histogram.get_min_value()


def test_a_decoded_histogram_reads_the_same() -> None:
    """Worker snapshots arrive encoded: a decoded histogram's counters may be fewer."""
    histogram = _histogram([10_000, 10_500, 250_000, 3_000_000])
    decoded = Distribution.of(HdrHistogram.decode(histogram.encode()))
    assert decoded.buckets == Distribution.of(histogram).buckets
    assert decoded.percentile(99) == histogram.get_value_at_percentile(99)
    assert decoded.mean() == histogram.get_mean_value()


def test_no_parts_merge_to_nothing() -> None:
    assert Distribution.merge([]) is None
    empty = Distribution.of(new_histogram())
    assert (empty.total, empty.percentile(50), empty.max(), empty.min()) == (0, 0, 0, 0)


# -- the report's request rows ---------------------------------------------------------------------


def _recorder(phases: int, names: tuple[str, ...] = ("chat", "embed"), seed: int = 3) -> Recorder:
    """``phases`` phases of 1 ms, each with a few requests of each name (some failed), and some
    requests before the first phase (in no phase)."""
    now = FakeNow()
    rng = random.Random(seed)
    recorder = Recorder(now=now)
    recorder.record_request("chat", 0.02, ok=True, status=200, at=0.0)
    for i in range(phases):
        now.t = i * 0.001
        recorder.set_phase(f"p{i}")
        for name in names[: 1 + i % len(names)]:
            for _ in range(rng.randint(1, 3)):
                ok = rng.random() > 0.2
                recorder.record_request(
                    name,
                    rng.choice([0.004, 0.05, 0.3, 2.5]),
                    ok=ok,
                    error=None if ok else rng.choice(["http_503", "timeout"]),
                    status=200 if ok else 503,
                    at=now.t,
                )
    now.t = phases * 0.001
    recorder.finish()
    return recorder


def _reference_row(recorder: Recorder, name: str | None, phase: str | None) -> dict[str, Any]:
    """A row the way the report read it before: ``Recorder.stats`` and hdrh's own readers."""
    stats = recorder.stats(name=name, phase=phase)
    span = recorder.span(phase)
    hist = stats.histogram
    empty = hist.get_total_count() == 0
    return {
        "name": name or "*",
        "phase": phase if phase is not None else "*",
        "count": stats.count,
        "ok": stats.ok,
        "failed": stats.failed,
        "rps": stats.count / span if span > 0 else None,
        "avg": None if empty else hist.get_mean_value() / 1e6,
        **{
            f"p{p}": None if empty else hist.get_value_at_percentile(p) / 1e6
            for p in (50, 90, 95, 99)
        },
        "max": None if empty else hist.get_max_value() / 1e6,
        "errors": dict(stats.errors),
        "statuses": dict(stats.statuses),
    }


@pytest.mark.parametrize("phases", [0, 1, 7])
def test_request_rows_are_the_rows_stats_gives(phases: int) -> None:
    recorder = _recorder(phases)
    phase_names = [*recorder.phases(), "never-ran"]
    rows = [r.model_dump() for r in request_rows(recorder, phase_names)]
    expected = [_reference_row(recorder, None, None)]
    expected += [_reference_row(recorder, None, p) for p in phase_names]
    for name in recorder.names():
        expected.append(_reference_row(recorder, name, None))
        expected += [_reference_row(recorder, name, p) for p in phase_names]
    assert rows == expected


def _build(recorder: Recorder) -> Any:
    windows = [
        PhaseWindow(name, start, end, faulty=i % 2 == 1)
        for i, (name, (start, end)) in enumerate(recorder.phase_spans.items())
    ]
    faults = [
        FaultRecord("http_status 503", "http_status", w.name, "primary", optional=False, fired=1)
        for w in windows
        if w.faulty
    ]
    return assemble(
        recorder,
        phases=windows,
        faults=faults,
        run_id="many",
        scenario=ScenarioInfo(name="many phases"),
        seed=1,
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_2000_phases_read_each_key_once_and_never_walk_the_counters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Building the report reads each (name, phase) key's histogram once: time linear in the
    phases. hdrh's readers, which walk all ~23,000 counters in Python, are never called."""
    recorder = _recorder(2000)
    reads = 0
    real = RequestStats.distribution

    def counted(self: RequestStats) -> Distribution:
        nonlocal reads
        reads += 1
        return real(self)

    def forbidden(*args: object) -> None:
        raise AssertionError("the report walked every counter of a histogram")

    monkeypatch.setattr(RequestStats, "distribution", counted)
    monkeypatch.setattr(Recorder, "stats", forbidden)
    monkeypatch.setattr(HdrHistogram, "get_value_at_percentile", forbidden)
    monkeypatch.setattr(HdrHistogram, "get_mean_value", forbidden)

    report = _build(recorder)

    assert reads == len(recorder.requests)
    assert len(report.phases) == 2000
    assert sum(len(p.faults) for p in report.phases) == 1000
    assert all(len(p.faults) == i % 2 for i, p in enumerate(report.phases))
    names = recorder.names()
    assert len(report.requests) == (1 + len(names)) * (1 + 2000)
    totals = report.totals()
    assert totals is not None
    assert totals.count == sum(s.count for s in recorder.requests.values())
