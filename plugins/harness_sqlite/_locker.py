"""Holding a SQLite lock from outside the system under test, in a background thread."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from harness.plugin import FaultInjectionError


class LockHolder:
    """Takes ``BEGIN EXCLUSIVE`` on ``path``: for good (``period=None``) or ``hold`` seconds out of
    every ``period``. ``stop()`` releases it and joins the thread; ``cycles`` counts locks taken.
    """

    def __init__(
        self, path: Path, *, hold: float | None = None, period: float | None = None
    ) -> None:
        self.path = path
        self.hold = hold
        self.period = period
        self.cycles = 0
        self._stop = threading.Event()
        self._locked = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"sqlite-lock-{path.name}", daemon=True
        )

    def start(self) -> LockHolder:
        self._thread.start()
        if not self._locked.wait(5.0):
            self.stop()
            raise FaultInjectionError(
                f"could not lock {self.path} within 5 s"
                + (f": {self._error}" if self._error else " (held by someone else?)")
            )
        return self

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(
                self.path, timeout=5.0, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            self._error = exc
            return
        try:
            while not self._stop.is_set():
                conn.execute("BEGIN EXCLUSIVE")
                self.cycles += 1
                self._locked.set()
                if self.period is None or self.hold is None:
                    self._stop.wait()
                    conn.execute("ROLLBACK")
                    break
                self._stop.wait(self.hold)
                conn.execute("ROLLBACK")
                self._stop.wait(self.period - self.hold)
        except sqlite3.Error as exc:
            self._error = exc
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10.0)
        if self._thread.is_alive():
            raise FaultInjectionError(f"the lock on {self.path} could not be released")
        if self._error is not None and not self._locked.is_set():
            raise FaultInjectionError(f"locking {self.path} failed: {self._error}")
