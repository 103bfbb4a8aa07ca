"""An asyncio event loop whose timers fire on time (to the microsecond, not the millisecond).

asyncio sleeps in ``epoll_wait``, whose timeout is in whole milliseconds; Python rounds the
wait *up*, so every ``call_later`` fires 0-1 ms late (0.5 ms on average, plus the wake-up).
That is most of the error of a latency toxic, and Toxiproxy (Go timers) has none of it.
:class:`PreciseEpollSelector` waits on the epoll descriptor itself with ``select()``, whose
timeout has microseconds, and then collects the ready events with a zero-timeout
``epoll_wait``. Only a wait that would block with a timer due within a second takes the extra
system call; a loop with ready work, no timer or only distant ones (an idle keep-alive
timeout) waits in ``epoll_wait`` alone, as before (a millisecond on a second is noise).
"""

from __future__ import annotations

import asyncio
import select
import selectors

__all__ = ["PreciseEpollSelector", "new_event_loop"]

_FD_SETSIZE = 1024  # select() cannot watch a descriptor numbered this high
_PRECISE_BELOW = 1.0  # seconds: longer waits keep epoll's millisecond rounding


if hasattr(selectors, "EpollSelector"):

    class PreciseEpollSelector(selectors.EpollSelector):
        """``EpollSelector`` with microsecond timeouts (Linux)."""

        def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
            if timeout is not None and 0 < timeout < _PRECISE_BELOW:
                fd = self.fileno()
                if fd < _FD_SETSIZE:
                    select.select([fd], [], [], timeout)
                    timeout = 0
            return super().select(timeout)

    def new_event_loop() -> asyncio.AbstractEventLoop:
        """A selector event loop on :class:`PreciseEpollSelector`."""
        return asyncio.SelectorEventLoop(PreciseEpollSelector())

else:  # pragma: no cover - not Linux: the platform's default loop

    def new_event_loop() -> asyncio.AbstractEventLoop:
        """The platform's default event loop (no epoll here)."""
        return asyncio.new_event_loop()
