"""SQLite through aiosqlite: one lazily opened connection, and sqlite3 errors as core errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite

from harness.core._errors import BadRequest, ConnectError, Locked, UpstreamError

_LOCKED_MARKERS = ("database is locked", "database table is locked", "database is busy")
_UNAVAILABLE_MARKERS = ("unable to open database", "disk i/o error", "database disk image")


def translate_sqlite_error(exc: sqlite3.Error, provider: str) -> UpstreamError:
    """``database is locked`` is :class:`Locked` (retry), an unopenable or failing file is
    :class:`ConnectError` (retry), anything else is the caller's :class:`BadRequest`."""
    text = str(exc)
    lowered = text.lower()
    if any(marker in lowered for marker in _LOCKED_MARKERS):
        return Locked(text, provider=provider)
    if any(marker in lowered for marker in _UNAVAILABLE_MARKERS):
        return ConnectError(text, provider=provider)
    return BadRequest(f"{type(exc).__name__}: {text}", provider=provider)


class SQLiteConnection:
    """A lazily opened aiosqlite connection to ``path``.

    ``read_only`` opens the file with ``mode=ro`` *and* sets ``PRAGMA query_only``, so a write
    fails in SQLite itself. ``busy_timeout`` is short on purpose: a locked database surfaces as
    :class:`Locked` quickly and the caller's retry policy (with backoff) decides what to do.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        read_only: bool,
        busy_timeout: float = 0.1,
        wal: bool = False,
        setup: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.busy_timeout = busy_timeout
        self.wal = wal
        self.setup = setup
        self._conn: aiosqlite.Connection | None = None

    async def get(self) -> aiosqlite.Connection:
        if self._conn is not None:
            return self._conn
        if self.read_only:
            conn = await aiosqlite.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        else:
            conn = await aiosqlite.connect(self.path)
        try:
            await conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            if self.read_only:
                await conn.execute("PRAGMA query_only = ON")
            if self.wal and not self.read_only:
                await conn.execute("PRAGMA journal_mode = WAL")
            if self.setup:
                await conn.executescript(self.setup)
                await conn.commit()
        except BaseException:
            await conn.close()
            raise
        if self._conn is not None:  # another task opened it while we were opening
            await conn.close()
            return self._conn
        self._conn = conn
        return conn

    async def discard(self) -> None:
        """Close the connection (after an error that may have broken it); reopened on next use."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    aclose = discard
