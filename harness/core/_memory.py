"""``BaseMemory``: a conversation store with async I/O and retries on a busy store.

``async_store`` / ``async_load`` / ``async_search`` run through the same resilience machinery
as LLM calls (one provider: the store), so "database is locked" is retried with backoff instead
of failing the request, and the event loop never blocks on the store.
"""

from __future__ import annotations

import abc
import json
import random
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core._budget import BudgetConfig
from harness.core._clock import Clock
from harness.core._executor import AttemptInfo, Resilience, Resilient
from harness.core._policy import RetryPolicy
from harness.core._sqlite import SQLiteConnection, translate_sqlite_error

DEFAULT_MEMORY_POLICY = RetryPolicy(
    max_attempts=5, initial_delay=0.05, max_delay=1.0, jitter="full", deadline=10.0
)


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    """One stored message."""

    id: int
    session_id: str
    role: str
    content: str
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0


class BaseMemory(Resilient, abc.ABC):
    """Implement ``_store``, ``_load`` and ``_search``; callers use the ``async_*`` methods."""

    def __init__(
        self,
        *,
        name: str = "memory",
        policy: RetryPolicy | None = None,
        budget: BudgetConfig | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.resilience = Resilience(
            f"memory:{name}",
            policy=policy or DEFAULT_MEMORY_POLICY,
            budget=budget,
            clock=clock,
            rng=rng,
        )

    async def async_store(
        self,
        session_id: str,
        role: str,
        content: str,
        metadata: Mapping[str, Any] | None = None,
    ) -> int:
        """Append a message to ``session_id``; returns its id."""
        meta = dict(metadata or {})

        async def op(_: AttemptInfo) -> int:
            return await self._store(session_id, role, content, meta)

        return (await self.resilience.run_single(self.name, op)).value

    async def async_load(self, session_id: str, *, limit: int | None = None) -> list[MemoryRecord]:
        """The session's messages in order (the last ``limit`` when given)."""

        async def op(_: AttemptInfo) -> list[MemoryRecord]:
            return await self._load(session_id, limit)

        return (await self.resilience.run_single(self.name, op)).value

    async def async_search(
        self, query: str, *, session_id: str | None = None, limit: int = 10
    ) -> list[MemoryRecord]:
        """Messages whose content contains ``query`` (case-insensitive), newest first."""

        async def op(_: AttemptInfo) -> list[MemoryRecord]:
            return await self._search(query, session_id, limit)

        return (await self.resilience.run_single(self.name, op)).value

    @abc.abstractmethod
    async def _store(
        self, session_id: str, role: str, content: str, metadata: dict[str, Any]
    ) -> int: ...

    @abc.abstractmethod
    async def _load(self, session_id: str, limit: int | None) -> list[MemoryRecord]: ...

    @abc.abstractmethod
    async def _search(
        self, query: str, session_id: str | None, limit: int
    ) -> list[MemoryRecord]: ...

    async def aclose(self) -> None:
        """Release resources (connections)."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS memory (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS memory_session ON memory (session_id, id);
"""


class SQLiteMemory(BaseMemory):
    """The default store: one SQLite file in WAL mode (readers never wait for the writer)."""

    def __init__(
        self,
        path: str | Path,
        *,
        name: str = "sqlite",
        policy: RetryPolicy | None = None,
        busy_timeout: float = 0.05,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(name=name, policy=policy, clock=clock)
        self.path = Path(path)
        self.connection = SQLiteConnection(
            path, read_only=False, busy_timeout=busy_timeout, wal=True, setup=_SCHEMA
        )

    async def _run(self, sql: str, params: tuple[Any, ...], *, write: bool) -> list[Any]:
        try:
            conn = await self.connection.get()
            async with conn.execute(sql, params) as cursor:
                rows = list(await cursor.fetchall())
                lastrowid = cursor.lastrowid
            if write:
                await conn.commit()
                return [lastrowid]
        except sqlite3.Error as exc:
            error = translate_sqlite_error(exc, self.name)
            conn_broken = "locked" not in str(exc)
            if conn_broken:
                await self.connection.discard()
            elif write:
                await self._rollback()
            raise error from exc
        return rows

    async def _rollback(self) -> None:
        conn = await self.connection.get()
        await conn.rollback()

    async def _store(
        self, session_id: str, role: str, content: str, metadata: dict[str, Any]
    ) -> int:
        rows = await self._run(
            "INSERT INTO memory (session_id, role, content, metadata, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (session_id, role, content, json.dumps(metadata), time.time()),
            write=True,
        )
        return int(rows[0])

    async def _load(self, session_id: str, limit: int | None) -> list[MemoryRecord]:
        rows = await self._run(
            "SELECT id, session_id, role, content, metadata, created_at FROM memory "
            "WHERE session_id = ? ORDER BY id DESC LIMIT ?",
            (session_id, -1 if limit is None else limit),
            write=False,
        )
        return [_record(row) for row in reversed(rows)]

    async def _search(self, query: str, session_id: str | None, limit: int) -> list[MemoryRecord]:
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        sql = (
            "SELECT id, session_id, role, content, metadata, created_at FROM memory "
            "WHERE content LIKE ? ESCAPE '\\'"
        )
        params: tuple[Any, ...] = (pattern,)
        if session_id is not None:
            sql += " AND session_id = ?"
            params += (session_id,)
        rows = await self._run(sql + " ORDER BY id DESC LIMIT ?", (*params, limit), write=False)
        return [_record(row) for row in rows]

    async def aclose(self) -> None:
        await self.connection.aclose()


def _record(row: Any) -> MemoryRecord:
    return MemoryRecord(
        id=int(row[0]),
        session_id=str(row[1]),
        role=str(row[2]),
        content=str(row[3]),
        metadata=json.loads(row[4] or "{}"),
        created_at=float(row[5]),
    )
