"""The in-process load driver: asyncio requests against a target while the timeline runs.

Used by the pytest plugin and ``harness run``, in one of the scenario's two load models:

- **closed loop** (``load.users``): ``users`` tasks are spawned at ``spawn_rate`` per second;
  each sends requests back to back (plus ``think_time``);
- **open loop** (``load.rate``): one task starts requests on the timetable of
  :mod:`harness.run.pacing` (each request its own task, at most the in-flight cap at once),
  latency counted from each request's intended start; missed starts are counted.

Either runs until the scenario's duration is over or ``max_requests`` were sent; the clock
starts once the first phase's faults are in. Phases switch on a separate task; applying and
reverting faults (blocking HTTP calls to vendors and proxies) runs in a worker thread, so the
event loop keeps serving the requests in flight; new closed-loop requests wait the few
milliseconds of the swap. Every request is recorded with the phase it *started* in. A probe
task records the event loop's lag, and the process's CPU use is recorded at the end
(:mod:`harness.measure.health`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING

from harness.errors import InputError
from harness.measure.health import LAG_INTERVAL, UsageMeter
from harness.measure.recorder import Recorder
from harness.run.pacing import Pacer, Segment, timetable
from harness.run.targets import Outcome, Target
from harness.run.timeline import Timeline

if TYPE_CHECKING:
    from harness.scenario.model import Scenario

GENERATOR = "in-process"
"""The name of this driver's (only) generator process in the measurement health."""


