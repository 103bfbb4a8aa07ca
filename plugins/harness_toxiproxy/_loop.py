"""An asyncio event loop whose timers fire on time (to the microsecond, not the millisecond).

asyncio sleeps in ``epoll_wait``, whose timeout is in whole milliseconds; Python rounds the
wait *up*, so every ``call_later`` fires 0-1 ms late (0.5 ms on average, plus the wake-up).
That is most of the error of a latency toxic, and Toxiproxy (Go timers) has none of it.
:class:`PreciseEpollSelector` waits on the epoll descriptor itself with ``select()``, whose
timeout has microseconds, and then collects the ready events with a zero-timeout
``epoll_wait``. Only a wait that would block with a timer due within a second takes the extra
system call; a loop with ready work, no timer or only distant ones (an idle keep-alive
timeout) waits in ``epoll_wait`` alone, as before (a millisecond on a second is noise).

A process woken by a timer after a long sleep still wakes late: the kernel's slack grows with
the timeout (0.1 %: 100 us on 100 ms) and an idle CPU takes time to come back (0.2-0.6 ms
here, on a virtual machine). So the last millisecond before a timer is due is spent awake,
polling for I/O, within a budget: at most 5 % of one core on average (a burst of 5 ms), so a
proxy with latency toxics under heavy load does not burn the CPU its service needs; there
its timers are close together and the loop rarely sleeps anyway.
"""

from __future__ import annotations

import asyncio
import select
import selectors
import time

__all__ = ["PreciseEpollSelector", "new_event_loop"]

_FD_SETSIZE = 1024  # select() cannot watch a descriptor numbered this high
_PRECISE_BELOW = 1.0  # seconds: longer waits keep epoll's millisecond rounding
_AWAKE_BEFORE = 0.001  # seconds before a timer is due that the loop stops sleeping
_AWAKE_SHARE = 0.05  # of one core, on average, that staying awake may cost
_AWAKE_BURST = 0.005  # seconds of staying awake saved up while idle, at most


if hasattr(selectors, "EpollSelector"):

    class PreciseEpollSelector(selectors.EpollSelector):
        """``EpollSelector`` with microsecond timeouts, awake for a timer's last ms (Linux)."""

        def __init__(self) -> None:
            super().__init__()
            self._budget = _AWAKE_BURST
            self._refilled = time.monotonic()

        def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
            fd = self.fileno()
            if timeout is None or not 0 < timeout < _PRECISE_BELOW or fd >= _FD_SETSIZE:
                return super().select(timeout)
            now = time.monotonic()
            due = now + timeout
            self._budget = min(_AWAKE_BURST, self._budget + (now - self._refilled) * _AWAKE_SHARE)
            self._refilled = now
            awake = min(timeout, _AWAKE_BEFORE)
            if self._budget < awake:  # no budget left: sleep until the timer is due
                select.select([fd], [], [], timeout)
                return super().select(0)
            if timeout > awake and select.select([fd], [], [], timeout - awake)[0]:
                return super().select(0)  # I/O is ready before the timer
            start = time.monotonic()
            while not (ready := super().select(0)) and time.monotonic() < due:
                pass
            self._budget -= time.monotonic() - start
            return ready

    def new_event_loop() -> asyncio.AbstractEventLoop:
        """A selector event loop on :class:`PreciseEpollSelector`."""
        return asyncio.SelectorEventLoop(PreciseEpollSelector())

else:  # pragma: no cover - not Linux: the platform's default loop

    def new_event_loop() -> asyncio.AbstractEventLoop:
        """The platform's default event loop (no epoll here)."""
        return asyncio.new_event_loop()
