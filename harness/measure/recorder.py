"""One recorder for every driver: latency HDR histograms and counters per request name and phase.

The pytest plugin, the in-process driver and the Locust driver all feed the same
:class:`Recorder`: ``record_request`` for what the driver saw, ``on_event`` for the resilient
core's events (retries, fallbacks, breaker opens, budget exhaustions). Histograms are
HdrHistograms (microsecond resolution, 3 significant digits), so recorders of pytest-xdist
workers or Locust workers merge *exactly* (:meth:`Recorder.merge` of :meth:`Recorder.snapshot`).

A per-second time series (requests, errors and a bounded latency sample) feeds the plots and
the ``recovery_time`` threshold.

The drivers also record the measurement's health (:mod:`harness.measure.health`): open-loop
start counters per phase, how late requests started, each generator process's CPU use and
event-loop lag; :meth:`Recorder.health` sums them up. They merge exactly like the rest.
"""

from __future__ import annotations

import base64
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hdrh.histogram import HdrHistogram

from harness.core import (
    AttemptStarted,
    BreakerStateChanged,
    BudgetExhausted,
    CallFinished,
    FallbackUsed,
    ResilienceEvent,
    RetryScheduled,
)
from harness.measure.hdr import Distribution
from harness.measure.health import (
    TAIL_PERCENTILES,
    GeneratorUsage,
    LatencyFigures,
    LoadCounters,
    LoadHealth,
    tail_samples,
)
from harness.measure.stats import CounterSet, counter, tally

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour
SIGNIFICANT_FIGURES = 3
SAMPLES_PER_SECOND = 500
ALL = "*"


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)


def _micros(seconds: float) -> int:
    return min(max(int(seconds * 1e6), LOWEST_US), HIGHEST_US)


def _encode(histogram: HdrHistogram) -> str:
    if not histogram.get_total_count():
        return ""
    return base64.b64encode(histogram.encode()).decode("ascii")


def _decode_into(histogram: HdrHistogram, text: str) -> None:
    if text:
        histogram.add(HdrHistogram.decode(base64.b64decode(text)))


def _figures(histogram: HdrHistogram) -> LatencyFigures:
    count = histogram.get_total_count()
    if not count:
        return LatencyFigures()
    distribution = Distribution.of(histogram)  # hdrh's readers walk every counter in Python
    return LatencyFigures(
        samples=count,
        p50=distribution.percentile(50) / 1e6,
        p99=distribution.percentile(99) / 1e6,
        max=distribution.max() / 1e6,
    )


@dataclass
class RequestStats:
    """What was seen for one (request name, phase) pair. ``histogram`` holds the latencies of
    the successful requests (``ok`` of them); ``failed`` ones are counted by error class."""

    histogram: HdrHistogram = field(default_factory=new_histogram)
    ok: int = 0
    failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)

    @property
    def count(self) -> int:
        return self.ok + self.failed

    def add(self, other: RequestStats) -> None:
        self.histogram.add(other.histogram)
        self.ok += other.ok
        self.failed += other.failed
        self.errors.update(other.errors)
        self.statuses.update(other.statuses)

    def distribution(self) -> Distribution:
        """The histogram's non-empty buckets: what the readers below read, in time proportional
        to them (hdrh's own readers walk every counter in Python)."""
        return Distribution.of(self.histogram)

    def percentile(self, p: float) -> float | None:
        """Seconds at percentile ``p`` (None without data)."""
        if self.histogram.get_total_count() == 0:
            return None
        return self.distribution().percentile(p) / 1e6

    def mean(self) -> float | None:
        if self.histogram.get_total_count() == 0:
            return None
        return self.distribution().mean() / 1e6

    def max(self) -> float | None:
        if self.histogram.get_total_count() == 0:
            return None
        return float(self.histogram.get_max_value()) / 1e6

    def min(self) -> float | None:
        if self.histogram.get_total_count() == 0:
            return None
        return float(self.histogram.get_min_value()) / 1e6


