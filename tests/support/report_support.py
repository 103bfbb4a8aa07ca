"""Assembling a report from a fed :class:`~harness.measure.recorder.Recorder`, as the drivers do
with :func:`~harness.report.build.build_report`, for tests that need a whole report: the run's
identity (run id, driver, scenario, target, seed, start) has defaults a test may override."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from harness.measure.recorder import Recorder
from harness.measure.verdicts import PhaseWindow, Verdict
from harness.report.build import build_report
from harness.report.model import FaultRecord, Report, ScenarioInfo

STARTED = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
IDENTITY: dict[str, Any] = {
    "run_id": "test-run-1",
    "driver": "cli",
    "scenario": ScenarioInfo(name="test run"),
    "target": "core:llm",
    "seed": 0,
    "started_at": STARTED,
}


def assemble(
    recorder: Recorder,
    *,
    phases: Sequence[PhaseWindow] = (),
    faults: Sequence[FaultRecord] = (),
    verdicts: Sequence[Verdict] = (),
    problems: list[str] | None = None,
    **identity: Any,
) -> Report:
    """The report of ``recorder``'s run; ``identity`` overrides the values of :data:`IDENTITY`."""
    return build_report(
        **{**IDENTITY, **identity},
        recorder=recorder,
        verdicts=list(verdicts),
        phases=list(phases),
        faults=list(faults),
        problems=problems,
    )
