"""Measurement health: could the load generator do what the scenario asked of it?

A verdict should move when the service's resilience moves, not when the machine running the
test is busy. So every run records, next to the service's latencies, how the generator
itself fared:

- **CPU use** of each generator process (process CPU time / wall time; 1.0 is one core busy),
  per Locust worker too. The in-process driver shares its process with a ``core`` target
  (and with an app target served in a thread): there, the figure is the whole process's.
- **Event-loop lag**: a probe sleeps :data:`LAG_INTERVAL` over and over and records how late
  it wakes (asyncio task in-process, a greenlet in each Locust process). A late wake-up delays
  every request start and every response read by as much.
- **Missed starts** (open loop): intended starts that could not happen within the tolerance
  of their time, because the generator was behind or ``max_in_flight`` requests were
  running; **in-flight cap hits** are the latter. **Unfinished requests**: sent, but still
  running when the run ended (so no latency was recorded for them).
- **Tail samples**: how many requests each percentile rests on (p99 of 150 requests is the
  second-highest of them).

:func:`saturation` names what went over its limit (the ``*_LIMIT`` constants); a verdict
built on a saturated generator measured the generator.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from harness.measure.stats import CounterSet, counter

LOOP_LAG_P99_LIMIT = 0.100
"""Seconds: a generator whose event loop woke later than this at p99 was saturated."""
CPU_LIMIT = 0.90
"""Fraction of one core: a generator process busier than this was saturated."""
MISSED_STARTS_LIMIT = 0.01
"""Fraction of the scheduled starts: more missed than this and the offered load was not offered."""
LAG_INTERVAL = 0.05
"""Seconds between the loop-lag probe's wake-ups (20 samples a second per process)."""
TAIL_PERCENTILES = (50.0, 90.0, 95.0, 99.0)
"""The percentiles whose tail sample counts the health section reports."""


@dataclass(slots=True, kw_only=True)
class LoadCounters(CounterSet):
    """What the open-loop timetable asked for and what could not be done, for one phase."""

    SUMMARY_PREFIX: ClassVar[str] = "starts: "

    scheduled_starts: int = counter("scheduled")
    missed_starts: int = counter("missed")
    in_flight_cap_hits: int = counter("in-flight cap hits")
    unfinished_requests: int = counter("unfinished")
    """Requests sent but still running when the run ended (cancelled: no latency recorded).
    Either load model; a service that holds requests past the end of the run has some."""


@dataclass(frozen=True, slots=True)
class LatencyFigures:
    """Percentiles of a probe's histogram, in seconds (None without samples)."""

    samples: int = 0
    p50: float | None = None
    p99: float | None = None
    max: float | None = None


@dataclass(frozen=True, slots=True)
class GeneratorUsage:
    """One load-generator process: CPU seconds over wall seconds, and its loop lag."""

    name: str
    cpu_seconds: float
    wall_seconds: float
    loop_lag: LatencyFigures = field(default_factory=LatencyFigures)

    @property
    def cpu(self) -> float | None:
        """CPU seconds per wall second (1.0: one core busy the whole time); None untimed."""
        return self.cpu_seconds / self.wall_seconds if self.wall_seconds > 0 else None


@dataclass(frozen=True, slots=True)
class LoadHealth:
    """The measurement health of a run (see the module docstring)."""

    load_model: str | None
    """``"open"`` (a timetable), ``"closed"`` (users), None when no driver ran (pytest)."""
    counters: LoadCounters
    phases: dict[str, LoadCounters]
    start_delay: LatencyFigures
    """How late the requests that did start began, after their intended start (open loop)."""
    generators: list[GeneratorUsage]
    tail_samples: dict[str, int]
    """``{"p99": 2, ...}``: how many requests each percentile of the whole run rests on."""

    @property
    def missed_fraction(self) -> float | None:
        scheduled = self.counters.scheduled_starts
        return self.counters.missed_starts / scheduled if scheduled else None

    @property
    def cpu_max(self) -> float | None:
        """The busiest generator process's CPU use."""
        values = [g.cpu for g in self.generators if g.cpu is not None]
        return max(values) if values else None

    @property
    def loop_lag_p99(self) -> float | None:
        """The worst generator process's loop lag at p99, seconds."""
        values = [g.loop_lag.p99 for g in self.generators if g.loop_lag.p99 is not None]
        return max(values) if values else None


def saturation(health: LoadHealth) -> list[str]:
    """Why the generator was saturated, one reason per limit exceeded (empty: it was not)."""
    reasons = []
    lag = health.loop_lag_p99
    if lag is not None and lag > LOOP_LAG_P99_LIMIT:
        reasons.append(f"event-loop lag p99 {lag * 1000:.0f}ms > {LOOP_LAG_P99_LIMIT * 1000:.0f}ms")
    for gen in health.generators:
        if gen.cpu is not None and gen.cpu > CPU_LIMIT:
            reasons.append(f"{gen.name} CPU {gen.cpu:.0%} > {CPU_LIMIT:.0%}")
    missed = health.missed_fraction
    if missed is not None and missed > MISSED_STARTS_LIMIT:
        reasons.append(
            f"missed starts {health.counters.missed_starts}/{health.counters.scheduled_starts} "
            f"({missed:.1%}) > {MISSED_STARTS_LIMIT:.0%}"
        )
    return reasons


def is_saturated(health: LoadHealth) -> bool:
    """True when the generator, not the service, may have shaped the measurement."""
    return bool(saturation(health))


def tail_samples(count: int, percentile: float) -> int:
    """How many of ``count`` requests the ``percentile`` value rests on: the request at its
    nearest rank (``ceil(count * p / 100)``, as HdrHistogram ranks) and every one above it."""
    if count <= 0:
        return 0
    rank = max(1, math.ceil(count * percentile / 100.0))
    return count - min(rank, count) + 1


class UsageMeter:
    """CPU and wall seconds of this process since the last :meth:`take` (or :meth:`start`)."""

    def __init__(
        self,
        *,
        cpu: Callable[[], float] = time.process_time,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cpu = cpu
        self._wall = wall
        self._since: tuple[float, float] | None = None

    @property
    def running(self) -> bool:
        return self._since is not None

    def start(self) -> None:
        self._since = (self._cpu(), self._wall())

    def take(self) -> tuple[float, float]:
        """``(cpu seconds, wall seconds)`` since the last take; ``(0, 0)`` before :meth:`start`."""
        if self._since is None:
            return 0.0, 0.0
        cpu, wall = self._cpu(), self._wall()
        before = self._since
        self._since = (cpu, wall)
        return max(0.0, cpu - before[0]), max(0.0, wall - before[1])