@dataclass(slots=True, kw_only=True)
class ResilienceStats(CounterSet):
    """Counters of the resilient core's events (or of a service's ``genai_llm_*`` metrics),
    for one phase. One line per counter: tables, summaries, JSON and the Prometheus names
    a service exports are derived from these declarations."""

    SUMMARY_PREFIX: ClassVar[str] = "core "

    calls: int = counter("calls", prom="genai_llm_calls_total")
    calls_ok: int = counter(None, prom="genai_llm_calls_total", prom_match={"outcome": "ok"})
    attempts: int = counter("attempts", prom="genai_llm_attempts_total")
    retries: int = counter("retries", prom="genai_llm_retries_total")
    fallbacks: int = counter("fallbacks", prom="genai_llm_fallbacks_total")
    fallback_calls: int = counter(
        "calls saved by fallback", prom="genai_llm_fallback_calls_total", summary=False
    )
    breaker_opens: int = counter("breaker opens", prom="genai_llm_breaker_opens_total")
    budget_exhausted: int = counter("budget refusals", prom="genai_llm_budget_exhausted_total")
    attempts_per_call: Counter[int] = tally("attempts per call")
    attempts_by_provider: Counter[str] = tally(
        None, prom="genai_llm_attempts_total", prom_key="provider"
    )


@dataclass
class GeneratorStats:
    """One load-generator process: CPU and wall seconds, and its event-loop lag histogram."""

    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    loop_lag: HdrHistogram = field(default_factory=new_histogram)


@dataclass
class Second:
    """One second of the run (``t`` seconds from the start)."""

    t: int
    phase: str | None
    requests: int = 0
    errors: int = 0
    samples: list[float] = field(default_factory=list)
    seen: int = 0


