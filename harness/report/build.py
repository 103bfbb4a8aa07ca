"""Building a :class:`~harness.report.model.Report` from what a run recorded."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from harness.measure.hdr import Distribution
from harness.measure.health import LoadHealth, saturation
from harness.measure.recorder import Recorder, RequestStats
from harness.measure.vendor import PhaseFacts, VendorLedgers, figures, phase_facts
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
    Status,
    ThresholdRow,
    VendorPhaseRow,
    VendorRow,
)


@dataclass
class _Group:
    """What the recorder saw for one row of the report (a request name, a phase, both, or
    everything): the stats of each of its (name, phase) keys, added up once."""

    ok: int = 0
    failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    parts: list[Distribution] = field(default_factory=list)

    def add(self, stats: RequestStats, distribution: Distribution) -> None:
        self.ok += stats.ok
        self.failed += stats.failed
        self.errors.update(stats.errors)
        self.statuses.update(stats.statuses)
        if distribution.total:
            self.parts.append(distribution)

    def row(self, name: str | None, phase: str | None, span: float) -> RequestRow:
        count = self.ok + self.failed
        merged = Distribution.merge(self.parts)
        latency: dict[str, float | None] = dict.fromkeys(("avg", "p50", "p90", "p95", "p99", "max"))
        if merged is not None:
            latency = {
                "avg": merged.mean() / 1e6,
                **{f"p{p}": merged.percentile(p) / 1e6 for p in (50, 90, 95, 99)},
                "max": merged.max() / 1e6,
            }
        return RequestRow(
            name=name or "*",
            phase=phase if phase is not None else "*",
            count=count,
            ok=self.ok,
            failed=self.failed,
            rps=count / span if span > 0 else None,
            **latency,
            errors=dict(self.errors),
            statuses=dict(self.statuses),
        )


def request_rows(recorder: Recorder, phase_names: list[str]) -> list[RequestRow]:
    """Every row of ``requests``: the whole run, each phase, each request name, and each name in
    each phase; the same numbers as ``recorder.stats(name=..., phase=...)`` gives for each.

    Each (name, phase) key of the recorder is read once and added to the rows it belongs to, so
    this takes time in proportion to the keys, not keys x rows."""
    total = _Group()
    by_phase: dict[str, _Group] = {}
    by_name: dict[str, _Group] = {}
    by_key: dict[tuple[str, str], _Group] = {}
    for (name, phase), stats in list(recorder.requests.items()):  # a copy: no lock needed
        distribution = stats.distribution()
        total.add(stats, distribution)
        by_phase.setdefault(phase, _Group()).add(stats, distribution)
        by_name.setdefault(name, _Group()).add(stats, distribution)
        by_key.setdefault((name, phase), _Group()).add(stats, distribution)
    empty = _Group()
    spans = {phase: recorder.span(phase) for phase in phase_names}
    rows = [total.row(None, None, recorder.span(None))]
    rows += [by_phase.get(phase, empty).row(None, phase, spans[phase]) for phase in phase_names]
    for name in sorted(by_name):
        rows.append(by_name[name].row(name, None, recorder.span(None)))
        rows += [
            by_key.get((name, phase), empty).row(name, phase, spans[phase]) for phase in phase_names
        ]
    return rows


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


def run_verdict(statuses: list[Status], problems: list[str]) -> Status:
    """A run's verdict: breached when any threshold breached or there is a problem, else
    inconclusive when any threshold is, else held."""
    if problems or "breached" in statuses:
        return "breached"
    return "inconclusive" if "inconclusive" in statuses else "held"


def vendor_rows(
    vendor: VendorLedgers, facts: list[PhaseFacts]
) -> tuple[list[VendorRow], list[VendorPhaseRow]]:
    """Each endpoint's ledger row per phase and over the whole run (``*``), then the vendor
    figures per phase and over the run."""
    rows = []
    requests = {p.name: p.requests for p in facts}
    total = sum(requests.values())
    for ledger in vendor.endpoints:
        for phase in [*(p.name for p in facts), None]:
            row = VendorRow(endpoint=ledger.name, role=ledger.role, phase=phase or "*")
            stats = ledger.stats(phase)
            row.add(stats)
            row.first_ok_after = stats.first_ok_after
            started = total if phase is None else requests.get(phase, 0)
            if ledger.role == "upstream" and started:
                row.calls_per_request = stats.calls / started
            rows.append(row)
    phase_rows = [
        VendorPhaseRow.model_validate(f, from_attributes=True) for f in figures(vendor, facts)
    ]
    return rows, phase_rows


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
    vendor: VendorLedgers | None = None,
) -> Report:
    problems = list(problems or [])
    for record in faults:
        if record.never_fired:
            problems.append(
                f"fault {record.label!r} ({record.kind}) in phase {record.phase!r} at "
                f"{record.endpoint!r} never fired: the run did not test what it declares "
                "(mark it optional: true if that is expected)"
            )
    phase_names = [p.name for p in phases] or recorder.phases()
    rows = request_rows(recorder, phase_names)
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
            limit=v.limit,
            observed=v.observed,
            observed_text=v.observed_text,
            held=v.held,
            detail=v.detail,
            margin=v.margin,
            verdict=v.status,
            baseline=v.baseline,
            samples=v.samples,
            worst=None if v.worst is None or math.isinf(v.worst) else v.worst,
            worst_unbounded=v.worst is not None and math.isinf(v.worst),
        )
        for v in verdicts
    ]
    faults_of: dict[str, list[FaultRow]] = {}
    for f in faults:
        faults_of.setdefault(f.phase, []).append(
            FaultRow(
                label=f.label, kind=f.kind, endpoint=f.endpoint, optional=f.optional, fired=f.fired
            )
        )
    phase_rows = [
        PhaseRow(name=p.name, start=p.start, end=p.end, faults=list(faults_of.get(p.name, [])))
        for p in phases
    ]
    vendor_table: list[VendorRow] = []
    vendor_figures: list[VendorPhaseRow] = []
    if vendor is not None and vendor.endpoints:
        vendor_table, vendor_figures = vendor_rows(vendor, phase_facts(recorder, phases))
    return Report(
        run_id=run_id,
        driver=driver,
        scenario=scenario,
        target=target,
        seed=seed,
        started_at=started_at.astimezone(UTC).isoformat(timespec="seconds"),
        duration=recorder.duration,
        held=all(v.held for v in verdicts) and not problems,
        verdict=run_verdict([v.status for v in verdicts], problems),
        thresholds=threshold_rows,
        phases=phase_rows,
        requests=rows,
        resilience=resilience,
        series=series,
        health=health_section(recorder.health()),
        vendor=vendor_table,
        vendor_phases=vendor_figures,
        vendor_uncounted=dict(vendor.uncounted) if vendor is not None else {},
        problems=problems,
        recorder=recorder.snapshot(),
    )
