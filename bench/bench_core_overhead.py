"""Core overhead: the same requests through the raw client the core sends with and through
``BaseLLMWrapper`` (no faults), side by side in one run.

That client is aiohttp: the core sends a completion straight to the ``aiohttp.ClientSession`` of
its pooled client (see ``harness/core/_transport.py``). The raw path posts the same JSON on that
very session, as plain aiohttp code would (``session.post(url, json=...)``, ``await
response.json()``); the wrapper is given the same client, so the difference is the core itself:
retries, breaker, budget, deadline, admission queue, request and reply shapes.

The server is the fake vendor in its own process (so it does not share the client's GIL).
Requests alternate one raw, one wrapped (so both see the same machine load at the same moment);
each is timed, and the script prints the median latency of each, their ratio (target <= 1.05),
and the throughput of 50 concurrent callers for both.

    .venv/bin/python bench/bench_core_overhead.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import aiohttp
import httpx

from harness.core import BaseLLMWrapper, OpenAIProvider, pooled_client
from harness.core._transport import direct_pool
from harness.plugin.process import ChildProcess, harness_command

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}


async def raw_call(session: aiohttp.ClientSession, url: str) -> str:
    async with session.post(url, json=BODY, headers={"authorization": "Bearer sk-bench"}) as r:
        r.raise_for_status()
        data = await r.json()
    return str(data["choices"][0]["message"]["content"])


async def wrapped_call(llm: BaseLLMWrapper) -> str:
    answer = await llm.complete(BODY["messages"])
    return answer.text


async def sequential(call, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    latencies = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        latencies.append(time.perf_counter() - started)
    return latencies


async def concurrent(call, users: int, seconds: float) -> float:  # type: ignore[no-untyped-def]
    done = 0
    stop = time.perf_counter() + seconds

    async def user() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await call()
            done += 1

    await asyncio.gather(*(user() for _ in range(users)))
    return done / seconds


async def main(requests: int) -> None:
    vendor = ChildProcess("fake vendor", harness_command("vendor", "serve", "--port", "0"))
    base = vendor.start()
    try:
        url = f"{base}/v1/chat/completions"
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with pooled_client(limits) as client:
            pool = direct_pool(client)
            assert pool is not None, "an HTTP proxy is configured: the core sends through httpx"
            session = pool.session()
            llm = BaseLLMWrapper(
                OpenAIProvider(base_url=f"{base}/v1", api_key="sk-bench", model="gpt-4o-mini"),
                client=client,
            )

            async def raw() -> str:
                return await raw_call(session, url)

            async def wrapped() -> str:
                return await wrapped_call(llm)

            await sequential(raw, 200)  # warm up both paths and the connection pool
            await sequential(wrapped, 200)
            raw_lat: list[float] = []
            wrapped_lat: list[float] = []
            for i in range(requests * 2):
                first, second = (raw, wrapped) if i % 2 == 0 else (wrapped, raw)
                a, b = await sequential(first, 1), await sequential(second, 1)
                (raw_lat if first is raw else wrapped_lat).extend(a)
                (wrapped_lat if first is raw else raw_lat).extend(b)
            raw_rps = await concurrent(raw, 50, 3.0)
            wrapped_rps = await concurrent(wrapped, 50, 3.0)
    finally:
        vendor.stop()
    raw_med = statistics.median(raw_lat) * 1e6
    wrapped_med = statistics.median(wrapped_lat) * 1e6
    ratio = wrapped_med / raw_med
    print(f"requests per path: {len(raw_lat)} sequential, raw and wrapped alternating")
    print(f"{'path':<18}{'median latency':>16}{'p90':>12}{'50 users rps':>16}")
    for name, lat, rps in (
        ("raw aiohttp", raw_lat, raw_rps),
        ("BaseLLMWrapper", wrapped_lat, wrapped_rps),
    ):
        p90 = statistics.quantiles(lat, n=10)[-1] * 1e6
        print(f"{name:<18}{statistics.median(lat) * 1e6:>13.0f} us{p90:>9.0f} us{rps:>16.0f}")
    print(
        f"median latency ratio wrapper/raw: {ratio:.3f} (target <= 1.05): "
        f"{'OK' if ratio <= 1.05 else 'MISSED'}"
    )
    print(f"throughput ratio wrapper/raw at 50 users: {wrapped_rps / raw_rps:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main(args.requests))
