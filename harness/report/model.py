"""The report model: one versioned JSON document per run, rendered by reporter plugins.

Schema (``version`` 1)::

    {
      "version": 1, "run_id": str, "driver": "pytest" | "cli" | "locust",
      "scenario": {"name", "description", "source"}, "target": str, "seed": int,
      "started_at": ISO-8601, "duration": seconds, "held": bool,
      "thresholds": [{"text", "metric", "scope", "op", "limit", "observed", "observed_text",
                      "held", "detail", "margin"}],
      "phases": [{"name", "start", "end", "faults": [{"label", "kind", "endpoint",
                  "optional", "fired"}]}],
      "requests": [{"name", "phase", "count", "ok", "failed", "rps", "avg", "p50", "p90",
                    "p95", "p99", "max", "errors": {class: n}, "statuses": {code: n}}],
      "resilience": [{"phase", <every counter of ResilienceStats>: n,
                      "attempts_per_call": {n: calls}, "attempts_by_provider": {p: n}}],
      "series": [{"t", "phase", "requests", "errors", "p50", "p95", "max"}],
      "health": {"load_model", "scheduled_starts", "missed_starts", "in_flight_cap_hits",
                 "unfinished_requests", "missed_start_fraction", "start_delay_p99",
                 "start_delay_max", "cpu_max", "loop_lag_p99", "tail_samples": {"p99": n},
                 "saturated", "saturation": [str],
                 "generators": [{"name", "cpu_seconds", "wall_seconds", "cpu",
                                 "loop_lag_p50", "loop_lag_p99", "loop_lag_max",
                                 "loop_lag_samples"}],
                 "phases": [{"phase", "scheduled_starts", "missed_starts",
                             "in_flight_cap_hits", "unfinished_requests"}]} | null,
      "vendor": [{"endpoint", "role", "phase", <every counter of VendorStats>: n,
                  "statuses": {outcome: n}, "faults_fired": {label: n},
                  "calls_by_second": {second: n}, "first_ok_after", "calls_per_request"}],
      "vendor_phases": [{"phase", "requests", "calls_per_request": {upstream: x},
                         "backup_share", "failover_time", "back_to_primary_time",
                         "retry_after_violations"}],
      "vendor_uncounted": {endpoint: why},
      "problems": [str],       # e.g. a declared fault that never fired
      "recorder": {...}        # the exact, mergeable recorder snapshot (HDR histograms)
    }

Latencies are seconds, rates fractions. ``held`` is true only when every threshold held and
there is no problem. :mod:`harness.report.build` builds it from a recorder and
:mod:`harness.report.files` writes and reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.measure.health import LoadCounters
from harness.measure.recorder import ResilienceStats
from harness.measure.sla import format_metric_value, metric_kind
from harness.measure.vendor import VendorFigures, VendorStats

REPORT_VERSION = 1


@dataclass(frozen=True, slots=True)
class FaultRecord:
    """What happened to one declared fault."""

    label: str
    kind: str
    phase: str
    endpoint: str
    optional: bool
    fired: int | None

    @property
    def never_fired(self) -> bool:
        """Declared, not optional, and known to have fired zero times (None: not countable)."""
        return not self.optional and self.fired == 0


class _Row(BaseModel):
    # strict: a report is read back from JSON by ``harness gate``, and "false" is not false, nor
    # 1 a bool, nor true a count; numbers stay numbers (an int is a valid float)
    model_config = ConfigDict(extra="forbid", strict=True)


Status = Literal["held", "breached", "inconclusive"]


class ThresholdRow(_Row):
    """One threshold's verdict. ``limit`` is the limit applied (for a baseline-relative one,
    the limit its ``baseline`` produced; None when the baseline had no data); ``samples`` how
    many requests the observed value rests on; ``verdict`` held, breached or inconclusive
    (``held`` is ``verdict == "held"``), as :func:`harness.measure.verdicts.judge` decides it from
    these numbers and the run's health."""

    text: str
    metric: str
    scope: str
    op: Literal["<", "<=", ">", ">=", "=="]
    limit: float | None
    observed: float | None
    observed_text: str
    held: bool
    detail: str
    margin: float | None
    verdict: Status = "held"
    baseline: float | None = None
    samples: int | None = None
    worst: float | None = None
    """A percentile's value had every missed start been answered slower than anything seen;
    None when no start was missed in its scope (``worst_unbounded``: more were missed than
    the percentile can absorb)."""
    worst_unbounded: bool = False

    def requirement(self) -> str:
        """The limit as a table shows it, e.g. ``< 2s``, ``>= 99.5%``, or for a
        baseline-relative threshold the limit its baseline produced: ``< 412ms (baseline
        112ms)``."""
        kind = metric_kind(self.metric) or "number"
        if self.limit is None:
            return f"{self.op} (no baseline)"
        text = f"{self.op} {format_metric_value(kind, self.limit)}"
        if self.baseline is not None:
            text += f" (baseline {format_metric_value(kind, self.baseline)})"
        return text


