"""Plain-text summaries of a report: the SLA table every driver prints the same way."""

from __future__ import annotations

from harness.measure.sla import format_metric_value
from harness.report.model import HealthSection, Report, VendorPhaseRow


def _fmt_latency(value: float | None) -> str:
    return "-" if value is None else format_metric_value("latency", value)


_VERDICT_WORDS = {"held": "held", "breached": "BREACHED", "inconclusive": "INCONCLUSIVE"}
_RUN_WORDS = {"held": "SLA HELD", "breached": "SLA BREACHED", "inconclusive": "INCONCLUSIVE"}


def sla_table(report: Report) -> list[str]:
    """Lines of a fixed-width table: threshold, observed, limit (for a baseline-relative one,
    with the baseline it came from), verdict."""
    rows = [("threshold", "observed", "limit", "verdict")]
    for t in report.thresholds:
        rows.append((t.text, t.observed_text, t.requirement(), _VERDICT_WORDS[t.verdict]))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def run_summary(report: Report) -> list[str]:
    """Header, per-phase request table, SLA table and problems."""
    total = report.totals()
    verdict = _RUN_WORDS[report.verdict]
    lines = [
        f"{report.scenario.name}: {verdict} "
        f"(run {report.run_id}, {report.duration:.1f}s, target {report.target}, seed {report.seed})"
    ]
    if total is not None and total.count and total.ok == 0:
        lines.append(
            f"  EVERY REQUEST FAILED: {total.failed} of {total.count} "
            f"({', '.join(f'{k} {v}' for k, v in sorted(total.errors.items())) or 'no detail'})"
        )
    if total is not None:
        lines.append(
            f"  requests {total.count}, failed {total.failed}, "
            f"rps {total.rps or 0:.1f}, p50 {_fmt_latency(total.p50)}, "
            f"p95 {_fmt_latency(total.p95)}, p99 {_fmt_latency(total.p99)}"
        )
    res = next((r for r in report.resilience if r.phase == "*"), None)
    if res is not None and res.calls:
        lines.append(f"  {res.summary()}")
    if report.health is not None and report.health.load_model is not None:
        lines.append(f"  {health_line(report.health)}")
    phase_rows = [r for r in report.requests if r.name == "*" and r.phase != "*"]
    if phase_rows:
        lines.append("  phase            requests  failed      p95  faults fired")
        fired = {p.name: p.faults for p in report.phases}
        for row in phase_rows:
            faults = ", ".join(_fired(f.label, f.fired) for f in fired.get(row.phase, [])) or "-"
            lines.append(
                f"  {row.phase[:16]:<16} {row.count:>8} {row.failed:>7} {_fmt_latency(row.p95):>8}"
                f"  {faults}"
            )
    for figures in report.vendor_phases:
        if figures.phase != "*":
            lines.append(f"  {vendor_line(figures)}")
    if report.thresholds:
        lines.extend("  " + line for line in sla_table(report))
    for problem in report.problems:
        lines.append(f"  PROBLEM: {problem}")
    return lines


def _fired(label: str, fired: int | None) -> str:
    return f"{label}={'n/a' if fired is None else fired}"


def vendor_line(figures: VendorPhaseRow) -> str:
    """``vendor outage: primary 3.0 calls/request, backup 1.0 calls/request, backup served
    100%, failover 210ms, back to primary 12ms, Retry-After violations 0``: one phase as the
    vendors counted it."""
    parts = [
        f"{name} {'-' if value is None else f'{value:.2f}'} calls/request"
        for name, value in figures.calls_per_request.items()
    ]
    if figures.backup_share is not None:
        parts.append(f"backup served {format_metric_value('rate', figures.backup_share)}")
    if figures.failover_time is not None:
        parts.append(f"failover {_fmt_latency(figures.failover_time)}")
    if figures.back_to_primary_time is not None:
        parts.append(f"back to primary {_fmt_latency(figures.back_to_primary_time)}")
    parts.append(f"Retry-After violations {figures.retry_after_violations}")
    return f"vendor {figures.phase}: " + ", ".join(parts)


def health_line(health: HealthSection) -> str:
    """``health: open loop, starts 2000 missed 0 (0%), cap hits 0, generator CPU 34%, loop lag
    p99 4ms, p99 rests on 21 samples`` (then ``SATURATED: <reasons>`` when it was)."""
    parts = [f"health: {health.load_model} loop"]
    if health.load_model == "open":
        fraction = health.missed_start_fraction or 0.0
        parts.append(
            f"starts {health.scheduled_starts} missed {health.missed_starts} ({fraction:.1%}), "
            f"cap hits {health.in_flight_cap_hits}"
        )
    if health.unfinished_requests:
        parts.append(f"unfinished {health.unfinished_requests}")
    if health.cpu_max is not None:
        parts.append(f"generator CPU {health.cpu_max:.0%}")
    parts.append(f"loop lag p99 {_fmt_latency(health.loop_lag_p99)}")
    if "p99" in health.tail_samples:
        parts.append(f"p99 rests on {health.tail_samples['p99']} samples")
    line = ", ".join(parts)
    if health.saturated:
        line += " - GENERATOR SATURATED: " + "; ".join(health.saturation)
    return line
