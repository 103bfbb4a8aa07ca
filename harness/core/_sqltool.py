"""``SQLTool``: parameterised SQL on SQLite (aiosqlite), read-only unless told otherwise."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from harness.core._errors import BadRequest
from harness.core._policy import RetryPolicy
from harness.core._sqlite import SQLiteConnection, translate_sqlite_error
from harness.core._tool import BaseTool


class SQLTool(BaseTool):
    """Runs one parameterised statement and returns rows as dicts.

    Values go in ``params`` (``?`` or ``:name`` placeholders): a query containing a quoted
    string literal is refused, so user text can never be spliced into SQL. Read-only tools
    are idempotent and retried on transient errors; writable ones only on ``Locked``.
    """

    name: ClassVar[str] = "sql"

    def __init__(
        self,
        database: str | Path,
        *,
        read_only: bool = True,
        timeout: float | None = 10.0,
        policy: RetryPolicy | None = None,
        busy_timeout: float = 0.1,
    ) -> None:
        super().__init__(timeout=timeout, policy=policy, idempotent=read_only)
        self.read_only = read_only
        self.connection = SQLiteConnection(database, read_only=read_only, busy_timeout=busy_timeout)

    async def arun(  # type: ignore[override]
        self, query: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[dict[str, Any]]:
        if "'" in query:
            raise BadRequest(
                "SQLTool takes parameterised queries only: pass values in params "
                "(? or :name placeholders), not as '...' literals",
                provider=self.name,
            )
        try:
            conn = await self.connection.get()
            async with conn.execute(query, params) as cursor:
                rows = await cursor.fetchall()
                columns = [d[0] for d in cursor.description or ()]
            if not self.read_only:
                await conn.commit()
        except sqlite3.Error as exc:
            error = translate_sqlite_error(exc, self.name)
            if not isinstance(exc, sqlite3.OperationalError) or "locked" not in str(exc):
                await self.connection.discard()
            raise error from exc
        return [dict(zip(columns, row, strict=True)) for row in rows]

    async def aclose(self) -> None:
        await self.connection.aclose()
