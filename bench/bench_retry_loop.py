"""What the retry loop costs on the happy path: the core's plain loop against tenacity.

The same trivial async operation (it answers at once, so the loop is all that is measured), run
three ways in one process, alternating rounds: awaited directly, through
``Resilience.run_single`` (breaker, budget, gate, deadline and the retry loop, no subscriber),
and through a tenacity ``AsyncRetrying`` with a stop, a wait and a retry predicate (the machinery
alone, without any of the core's protections). Prints microseconds per call for each.

    flock /work/helpers/bench.lock .venv/bin/python bench/bench_retry_loop.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from harness.core import (
    AttemptInfo,
    BreakerConfig,
    BudgetConfig,
    Resilience,
    RetryPolicy,
    is_retryable,
)


async def operation(info: AttemptInfo) -> str:
    return "ok"


INFO = AttemptInfo(provider="p", attempt=1, timeout=60.0)


async def timed(call: Callable[[], Awaitable[object]], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        await call()
    return (time.perf_counter() - started) / calls * 1e6


async def main(calls: int, rounds: int) -> None:
    resilience = Resilience(
        "bench", policy=RetryPolicy(), breaker=BreakerConfig(), budget=BudgetConfig()
    )
    retrying = AsyncRetrying(
        stop=stop_after_attempt(5),
        wait=wait_random_exponential(multiplier=1, max=30),
        retry=retry_if_exception(is_retryable),
        reraise=True,
    )
    paths: dict[str, Callable[[], Awaitable[object]]] = {
        "direct await": lambda: operation(INFO),
        "Resilience.run_single": lambda: resilience.run_single("p", operation),
        "tenacity AsyncRetrying": lambda: retrying(operation, INFO),
    }
    results: dict[str, list[float]] = {name: [] for name in paths}
    for call in paths.values():  # warm up
        await timed(call, calls // 10)
    for _ in range(rounds):
        for name, call in paths.items():
            results[name].append(await timed(call, calls))
    print(f"{calls} calls x {rounds} rounds per path, median of rounds")
    for name, samples in results.items():
        print(f"{name:<24}{statistics.median(samples):>8.2f} us per call")
    core = statistics.median(results["Resilience.run_single"])
    loop = statistics.median(results["tenacity AsyncRetrying"])
    print(f"tenacity's loop alone / the core's whole call: {loop / core:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.rounds))
