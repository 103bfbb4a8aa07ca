"""Evaluating SLA thresholds against what the recorder saw.

Three outcomes. **held**; **breached**, including no data: a threshold over a phase or request
name that recorded nothing (or, for latency, no successful response) fails with "no data", so
a chaos run whose load never reached the target cannot look green; **inconclusive**, when the
measurement itself cannot be trusted: a percentile resting on too few samples to be stated
(p99 needs 100, :func:`min_samples`), or a latency or throughput threshold measured while the
load generator was saturated (:mod:`harness.measure.health`). Latency thresholds are computed
over successful responses only: a failure's latency says nothing of the service's speed.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from harness.measure.recorder import Recorder, RequestStats, Second
from harness.measure.sla import OPERATORS, Threshold, metric_kind
from harness.measure.vendor import (
    VENDOR_METRICS,
    VendorLedgers,
    fault_blocks,
    observe_vendor,
    phase_facts,
)

Status = Literal["held", "breached", "inconclusive"]
SATURATION_SENSITIVE = ("latency", "duration")
"""Metric kinds a saturated generator distorts (plus ``rps``): what it measured is its own
queueing, not the service."""

RECOVERY_WINDOW = 2  # seconds that must stay within the baseline band to count as recovered
RECOVERY_ERROR_SLACK = 0.02  # error rate above the baseline's that still counts as recovered
RECOVERY_LATENCY_SLACK = 0.2  # seconds of p95 above the baseline's that still count


@dataclass(frozen=True, slots=True)
class PhaseWindow:
    """A phase's place in the run, as the driver ran it."""

    name: str
    start: float
    end: float
    faulty: bool


@dataclass(frozen=True, slots=True)
class Verdict:
    """One threshold's outcome. ``observed`` is None when there was no data (a breach);
    ``limit`` is the limit applied (for a baseline-relative threshold, the one the
    ``baseline`` value produced); ``samples`` how many requests the observed value rests on."""

    threshold: Threshold
    observed: float | None
    status: Status
    detail: str
    limit: float | None = None
    baseline: float | None = None
    samples: int | None = None
    worst: float | None = None

    @property
    def held(self) -> bool:
        return self.status == "held"

    @property
    def observed_text(self) -> str:
        if self.observed is None:
            return "no data"
        return self.threshold.format_value(self.observed)

    @property
    def margin(self) -> float | None:
        """How far the observed value is beyond the limit, whichever way the operator points:
        positive (or zero, for a strict operator) when breached, negative (the headroom) when
        held."""
        if self.observed is None or self.limit is None:
            return None
        if self.threshold.op in ("<", "<="):
            return self.observed - self.limit
        if self.threshold.op == "==":
            return abs(self.observed - self.limit)
        return self.limit - self.observed


def min_samples(percentile: float) -> int:
    """How many samples a percentile needs to be stated at all: one beyond it at least
    (p50: 2, p90: 10, p95: 20, p99: 100, p99.9: 1000)."""
    return math.ceil(100.0 / (100.0 - percentile) - 1e-9)


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


Observation = tuple[float | None, str, int | None]
"""``(value, why it may be None, samples it rests on)``."""


