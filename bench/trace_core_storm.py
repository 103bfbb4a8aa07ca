"""Trace the core through a 503 storm, a 429 storm, a primary outage and the recovery.

Two fake vendors in this process (OpenAI-compatible primary, Anthropic-compatible backup), one
``BaseLLMWrapper`` with its defaults, ``--users`` callers each sending a request every
``--interval`` seconds. Phases: baseline, 30 % 503, 50 % 429 with ``Retry-After: 1``, primary
down (connection reset), recovery. Prints, per phase: availability, p50/p95/max latency, the
share served by the backup, primary attempts per request, and the distribution of primary
attempts per call; then client CPU per request (the main thread's CPU time: the vendors run in
their own threads), and when, after the outage, the primary serves again and the backup last
serves.

    flock /work/helpers/bench.lock .venv/bin/python bench/trace_core_storm.py [--scale 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from harness.core import AnthropicProvider, BaseLLMWrapper, OpenAIProvider
from harness_fake_vendor import FakeVendor

PHASES: list[tuple[str, float, list[dict[str, Any]]]] = [
    ("baseline", 5.0, []),
    ("errors_503", 15.0, [{"kind": "http_status", "status": 503, "rate": 0.3}]),
    (
        "storm_429",
        15.0,
        [{"kind": "http_status", "status": 429, "rate": 0.5, "retry_after": 1.0}],
    ),
    ("primary_down", 15.0, [{"kind": "connection_reset"}]),
    ("recovery", 20.0, []),
]


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    failed: int = 0
    backup: int = 0
    primary_attempts: collections.Counter[int] = field(default_factory=collections.Counter)


async def main(users: int, interval: float, scale: float) -> None:
    with FakeVendor(seed=7) as primary, FakeVendor(seed=8) as backup:
        llm = BaseLLMWrapper(
            [
                OpenAIProvider(
                    base_url=primary.openai_base_url, api_key="sk-trace", name="primary"
                ),
                AnthropicProvider(
                    base_url=backup.anthropic_base_url, api_key="sk-trace", name="backup"
                ),
            ]
        )
        phases = {name: Phase(name) for name, _, _ in PHASES}
        current = PHASES[0][0]
        stop = asyncio.Event()
        first_primary_after_outage: list[float] = []
        last_backup_after_outage = [0.0]
        outage_end = [float("inf")]

        async def user(index: int) -> None:
            await asyncio.sleep(interval * index / users)
            while not stop.is_set():
                started = time.monotonic()
                phase = phases[current]
                try:
                    answer = await llm.complete("hello")
                except Exception:
                    phase.failed += 1
                    phase.latencies.append(time.monotonic() - started)
                else:
                    phase.latencies.append(time.monotonic() - started)
                    phase.backup += answer.provider == "backup"
                    phase.primary_attempts[answer.attempts_by_provider.get("primary", 0)] += 1
                    if (
                        answer.provider == "primary"
                        and started >= outage_end[0]
                        and not first_primary_after_outage
                    ):
                        first_primary_after_outage.append(started - outage_end[0])
                    if answer.provider == "backup" and started >= outage_end[0]:
                        since = started - outage_end[0]
                        last_backup_after_outage[0] = max(last_backup_after_outage[0], since)
                await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))

        cpu_before = time.thread_time()
        primary_before = primary.control.counters()["requests_total"]
        tasks = [asyncio.create_task(user(i)) for i in range(users)]
        for name, seconds, faults in PHASES:
            primary.control.clear_faults()
            for fault in faults:
                primary.control.add_fault(fault)
            if name == "recovery":
                outage_end[0] = time.monotonic()
            current = name
            await asyncio.sleep(seconds * scale)
        stop.set()
        await asyncio.gather(*tasks)
        cpu = time.thread_time() - cpu_before
        primary_calls = primary.control.counters()["requests_total"] - primary_before
        await llm.aclose()

    total = sum(len(p.latencies) for p in phases.values())
    print(f"{users} users, a request every {interval:g}s each, phases x{scale:g}")
    print(
        f"{'phase':<14}{'requests':>9}{'avail':>8}{'p50':>8}{'p95':>8}{'max':>8}"
        f"{'backup':>8}  primary attempts per call"
    )
    for phase in phases.values():
        lat = sorted(phase.latencies)
        n = len(lat)
        if not n:
            continue
        p95 = statistics.quantiles(lat, n=20)[-1] if n > 1 else lat[0]
        dist = ", ".join(f"{k}:{v}" for k, v in sorted(phase.primary_attempts.items()))
        print(
            f"{phase.name:<14}{n:>9}{(n - phase.failed) / n:>8.1%}"
            f"{statistics.median(lat):>8.3f}{p95:>8.3f}{lat[-1]:>8.3f}"
            f"{phase.backup / n:>8.1%}  {dist}"
        )
    print(f"primary calls per request (whole run): {primary_calls / total:.2f}")
    print(f"client CPU per request: {cpu / total * 1000:.2f} ms")
    back = first_primary_after_outage[0] if first_primary_after_outage else float("nan")
    print(f"first request served by the primary after the outage: {back:.2f}s after it ended")
    print(
        "last request served by the backup after the outage: "
        f"{last_backup_after_outage[0]:.2f}s after it ended"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply phase durations")
    args = parser.parse_args()
    asyncio.run(main(args.users, args.interval, args.scale))
