"""Building the report of a run with many phases, side by side with how it was built before.

A run of ``--phases`` 1 ms phases, two request names, a few requests each (as the colleague's
1000-phase repro had). ``build_report`` now reads each (name, phase) key's histogram once, only
its non-empty buckets (``harness.measure.hdr.Distribution``); before, every row merged the keys
it matched through ``Recorder.stats`` (keys x rows) and read them with hdrh's readers, which walk
all ~23,000 counters of a histogram in Python. The baseline is that old row reading, here;
it is run on fewer phases (``--baseline-phases``: it is slow), and the per-row cost compared.

    .venv/bin/python bench/bench_report_scale.py [--phases 2000] [--baseline-phases 100]
"""

from __future__ import annotations

import argparse
import functools
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from harness.measure.recorder import Recorder
from harness.measure.verdicts import PhaseWindow
from harness.report.build import build_report, request_rows
from harness.report.model import RequestRow, ScenarioInfo

T = TypeVar("T")


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def recorder_with(phases: int) -> Recorder:
    clock = Clock()
    rng = random.Random(1)
    recorder = Recorder(now=clock)
    for i in range(phases):
        clock.t = i * 0.001
        recorder.set_phase(f"p{i}")
        for name in ("chat", "embed"):
            for _ in range(2):
                ok = rng.random() > 0.1
                recorder.record_request(
                    name, rng.uniform(0.01, 0.6), ok=ok, status=200 if ok else 503, at=clock.t
                )
    clock.t = phases * 0.001
    recorder.finish()
    return recorder


def old_rows(recorder: Recorder, phase_names: list[str]) -> list[RequestRow]:
    """The rows as ``build_report`` read them before: one ``Recorder.stats`` per row, hdrh's own
    percentile and mean readers."""

    def row(name: str | None, phase: str | None) -> RequestRow:
        stats = recorder.stats(name=name, phase=phase)
        hist = stats.histogram
        empty = hist.get_total_count() == 0
        span = recorder.span(phase)
        return RequestRow(
            name=name or "*",
            phase=phase if phase is not None else "*",
            count=stats.count,
            ok=stats.ok,
            failed=stats.failed,
            rps=stats.count / span if span > 0 else None,
            avg=None if empty else hist.get_mean_value() / 1e6,
            p50=None if empty else hist.get_value_at_percentile(50) / 1e6,
            p90=None if empty else hist.get_value_at_percentile(90) / 1e6,
            p95=None if empty else hist.get_value_at_percentile(95) / 1e6,
            p99=None if empty else hist.get_value_at_percentile(99) / 1e6,
            max=None if empty else hist.get_max_value() / 1e6,
            errors=dict(stats.errors),
            statuses=dict(stats.statuses),
        )

    rows = [row(None, None)] + [row(None, p) for p in phase_names]
    for name in recorder.names():
        rows += [row(name, None)] + [row(name, p) for p in phase_names]
    return rows


def timed(label: str, fn: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    print(f"  {label:<44} {seconds:8.3f} s")
    return seconds, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--phases", type=int, default=2000)
    parser.add_argument("--baseline-phases", type=int, default=100)
    args = parser.parse_args()

    small = recorder_with(args.baseline_phases)
    names = small.phases()
    print(f"request rows of {args.baseline_phases} phases, side by side:")
    old_s, old = timed(
        "before (Recorder.stats per row, hdrh readers)", lambda: old_rows(small, names)
    )
    new_s, new = timed("now (each key once, non-empty buckets)", lambda: request_rows(small, names))
    assert old == new, "the rows differ"
    print(f"  same rows; {old_s / new_s:.0f}x faster")

    for phases in sorted({args.phases // 2, args.phases}):
        recorder = recorder_with(phases)
        windows = [
            PhaseWindow(name, start, end, faulty=i % 2 == 1)
            for i, (name, (start, end)) in enumerate(recorder.phase_spans.items())
        ]
        print(f"the whole report of {phases} phases ({len(recorder.requests)} keys):")
        timed(
            "build_report",
            functools.partial(
                build_report,
                run_id="bench",
                driver="cli",
                scenario=ScenarioInfo(name="bench"),
                target="core:llm",
                seed=1,
                started_at=datetime.now(UTC),
                recorder=recorder,
                verdicts=[],
                phases=windows,
                faults=[],
            ),
        )


if __name__ == "__main__":
    main()
