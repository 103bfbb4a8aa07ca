"""Cleanup that finishes: a base class for things used as ``with`` blocks whose exit is one
``close()``, and a block that holds Ctrl-C until a shutdown is done."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any, Self

from harness.errors import HarnessError


class Closing:
    """A context manager whose exit runs :meth:`close`. When the block raised, a failure to
    close does not replace that error: it goes on, carrying the failure as a note.

    Entering returns the object as it is; a subclass that starts on entry overrides
    :meth:`__enter__` (``return self.start()``).
    """

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
            return
        try:
            self.close()
        except HarnessError as failure:
            logging.getLogger("harness").exception("cleaning up after %r failed", exc)
            exc.add_note(str(failure))


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block ends, then deliver them (main thread only).

    Used around reverting faults and stopping processes: a second Ctrl-C must not leave a
    toxic on a proxy or a fake vendor failing for the next run.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous: dict[int, Any] = {}

    def hold(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    for sig in (int(signal.SIGINT), int(signal.SIGTERM)):
        with contextlib.suppress(ValueError, OSError):  # exotic embeddings refuse handlers
            previous[sig] = signal.signal(sig, hold)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for signum in received:
            signal.raise_signal(signum)