def observe(
    threshold: Threshold,
    recorder: Recorder,
    phases: Sequence[PhaseWindow],
    *,
    phase: str | None = None,
    vendor: VendorLedgers | None = None,
) -> Observation:
    """The observed value of ``threshold``'s metric over its scope (``phase`` overrides the
    threshold's own: how a baseline is read), why it may be None, and its sample count
    (``vendor``: the ledgers the vendor-side metrics read)."""
    metric = threshold.metric
    phase = threshold.phase if phase is None else phase
    if metric in VENDOR_METRICS:
        facts = phase_facts(recorder, phases)
        value, why = observe_vendor(metric, vendor, facts, phase=phase, upstream=threshold.upstream)
        return value, why, None
    if metric == "recovery_time":
        value, why = recovery_time(recorder, phases, phase)
        return value, why, None
    if metric in ("retries_per_call", "fallback_rate"):
        # ``name=`` scopes these by the core's event source (``llm``, ``tool:<name>``, ...)
        res = recorder.resilience_stats(phase=phase, source=threshold.name)
        none = (
            "no calls of the resilient core were observed"
            + (f" in phase {phase!r}" if phase else "")
            + (f" from source {threshold.name!r}" if threshold.name else "")
        )
        if metric == "retries_per_call":
            return _ratio(res.retries, res.calls), none, res.calls
        return _ratio(res.fallback_calls, res.calls), none, res.calls
    stats = recorder.stats(name=threshold.name, phase=phase)
    scope = (f" in phase {phase!r}" if phase else "") + (
        f" for {threshold.name!r}" if threshold.name else ""
    )
    if stats.count == 0:
        return None, "no requests were recorded" + scope, 0
    if metric == "error_rate":
        return stats.failed / stats.count, "", stats.count
    if metric == "availability":
        return stats.ok / stats.count, "", stats.count
    if metric == "rps":
        span = recorder.span(phase)
        return _ratio(stats.count, span), "the run has no duration", stats.count
    return _latency(threshold, stats, scope)


def _latency(threshold: Threshold, stats: RequestStats, scope: str) -> Observation:
    """A latency metric over the successful responses only (the histogram holds those)."""
    if stats.ok == 0:
        return None, f"no successful response{scope} ({stats.failed} failed)", 0
    if threshold.percentile is not None:
        return stats.percentile(threshold.percentile), "", stats.ok
    if threshold.metric == "avg":
        return stats.mean(), "", stats.ok
    if threshold.metric == "max":
        return stats.max(), "", stats.ok
    if threshold.metric == "min":
        return stats.min(), "", stats.ok
    raise AssertionError(f"unhandled metric {threshold.metric!r}")  # pragma: no cover


def baseline_phase(threshold: Threshold, phases: Sequence[PhaseWindow]) -> str | None:
    """The phase a relative threshold's baseline is read in: the one it names, or the run's
    first fault-free phase."""
    if threshold.baseline_phase is not None:
        return threshold.baseline_phase
    return next((p.name for p in phases if not p.faulty), None)


def evaluate(
    thresholds: Sequence[Threshold],
    recorder: Recorder,
    phases: Sequence[PhaseWindow] = (),
    *,
    saturation: Sequence[str] = (),
    vendor: VendorLedgers | None = None,
) -> list[Verdict]:
    """Each threshold's verdict. ``saturation`` gives the reasons the load generator was
    saturated (:func:`harness.measure.health.saturation`; see :func:`judge`); ``vendor`` the
    ledgers the vendor-side metrics read."""
    return [_verdict(t, recorder, phases, saturation, vendor) for t in thresholds]


def _verdict(
    threshold: Threshold,
    recorder: Recorder,
    phases: Sequence[PhaseWindow],
    saturation: Sequence[str],
    vendor: VendorLedgers | None,
) -> Verdict:
    observed, why, samples = observe(threshold, recorder, phases, vendor=vendor)
    if observed is None or math.isnan(observed):
        return Verdict(
            threshold,
            None,
            "breached",
            f"breached: {why} (no data is a breach)",
            threshold.limit(),
            None,
            samples,
        )
    baseline = None
    if threshold.relative is not None:
        base_phase = baseline_phase(threshold, phases)
        if base_phase is None:
            return Verdict(
                threshold,
                observed,
                "breached",
                "breached: no fault-free phase to take as the baseline (no data is a breach)",
                samples=samples,
            )
        baseline, base_why, _ = observe(
            threshold, recorder, phases, phase=base_phase, vendor=vendor
        )
        if baseline is None:
            return Verdict(
                threshold,
                observed,
                "breached",
                f"breached: no baseline: {base_why} (no data is a breach)",
                samples=samples,
            )
    limit = threshold.limit(baseline)
    assert limit is not None  # absolute, or the baseline was found
    worst = _worst_case(threshold, recorder, observed, samples)
    status, doubt = judge(
        threshold.metric,
        threshold.op,
        observed,
        limit,
        samples=samples,
        worst=worst,
        saturation="; ".join(saturation),
    )
    shown = threshold.format_value(observed)
    described = f"{threshold.op} {threshold.describe_limit(baseline)}"
    if status == "inconclusive":
        detail = f"inconclusive: {shown} {described}, but {doubt}"
    elif status == "held":
        detail = f"held: {shown} {described}"
    else:
        gap = threshold.format_value(abs(observed - limit))
        detail = f"breached: {shown} is not {described} (off by {gap})"
    return Verdict(threshold, observed, status, detail, limit, baseline, samples, worst)


