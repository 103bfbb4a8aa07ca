"""Concurrency: N calls at once to a local fake vendor through raw aiohttp, raw httpx, the
client the core sends with (httpx on aiohttp's pool) and the core, side by side in one run.

The vendor is ``harness vendor serve`` in its own process (it does not share our GIL). Every
client has a pool of 200 connections. Each wave starts N calls at once, each with its own
deadline (``asyncio.timeout`` around a raw call, ``complete(deadline=...)`` for the core), on a
fresh client warmed with one call per connection (a wave that ruined a pool does not spill into
the next). Rounds rotate the order of the clients so that they share the machine's load.

- throughput: calls answered per second of the wave (median over rounds), and its ratio to raw
  aiohttp's (target for the core at 2000 calls: >= 0.8);
- overrun: how long after its deadline a call returned, worst over every wave (target for the
  core: <= 50 ms). With a 3 s deadline a healthy pool answers everything in time; the last wave,
  the *deadline storm*, gives 2000 calls 0.25 s, too little for most of them, so they give up
  while queued for a connection, all within a few milliseconds of each other.

Raw httpx runs last, one round, at the sizes of ``--httpx-calls`` (200 and 600 by default): its
pool collapses past a few hundred calls at once, and a 2000-call wave then takes minutes to
unwind (``--httpx-calls 200,600,2000`` to see it; its 3 s deadlines do not help).

    .venv/bin/python bench/bench_concurrency.py [--calls 200,600,2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx

from harness.core import BaseLLMWrapper, OpenAIProvider, RetryPolicy, pooled_client
from harness.plugin.process import ChildProcess, harness_command

MESSAGES: list[dict[str, Any]] = [{"role": "user", "content": "hello there"}]
BODY = {"model": "gpt-4o-mini", "messages": MESSAGES}
HEADERS = {"authorization": "Bearer sk-bench"}
CONNECTIONS = 200
LIMITS = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
DEADLINE = 3.0
STORM_DEADLINE = 0.25
WAVE_CAP = 300.0  # a wave still running after this is reported, not waited for

Call = Callable[[float], Awaitable[None]]
Path = Callable[[str], AbstractAsyncContextManager[Call]]


@asynccontextmanager
async def raw_aiohttp(base: str) -> AsyncIterator[Call]:
    url = f"{base}/v1/chat/completions"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONNECTIONS)) as s:

        async def call(deadline: float) -> None:
            async with asyncio.timeout(deadline), s.post(url, json=BODY, headers=HEADERS) as r:
                r.raise_for_status()
                await r.json()

        yield call


def raw_httpx_path(make: Callable[[], httpx.AsyncClient]) -> Path:
    @asynccontextmanager
    async def path(base: str) -> AsyncIterator[Call]:
        url = f"{base}/v1/chat/completions"
        async with make() as client:

            async def call(deadline: float) -> None:
                async with asyncio.timeout(deadline):
                    response = await client.post(url, json=BODY, headers=HEADERS)
                response.raise_for_status()
                response.json()

            yield call

    return path


@asynccontextmanager
async def core(base: str) -> AsyncIterator[Call]:
    provider = OpenAIProvider(base_url=f"{base}/v1", api_key="sk-bench", model="gpt-4o-mini")
    async with BaseLLMWrapper(provider, policy=RetryPolicy(deadline=DEADLINE)) as llm:

        async def call(deadline: float) -> None:
            await llm.complete(MESSAGES, deadline=deadline)

        yield call


PATHS: dict[str, Path] = {
    "raw aiohttp": raw_aiohttp,
    "raw httpx": raw_httpx_path(lambda: httpx.AsyncClient(limits=LIMITS)),
    "httpx on aiohttp": raw_httpx_path(lambda: pooled_client(LIMITS)),
    "core": core,
}


@dataclass
class Wave:
    ok: int
    wall: float
    overrun: float  # the latest call's elapsed time minus the deadline (negative: all in time)
    errors: collections.Counter[str]
    finished: bool = True


@dataclass
class Figures:
    waves: dict[int, list[Wave]] = field(default_factory=dict)
    storms: list[Wave] = field(default_factory=list)

    def rps(self, size: int) -> float:
        return statistics.median(w.ok / w.wall for w in self.waves[size])

    @property
    def overrun(self) -> float:
        every = [w for ws in self.waves.values() for w in ws] + self.storms
        return max(w.overrun for w in every)


async def wave(path: Path, base: str, calls: int, deadline: float) -> Wave:
    """``calls`` calls at once on a fresh, warmed client of ``path``."""
    errors: collections.Counter[str] = collections.Counter()
    async with path(base) as call:

        async def one(deadline: float) -> tuple[bool, float]:
            started = time.perf_counter()
            try:
                await call(deadline)
            except Exception as exc:
                errors[type(exc).__name__] += 1
                return False, time.perf_counter() - started
            return True, time.perf_counter() - started

        await asyncio.gather(*(one(DEADLINE) for _ in range(CONNECTIONS)))  # warm the pool
        errors.clear()
        started = time.perf_counter()
        tasks = [asyncio.ensure_future(one(deadline)) for _ in range(calls)]
        done, pending = await asyncio.wait(tasks, timeout=WAVE_CAP)
        wall = time.perf_counter() - started
        for task in pending:
            task.cancel()
        results = [task.result() for task in done]
        ok = sum(1 for success, _ in results if success)
        overrun = max((elapsed for _, elapsed in results), default=0.0) - deadline
        if pending:
            overrun = max(overrun, wall - deadline)
            errors["still running"] += len(pending)
    return Wave(ok, wall, overrun, errors, finished=not pending)


def describe(wave: Wave) -> str:
    errors = ", ".join(f"{n} {kind}" for kind, n in wave.errors.most_common())
    return f"{wave.ok:>5} ok in {wave.wall:6.2f}s {errors}"


async def main(sizes: list[int], rounds: int, only: list[str], httpx_sizes: list[int]) -> None:
    vendor = ChildProcess("fake vendor", harness_command("vendor", "serve", "--port", "0"))
    base = vendor.start()
    paths = {name: path for name, path in PATHS.items() if name in only and name != "raw httpx"}
    figures = {name: Figures() for name in paths}
    names = list(paths)
    httpx_waves: list[tuple[int, Wave]] = []
    try:
        for size in sizes:
            for index in range(rounds):
                shift = index % len(names)
                for name in names[shift:] + names[:shift]:
                    result = await wave(paths[name], base, size, DEADLINE)
                    figures[name].waves.setdefault(size, []).append(result)
                    print(f"  {name:<17}{size:>5} calls: {describe(result)}", flush=True)
        storm = max(sizes)
        for index in range(rounds):
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                result = await wave(paths[name], base, storm, STORM_DEADLINE)
                figures[name].storms.append(result)
                print(f"  {name:<17}{storm:>5} calls, storm: {describe(result)}", flush=True)
        for size in httpx_sizes if "raw httpx" in only else []:
            result = await wave(PATHS["raw httpx"], base, size, DEADLINE)
            httpx_waves.append((size, result))
            print(f"  {'raw httpx':<17}{size:>5} calls: {describe(result)}", flush=True)
    finally:
        vendor.stop()
    report(figures, sizes, rounds)
    if httpx_waves:
        print()
        print(f"raw httpx (one round, deadline {DEADLINE:g}s):")
    for size, result in httpx_waves:
        ratio = result.ok / result.wall / figures["raw aiohttp"].rps(size)
        print(
            f"  {size:>5} calls: {result.ok:>5} ok in {result.wall:.2f}s, "
            f"throughput ratio {ratio:.2f}, worst overrun {max(0.0, result.overrun):.2f}s"
        )


def report(figures: dict[str, Figures], sizes: list[int], rounds: int) -> None:
    print()
    print(f"{CONNECTIONS} connections per client, deadline {DEADLINE:g}s, {rounds} rounds")
    print(f"{'path':<18}" + "".join(f"{f'{n} calls/s':>15}{'ratio':>7}{'ok':>7}" for n in sizes))
    base = figures.get("raw aiohttp")
    for name, fig in figures.items():
        row = ""
        for size in sizes:
            ratio = fig.rps(size) / base.rps(size) if base else float("nan")
            row += f"{fig.rps(size):>15.0f}{ratio:>7.2f}{min(w.ok for w in fig.waves[size]):>7}"
        print(f"{name:<18}{row}")
    storm = max(sizes)
    print()
    print(f"deadline storm: {storm} calls with {STORM_DEADLINE:g}s each, {rounds} rounds")
    print(f"{'path':<18}{'answered':>9}{'median overrun':>16}{'worst':>9}   worst at {DEADLINE:g}s")
    for name, fig in figures.items():
        storms = [max(0.0, w.overrun) * 1e3 for w in fig.storms]
        calm = max(0.0, *(w.overrun for ws in fig.waves.values() for w in ws)) * 1e3
        answered = statistics.median(w.ok for w in fig.storms)
        print(
            f"{name:<18}{answered:>9.0f}{statistics.median(storms):>13.1f} ms"
            f"{max(storms):>6.1f} ms{calm:>12.1f} ms"
        )
    if base is None or "core" not in figures:
        return
    ratio = figures["core"].rps(storm) / base.rps(storm)
    overrun = max(0.0, figures["core"].overrun) * 1e3
    print()
    print(f"core / raw aiohttp at {storm} calls: {ratio:.2f} (target >= 0.8): ", end="")
    print("OK" if ratio >= 0.8 else "MISSED")
    print(f"core worst overrun: {overrun:.1f} ms (target <= 50 ms): ", end="")
    print("OK" if overrun <= 50 else "MISSED")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", default="200,600,2000", help="wave sizes, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--paths", default=",".join(PATHS), help="which clients, comma-separated")
    parser.add_argument("--httpx-calls", default="200,600", help="raw httpx's wave sizes")
    args = parser.parse_args()
    sizes = [int(n) for n in args.calls.split(",")]
    httpx_sizes = [int(n) for n in args.httpx_calls.split(",")]
    asyncio.run(main(sizes, args.rounds, args.paths.split(","), httpx_sizes))
