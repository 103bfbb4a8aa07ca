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

    __slots__ = ("_cancelling", "_task", "_watchdog", "expired", "when")

    def __init__(self, watchdog: Watchdog, task: asyncio.Task[object], when: float) -> None:
        self._watchdog = watchdog
        self._task = task
        self._cancelling = task.cancelling()
        self.when = when
        self.expired = False

    def cancel(self) -> None:
        """The attempt is over: this timer will not fire."""
        self._watchdog.forget(self)

    def expired_here(self) -> bool:
        """True when this timer caused the cancellation (and no outside cancel is pending)."""
        return self.expired and self._task.uncancel() <= self._cancelling

    def _expire(self) -> None:
        self.expired = True
        self._task.cancel()


class Watchdog:
    """The attempt timers of one event loop, behind a single loop timer."""

    __slots__ = ("__weakref__", "_armed_at", "_handle", "_loop", "_timers")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._timers: set[AttemptTimer] = set()
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at = math.inf

    def start(self, limit: float) -> AttemptTimer:
        """A timer that cancels the current task ``limit`` seconds from now."""
        task = asyncio.current_task(self._loop)
        if task is None:
            raise RuntimeError("an attempt time limit needs to run inside an asyncio task")
        timer = AttemptTimer(self, task, self._loop.time() + limit)
        self._timers.add(timer)
        if timer.when < self._armed_at:
            self._arm(timer.when)
        return timer

    def forget(self, timer: AttemptTimer) -> None:
        # The loop timer stays armed: when it fires with nothing due, it re-arms for what is
        # left (or for nothing), which costs less than re-arming on every finished attempt.
        self._timers.discard(timer)

    def __len__(self) -> int:
        """Attempts in flight."""
        return len(self._timers)

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_at(when, self._fire)
        self._armed_at = when

    def _fire(self) -> None:
        self._handle = None
        self._armed_at = math.inf
        now = self._loop.time()
        due = [timer for timer in self._timers if timer.when <= now]
        # Earliest expiry first: cancelled tasks run in the order they are cancelled, and when
        # many expire together (a burst of calls all queued for a connection), the one whose
        # deadline passed first must not wait behind the others' error handling.
        due.sort(key=_expiry)
        for timer in due:
            self._timers.discard(timer)
            timer._expire()
        if self._timers:
            self._arm(min(timer.when for timer in self._timers))


def _expiry(timer: AttemptTimer) -> float:
    return timer.when


_WATCHDOGS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Watchdog] = (
    weakref.WeakKeyDictionary()
)


def start_attempt_timer(limit: float) -> AttemptTimer:
    """A time limit of ``limit`` seconds for the current task's attempt (running loop)."""
    loop = asyncio.get_running_loop()
    watchdog = _WATCHDOGS.get(loop)
    if watchdog is None:
        watchdog = _WATCHDOGS[loop] = Watchdog(loop)
    return watchdog.start(limit)
