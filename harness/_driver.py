"""The in-process load driver: asyncio users against a target while the timeline runs.

Used by the pytest plugin and ``harness run``. ``users`` tasks are spawned at ``spawn_rate``
per second; each sends requests back to back (plus ``think_time``) until the scenario's
duration is over or ``max_requests`` were sent. Phases switch on a separate task; applying and
reverting faults (blocking HTTP calls to vendors and proxies) runs in a worker thread so the
load never pauses. Every request is recorded with the phase it *started* in.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness._metrics import Recorder
from harness._targets import Target
from harness._timeline import Timeline

if TYPE_CHECKING:
    from harness._scenario import Scenario


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot for live displays."""

    elapsed: float
    phase: str | None
    users: int
    requests: int
    failed: int


async def drive(
    scenario: Scenario,
    target: Target,
    recorder: Recorder,
    timeline: Timeline,
    *,
    users: int | None = None,
    duration: float | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> None:
    load = scenario.load
    n_users = users or load.users
    total = duration or load.duration or scenario.duration
    spawn_interval = 1.0 / (load.spawn_rate or n_users * 4.0)
    started = time.monotonic()
    stop_at = started + total
    sent = 0
    failed = 0
    phase_name: str | None = None
    running: list[asyncio.Task[None]] = []

    def phase_now() -> str | None:
        return phase_name

    async def phases() -> None:
        nonlocal phase_name
        budget = total
        for phase in scenario.phases:
            if budget <= 0:
                break
            await asyncio.to_thread(timeline.enter, phase)
            phase_name = phase.name
            span = min(phase.duration, budget)
            budget -= span
            await asyncio.sleep(max(0.0, started + (total - budget) - time.monotonic()))

    async def user(index: int) -> None:
        nonlocal sent, failed
        n = 0
        while time.monotonic() < stop_at:
            if load.max_requests is not None and sent >= load.max_requests:
                return
            sent += 1
            n += 1
            phase = phase_now()
            began = time.perf_counter()
            outcome = await target.request(index, n)
            latency = time.perf_counter() - began
            recorder.record_request(
                target.name,
                latency,
                ok=outcome.ok,
                error=outcome.error,
                status=outcome.status,
                phase=phase or "",
            )
            failed += 0 if outcome.ok else 1
            if load.think_time:
                await asyncio.sleep(load.think_time)
            else:
                await asyncio.sleep(0)

    async def progress() -> None:
        while on_progress is not None:
            on_progress(
                Progress(time.monotonic() - started, phase_now(), len(running), sent, failed)
            )
            await asyncio.sleep(1.0)

    phase_task = asyncio.create_task(phases())
    progress_task = asyncio.create_task(progress())
    # the first phase's faults are in before the first request goes out
    while phase_name is None and not phase_task.done():
        await asyncio.sleep(0.005)
    try:
        for index in range(n_users):
            if time.monotonic() >= stop_at:
                break
            running.append(asyncio.create_task(user(index)))
            await asyncio.sleep(spawn_interval)
        await phase_task
        grace = max(0.0, stop_at - time.monotonic()) + 5.0
        _, pending = await asyncio.wait(running, timeout=grace) if running else (set(), set())
        for task in pending:
            task.cancel()
    finally:
        for task in (*running, phase_task, progress_task):
            task.cancel()
        for task in (*running, phase_task, progress_task):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if on_progress is not None:
            on_progress(Progress(time.monotonic() - started, phase_now(), 0, sent, failed))