class Recorder:
    """Thread- and greenlet-safe recorder for one run."""

    def __init__(
        self, *, now: Callable[[], float] = time.monotonic, seed: int = 0, threadsafe: bool = True
    ) -> None:
        self._now = now
        # A Locust process runs greenlets that never yield inside the recorder: no lock needed
        # there, and gevent's patched lock would cost more than the recording itself.
        self._lock: AbstractContextManager[Any] = threading.Lock() if threadsafe else nullcontext()
        self._rng = random.Random(seed)
        self.warming_up = False  # events of a warm-up request are not the run's
        self.started = now()
        self.finished: float | None = None
        self.phase: str | None = None
        self.requests: dict[tuple[str, str], RequestStats] = {}
        self.resilience: dict[tuple[str, str], ResilienceStats] = {}
        self.seconds: dict[int, Second] = {}
        self.phase_spans: dict[str, list[float]] = {}
        self.load_model: str | None = None
        self.load: dict[str, LoadCounters] = {}
        self.start_delay = new_histogram()
        self.generators: dict[str, GeneratorStats] = {}

    # -- feeding -----------------------------------------------------------------------------------

    def elapsed(self) -> float:
        return self._now() - self.started

    def set_phase(self, phase: str | None) -> None:
        """Mark the start of ``phase`` (None: between phases, or after the last)."""
        with self._lock:
            at = self.elapsed()
            if self.phase is not None and self.phase in self.phase_spans:
                self.phase_spans[self.phase][1] = at
            self.phase = phase
            if phase is not None:
                self.phase_spans[phase] = [at, at]

    def record_request(
        self,
        name: str,
        latency: float,
        *,
        ok: bool,
        error: str | None = None,
        status: int | None = None,
        phase: str | None = None,
        at: float | None = None,
    ) -> None:
        """One request the driver made: ``latency`` seconds, ``ok`` or failed with ``error``.

        Latency is kept for successful requests only (histograms and the per-second samples): a
        failure's latency (a refused connection in 1 ms, a timeout at its limit) says nothing
        of how fast the service serves, and would make a dead target look fast."""
        value = _micros(latency)
        with self._lock:
            phase_name = phase if phase is not None else (self.phase or "")
            stats = self.requests.get((name, phase_name))
            if stats is None:
                stats = self.requests[(name, phase_name)] = RequestStats()
            if ok:
                stats.histogram.record_value(value)
                stats.ok += 1
            else:
                stats.failed += 1
                stats.errors[error or "error"] += 1
            if status is not None:
                stats.statuses[str(status)] += 1
            second = int(self.elapsed() if at is None else at)
            bucket = self.seconds.get(second)
            if bucket is None:
                bucket = self.seconds[second] = Second(t=second, phase=phase_name or None)
            bucket.requests += 1
            if not ok:
                bucket.errors += 1
                return
            bucket.seen += 1
            if len(bucket.samples) < SAMPLES_PER_SECOND:
                bucket.samples.append(latency)
            else:  # reservoir sampling keeps a fair sample of a busy second
                slot = self._rng.randrange(bucket.seen)
                if slot < SAMPLES_PER_SECOND:
                    bucket.samples[slot] = latency

    def on_event(self, event: ResilienceEvent) -> None:
        """Subscribe this to the core's events (``harness.core.subscribe(recorder.on_event)``)."""
        if self.warming_up:
            return
        with self._lock:
            key = (event.source, self.phase or "")
            stats = self.resilience.get(key)
            if stats is None:
                stats = self.resilience[key] = ResilienceStats()
            if isinstance(event, AttemptStarted):
                stats.attempts += 1
                stats.attempts_by_provider[event.provider] += 1
            elif isinstance(event, RetryScheduled):
                stats.retries += 1
            elif isinstance(event, FallbackUsed):
                stats.fallbacks += 1
            elif isinstance(event, BreakerStateChanged) and event.new == "open":
                stats.breaker_opens += 1
            elif isinstance(event, BudgetExhausted):
                stats.budget_exhausted += 1
            elif isinstance(event, CallFinished):
                stats.calls += 1
                stats.calls_ok += event.outcome == "ok"
                stats.fallback_calls += bool(event.fallback and event.outcome == "ok")
                stats.attempts_per_call[event.attempts] += 1

    def add_resilience(self, source: str, phase: str, stats: ResilienceStats) -> None:
        """Add counters observed some other way (a service's ``/metrics``) to ``phase``."""
        with self._lock:
            self.resilience.setdefault((source, phase), ResilienceStats()).add(stats)

    # -- measurement health ----------------------------------------------------------------------

    def set_load_model(self, model: str) -> None:
        """``"open"`` (a start timetable) or ``"closed"`` (users): what drove this run."""
        self.load_model = model

    def record_starts(
        self, *, scheduled: int, missed: int = 0, capped: int = 0, phase: str | None = None
    ) -> None:
        """Open loop: ``scheduled`` intended starts came due, of which ``missed`` could not
        start in time (``capped`` of those because ``max_in_flight`` requests were running)."""
        with self._lock:
            _, counters = self._load_counters(phase)
            counters.scheduled_starts += scheduled
            counters.missed_starts += missed
            counters.in_flight_cap_hits += capped

    def record_unfinished(
        self, count: int, *, phase: str | None = None, name: str | None = None
    ) -> None:
        """``count`` requests that started in ``phase`` were still running when the run ended.

        With their request ``name``, they also count as failed requests (error ``Unfinished``,
        no latency): a service that stalls must lose availability, not just answers. The
        in-process driver names them (it waited a grace period past the end for them); Locust
        cuts requests off when a test stops, and those are the harness's doing, not failures."""
        with self._lock:
            key, counters = self._load_counters(phase)
            counters.unfinished_requests += count
            if name is not None:
                stats = self.requests.get((name, key))
                if stats is None:
                    stats = self.requests[(name, key)] = RequestStats()
                stats.failed += count
                stats.errors["Unfinished"] += count

    def _load_counters(self, phase: str | None) -> tuple[str, LoadCounters]:
        """The phase's key (None: the current phase) and its load counters (under the lock)."""
        key = phase if phase is not None else (self.phase or "")
        counters = self.load.get(key)
        if counters is None:
            counters = self.load[key] = LoadCounters()
        return key, counters

    def record_start_delay(self, seconds: float) -> None:
        """Open loop: a request started ``seconds`` after its intended start."""
        with self._lock:
            self.start_delay.record_value(_micros(seconds))

    def _generator(self, name: str) -> GeneratorStats:
        stats = self.generators.get(name)
        if stats is None:
            stats = self.generators[name] = GeneratorStats()
        return stats

    def record_loop_lag(self, generator: str, seconds: float) -> None:
        """The event loop of process ``generator`` woke ``seconds`` later than it asked to."""
        with self._lock:
            self._generator(generator).loop_lag.record_value(_micros(seconds))

    def record_usage(self, generator: str, cpu_seconds: float, wall_seconds: float) -> None:
        """Process ``generator`` used ``cpu_seconds`` of CPU over ``wall_seconds`` (added up)."""
        with self._lock:
            stats = self._generator(generator)
            stats.cpu_seconds += cpu_seconds
            stats.wall_seconds += wall_seconds

    def load_stats(self, *, phase: str | None = None) -> LoadCounters:
        """Open-loop start counters over ``phase`` (None: the whole run)."""
        merged = LoadCounters()
        with self._lock:
            for p, counters in self.load.items():
                if phase is None or p == phase:
                    merged.add(counters)
        return merged

    def health(self) -> LoadHealth:
        """The run's measurement health (:mod:`harness.measure.health`)."""
        with self._lock:
            count = sum(stats.count for stats in self.requests.values())
            phases = {}
            for p, counters in self.load.items():
                phases[p] = LoadCounters()
                phases[p].add(counters)
            generators = [
                GeneratorUsage(name, g.cpu_seconds, g.wall_seconds, _figures(g.loop_lag))
                for name, g in sorted(self.generators.items())
            ]
            start_delay = _figures(self.start_delay)
        total = LoadCounters()
        for counters in phases.values():
            total.add(counters)
        return LoadHealth(
            load_model=self.load_model,
            counters=total,
            phases=phases,
            start_delay=start_delay,
            generators=generators,
            tail_samples={f"p{p:g}": tail_samples(count, p) for p in TAIL_PERCENTILES},
        )

    def drain(self) -> dict[str, Any]:
        """A snapshot of everything recorded since the last drain, then forget it (what a Locust
        worker sends its master at each report, so nothing is counted twice). Atomic: a request
        recorded meanwhile lands in this drain or the next, never in neither."""
        with self._lock:
            snapshot = self._snapshot()
            self.requests.clear()
            self.resilience.clear()
            self.seconds.clear()
            self.load.clear()
            self.start_delay = new_histogram()
            self.generators.clear()
        return snapshot

    def finish(self) -> None:
        self.set_phase(None)
        self.finished = self.elapsed()

    # -- reading ---------------------------------------------------------------------------------

    @property
    def duration(self) -> float:
        return self.finished if self.finished is not None else self.elapsed()

    def names(self) -> list[str]:
        return sorted({name for name, _ in self.requests})

    def phases(self) -> list[str]:
        return list(self.phase_spans)

    def stats(self, *, name: str | None = None, phase: str | None = None) -> RequestStats:
        """Merged request stats over every key matching ``name`` and ``phase`` (None: any)."""
        merged = RequestStats()
        with self._lock:
            for (n, p), stats in self.requests.items():
                if (name is None or n == name) and (phase is None or p == phase):
                    merged.add(stats)
        return merged

    def resilience_stats(
        self, *, phase: str | None = None, source: str | None = None
    ) -> ResilienceStats:
        """Core event counters over ``phase`` (None: all) and ``source``.

        ``source=None`` means the LLM wrappers (every source but ``tool:*`` and ``memory:*``),
        so ``fallback_rate`` and ``retries_per_call`` speak of LLM calls by default; ``"*"``
        means every source.
        """
        merged = ResilienceStats()
        with self._lock:
            for (src, p), stats in self.resilience.items():
                if phase is not None and p != phase:
                    continue
                if source is None and src.startswith(("tool:", "memory:")):
                    continue
                if source not in (None, "*") and src != source:
                    continue
                merged.add(stats)
        return merged

    def span(self, phase: str | None = None) -> float:
        """Seconds covered by ``phase`` (the whole run for None)."""
        if phase is None:
            return self.duration
        start, end = self.phase_spans.get(phase, [0.0, 0.0])
        return max(0.0, end - start)

    def series(self) -> list[Second]:
        return [self.seconds[t] for t in sorted(self.seconds)]

    # -- merging ---------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able, exactly mergeable copy (histograms HDR-encoded)."""
        with self._lock:
            return self._snapshot()

    def _snapshot(self) -> dict[str, Any]:
        """:meth:`snapshot`, the lock already held."""
        return {
            "duration": self.duration,
            "phase_spans": {k: list(v) for k, v in self.phase_spans.items()},
            "requests": [
                {
                    "name": n,
                    "phase": p,
                    "hdr": base64.b64encode(s.histogram.encode()).decode("ascii")
                    if s.histogram.get_total_count()
                    else "",
                    "ok": s.ok,
                    "failed": s.failed,
                    "errors": dict(s.errors),
                    "statuses": dict(s.statuses),
                }
                for (n, p), s in self.requests.items()
            ],
            "resilience": [
                {"source": src, "phase": p, **r.to_json()}
                for (src, p), r in self.resilience.items()
            ],
            "seconds": [
                {
                    "t": s.t,
                    "phase": s.phase,
                    "requests": s.requests,
                    "errors": s.errors,
                    "samples": list(s.samples),  # a copy: the live bucket keeps sampling
                    "seen": s.seen,
                }
                for s in self.series()
            ],
            "load_model": self.load_model,
            "load": [{"phase": p, **c.to_json()} for p, c in self.load.items()],
            "start_delay": _encode(self.start_delay),
            "generators": [
                {
                    "name": name,
                    "cpu_seconds": g.cpu_seconds,
                    "wall_seconds": g.wall_seconds,
                    "loop_lag": _encode(g.loop_lag),
                }
                for name, g in self.generators.items()
            ],
        }

    def merge(self, snapshot: dict[str, Any]) -> None:
        """Add another recorder's :meth:`snapshot` (from a worker) into this one, exactly."""
        with self._lock:
            for row in snapshot.get("requests", ()):
                key = (row["name"], row["phase"])
                stats = self.requests.setdefault(key, RequestStats())
                if row["hdr"]:
                    stats.histogram.add(HdrHistogram.decode(base64.b64decode(row["hdr"])))
                stats.ok += row["ok"]
                stats.failed += row["failed"]
                stats.errors.update(row["errors"])
                stats.statuses.update(row["statuses"])
            for row in snapshot.get("resilience", ()):
                key = (row["source"], row["phase"])
                other = ResilienceStats.from_json(row)
                self.resilience.setdefault(key, ResilienceStats()).add(other)
            for row in snapshot.get("seconds", ()):
                bucket = self.seconds.setdefault(row["t"], Second(t=row["t"], phase=row["phase"]))
                bucket.requests += row["requests"]
                bucket.errors += row["errors"]
                bucket.seen += row["seen"]
                room = SAMPLES_PER_SECOND - len(bucket.samples)
                bucket.samples.extend(row["samples"][: max(0, room)])
            if snapshot.get("load_model") and self.load_model is None:
                self.load_model = snapshot["load_model"]
            for row in snapshot.get("load", ()):
                counters = self.load.setdefault(row["phase"], LoadCounters())
                counters.add(LoadCounters.from_json(row))
            _decode_into(self.start_delay, snapshot.get("start_delay", ""))
            for row in snapshot.get("generators", ()):
                gen = self._generator(row["name"])
                gen.cpu_seconds += row["cpu_seconds"]
                gen.wall_seconds += row["wall_seconds"]
                _decode_into(gen.loop_lag, row["loop_lag"])
            for phase, span in snapshot.get("phase_spans", {}).items():
                if phase not in self.phase_spans:
                    self.phase_spans[phase] = list(span)
            if self.finished is None or snapshot.get("duration", 0) > (self.finished or 0):
                self.finished = max(self.finished or 0.0, float(snapshot.get("duration", 0.0)))


def merge_snapshots(snapshots: Iterable[dict[str, Any]]) -> Recorder:
    recorder = Recorder()
    for snap in snapshots:
        recorder.merge(snap)
    return recorder
