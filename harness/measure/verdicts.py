"""Evaluating SLA thresholds against what the recorder saw.

No data is a breach, never a pass: a threshold over a phase or request name that recorded
nothing fails with "no data", so a chaos run whose load never reached the target cannot look
green.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from harness.measure.recorder import Recorder, Second
from harness.measure.sla import Threshold
from harness.measure.vendor import VENDOR_METRICS, VendorLedgers, observe_vendor, phase_facts

RECOVERY_WINDOW = 2  # seconds that must stay within the baseline band to count as recovered


@dataclass(frozen=True, slots=True)
class PhaseWindow:
    """A phase's place in the run, as the driver ran it."""

    name: str
    start: float
    end: float
    faulty: bool


@dataclass(frozen=True, slots=True)
class Verdict:
    """One threshold's outcome. ``observed`` is None when there was no data (a breach)."""

    threshold: Threshold
    observed: float | None
    held: bool
    detail: str

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
        if self.observed is None:
            return None
        if self.threshold.op == "==":
            return abs(self.observed - self.threshold.value)
        if self.threshold.op in ("<", "<="):
            return self.observed - self.threshold.value
        return self.threshold.value - self.observed


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def observe(
    threshold: Threshold,
    recorder: Recorder,
    phases: Sequence[PhaseWindow],
    vendor: VendorLedgers | None = None,
) -> tuple[float | None, str]:
    """The observed value of ``threshold``'s metric over its scope, and why it may be None
    (``vendor``: the ledgers the vendor-side metrics read)."""
    metric = threshold.metric
    if metric in VENDOR_METRICS:
        facts = phase_facts(recorder, phases)
        return observe_vendor(
            metric, vendor, facts, phase=threshold.phase, upstream=threshold.upstream
        )
    if metric == "recovery_time":
        return recovery_time(recorder, phases, threshold.phase)
    if metric in ("retries_per_call", "fallback_rate"):
        # ``name=`` scopes these by the core's event source (``llm``, ``tool:<name>``, ...)
        res = recorder.resilience_stats(phase=threshold.phase, source=threshold.name)
        none = (
            "no calls of the resilient core were observed"
            + (f" in phase {threshold.phase!r}" if threshold.phase else "")
            + (f" from source {threshold.name!r}" if threshold.name else "")
        )
        if metric == "retries_per_call":
            return _ratio(res.retries, res.calls), none
        return _ratio(res.fallback_calls, res.calls), none
    stats = recorder.stats(name=threshold.name, phase=threshold.phase)
    empty = (
        "no requests were recorded"
        + (f" in phase {threshold.phase!r}" if threshold.phase else "")
        + (f" for {threshold.name!r}" if threshold.name else "")
    )
    if stats.count == 0:
        return None, empty
    if threshold.percentile is not None:
        return stats.percentile(threshold.percentile), empty
    if metric == "avg":
        return stats.mean(), empty
    if metric == "max":
        return stats.max(), empty
    if metric == "min":
        return stats.min(), empty
    if metric == "error_rate":
        return stats.failed / stats.count, empty
    if metric == "availability":
        return stats.ok / stats.count, empty
    if metric == "rps":
        span = recorder.span(threshold.phase)
        return _ratio(stats.count, span), "the run has no duration"
    raise AssertionError(f"unhandled metric {metric!r}")  # pragma: no cover - parse rejects it


def evaluate(
    thresholds: Sequence[Threshold],
    recorder: Recorder,
    phases: Sequence[PhaseWindow] = (),
    *,
    vendor: VendorLedgers | None = None,
) -> list[Verdict]:
    verdicts = []
    for threshold in thresholds:
        observed, why = observe(threshold, recorder, phases, vendor)
        if observed is None or math.isnan(observed):
            verdicts.append(
                Verdict(threshold, None, False, f"breached: {why} (no data is a breach)")
            )
            continue
        held = threshold.holds(observed)
        shown = threshold.format_value(observed)
        limit = f"{threshold.op} {threshold.format_value(threshold.value)}"
        if held:
            detail = f"held: {shown} {limit}"
        else:
            gap = threshold.format_value(abs(observed - threshold.value))
            detail = f"breached: {shown} is not {limit} (off by {gap})"
        verdicts.append(Verdict(threshold, observed, held, detail))
    return verdicts


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
    error rate of at most ``max(2 x baseline, baseline + 1 %)`` and a p95 of at most
    ``max(1.5 x baseline, baseline + 50 ms)``.

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
    max_error = max(2 * base_error, base_error + 0.01)
    max_p95 = max(1.5 * base_p95, base_p95 + 0.05)
    blocks = _fault_blocks(phases)
    if scope is not None:
        blocks = [b for b in blocks if any(phases[i].name == scope for i in b)]
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


def _fault_blocks(phases: Sequence[PhaseWindow]) -> list[list[int]]:
    """Runs of consecutive fault phases, as indexes (recovery is measured after each run ends)."""
    blocks: list[list[int]] = []
    current: list[int] = []
    for i, phase in enumerate(phases):
        if phase.faulty:
            current.append(i)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _first_stable(seconds: list[Second], max_error: float, max_p95: float) -> float | None:
    def healthy(s: Second) -> bool:
        p95 = sample_percentile(s.samples, 95)
        return s.errors / s.requests <= max_error and (p95 is None or p95 <= max_p95)

    for i, second in enumerate(seconds):
        window = seconds[i : i + RECOVERY_WINDOW]
        if window and all(healthy(s) for s in window):
            return float(second.t)
    return None
