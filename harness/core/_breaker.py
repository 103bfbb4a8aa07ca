"""A circuit breaker per provider: stop calling an upstream that keeps failing, probe it later.

States: ``closed`` (calls flow), ``open`` (calls are refused for a break), ``half_open``
(exactly one probe is let through: its success closes the breaker, its failure opens it again).
The breaker opens when, within the sliding ``window`` (seconds), at least ``min_throughput``
outcomes were recorded and the failure ratio reaches ``failure_ratio``, or when
``consecutive_failures`` failures happen in a row.

The break is short at first and grows while the upstream stays down: ``first_break``, doubled
by each failed probe, never longer than ``break_duration`` (0.25, 0.5, 1, 2, 2 ... s by default);
a successful probe resets it. A short first break brings traffic back within a fraction of a
second of a blip; the cap bounds how long traffic stays away after a long outage ends (at most
``break_duration`` plus one probe). The cost of probing is one caller per break, whose attempt
fails and goes to the fallback: cheap when the upstream fails fast (a 503, a reset), one attempt
time limit when it hangs, so raise ``break_duration`` for upstreams that fail slowly. Like
Envoy's outlier ejection (``base_ejection_time`` times the ejection count, capped) and
resilience4j's exponential wait in the open state. ``first_break=break_duration``: a fixed break.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from harness.core._clock import Clock
from harness.core._events import BreakerState


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerConfig:
    """Thresholds of a :class:`CircuitBreaker` (see the module docstring).

    ``break_duration`` is the *longest* break; ``first_break`` the first one, doubled by each
    failed probe up to ``break_duration``. (Every break used to last ``break_duration``, 15 s by
    default; set ``first_break`` equal to it for that behaviour.)
    """

    failure_ratio: float = 0.5
    window: float = 30.0
    min_throughput: int = 10
    consecutive_failures: int = 10
    first_break: float = 0.25
    break_duration: float = 2.0

    def __post_init__(self) -> None:
        if not 0.0 < self.failure_ratio <= 1.0:
            raise ValueError(
                f"BreakerConfig.failure_ratio must be in (0, 1], got {self.failure_ratio!r}"
            )
        if self.window <= 0 or self.break_duration < 0 or self.first_break < 0:
            raise ValueError(
                "BreakerConfig.window must be > 0, first_break and break_duration >= 0, got "
                f"window={self.window!r}, first_break={self.first_break!r}, "
                f"break_duration={self.break_duration!r}"
            )
        if self.min_throughput < 1 or self.consecutive_failures < 1:
            raise ValueError(
                "BreakerConfig.min_throughput and consecutive_failures must be >= 1, got "
                f"{self.min_throughput!r} and {self.consecutive_failures!r}"
            )

    def break_after(self, opened: int) -> float:
        """The break after the breaker opened ``opened`` times in a row (1: the first break)."""
        exponent = min(max(opened - 1, 0), 64)  # 2**64 times any break is past any cap
        return min(self.break_duration, self.first_break * 2.0**exponent)


StateListener = Callable[[BreakerState, BreakerState], None]
_BUCKETS = 10  # the sliding window is counted in this many time buckets


@dataclass(frozen=True, slots=True)
class BreakerPermit:
    """Leave to send one attempt. ``probe`` is True for the single half-open probe.

    ``generation`` ties the permit to the breaker state it was granted in: the outcome of an
    attempt that started before the breaker last changed state cannot move it again (a slow
    call from before an outage cannot close a breaker that is probing, nor free its probe slot).
    """

    generation: int
    probe: bool


class CircuitBreaker:
    """One provider's breaker. Thread-safe.

    Protocol for a caller: ``permit = try_acquire()``; if it is not None, report exactly one of
    ``record_success(permit)``, ``record_failure(permit)`` or ``release(permit)`` (the outcome
    says nothing about the provider's health, or the attempt was cancelled).
    """

    def __init__(
        self,
        name: str,
        config: BreakerConfig,
        clock: Clock,
        on_change: StateListener | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._state: BreakerState = "closed"
        self._opened_at = 0.0
        self._break = 0.0
        self._opened_in_a_row = 0
        self._probe_in_flight = False
        self._buckets: deque[list[int]] = deque()
        self._total = 0
        self._failures_in_window = 0
        self._consecutive = 0
        self._generation = 0
        self._closed_permit = BreakerPermit(0, probe=False)
        self._bucket_width = config.window / _BUCKETS
        self.opened_count = 0

    @property
    def state(self) -> BreakerState:
        """The current state (an open breaker past its break duration reads as half-open)."""
        with self._lock:
            if self._state == "open" and self._break_over():
                return "half_open"
            return self._state

    @property
    def current_break(self) -> float:
        """Seconds the breaker stays (or stayed) open after it last opened."""
        return self._break

    @property
    def probe_in_flight(self) -> bool:
        return self._probe_in_flight

    def try_acquire(self) -> BreakerPermit | None:
        """Leave for one attempt, or None. In half-open, only the first asker gets one."""
        state = self._state
        if state == "closed":
            # The hot path, without the lock: a closed permit says nothing but "closed" (its
            # generation is never checked), so a state read racing a change is harmless.
            return self._closed_permit
        changes: list[tuple[BreakerState, BreakerState]] = []
        permit: BreakerPermit | None = None
        with self._lock:
            if self._state == "open" and self._break_over():
                changes.append(self._move("half_open"))
            if self._state == "closed":
                permit = self._closed_permit
            elif self._state == "half_open" and not self._probe_in_flight:
                self._probe_in_flight = True
                permit = BreakerPermit(self._generation, probe=True)
        self._notify(changes)
        return permit

    def record_success(self, permit: BreakerPermit) -> None:
        with self._lock:
            if self._state == "closed":  # the hot path: no state change to announce
                self._consecutive = 0
                key = int(self._clock.now() // self._bucket_width)
                buckets = self._buckets
                if buckets and buckets[-1][0] == key:  # the current bucket: count it
                    buckets[-1][1] += 1
                    self._total += 1
                else:
                    self._add(ok=True)
                return
            if not self._is_live_probe(permit):
                return
            self._probe_in_flight = False
            self._opened_in_a_row = 0
            self._reset_window()
            change = self._move("closed")
        self._notify([change])

    def record_failure(self, permit: BreakerPermit) -> None:
        changes: list[tuple[BreakerState, BreakerState]] = []
        with self._lock:
            if self._is_live_probe(permit):
                self._probe_in_flight = False
                changes.append(self._open())
            elif self._state == "closed":
                self._consecutive += 1
                self._add(ok=False)
                if self._should_open():
                    changes.append(self._open())
        self._notify(changes)

    def release(self, permit: BreakerPermit) -> None:
        """Give back a permit without an outcome (cancelled, or an error that says nothing)."""
        with self._lock:
            if self._is_live_probe(permit):
                self._probe_in_flight = False

    # -- internals (called with the lock held) -------------------------------------------------

    def _is_live_probe(self, permit: BreakerPermit) -> bool:
        return permit.probe and self._state == "half_open" and permit.generation == self._generation

    def _break_over(self) -> bool:
        return self._clock.now() >= self._opened_at + self._break

    def _move(self, new: BreakerState) -> tuple[BreakerState, BreakerState]:
        old, self._state = self._state, new
        self._generation += 1
        # Permits are immutable; every closed-state attempt of one generation shares one.
        self._closed_permit = BreakerPermit(self._generation, probe=False)
        return old, new

    def _open(self) -> tuple[BreakerState, BreakerState]:
        self._opened_in_a_row += 1
        self._break = self.config.break_after(self._opened_in_a_row)
        self._opened_at = self._clock.now()
        self._consecutive = 0
        self._reset_window()
        self.opened_count += 1
        return self._move("open")

    def _add(self, *, ok: bool) -> None:
        """Count one outcome in the sliding window: buckets of a tenth of the window each, so
        memory stays small at any traffic and a bucket leaves the window as a whole."""
        key = int(self._clock.now() // self._bucket_width)
        buckets = self._buckets
        if not buckets or buckets[-1][0] != key:
            buckets.append([key, 0, 0])
            oldest = key - _BUCKETS
            while buckets[0][0] <= oldest:
                _, gone_ok, gone_failed = buckets.popleft()
                self._total -= gone_ok + gone_failed
                self._failures_in_window -= gone_failed
        bucket = buckets[-1]
        bucket[1 if ok else 2] += 1
        self._total += 1
        if not ok:
            self._failures_in_window += 1

    def _reset_window(self) -> None:
        self._buckets.clear()
        self._total = 0
        self._failures_in_window = 0

    def _should_open(self) -> bool:
        if self._consecutive >= self.config.consecutive_failures:
            return True
        total = self._total
        return (
            total >= self.config.min_throughput
            and self._failures_in_window / total >= self.config.failure_ratio
        )

    def _notify(self, changes: list[tuple[BreakerState, BreakerState]]) -> None:
        if self._on_change is None:
            return
        for old, new in changes:
            if old != new:
                self._on_change(old, new)

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self.state!r})"
