"""Async I/O: 200 concurrent tool calls, each waiting 100 ms on real I/O, three ways, one run.

Each of 200 concurrent callers makes 10 calls back to back. The I/O is a TCP round trip to a
local server (its own process) that answers 100 ms after it is asked, like a remote database.
The same lookup runs as:

- an async tool (``BaseTool.arun`` with asyncio streams and pooled connections),
- a blocking tool (``BaseTool.run`` with a blocking socket per thread), run by ``async_run`` in
  worker threads behind a capacity limiter (16 threads by default, and 200),
- the blocking call made directly inside the event loop (the proof-of-concept mistake).

Prints calls per second and throughput over the ideal (concurrency / latency = 2000/s).
Target: async >= 0.9 of ideal.

    .venv/bin/python bench/bench_async_io.py
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import threading
import time
from typing import Any, ClassVar

from harness.core import BaseTool, RetryPolicy

CONCURRENCY = 200
LATENCY = 0.1
ROUNDS = 10


def serve(port_queue: Any) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readline():
                await asyncio.sleep(LATENCY)
                writer.write(b"ok\n")
                await writer.drain()
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        port_queue.put(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(main())


class AsyncLookup(BaseTool):
    name: ClassVar[str] = "async_lookup"

    def __init__(self, port: int) -> None:
        super().__init__(timeout=10.0, policy=RetryPolicy.no_retries(), idempotent=True)
        self.port = port
        self.pool: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def arun(self) -> bytes:  # type: ignore[override]
        # Connections are kept and reused, as an async database driver's pool does.
        if self.pool:
            reader, writer = self.pool.pop()
        else:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(b"get\n")
        await writer.drain()
        answer = await reader.readline()
        self.pool.append((reader, writer))
        return answer

    async def aclose(self) -> None:
        for _, writer in self.pool:
            writer.close()
        self.pool.clear()


_local = threading.local()


def blocking_lookup(port: int) -> bytes:
    """The same round trip on a blocking socket (one kept per thread, like a sync driver)."""
    sock = getattr(_local, "sock", None)
    if sock is None:
        sock = _local.sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"get\n")
    return sock.recv(16)


class ThreadedLookup(BaseTool):
    name: ClassVar[str] = "threaded_lookup"

    def __init__(self, port: int, threads: int) -> None:
        super().__init__(
            timeout=60.0, policy=RetryPolicy.no_retries(), idempotent=True, max_threads=threads
        )
        self.port = port

    def run(self) -> bytes:  # type: ignore[override]
        return blocking_lookup(self.port)


async def measure(label: str, call: Any, rounds: int = ROUNDS, workers: int = CONCURRENCY) -> float:
    """``workers`` concurrent callers, each making ``rounds`` calls back to back."""

    async def worker() -> None:
        for _ in range(rounds):
            assert (await call()).startswith(b"ok")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    elapsed = time.perf_counter() - started
    calls = rounds * workers
    rate = calls / elapsed
    ideal = CONCURRENCY / LATENCY
    print(f"{label:<40}{calls:>6} calls {elapsed:>8.2f} s {rate:>9.0f}/s {rate / ideal:>8.3f}")
    return rate / ideal


async def main(port: int) -> None:
    print(
        f"{CONCURRENCY} concurrent calls, {LATENCY * 1000:.0f} ms of I/O each; "
        f"ideal {CONCURRENCY / LATENCY:.0f} calls/s"
    )
    print(f"{'way':<40}{'':>6}       {'time':>8}   {'rate':>9}  {'/ideal':>8}")
    async_tool = AsyncLookup(port)
    await measure("warm-up", async_tool.async_run, rounds=1)
    ratio = await measure("async tool (arun)", async_tool.async_run)
    await measure(
        "blocking tool on 16 worker threads", ThreadedLookup(port, 16).async_run, rounds=2
    )
    await measure("blocking tool on 200 worker threads", ThreadedLookup(port, 200).async_run)

    async def in_loop() -> bytes:
        return blocking_lookup(port)  # blocks the event loop for the whole round trip

    await measure("blocking call inside the event loop", in_loop, rounds=1, workers=20)
    await async_tool.aclose()
    print(f"async tool: {ratio:.3f} of ideal (target >= 0.9): {'OK' if ratio >= 0.9 else 'MISSED'}")


if __name__ == "__main__":
    queue: Any = multiprocessing.get_context("spawn").Queue()
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(queue,), daemon=True)
    server.start()
    try:
        asyncio.run(main(queue.get(timeout=10)))
    finally:
        server.terminate()
        server.join()
