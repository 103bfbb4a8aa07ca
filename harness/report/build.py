"""Building a :class:`~harness.report.model.Report` from what a run recorded."""

from __future__ import annotations

from datetime import UTC, datetime

from harness.measure.health import LoadHealth, saturation
from harness.measure.recorder import Recorder
from harness.measure.verdicts import PhaseWindow, Verdict, sample_percentile
from harness.report.model import (
    FaultRecord,
    FaultRow,
    GeneratorRow,
    HealthSection,
    LoadCountersRow,
    PhaseRow,
    Report,
    RequestRow,
    ResilienceRow,
    ScenarioInfo,
    SecondRow,
    ThresholdRow,
)


def _stats_row(recorder: Recorder, name: str | None, phase: str | None) -> RequestRow:
    stats = recorder.stats(name=name, phase=phase)
    span = recorder.span(phase)
    return RequestRow(
        name=name or "*",
        phase=phase if phase is not None else "*",
        count=stats.count,
        ok=stats.ok,
        failed=stats.failed,
        rps=stats.count / span if span > 0 else None,
        avg=stats.mean(),
        p50=stats.percentile(50),
        p90=stats.percentile(90),
        p95=stats.percentile(95),
        p99=stats.percentile(99),
        max=stats.max(),
        errors=dict(stats.errors),
        statuses=dict(stats.statuses),
    )


def health_section(health: LoadHealth) -> HealthSection:
    """The report's view of a run's measurement health."""
    phases = []
    for phase, counters in health.phases.items():
        row = LoadCountersRow(phase=phase)
        row.add(counters)
        phases.append(row)
    reasons = saturation(health)
    return HealthSection(
        load_model=health.load_model,
        scheduled_starts=health.counters.scheduled_starts,
        missed_starts=health.counters.missed_starts,
        in_flight_cap_hits=health.counters.in_flight_cap_hits,
        unfinished_requests=health.counters.unfinished_requests,
        missed_start_fraction=health.missed_fraction,
        start_delay_p99=health.start_delay.p99,
        start_delay_max=health.start_delay.max,
        cpu_max=health.cpu_max,
        loop_lag_p99=health.loop_lag_p99,
        tail_samples=dict(health.tail_samples),
        saturated=bool(reasons),
        saturation=reasons,
        generators=[
            GeneratorRow(
                name=g.name,
                cpu_seconds=g.cpu_seconds,
                wall_seconds=g.wall_seconds,
                cpu=g.cpu,
                loop_lag_p50=g.loop_lag.p50,
                loop_lag_p99=g.loop_lag.p99,
                loop_lag_max=g.loop_lag.max,
                loop_lag_samples=g.loop_lag.samples,
            )
            for g in health.generators
        ],
        phases=phases,
    )


def build_report(
    *,
    run_id: str,
    driver: str,
    scenario: ScenarioInfo,
    target: str,
    seed: int,
    started_at: datetime,
    recorder: Recorder,
    verdicts: list[Verdict],
    phases: list[PhaseWindow],
    faults: list[FaultRecord],
    problems: list[str] | None = None,
) -> Report:
    problems = list(problems or [])
    for record in faults:
        if record.never_fired:
            problems.append(
                f"fault {record.label!r} ({record.kind}) in phase {record.phase!r} at "
                f"{record.endpoint!r} never fired: the run did not test what it declares "
                "(mark it optional: true if that is expected)"
            )
    rows = [_stats_row(recorder, None, None)]
    phase_names = [p.name for p in phases] or recorder.phases()
    for phase in phase_names:
        rows.append(_stats_row(recorder, None, phase))
    for name in recorder.names():
        rows.append(_stats_row(recorder, name, None))
        for phase in phase_names:
            rows.append(_stats_row(recorder, name, phase))
    resilience = []
    for phase in ["*", *phase_names]:
        res = recorder.resilience_stats(phase=None if phase == "*" else phase)
        row = ResilienceRow(phase=phase)
        row.add(res)
        resilience.append(row)
    series = [
        SecondRow(
            t=s.t,
            phase=s.phase,
            requests=s.requests,
            errors=s.errors,
            p50=sorted(s.samples)[len(s.samples) // 2] if s.samples else None,
            p95=sample_percentile(s.samples, 95),
            max=max(s.samples) if s.samples else None,
        )
        for s in recorder.series()
    ]
    threshold_rows = [
        ThresholdRow(
            text=v.threshold.text,
            metric=v.threshold.metric,
            scope=v.threshold.scope,
            op=v.threshold.op,
            limit=v.threshold.value,
            observed=v.observed,
            observed_text=v.observed_text,
            held=v.held,
            detail=v.detail,
            margin=v.margin,
        )
        for v in verdicts
    ]
    phase_rows = [
        PhaseRow(
            name=p.name,
            start=p.start,
            end=p.end,
            faults=[
                FaultRow(
                    label=f.label,
                    kind=f.kind,
                    endpoint=f.endpoint,
                    optional=f.optional,
                    fired=f.fired,
                )
                for f in faults
                if f.phase == p.name
            ],
        )
        for p in phases
    ]
    return Report(
        run_id=run_id,
        driver=driver,
        scenario=scenario,
        target=target,
        seed=seed,
        started_at=started_at.astimezone(UTC).isoformat(timespec="seconds"),
        duration=recorder.duration,
        held=all(v.held for v in verdicts) and not problems,
        thresholds=threshold_rows,
        phases=phase_rows,
        requests=rows,
        resilience=resilience,
        series=series,
        health=health_section(recorder.health()),
        problems=problems,
        recorder=recorder.snapshot(),
    )
