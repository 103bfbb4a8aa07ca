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
      "resilience": [{"phase", "calls", "attempts", "retries", "fallbacks", "fallback_calls",
                      "breaker_opens", "budget_exhausted", "attempts_per_call": {n: calls},
                      "attempts_by_provider": {provider: attempts}}],
      "series": [{"t", "phase", "requests", "errors", "p50", "p95", "max"}],
      "problems": [str],       # e.g. a declared fault that never fired
      "recorder": {...}        # the exact, mergeable recorder snapshot (HDR histograms)
    }

Latencies are seconds, rates fractions. ``held`` is true only when every threshold held and
there is no problem. Files are written atomically (temporary file + rename).
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness._errors import InputError
from harness._metrics import Recorder
from harness._timeline import FaultRecord
from harness._verdicts import PhaseWindow, Verdict, _p95

REPORT_VERSION = 1


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ThresholdRow(_Row):
    text: str
    metric: str
    scope: str
    op: str
    limit: float
    observed: float | None
    observed_text: str
    held: bool
    detail: str
    margin: float | None


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


class ResilienceRow(_Row):
    phase: str
    calls: int
    attempts: int
    retries: int
    fallbacks: int
    fallback_calls: int
    breaker_opens: int
    budget_exhausted: int
    attempts_per_call: dict[str, int]
    attempts_by_provider: dict[str, int] = Field(default_factory=dict)


class SecondRow(_Row):
    t: int
    phase: str | None
    requests: int
    errors: int
    p50: float | None
    p95: float | None
    max: float | None


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
    phases: list[PhaseRow]
    requests: list[RequestRow]
    resilience: list[ResilienceRow]
    series: list[SecondRow]
    problems: list[str] = Field(default_factory=list)
    recorder: dict[str, Any] = Field(default_factory=dict)

    @property
    def breaches(self) -> list[ThresholdRow]:
        return [t for t in self.thresholds if not t.held]

    def totals(self) -> RequestRow | None:
        return next((r for r in self.requests if r.name == "*" and r.phase == "*"), None)


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
        resilience.append(
            ResilienceRow(
                phase=phase,
                calls=res.calls,
                attempts=res.attempts,
                retries=res.retries,
                fallbacks=res.fallbacks,
                fallback_calls=res.fallback_calls,
                breaker_opens=res.breaker_opens,
                budget_exhausted=res.budget_exhausted,
                attempts_per_call={str(k): v for k, v in sorted(res.attempts_per_call.items())},
                attempts_by_provider=dict(sorted(res.attempts_by_provider.items())),
            )
        )
    series = [
        SecondRow(
            t=s.t,
            phase=s.phase,
            requests=s.requests,
            errors=s.errors,
            p50=sorted(s.samples)[len(s.samples) // 2] if s.samples else None,
            p95=_p95(s.samples),
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
        problems=problems,
        recorder=recorder.snapshot(),
    )


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory + rename, so a
    reader (or a crash) never sees a half-written report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it 0600; a report is for everyone
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once, at import, before any thread
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def load_report(path: str | Path) -> Report:
    """Read a report file; a missing, unreadable or malformed one is an :class:`InputError`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such report") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a readable JSON report ({exc})") from None
    if not isinstance(data, dict) or data.get("version") != REPORT_VERSION:
        found = data.get("version") if isinstance(data, dict) else type(data).__name__
        raise InputError(
            f"{path}: expected a harness report with version {REPORT_VERSION}, got {found!r}"
        )
    try:
        return Report.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"{path}: malformed report at {where}: {first['msg']}") from None


def new_run_id(name: str, now: datetime | None = None) -> str:
    """``<slug>-<UTC timestamp>-<pid>``: sortable, unique per process."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")[:40] or "run"
    return f"{slug}-{stamp}-{os.getpid()}"