def _worst_case(
    threshold: Threshold, recorder: Recorder, observed: float, samples: int | None
) -> float | None:
    """For a percentile over an open-loop load that missed starts: the value it would have
    had if every missed start had been answered slower than anything seen (None: nothing was
    missed in its scope, or the metric is not a percentile)."""
    if threshold.percentile is None or not samples:
        return None
    missed = recorder.load_stats(phase=threshold.phase).missed_starts
    if not missed:
        return None
    rank = math.ceil(threshold.percentile / 100.0 * (samples + missed))
    if rank > samples:
        return math.inf
    stats = recorder.stats(name=threshold.name, phase=threshold.phase)
    return stats.percentile(min(100.0, 100.0 * rank / samples)) or observed


def judge(
    metric: str,
    op: str,
    observed: float,
    limit: float,
    *,
    samples: int | None,
    worst: float | None,
    saturation: str,
) -> tuple[Status, str]:
    """A threshold's status from its numbers and the run's measurement health, and why it is
    inconclusive ('' otherwise). The engine and ``harness gate`` both judge through this.

    - A percentile on fewer than :func:`min_samples` samples cannot be stated: inconclusive.
    - A saturated load generator (``saturation`` gives its reasons) only ever makes the service
      look *worse*: latencies longer (they count from each intended start), throughput lower,
      recovery later. So a verdict that distortion cannot have caused stands (a latency limit
      that held, a throughput floor that held), and the others are inconclusive. Missed starts
      may hide slow requests: a latency limit holds only if it also holds in the ``worst`` case
      (every missed start answered slower than anything seen).
    """
    percentile = percentile_of(metric)
    if percentile is not None and samples is not None and samples < min_samples(percentile):
        needed = min_samples(percentile)
        return "inconclusive", f"{metric} needs {needed} samples to be stated, got {samples}"
    held = OPERATORS[op](observed, limit)
    status: Status = "held" if held else "breached"
    kind = metric_kind(metric)
    latency_like = kind in SATURATION_SENSITIVE
    if not saturation or not (latency_like or metric == "rps"):
        return status, ""
    saturated = f"the load generator was saturated ({saturation})"
    if op == "==":
        return "inconclusive", saturated
    upper = op in ("<", "<=")
    # the distortion pushes latency up and throughput down: it works against an upper limit
    # on latency and a lower limit on throughput, so such a limit that held is sound
    sound_if_held = upper if latency_like else not upper
    if sound_if_held and held:
        if worst is not None and not OPERATORS[op](worst, limit):
            return "inconclusive", (
                f"{saturated}; had the missed starts been answered slowly, the limit would not hold"
            )
        return "held", ""
    return "inconclusive", saturated


def percentile_of(metric: str) -> float | None:
    """``95.0`` for ``p95``; None for a metric that is not a percentile."""
    match = re.fullmatch(r"p(\d{1,2}(?:\.\d+)?)", metric)
    return float(match.group(1)) if match else None


