"""Cleanup that finishes: reverts and shutdowns run to the end even when Ctrl-C arrives."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TypeVar

from harness.plugin.closing import deferred_signals

T = TypeVar("T")

__all__ = ["deferred_signals", "sigterm_as_interrupt", "undo_all"]


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt inside the block, so ``finally`` clauses run."""
    if not _in_main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except (ValueError, OSError):  # pragma: no cover
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def undo_all(done: list[T], undo: Callable[[T], None]) -> list[tuple[T, Exception]]:
    """Pop every item of ``done``, latest first, and ``undo`` it, with SIGINT/SIGTERM held
    until the end: each item gets its attempt even when one before it fails. Returns the items
    that failed, with their errors, in the order they were undone."""
    failures: list[tuple[T, Exception]] = []
    with deferred_signals():
        while done:
            item = done.pop()
            try:
                undo(item)
            except Exception as exc:
                failures.append((item, exc))
    return failures
