"""Time as the core sees it: an injectable clock, so backoff schedules are testable in milliseconds.

Every sleep and every deadline in the core goes through a :class:`Clock`. Production code uses
:class:`SystemClock`; tests use :class:`VirtualClock`, which advances instantly and records each
sleep, so a test of the full 1 + 2 + 4 + 8 s schedule takes milliseconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """What the core needs from time."""

    def now(self) -> float:
        """Monotonic seconds, for deadlines and durations."""
        ...

    def wall(self) -> float:
        """Unix seconds, only for HTTP-dates in ``Retry-After``."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Sleep without blocking the event loop."""
        ...

    def sleep_sync(self, seconds: float) -> None:
        """Sleep in a worker thread or in synchronous code."""
        ...


class SystemClock:
    """Real time: ``time.monotonic``, ``time.time`` and ``asyncio.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def sleep_sync(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "SystemClock()"


class VirtualClock:
    """A clock that advances instantly when slept on and records every sleep.

    ``sleeps`` lists the requested durations in order. ``async sleep`` still yields to the event
    loop once, so concurrent tasks interleave as they would in real time (but the order of
    wake-ups follows the order of calls, not of deadlines: it is not a discrete-event simulator).
    """

    def __init__(self, start: float = 0.0, *, wall_start: float = 1_750_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall_start - start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    def advance(self, seconds: float) -> None:
        """Move time forward without recording a sleep (time passing in the outside world)."""
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards: advance({seconds!r})")
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleep_sync(seconds)
        await asyncio.sleep(0)

    def sleep_sync(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.sleeps.append(seconds)
        self._now += seconds

    @property
    def slept(self) -> float:
        """Total seconds slept so far."""
        return sum(self.sleeps)

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now:.3f}, sleeps={len(self.sleeps)})"


_SYSTEM_CLOCK = SystemClock()
_default_clock: Clock = _SYSTEM_CLOCK


def get_clock() -> Clock:
    """The clock used by core objects that were not given one."""
    return _default_clock


@contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Make ``clock`` the default for core objects created or called inside the block.

    This is the core's testing mode: ``with use_clock(VirtualClock()) as clock:`` runs a whole
    service's retries on virtual time. Process-wide (not per task), restored on exit.
    """
    global _default_clock  # noqa: PLW0603 - the one process-wide default, like stamina's testing mode
    previous = _default_clock
    _default_clock = clock
    try:
        yield clock
    finally:
        _default_clock = previous