# -- recovery time ---------------------------------------------------------------------------------


def sample_percentile(samples: list[float], percentile: float) -> float | None:
    """The nearest-rank ``percentile`` (0-100) of raw samples; None without samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(percentile / 100 * len(ordered)) - 1))]


def recovery_time(
    recorder: Recorder, phases: Sequence[PhaseWindow], scope: str | None = None
) -> tuple[float | None, str]:
    """Seconds after a fault phase ends until error rate and p95 are back within the baseline band
    for :data:`RECOVERY_WINDOW` seconds (or until the fault-free stretch ends, when it is shorter);
    the worst over the fault phases (or the scoped one).

    The baseline is the first phase without faults before the first fault phase. The band is an
    error rate of at most ``max(2 x baseline, baseline + 2 %)`` and a p95 of at most
    ``max(2 x baseline, baseline + 200 ms)``: wide enough that a busy machine's scheduling noise
    in one second's sample does not read as "not recovered", narrow enough that a service still
    failing over, timing out or erroring does.

    None (with the reason), never a number, when recovery was not seen: no baseline, a fault
    phase that nothing fault-free follows (the last phase has faults, or the run ended during
    it), no request after a fault phase, or no recovery before the next fault phase or the end.
    Consecutive fault phases count as one block, recovered from after its last phase.
    """
    first_fault = next((i for i, p in enumerate(phases) if p.faulty), len(phases))
    baseline = next((p for p in phases[:first_fault] if not p.faulty), None)
    if baseline is None:
        return None, "no fault-free phase before the faults to take as the baseline"
    base = recorder.stats(phase=baseline.name)
    if base.count == 0:
        return None, f"no requests in the baseline phase {baseline.name!r}"
    base_error = base.failed / base.count
    base_p95 = base.percentile(95) or 0.0
    max_error = max(2 * base_error, base_error + RECOVERY_ERROR_SLACK)
    max_p95 = max(2 * base_p95, base_p95 + RECOVERY_LATENCY_SLACK)
    blocks = fault_blocks(phases, holding=scope)
    if not blocks:
        return None, "no fault phase to recover from" + (f" named {scope!r}" if scope else "")
    seconds = recorder.series()
    starts = [s.t for s in seconds]
    counts: Counter[str] = Counter()
    for (_, phase), stats in list(recorder.requests.items()):
        counts[phase] += stats.count
    worst = 0.0
    for block in blocks:
        names = "+".join(phases[i].name for i in block)
        end = phases[block[-1]].end
        stretch = list(itertools.takewhile(lambda p: not p.faulty, phases[block[-1] + 1 :]))
        if not stretch:
            return None, (
                f"nothing fault-free follows {names!r} to recover in (the last phase has faults, "
                "or the run ended during it)"
            )
        if not any(counts[p.name] for p in stretch):
            after = "+".join(p.name for p in stretch)
            return None, f"no requests after {names!r} (in {after!r}) to see recovery in"
        horizon = stretch[-1].end
        # every second that ends after the block (the one straddling its end included)
        first = bisect.bisect_right(starts, end - 1)
        last = bisect.bisect_left(starts, horizon)
        candidates = [s for s in seconds[first:last] if s.requests and s.t + 1 > end]
        recovered_at = _first_stable(candidates, max_error, max_p95)
        if recovered_at is None:
            return None, f"did not recover after {names!r} before {horizon:.1f}s"
        worst = max(worst, recovered_at - end)
    return worst, ""


def _first_stable(seconds: list[Second], max_error: float, max_p95: float) -> float | None:
    def healthy(s: Second) -> bool:
        p95 = sample_percentile(s.samples, 95)
        return s.errors / s.requests <= max_error and (p95 is None or p95 <= max_p95)

    for i, second in enumerate(seconds):
        window = seconds[i : i + RECOVERY_WINDOW]
        if window and all(healthy(s) for s in window):
            return float(second.t)
    return None
