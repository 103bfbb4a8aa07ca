"""SQLiteMemory: store, load and search, and a busy store is retried, not failed."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harness.core import Locked, RetryPolicy, SQLiteMemory

pytestmark = pytest.mark.anyio


@contextlib.asynccontextmanager
async def a_locked_store(
    path: Path, *, initial_delay: float, max_attempts: int
) -> AsyncIterator[tuple[SQLiteMemory, sqlite3.Connection]]:
    """A store at ``path`` holding "first" (session "s"), retried with no jitter, and a second
    connection holding its exclusive lock until the test releases it (or the block ends)."""
    policy = RetryPolicy(jitter="none", initial_delay=initial_delay, max_attempts=max_attempts)
    async with contextlib.aclosing(SQLiteMemory(path, policy=policy)) as memory:
        await memory.async_store("s", "user", "first")
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            yield memory, blocker
        finally:
            blocker.close()  # rolls back a transaction still open


async def test_store_load_and_search(tmp_path: Path) -> None:
    async with contextlib.aclosing(SQLiteMemory(tmp_path / "memory.db")) as memory:
        await memory.async_store("s1", "user", "What is 100% of 5?")
        await memory.async_store("s1", "assistant", "5", metadata={"provider": "primary"})
        await memory.async_store("s2", "user", "another session")
        history = await memory.async_load("s1")
        assert [(r.role, r.content) for r in history] == [
            ("user", "What is 100% of 5?"),
            ("assistant", "5"),
        ]
        assert history[1].metadata == {"provider": "primary"}
        assert [r.content for r in await memory.async_load("s1", limit=1)] == ["5"]
        found = await memory.async_search("100%")
        assert [r.content for r in found] == ["What is 100% of 5?"]
        assert await memory.async_search("session", session_id="s1") == []
        journal = sqlite3.connect(tmp_path / "memory.db").execute("PRAGMA journal_mode").fetchone()
        assert journal == ("wal",)


async def test_a_locked_store_is_retried_until_it_frees(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    async with a_locked_store(path, initial_delay=0.05, max_attempts=10) as (memory, blocker):
        asyncio.get_running_loop().call_later(0.2, blocker.rollback)
        events: list[object] = []
        memory.subscribe(events.append)
        await memory.async_store("s", "user", "second")
        blocker.close()
        assert [r.content for r in await memory.async_load("s")] == ["first", "second"]
        failures = [e for e in events if type(e).__name__ == "AttemptFailed"]
        assert failures and all(e.error == "Locked" for e in failures)


async def test_a_store_locked_for_too_long_raises_locked(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    async with a_locked_store(path, initial_delay=0.01, max_attempts=2) as (memory, _):
        with pytest.raises(Locked):
            await memory.async_store("s", "user", "second")
