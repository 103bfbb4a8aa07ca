"""Concurrency: N calls at once to a local fake vendor through raw aiohttp, raw httpx, the
client the core sends through (httpx on aiohttp's pool) and the core, side by side in one run.

The vendor is ``harness vendor serve`` in its own process (it does not share our GIL). Each
wave starts N calls at once, each with its own deadline (``asyncio.timeout`` for the raw
clients, ``RetryPolicy(deadline=...)`` for the core); every client has a pool of 200
connections. Rounds rotate the order of the clients so they share the machine's load.

- throughput: calls that succeeded per second of the wave (median over rounds), and its ratio
  to raw aiohttp's (target at 2000 calls: core >= 0.8);
- overrun: how long past its deadline a call returned (worst over every wave). The last wave
  gives 2000 calls a deadline too short for all of them, so many must give up while they wait
  for a connection: that is where an overrun shows (target for the core <= 50 ms).

    .venv/bin/python bench/bench_concurrency.py [--calls 200,600,2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import httpx

from harness._process import ChildProcess, harness_command
from harness.core import BaseLLMWrapper, OpenAIProvider, RetryPolicy
from harness.core._transport import pooled_client

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}
HEADERS = {"authorization": "Bearer sk-bench"}
CONNECTIONS = 200
DEADLINE = 3.0
TIGHT_DEADLINE = 0.25

ERRORS: collections.Counter[str] = collections.Counter()
Call = Callable[[float], Awaitable[None]]


@dataclass
class Figures:
    throughput: dict[int, list[float]] = field(default_factory=dict)
    ok: dict[int, list[int]] = field(default_factory=dict)
    overrun: float = float("-inf")
    tight_ok: int = 0
    tight_failed: int = 0


async def wave(call: Call, calls: int, deadline: float) -> tuple[int, float, float]:
    """``calls`` calls at once: (succeeded, wall seconds, worst overrun of ``deadline``)."""

    async def one() -> tuple[bool, float]:
        started = time.perf_counter()
        try:
            await call(deadline)
        except Exception as exc:
            ERRORS[type(exc).__name__] += 1
            return False, time.perf_counter() - started
        return True, time.perf_counter() - started

    started = time.perf_counter()
    results = await asyncio.gather(*(one() for _ in range(calls)))
    wall = time.perf_counter() - started
    ok = sum(1 for success, _ in results if success)
    return ok, wall, max(elapsed for _, elapsed in results) - deadline


async def main(sizes: list[int], rounds: int, only: list[str]) -> None:
    vendor = ChildProcess("fake vendor", harness_command("vendor", "serve", "--port", "0"))
    base = vendor.start()
    url = f"{base}/v1/chat/completions"
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONNECTIONS))
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    raw_httpx = httpx.AsyncClient(limits=limits)
    raw_pooled = pooled_client(limits)
    llm = BaseLLMWrapper(
        OpenAIProvider(base_url=f"{base}/v1", api_key="sk-bench", model="gpt-4o-mini"),
        policy=RetryPolicy(deadline=DEADLINE),
        limits=limits,
    )

    async def aiohttp_call(deadline: float) -> None:
        async with asyncio.timeout(deadline), session.post(url, json=BODY, headers=HEADERS) as r:
            r.raise_for_status()
            await r.json()

    def httpx_call(client: httpx.AsyncClient) -> Call:
        async def call(deadline: float) -> None:
            async with asyncio.timeout(deadline):
                response = await client.post(url, json=BODY, headers=HEADERS)
            response.raise_for_status()
            response.json()

        return call

    async def core_call(deadline: float) -> None:
        await llm.complete(BODY["messages"], deadline=deadline)

    paths: dict[str, Call] = {
        "raw aiohttp": aiohttp_call,
        "raw httpx": httpx_call(raw_httpx),
        "httpx on aiohttp": httpx_call(raw_pooled),
        "core": core_call,
    }
    paths = {name: call for name, call in paths.items() if name in only}
    figures = {name: Figures() for name in paths}
    try:
        for call in paths.values():  # warm up every pool
            await wave(call, CONNECTIONS, DEADLINE)
        names = list(paths)
        for size in sizes:
            for index in range(rounds):
                order = names[index % len(names) :] + names[: index % len(names)]
                for name in order:
                    ok, wall, overrun = await wave(paths[name], size, DEADLINE)
                    fig = figures[name]
                    fig.throughput.setdefault(size, []).append(ok / wall)
                    fig.ok.setdefault(size, []).append(ok)
                    fig.overrun = max(fig.overrun, overrun)
                    errors = ", ".join(f"{n} {k}" for k, n in ERRORS.most_common())
                    ERRORS.clear()
                    print(f"  {name:<17} {size:>5} calls: {ok:>5} ok in {wall:.2f}s {errors}")
        tight = max(sizes)
        for name in names:
            ok, _, overrun = await wave(paths[name], tight, TIGHT_DEADLINE)
            fig = figures[name]
            fig.overrun = max(fig.overrun, overrun)
            fig.tight_ok, fig.tight_failed = ok, tight - ok
    finally:
        await session.close()
        await raw_httpx.aclose()
        await raw_pooled.aclose()
        await llm.aclose()
        vendor.stop()

    print()
    print(f"{CONNECTIONS} connections per client, deadline {DEADLINE:g}s, {rounds} rounds")
    header = "".join(f"{f'{size} calls/s':>16}{'ratio':>7}{'ok':>7}" for size in sizes)
    print(f"{'path':<18}{header}")
    base_rps = {size: statistics.median(figures["raw aiohttp"].throughput[size]) for size in sizes}
    for name, fig in figures.items():
        row = ""
        for size in sizes:
            rps = statistics.median(fig.throughput[size])
            row += f"{rps:>16.0f}{rps / base_rps[size]:>7.2f}{min(fig.ok[size]):>7}"
        print(f"{name:<18}{row}")
    print()
    print(f"{tight} calls with a {TIGHT_DEADLINE:g}s deadline, then the worst overrun of any wave:")
    for name, fig in figures.items():
        print(
            f"  {name:<17} {fig.tight_ok:>5} ok, {fig.tight_failed:>5} gave up; "
            f"worst overrun {max(0.0, fig.overrun) * 1e3:>8.1f} ms"
        )
    core = figures["core"]
    ratio = statistics.median(core.throughput[max(sizes)]) / base_rps[max(sizes)]
    overrun_ms = max(0.0, core.overrun) * 1e3
    print()
    print(
        f"core / raw aiohttp at {max(sizes)} calls: {ratio:.2f} (target >= 0.8): "
        f"{'OK' if ratio >= 0.8 else 'MISSED'}"
    )
    print(
        f"core worst overrun: {overrun_ms:.1f} ms (target <= 50 ms): "
        f"{'OK' if overrun_ms <= 50 else 'MISSED'}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", default="200,600,2000", help="wave sizes, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--paths", default="raw aiohttp,raw httpx,httpx on aiohttp,core")
    args = parser.parse_args()
    asyncio.run(main([int(n) for n in args.calls.split(",")], args.rounds, args.paths.split(",")))
