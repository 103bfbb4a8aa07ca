"""The service's tool: a product FAQ looked up in SQLite.

``CatalogTool`` is a blocking body (sqlite3, plus ``tool_latency`` of I/O wait standing for a
remote database) that :class:`~harness.core.BaseTool` runs in a worker thread, so the event
loop keeps serving other requests. ``blocking_lookup`` is the same work done the naive way,
inside the event loop: the benchmark's bad variant.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any, ClassVar

from harness.core import BaseTool, Locked, RetryPolicy, ServerError

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


def _lookup(path: Path, topic: str, latency: float, busy_timeout: float) -> list[str]:
    if latency:
        time.sleep(latency)  # the round trip to a remote database
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=busy_timeout)
    try:
        rows = conn.execute("SELECT answer FROM faq WHERE topic = ?", (topic,)).fetchall()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc):
            raise Locked(str(exc), provider="catalog") from exc
        raise ServerError(str(exc), provider="catalog") from exc
    finally:
        conn.close()
    return [row[0] for row in rows]


class CatalogTool(BaseTool):
    """Looks up FAQ answers for a topic. Read-only, so idempotent and retried."""

    name: ClassVar[str] = "catalog"

    def __init__(self, path: Path, *, latency: float = 0.0, resilient: bool = True) -> None:
        super().__init__(
            timeout=5.0,
            idempotent=True,
            max_threads=64,
            policy=None if resilient else RetryPolicy.no_retries(deadline=5.0),
        )
        self.path = path
        self.latency = latency

    def run(self, topic: str) -> list[str]:  # type: ignore[override]
        return _lookup(self.path, topic, self.latency, busy_timeout=0.5)


def blocking_lookup(path: Path, topic: str, latency: float) -> list[Any]:
    """The same lookup, blocking the caller (and so the event loop when called from it)."""
    return _lookup(path, topic, latency, busy_timeout=0.5)
