"""The in-process load driver: asyncio users against a target while the timeline runs.

Used by the pytest plugin and ``harness run``. ``users`` tasks are spawned at ``spawn_rate``
per second; each sends requests back to back (plus ``think_time``) until the scenario's
duration is over or ``max_requests`` were sent. Phases switch on a separate task; applying and
reverting faults (blocking HTTP calls to vendors and proxies) runs in a worker thread, so the
event loop keeps serving the requests in flight; new requests wait the few milliseconds of the
swap. Every request is recorded with the phase it *started* in.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.measure.recorder import Recorder
from harness.run.targets import Target
from harness.run.timeline import Timeline

if TYPE_CHECKING:
    from harness.scenario.model import Scenario


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot for live displays."""

    elapsed: float
    phase: str | None
    users: int
    requests: int
    failed: int


class _Load:
    """The state of one in-process load run (see :func:`drive`)."""

    def __init__(
        self,
        scenario: Scenario,
        target: Target,
        recorder: Recorder,
        timeline: Timeline,
        *,
        users: int,
        total: float,
        on_progress: Callable[[Progress], None] | None,
    ) -> None:
        self.scenario = scenario
        self.target = target
        self.recorder = recorder
        self.timeline = timeline
        self.users = users
        self.total = total
        self.on_progress = on_progress
        self.started = time.monotonic()
        self.stop_at = self.started + total
        self.sent = 0
        self.failed = 0
        self.phase: str | None = None
        self.first_phase = asyncio.Event()
        self.steady = asyncio.Event()  # clear while the timeline swaps faults
        self.steady.set()
        self.running: list[asyncio.Task[None]] = []

    async def phases(self) -> None:
        left = self.total
        for phase in self.scenario.phases:
            if left <= 0:
                break
            # New requests wait the few milliseconds of the swap: users busy on a fast target
            # would otherwise keep the GIL from the worker thread, which then took seconds.
            self.steady.clear()
            try:
                await asyncio.to_thread(self.timeline.enter, phase)
            finally:
                self.steady.set()
            self.phase = phase.name
            self.first_phase.set()
            left -= min(phase.duration, left)
            await asyncio.sleep(max(0.0, self.started + (self.total - left) - time.monotonic()))

    async def user(self, index: int) -> None:
        load = self.scenario.load
        n = 0
        while time.monotonic() < self.stop_at:
            if load.max_requests is not None and self.sent >= load.max_requests:
                return
            if not self.steady.is_set():
                await self.steady.wait()
            self.sent += 1
            n += 1
            phase = self.phase
            began = time.perf_counter()
            outcome = await self.target.request(index, n)
            self.recorder.record_request(
                self.target.name,
                time.perf_counter() - began,
                ok=outcome.ok,
                error=outcome.error,
                status=outcome.status,
                phase=phase or "",
            )
            self.failed += 0 if outcome.ok else 1
            await asyncio.sleep(load.think_time)

    def report_progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(
                Progress(
                    time.monotonic() - self.started,
                    self.phase,
                    sum(not t.done() for t in self.running),
                    self.sent,
                    self.failed,
                )
            )

    async def progress(self) -> None:
        while True:
            self.report_progress()
            await asyncio.sleep(1.0)

    async def run(self) -> None:
        spawn_rate = self.scenario.load.spawn_rate or self.users * 4.0
        phase_task = asyncio.create_task(self.phases())
        progress_task = asyncio.create_task(self.progress())
        helpers = (phase_task, progress_task)
        try:
            # the first phase's faults are in before the first request goes out
            await asyncio.wait(
                [asyncio.create_task(self.first_phase.wait()), phase_task],
                return_when=asyncio.FIRST_COMPLETED,
            )
            for index in range(self.users):
                if time.monotonic() >= self.stop_at or phase_task.done():
                    break
                self.running.append(asyncio.create_task(self.user(index)))
                await asyncio.sleep(1.0 / spawn_rate)
            await phase_task
            if self.running:
                grace = max(0.0, self.stop_at - time.monotonic()) + 5.0
                await asyncio.wait(self.running, timeout=grace)
        finally:
            for task in (*self.running, *helpers):
                task.cancel()
            for task in (*self.running, *helpers):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self.report_progress()


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
    """Send the scenario's load to ``target`` while ``timeline`` runs its phases."""
    load = scenario.load
    await _Load(
        scenario,
        target,
        recorder,
        timeline,
        users=users or load.users,
        total=duration or load.duration or scenario.duration,
        on_progress=on_progress,
    ).run()
