"""Realistic reports for the reporter tests, built the way the drivers build them.

A :class:`~harness.measure.recorder.Recorder` on a virtual clock is fed requests and core events for a
three-phase run (baseline, vendor outage with a 503 fault, recovery), thresholds are parsed and
evaluated, and :func:`~harness.report.build.build_report` assembles the report.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from report_support import assemble

from harness.core import AttemptStarted, CallFinished, FallbackUsed, RetryScheduled
from harness.measure.recorder import Recorder
from harness.measure.sla import parse_threshold
from harness.measure.verdicts import PhaseWindow, evaluate
from harness.report.model import Report, ScenarioInfo
from harness.run.timeline import FaultRecord

HELD_THRESHOLDS = [
    "p95 < 2s",
    "availability >= 90%",
    "p90 < 3s phase=baseline",
    "retries_per_call <= 2",
]
BREACHED_THRESHOLDS = [
    "p95 < 2s",  # held
    "p95 < 250ms phase=outage",  # breached: the outage is slow
    "error_rate < 1% phase=outage",  # breached
    "p95 < 1s phase=warmup",  # no data: there is no such phase
]


class Clock:
    """A virtual monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _event_fields(call_id: int, at: float) -> dict[str, Any]:
    return {"source": "llm", "call_id": call_id, "at": at}


def make_report(
    thresholds: list[str],
    *,
    problems: list[str] | None = None,
    outage_fired: int | None = 40,
    name: str = "Vendor outage @ 20 users",
    requests: bool = True,
) -> Report:
    """A three-phase run: baseline (0-3 s), outage (3-6 s, 503s and slow), recovery (6-9 s)."""
    clock = Clock()
    recorder = Recorder(now=clock, seed=7)
    rng = random.Random(7)
    windows = [
        PhaseWindow("baseline", 0.0, 3.0, faulty=False),
        PhaseWindow("outage", 3.0, 6.0, faulty=True),
        PhaseWindow("recovery", 6.0, 9.0, faulty=False),
    ]
    call_id = 0
    for window in windows:
        clock.now = 1000.0 + window.start
        recorder.set_phase(window.name)
        if not requests:
            continue
        for i in range(60):
            at = window.start + i * 0.05
            clock.now = 1000.0 + at
            call_id += 1
            outage = window.name == "outage"
            failed = outage and i % 4 == 0
            latency = rng.uniform(0.3, 0.6) if outage else rng.uniform(0.05, 0.12)
            attempts = 3 if failed else (2 if outage else 1)
            for attempt in range(1, attempts + 1):
                recorder.on_event(
                    AttemptStarted(**_event_fields(call_id, at), provider="openai", attempt=attempt)
                )
                if attempt < attempts:
                    recorder.on_event(
                        RetryScheduled(
                            **_event_fields(call_id, at),
                            provider="openai",
                            attempt=attempt,
                            delay=0.0,
                            reason="backoff",
                        )
                    )
            if failed:
                recorder.on_event(
                    FallbackUsed(
                        **_event_fields(call_id, at),
                        from_provider="openai",
                        to_provider="anthropic",
                        reason="503",
                    )
                )
            recorder.on_event(
                CallFinished(
                    **_event_fields(call_id, at),
                    outcome="error" if failed else "ok",
                    provider="openai",
                    attempts=attempts,
                    elapsed=latency,
                    error="ServiceUnavailable" if failed else None,
                    fallback=failed,
                )
            )
            recorder.record_request(
                "chat" if i % 3 else "embed",
                latency,
                ok=not failed,
                error="http_503" if failed else None,
                status=503 if failed else 200,
                at=at,
            )
    clock.now = 1009.0
    recorder.finish()
    verdicts = evaluate([parse_threshold(t) for t in thresholds], recorder, windows)
    faults = [
        FaultRecord(
            label="http_status 503 @25%",
            kind="http_status",
            phase="outage",
            endpoint="openai",
            optional=False,
            fired=outage_fired,
        ),
        FaultRecord(
            label="latency 300ms",
            kind="latency",
            phase="outage",
            endpoint="openai",
            optional=True,
            fired=0,
        ),
    ]
    return assemble(
        recorder,
        phases=windows,
        faults=faults,
        verdicts=verdicts,
        problems=problems,
        run_id="vendor-outage-20250301T120000Z-1",
        scenario=ScenarioInfo(
            name=name, description="OpenAI returns 503s for 3 s", source="scenarios/outage.yaml"
        ),
        seed=42,
    )


def empty_report() -> Report:
    """No thresholds, no phases, no requests, no core events."""
    clock = Clock()
    recorder = Recorder(now=clock)
    recorder.finish()
    return assemble(
        recorder,
        run_id="empty-1",
        driver="pytest",
        scenario=ScenarioInfo(name="empty"),
        target="http://127.0.0.1:1",
    )


@functools.cache
def _cached(kind: str) -> Report:
    """Building a report costs ~0.3 s (HDR histograms are big), so each is built once."""
    if kind == "held":
        report = make_report(HELD_THRESHOLDS)
        assert report.held, [t.detail for t in report.breaches]
        return report
    report = make_report(BREACHED_THRESHOLDS, outage_fired=0)
    assert [t.held for t in report.thresholds] == [True, False, False, False]
    assert report.thresholds[3].observed is None
    assert len(report.problems) == 1  # the non-optional fault never fired
    return report


@pytest.fixture
def held_report() -> Report:
    """Every threshold held, the 503 fault fired 40 times."""
    return _cached("held").model_copy(deep=True)


@pytest.fixture
def breached_report() -> Report:
    """One threshold held, two breached, one without data; the 503 fault never fired."""
    return _cached("breached").model_copy(deep=True)


@pytest.fixture
def report_factory() -> Callable[..., Report]:
    return make_report


@pytest.fixture
def empty() -> Report:
    return empty_report()


@pytest.fixture(autouse=True)
def _no_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI sets GITHUB_STEP_SUMMARY; the tests must not append to the real one."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


@pytest.fixture
def all_reports(held_report: Report, breached_report: Report, empty: Report) -> list[Report]:
    return [held_report, breached_report, empty]


def only_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


class ReportTexts:
    """The held and the breached report as the JSON reporter writes them, without the recorder
    snapshot (for fuzz tests: short to show when an example fails)."""

    def __init__(self) -> None:
        from harness_reporters import _json

        self.held = _json.render(_cached("held").model_copy(update={"recorder": {}}))
        self.breached = _json.render(_cached("breached").model_copy(update={"recorder": {}}))

    def __repr__(self) -> str:
        return "ReportTexts(held, breached)"


@pytest.fixture(scope="session")
def report_texts() -> ReportTexts:
    return ReportTexts()
