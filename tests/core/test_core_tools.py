"""Tools: sync bodies never block the loop; timeouts; only idempotent tools are retried."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from harness.core import (
    BadRequest,
    BaseTool,
    BudgetConfig,
    ConnectError,
    HTTPTool,
    RetryBudgetExhausted,
    RetryPolicy,
    ServerError,
    SQLTool,
    Timeout,
    VirtualClock,
)

pytestmark = pytest.mark.anyio


class SlowSyncTool(BaseTool):
    name = "slow_sync"

    def run(self, seconds: float) -> str:  # type: ignore[override]
        time.sleep(seconds)  # blocking I/O, as a legacy driver would do
        return "done"


class FlakyTool(BaseTool):
    name = "flaky"

    def __init__(self, failures: int, **kwargs: Any) -> None:
        super().__init__(policy=RetryPolicy(jitter="none", initial_delay=0.1), **kwargs)
        self.failures = failures
        self.calls = 0

    async def arun(self) -> str:  # type: ignore[override]
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectError("connection reset", provider=self.name)
        return "ok"


async def test_a_blocking_tool_does_not_stall_the_event_loop() -> None:
    ticks: list[float] = []
    stop = asyncio.Event()

    async def heartbeat() -> None:
        while not stop.is_set():
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.01)

    beat = asyncio.create_task(heartbeat())
    await asyncio.sleep(0.02)
    started = time.perf_counter()
    assert await SlowSyncTool().async_run(seconds=0.2) == "done"
    stop.set()
    await beat
    during = [t for t in ticks if t >= started]
    gaps = [b - a for a, b in itertools.pairwise(during)]
    # The loop kept ticking every ~10 ms while the tool slept 200 ms in its thread (a loop
    # the tool blocked would show one gap of 200 ms; a busy machine may delay a tick a bit).
    assert len(during) >= 8
    assert max(gaps) < 0.15


async def test_sync_tool_timeout_is_a_timeout_error() -> None:
    tool = SlowSyncTool(timeout=0.05, policy=RetryPolicy.no_retries())
    with pytest.raises(Timeout):
        await tool.async_run(seconds=0.3)


async def test_idempotent_tools_are_retried_others_are_not() -> None:
    with VirtualClockContext() as clock:
        safe = FlakyTool(2, idempotent=True)
        assert await safe.async_run() == "ok"
        assert safe.calls == 3
        assert clock.sleeps == [0.1, 0.2]
        unsafe = FlakyTool(2, idempotent=False)
        with pytest.raises(ConnectError):
            await unsafe.async_run()
        assert unsafe.calls == 1


async def test_a_shared_tool_can_cap_its_retries_with_a_budget() -> None:
    with VirtualClockContext() as clock:
        # capacity 1, nothing earned per call, no refill: one retry in all, then none
        budget = BudgetConfig(capacity=1.0, ratio=0.0, min_per_second=0.0)
        tool = FlakyTool(100, idempotent=True, budget=budget)
        with pytest.raises(RetryBudgetExhausted):
            await tool.async_run()
        assert tool.calls == 2  # the first attempt and the one retry the bucket paid for
        with pytest.raises(RetryBudgetExhausted):
            await tool.async_run()
        assert tool.calls == 3  # the bucket is empty: no retry at all
        assert clock.sleeps == [0.1]


def test_a_tool_must_implement_only_one_body() -> None:
    with pytest.raises(TypeError, match="both arun"):

        class Confused(BaseTool):
            def run(self, **args: Any) -> None:
                return None

            async def arun(self, **args: Any) -> None:
                return None


class VirtualClockContext:
    def __enter__(self) -> VirtualClock:
        from harness.core import use_clock

        self._cm = use_clock(VirtualClock())
        return self._cm.__enter__()  # type: ignore[return-value]

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(None, None, None)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
        conn.executemany(
            "INSERT INTO products (name, price) VALUES (?, ?)",
            [("tea", 3.5), ("coffee", 4.0), ("cake", 5.25)],
        )
    conn.close()
    return path


async def test_sql_tool_runs_parameterised_queries(database: Path) -> None:
    tool = SQLTool(database)
    try:
        rows = await tool.async_run(
            query="SELECT name, price FROM products WHERE price > ?", params=[3.9]
        )
        assert rows == [{"name": "coffee", "price": 4.0}, {"name": "cake", "price": 5.25}]
        named = await tool.async_run(
            query="SELECT id FROM products WHERE name = :n", params={"n": "tea"}
        )
        assert named == [{"id": 1}]
    finally:
        await tool.aclose()


async def test_sql_tool_refuses_literals_and_writes_when_read_only(database: Path) -> None:
    tool = SQLTool(database)
    try:
        with pytest.raises(BadRequest, match="parameterised"):
            await tool.async_run(query="SELECT * FROM products WHERE name = 'tea'")
        with pytest.raises(BadRequest, match=r"readonly|read-only|query_only|attempt to write"):
            await tool.async_run(query="DELETE FROM products")
        assert len(await tool.async_run(query="SELECT * FROM products")) == 3
    finally:
        await tool.aclose()


async def test_sql_tool_can_write_when_told(database: Path) -> None:
    tool = SQLTool(database, read_only=False)
    try:
        await tool.async_run(
            query="INSERT INTO products (name, price) VALUES (?, ?)", params=("pie", 6)
        )
        rows = await tool.async_run(query="SELECT count(*) AS n FROM products")
        assert rows == [{"n": 4}]
    finally:
        await tool.aclose()


async def test_sql_tool_retries_a_locked_database(database: Path) -> None:
    blocker = sqlite3.connect(database, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    tool = SQLTool(
        database,
        read_only=False,
        policy=RetryPolicy(jitter="none", initial_delay=0.05, max_attempts=10),
    )
    try:
        loop = asyncio.get_running_loop()
        loop.call_later(0.2, blocker.rollback)
        await tool.async_run(
            query="INSERT INTO products (name, price) VALUES (?, ?)", params=("pie", 6)
        )
        rows = await tool.async_run(query="SELECT count(*) AS n FROM products")
        assert rows == [{"n": 4}]
    finally:
        blocker.close()
        await tool.aclose()


async def test_http_tool_translates_errors_and_retries_gets() -> None:
    with respx.mock(using="httpx", assert_all_called=True) as mock, VirtualClockContext():
        route = mock.get("https://tools.test/weather")
        route.side_effect = [
            httpx.Response(503, json={"error": {"message": "busy"}}),
            httpx.Response(200, json={"temp": 21}),
        ]
        tool = HTTPTool("https://tools.test")
        assert await tool.async_run(path="weather", params={"city": "Hanoi"}) == {"temp": 21}
        assert route.calls.last.request.url.params["city"] == "Hanoi"
        post = mock.post("https://tools.test/orders").mock(return_value=httpx.Response(502))
        with pytest.raises(ServerError):
            await HTTPTool("https://tools.test", method="POST").async_run(path="orders", json={})
        assert post.call_count == 1
        await tool.aclose()