class FaultRow(_Row):
    label: str
    kind: str
    endpoint: str
    optional: bool
    fired: int | None


class PhaseRow(_Row):
    name: str
    start: float
    end: float
    faults: list[FaultRow] = Field(default_factory=list)


class RequestRow(_Row):
    name: str
    phase: str
    count: int
    ok: int
    failed: int
    rps: float | None
    avg: float | None
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    max: float | None
    errors: dict[str, int]
    statuses: dict[str, int]


@dataclass(slots=True, kw_only=True)
class ResilienceRow(ResilienceStats):
    """The core's counters over one phase (``*``: the whole run): the fields of
    :class:`~harness.measure.recorder.ResilienceStats`, declared once there."""

    __pydantic_config__ = ConfigDict(extra="forbid", strict=True)
    phase: str = "*"


@dataclass(slots=True, kw_only=True)
class VendorRow(VendorStats):
    """What reached one endpoint (``role`` upstream or proxy) in one phase (``*``: the whole
    run), counted by the endpoint itself: the fields of
    :class:`~harness.measure.vendor.VendorStats`, declared once there.
    ``calls_per_request`` is its calls per target request started in the phase."""

    __pydantic_config__ = ConfigDict(extra="forbid", strict=True)
    endpoint: str = ""
    role: Literal["upstream", "proxy"] = "upstream"
    phase: str = "*"
    calls_per_request: float | None = None


class VendorPhaseRow(_Row, VendorFigures):
    """The vendor-side figures of one phase (``*``: the whole run): calls per target request
    of each upstream, the share of successful answers the backups gave, failover and
    back-to-primary times (fault phases) and Retry-After violations. The fields of
    :class:`~harness.measure.vendor.VendorFigures`, declared once there."""


class SecondRow(_Row):
    t: int
    phase: str | None
    requests: int
    errors: int
    p50: float | None
    p95: float | None
    max: float | None


class GeneratorRow(_Row):
    """One load-generator process: CPU seconds over wall seconds (``cpu``, 1.0 = one core)
    and how late its event loop woke (seconds)."""

    name: str
    cpu_seconds: float
    wall_seconds: float
    cpu: float | None
    loop_lag_p50: float | None
    loop_lag_p99: float | None
    loop_lag_max: float | None
    loop_lag_samples: int


@dataclass(slots=True, kw_only=True)
class LoadCountersRow(LoadCounters):
    """Open-loop start counters over one phase: the fields of
    :class:`~harness.measure.health.LoadCounters`, declared once there."""

    __pydantic_config__ = ConfigDict(extra="forbid", strict=True)
    phase: str = "*"


class HealthSection(_Row):
    """Measurement health (:mod:`harness.measure.health`): could the load generator do what
    the scenario asked? Latencies in seconds, ``cpu`` and fractions as fractions.
    ``saturated`` (with its ``saturation`` reasons) says the generator, not the service,
    may have shaped the figures."""

    load_model: str | None
    scheduled_starts: int
    missed_starts: int
    in_flight_cap_hits: int
    unfinished_requests: int
    missed_start_fraction: float | None
    start_delay_p99: float | None
    start_delay_max: float | None
    cpu_max: float | None
    loop_lag_p99: float | None
    tail_samples: dict[str, int]
    saturated: bool
    saturation: list[str] = Field(default_factory=list)
    generators: list[GeneratorRow] = Field(default_factory=list)
    phases: list[LoadCountersRow] = Field(default_factory=list)


class ScenarioInfo(_Row):
    name: str
    description: str = ""
    source: str = ""


class Report(_Row):
    """A run's results; the single input of every reporter and of ``harness gate``."""

    version: Literal[1] = 1
    run_id: str
    driver: str
    scenario: ScenarioInfo
    target: str
    seed: int
    started_at: str
    duration: float
    held: bool
    thresholds: list[ThresholdRow]
    verdict: Status = "held"
    phases: list[PhaseRow]
    requests: list[RequestRow]
    resilience: list[ResilienceRow]
    series: list[SecondRow]
    health: HealthSection | None = None
    vendor: list[VendorRow] = Field(default_factory=list)
    vendor_phases: list[VendorPhaseRow] = Field(default_factory=list)
    vendor_uncounted: dict[str, str] = Field(default_factory=dict)
    problems: list[str] = Field(default_factory=list)
    recorder: dict[str, Any] = Field(default_factory=dict)

    @property
    def breaches(self) -> list[ThresholdRow]:
        return [t for t in self.thresholds if t.verdict == "breached"]

    @property
    def inconclusive(self) -> list[ThresholdRow]:
        return [t for t in self.thresholds if t.verdict == "inconclusive"]

    def totals(self) -> RequestRow | None:
        return next((r for r in self.requests if r.name == "*" and r.phase == "*"), None)
