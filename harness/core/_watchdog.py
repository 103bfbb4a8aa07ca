"""Attempt time limits with one loop timer for all attempts in flight, not one per attempt.

``asyncio.timeout`` schedules a loop timer per use. Under load that is a heap push per attempt
into the loop's timer heap, which also keeps every cancelled timer until it would have fired
(the default deadline is two minutes away). A :class:`Watchdog` keeps the attempts of one event
loop in a set and a single loop timer armed at the earliest expiry among them: starting and
finishing an attempt is a set insert and a set removal. When the timer fires, it cancels the
tasks whose attempt expired and re-arms for the earliest that remains.
"""

from __future__ import annotations

import asyncio
import math
import weakref


class AttemptTimer:
    """The time limit of one attempt: cancels its task at ``when`` (loop time).

    Tell that cancellation apart from one that came from outside with :meth:`expired_here`;
    call :meth:`cancel` when the attempt is over, however it ended.
    """

    __slots__ = ("_cancelling", "_task", "_timers", "expired", "when")

    def __init__(self, timers: set[AttemptTimer], task: asyncio.Task[object], when: float) -> None:
        self._timers = timers
        self._task = task
        self._cancelling = task.cancelling()
        self.when = when
        self.expired = False

    def cancel(self) -> None:
        """The attempt is over: this timer will not fire."""
        # The loop timer stays armed: when it fires with nothing due, it re-arms for what is
        # left (or for nothing), which costs less than re-arming on every finished attempt.
        self._timers.discard(self)

    def expired_here(self) -> bool:
        """True when this timer caused the cancellation (and no outside cancel is pending)."""
        return self.expired and self._task.uncancel() <= self._cancelling

    def _expire(self) -> None:
        self.expired = True
        self._task.cancel()


class Watchdog:
    """The attempt timers of one event loop, behind a single loop timer.

    It holds its loop and its loop timer weakly (the loop's timer heap holds the watchdog while
    armed, not the other way round), so a finished loop is not kept alive by it.
    """

    __slots__ = ("__weakref__", "_armed_at", "_handle", "_loop", "_timers")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = weakref.ref(loop)
        self._timers: set[AttemptTimer] = set()
        self._handle: weakref.ref[asyncio.TimerHandle] | None = None
        self._armed_at = math.inf

    def start(self, limit: float, loop: asyncio.AbstractEventLoop | None = None) -> AttemptTimer:
        """A timer that cancels the current task ``limit`` seconds from now (on ``loop``, this
        watchdog's, which is running)."""
        if loop is None:
            loop = self._running_loop()
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("an attempt time limit needs to run inside an asyncio task")
        timer = AttemptTimer(self._timers, task, loop.time() + limit)
        self._timers.add(timer)
        if timer.when < self._armed_at:
            self._arm(loop, timer.when)
        return timer

    def forget(self, timer: AttemptTimer) -> None:
        self._timers.discard(timer)

    def __len__(self) -> int:
        """Attempts in flight."""
        return len(self._timers)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop()
        if loop is None:
            raise RuntimeError("the watchdog's event loop is gone")
        return loop

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        armed = self._handle() if self._handle is not None else None
        if armed is not None:
            armed.cancel()
        self._handle = weakref.ref(loop.call_at(when, self._fire))
        self._armed_at = when

    def _fire(self) -> None:
        self._handle = None
        self._armed_at = math.inf
        loop = self._running_loop()
        now = loop.time()
        timers = self._timers
        due = [timer for timer in timers if timer.when <= now]
        # Earliest expiry first: cancelled tasks run in the order they are cancelled, and when
        # many expire together (a burst of calls all queued for a connection), the one whose
        # deadline passed first must not wait behind the others' error handling.
        due.sort(key=_expiry)
        timers.difference_update(due)
        for timer in due:
            timer._expire()
        if timers:
            self._arm(loop, min(timer.when for timer in timers))


def _expiry(timer: AttemptTimer) -> float:
    return timer.when


class _Watchdogs:
    """One watchdog per event loop, and the last one used (most processes run one loop)."""

    __slots__ = ("by_loop", "last")

    def __init__(self) -> None:
        self.by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Watchdog] = (
            weakref.WeakKeyDictionary()
        )
        self.last: Watchdog | None = None

    def of(self, loop: asyncio.AbstractEventLoop) -> Watchdog:
        watchdog = self.last
        if watchdog is None or watchdog._loop() is not loop:
            watchdog = self.by_loop.get(loop)
            if watchdog is None:
                watchdog = self.by_loop[loop] = Watchdog(loop)
            self.last = watchdog
        return watchdog


_WATCHDOGS = _Watchdogs()


def start_attempt_timer(limit: float) -> AttemptTimer:
    """A time limit of ``limit`` seconds for the current task's attempt (running loop)."""
    loop = asyncio.get_running_loop()
    return _WATCHDOGS.of(loop).start(limit, loop)
