"""Formatting shared by the text reporters: values, threshold labels, per-phase rows.

Every reporter reads the same :class:`~harness.report.model.Report`, so the way a latency or a
fault count is written lives here once (a threshold's limit: ``ThresholdRow.requirement()``,
which the plain-text summary shares). Latencies are seconds and rates fractions in
the report; they are rendered like the SLA strings users write (``450ms``, ``2.5s``, ``99.5%``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from harness.plugin import (
    FaultRow,
    PhaseRow,
    Report,
    RequestRow,
    ResilienceRow,
    ThresholdRow,
    VendorRow,
    format_metric_value,
)

ALL = "*"
NONE = "-"


def latency(value: float | None) -> str:
    """``450ms`` / ``2.5s``, or ``-`` without data."""
    return NONE if value is None else format_metric_value("latency", value)


def rate(value: float | None) -> str:
    """A fraction as a percentage (``0.5%``), or ``-``."""
    return NONE if value is None else format_metric_value("rate", value)


def number(value: float | None, digits: int = 1) -> str:
    return NONE if value is None else f"{value:.{digits}f}"


def duration(seconds: float) -> str:
    """A run or phase length: ``12.3s``, ``2m05s``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def threshold_label(row: ThresholdRow) -> str:
    """The threshold as written, with its scope appended when the text does not show it."""
    parts = row.scope.split()
    if parts and not all(part in row.text for part in parts):
        return f"{row.text} [{row.scope}]"
    return row.text


def verdict(row: ThresholdRow) -> str:
    """``held``, ``breached``, ``no data`` (which is a breach too) or ``inconclusive``."""
    if row.verdict == "breached" and row.observed is None:
        return "no data"
    return row.verdict


def breach_message(row: ThresholdRow) -> str:
    """One line naming the observed value and the limit: the row's ``detail`` when it already
    does (the engine's details do), otherwise the detail prefixed with both."""
    wanted = row.requirement()
    if row.observed_text in row.detail and wanted in row.detail:
        return row.detail
    return f"observed {row.observed_text}, required {wanted}: {row.detail}"


def fired(fault: FaultRow) -> str:
    """How often a fault took effect: ``12``, ``0``, or ``?`` when its backend did not count."""
    return "?" if fault.fired is None else str(fault.fired)


def never_fired(fault: FaultRow) -> bool:
    return not fault.fired


def attempts_text(attempts_per_call: Mapping[int, int]) -> str:
    """``1x40, 2x5, 3x1``: how many calls needed how many attempts."""
    return ", ".join(f"{k}x{v}" for k, v in sorted(attempts_per_call.items())) or NONE


def resilience_columns() -> list[tuple[str, str]]:
    """``(field, header)`` of the core's counters every reporter shows, in declaration order
    (a new counter in :class:`~harness.plugin.ResilienceRow` appears in every table)."""
    return ResilienceRow.columns()


def vendor_columns(rows: list[VendorRow]) -> list[tuple[str, str]]:
    """``(field, header)`` of the ledger counters a vendor table shows: calls and ok always,
    the others when some row has one (a run without proxies shows no byte counts)."""
    return [
        (name, label)
        for name, label in VendorRow.columns()
        if name in ("calls", "ok") or any(getattr(r, name) for r in rows)
    ]


def vendor_rows(report: Report) -> list[VendorRow]:
    """The ledger rows, endpoint by endpoint (upstreams in fallback order, then proxies), each
    endpoint's phases in run order, then its whole-run row."""
    return list(report.vendor)  # built in that order (harness.report.build.vendor_rows)


def count(value: float | None) -> str:
    """A count or a ratio such as calls per request: ``3``, ``2.47``, or ``-``."""
    if value is None:
        return NONE
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def counts_text(counts: dict[str, int]) -> str:
    """Error classes or statuses, most frequent first: ``timeout 3, http_503 2``."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{k} {v}" for k, v in items) or NONE


def slug(name: str) -> str:
    """``Vendor outage @50 users`` -> ``vendor_outage_50_users`` (for JUnit class names)."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "scenario"


@dataclass(frozen=True, slots=True)
class PhaseLine:
    """One phase as the tables show it: its requests, its window and faults, its counters."""

    name: str
    requests: RequestRow | None
    phase: PhaseRow | None
    resilience: ResilienceRow | None


def phase_lines(report: Report) -> list[PhaseLine]:
    """The phases in run order (declared phases first, then any the recorder saw besides)."""
    requests = {r.phase: r for r in report.requests if r.name == ALL and r.phase != ALL}
    resilience = {r.phase: r for r in report.resilience if r.phase != ALL}
    names = [p.name for p in report.phases]
    names += [n for n in [*requests, *resilience] if n not in names]
    phases = {p.name: p for p in report.phases}
    return [
        PhaseLine(n, requests.get(n), phases.get(n), resilience.get(n))
        for n in dict.fromkeys(names)
    ]


def total_resilience(report: Report) -> ResilienceRow | None:
    return next((r for r in report.resilience if r.phase == ALL), None)


def has_resilience(report: Report) -> bool:
    """Whether the resilient core reported anything (a black-box target reports nothing)."""
    return any(r.calls or r.attempts for r in report.resilience)


def name_rows(report: Report) -> list[RequestRow]:
    """Per-request-name totals (over all phases), when the run made more than one kind."""
    rows = [r for r in report.requests if r.name != ALL and r.phase == ALL]
    return rows if len(rows) > 1 else []
