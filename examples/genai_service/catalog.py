"""The service's tool: a product FAQ looked up in SQLite.

``CatalogTool`` is the core's :class:`~harness.core.SQLTool` (aiosqlite: the query runs off the
event loop) plus ``tool_latency`` of awaited I/O standing for the round trip to a remote
database, so the event loop keeps serving other requests. ``blocking_lookup`` is the same work
done the naive way, inside the event loop: the benchmark's bad variant.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from harness.core import Locked, RetryPolicy, ServerError, SQLTool

QUERY = "SELECT answer FROM faq WHERE topic = ?"

FAQ = [
    ("refund", "Refunds are processed within 5 business days."),
    ("shipping", "Standard shipping takes 2 to 4 days."),
    ("warranty", "Every device has a two-year warranty."),
    ("question", "Ask anything about refunds, shipping or warranty."),
]


def build_catalog(path: Path) -> None:
    """Create the FAQ database (idempotent)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS faq (topic TEXT PRIMARY KEY, answer TEXT NOT NULL)"
        )
        conn.executemany("INSERT OR IGNORE INTO faq (topic, answer) VALUES (?, ?)", FAQ)
    conn.close()


class CatalogTool(SQLTool):
    """Looks up FAQ answers for a topic. Read-only, so idempotent and retried."""

    name: ClassVar[str] = "catalog"

    def __init__(self, path: Path, *, latency: float = 0.0, resilient: bool = True) -> None:
        super().__init__(
            path,
            read_only=True,
            timeout=5.0,
            busy_timeout=0.5,
            policy=None if resilient else RetryPolicy.no_retries(deadline=5.0),
        )
        self.latency = latency

    async def arun(  # type: ignore[override]  # narrower than BaseTool's **args, like SQLTool's
        self, query: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[dict[str, Any]]:
        if self.latency:
            await asyncio.sleep(self.latency)  # the round trip to a remote database
        return await super().arun(query, params)

    async def answers(self, topic: str) -> list[str]:
        rows = await self.async_run(query=QUERY, params=(topic,))
        return [str(row["answer"]) for row in rows]


def blocking_lookup(path: Path, topic: str, latency: float) -> list[str]:
    """The same lookup, blocking the caller (and so the event loop when called from it)."""
    if latency:
        time.sleep(latency)  # the round trip to a remote database
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=0.5)
    try:
        rows = conn.execute(QUERY, (topic,)).fetchall()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc):
            raise Locked(str(exc), provider="catalog") from exc
        raise ServerError(str(exc), provider="catalog") from exc
    finally:
        conn.close()
    return [str(row[0]) for row in rows]