WARM_UP_TIMEOUT = 10.0
"""Seconds the warm-up request may take (a target that hangs is the run's to find out)."""


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot for live displays."""

    elapsed: float
    phase: str | None
    users: int
    requests: int
    failed: int


@dataclass(eq=False)
class _Load:
    """The state of one in-process load run (see :func:`drive`)."""

    scenario: Scenario
    target: Target
    recorder: Recorder
    timeline: Timeline
    _: KW_ONLY
    users: int
    total: float
    on_progress: Callable[[Progress], None] | None
    started: float = field(default_factory=time.monotonic, init=False)
    sent: int = field(default=0, init=False)
    failed: int = field(default=0, init=False)
    phase: str | None = field(default=None, init=False)
    first_phase: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    steady: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    """Clear while the timeline swaps faults."""
    running: list[asyncio.Task[None]] = field(default_factory=list, init=False)
    in_flight: dict[asyncio.Task[None], str] = field(default_factory=dict, init=False)
    """Open loop: each request in flight and the phase it started in."""

    def __post_init__(self) -> None:
        self.stop_at = self.started + self.total
        self.steady.set()

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
            if not self.first_phase.is_set():
                # the run's clock starts once the first phase's faults are in
                self.started = time.monotonic()
                self.stop_at = self.started + self.total
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
            try:
                outcome = await self.target.request(index, n)
            except asyncio.CancelledError:  # still running when the run ended
                self.recorder.record_unfinished(1, phase=phase or "", name=self.target.name)
                raise
            self.record(outcome, time.perf_counter() - began, phase or "")
            await asyncio.sleep(load.think_time)

    # -- open loop --------------------------------------------------------------------------------

    def segments(self) -> list[Segment]:
        """The phases' rates on the run's clock (truncated to the run's duration)."""
        load = self.scenario.load
        out, start = [], self.started
        for phase in self.scenario.phases:
            end = min(start + phase.duration, self.stop_at)
            if end <= start:
                break
            out.append(Segment(start, end, load.rate_of(phase)))
            start = end
        return out

    def in_flight_cap(self) -> int:
        load = self.scenario.load
        phase = next((p for p in self.scenario.phases if p.name == self.phase), None)
        rate = load.rate_of(phase) if phase is not None else (load.rate or 1.0)
        return load.in_flight_cap(rate, self.scenario.target.request.timeout)

    async def arrivals(self) -> None:
        """Start requests on the timetable until it ends (or ``max_requests`` were sent)."""
        load = self.scenario.load
        pacer = Pacer(timetable(self.segments()))
        try:
            while (at := pacer.next_start()) is not None:
                if load.max_requests is not None and self.sent >= load.max_requests:
                    return
                wait = at - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                phase = self.phase or ""
                due = pacer.due(time.monotonic(), self.in_flight_cap() - len(self.in_flight))
                if load.max_requests is not None:
                    del due.send[max(0, load.max_requests - self.sent) :]
                self.recorder.record_starts(
                    scheduled=due.scheduled, missed=due.missed, capped=due.capped, phase=phase
                )
                for intended in due.send:
                    self.sent += 1
                    task = asyncio.create_task(self.arrival(self.sent, intended, phase))
                    self.in_flight[task] = phase
                    task.add_done_callback(self._landed)
        except asyncio.CancelledError:  # a generator too slow to finish its timetable in time
            missed = pacer.abandon(time.monotonic())
            self.recorder.record_starts(scheduled=missed, missed=missed, phase=self.phase or "")
            raise

    def _landed(self, task: asyncio.Task[None]) -> None:
        self.in_flight.pop(task, None)

    async def arrival(self, n: int, intended: float, phase: str) -> None:
        """One open-loop request; its latency counts from its intended start."""
        self.recorder.record_start_delay(time.monotonic() - intended)
        outcome = await self.target.request(n, n)  # each arrival is its own user
        self.record(outcome, time.monotonic() - intended, phase)

    def record(self, outcome: Outcome, latency: float, phase: str) -> None:
        self.recorder.record_request(
            self.target.name,
            latency,
            ok=outcome.ok,
            error=outcome.error,
            status=outcome.status,
            phase=phase,
        )
        self.failed += 0 if outcome.ok else 1

    # -- measurement health ------------------------------------------------------------------------

    async def watch_loop(self) -> None:
        """Record how late the event loop wakes up (every :data:`LAG_INTERVAL`)."""
        while True:
            expected = time.monotonic() + LAG_INTERVAL
            await asyncio.sleep(LAG_INTERVAL)
            self.recorder.record_loop_lag(GENERATOR, max(0.0, time.monotonic() - expected))

    def report_progress(self) -> None:
        if self.on_progress is not None:
            busy = self.in_flight if self.scenario.load.open_loop else self.running
            self.on_progress(
                Progress(
                    time.monotonic() - self.started,
                    self.phase,
                    sum(not t.done() for t in busy),
                    self.sent,
                    self.failed,
                )
            )

    async def progress(self) -> None:
        while True:
            self.report_progress()
            await asyncio.sleep(1.0)

    async def warm_up(self) -> None:
        """One request before the clock starts, recorded nowhere: the first request pays for
        lazy imports, connection pools and the target's own first-call work (seconds on a busy
        machine), which would otherwise stall the generator inside the first phase."""
        self.recorder.warming_up = True
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation (the
            # Ctrl-C of the run) that lands as the request completes
            async with asyncio.timeout(WARM_UP_TIMEOUT):
                await self.target.request(0, 0)
        except (TimeoutError, OSError):
            pass  # a target that cannot answer is the run's to find out, and it will
        finally:
            self.recorder.warming_up = False

    async def run(self, *, warm_up: bool = False) -> None:
        if warm_up:
            await self.warm_up()
        open_loop = self.scenario.load.open_loop
        self.recorder.set_load_model("open" if open_loop else "closed")
        usage = UsageMeter()
        usage.start()
        phase_task = asyncio.create_task(self.phases())
        progress_task = asyncio.create_task(self.progress())
        lag_task = asyncio.create_task(self.watch_loop())
        helpers = (phase_task, progress_task, lag_task)
        try:
            # the first phase's faults are in before the first request goes out
            await asyncio.wait(
                [asyncio.create_task(self.first_phase.wait()), phase_task],
                return_when=asyncio.FIRST_COMPLETED,
            )
            if open_loop:
                if self.first_phase.is_set():
                    self.running.append(asyncio.create_task(self.arrivals()))
            else:
                await self.spawn_users(phase_task)
            await phase_task
            if self.running:
                grace = max(0.0, self.stop_at - time.monotonic()) + 5.0
                await asyncio.wait(self.running, timeout=grace)
            if self.in_flight:
                await asyncio.wait(self.in_flight, timeout=5.0)
        finally:
            for task, phase in self.in_flight.items():
                if not task.done():  # never answered: no latency to record
                    self.recorder.record_unfinished(1, phase=phase, name=self.target.name)
            tasks = (*self.running, *self.in_flight, *helpers)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self.recorder.record_usage(GENERATOR, *usage.take())
            self.report_progress()

    async def spawn_users(self, phase_task: asyncio.Task[None]) -> None:
        spawn_rate = self.scenario.load.spawn_rate or self.users * 4.0
        for index in range(self.users):
            if time.monotonic() >= self.stop_at or phase_task.done():
                break
            self.running.append(asyncio.create_task(self.user(index)))
            await asyncio.sleep(1.0 / spawn_rate)


async def drive(
    scenario: Scenario,
    target: Target,
    recorder: Recorder,
    timeline: Timeline,
    *,
    users: int | None = None,
    duration: float | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    warm_up: bool = False,
) -> None:
    """Send the scenario's load to ``target`` while ``timeline`` runs its phases.

    ``users`` overrides a closed-loop load's users; an open-loop load (``load.rate``) has none
    to override, so it is an :class:`InputError` there. ``warm_up`` sends one unrecorded
    request first (see :meth:`_Load.warm_up`)."""
    load = scenario.load
    if users and load.open_loop:
        raise InputError(
            f"a user count ({users}) was given, but scenario {scenario.name!r} runs open loop "
            f"(load.rate {load.rate:g}/s: requests start on a timetable, not per user); "
            "drop the user count or give the scenario load.users"
        )
    await _Load(
        scenario,
        target,
        recorder,
        timeline,
        users=users or load.users,
        total=duration or load.duration or scenario.duration,
        on_progress=on_progress,
    ).run(warm_up=warm_up)
