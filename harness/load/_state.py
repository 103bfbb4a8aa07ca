"""The harness side of one Locust process: scenario, stack, timeline, recorder, verdicts.

Roles follow Locust's runners. The master (or the local runner) owns the stack (started here
or attached from ``--chaos-stack-file``), the fault timeline and the final report; every process
that runs users records its requests. Workers send what they recorded since their last report
with each ``report_to_master`` (HDR histograms, merged exactly by the master), and the master
tells workers the current phase, the run's time origin and how many workers share the load
with a ``harness_phase`` message.

Under an open-loop load (``load.rate``) each process runs one user, and that user is the
arrival scheduler (:meth:`LoadState.pace`): it walks this process's share of the start
timetable (:mod:`harness.run.pacing`; worker ``i`` of ``n`` takes every ``n``-th start) and
sends each request in its own greenlet, at most the in-flight cap at once; the request event
carries the intended start, so latency counts from it. Every process also records its CPU use
and a greenlet's wake-up lag (:mod:`harness.measure.health`).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gevent
import gevent.event
import gevent.pool
from gevent import GreenletExit
from locust.runners import STATE_STOPPED

from harness.errors import HarnessError, InputError
from harness.measure.health import LAG_INTERVAL, UsageMeter, saturation
from harness.measure.prom import PhaseCounters
from harness.measure.recorder import Recorder
from harness.measure.verdicts import evaluate
from harness.plugin.manager import PluginManager, get_plugin_manager
from harness.plugin.types import RunContext
from harness.report.build import build_report
from harness.report.gate import exit_code
from harness.report.model import Report, ScenarioInfo
from harness.report.summary import run_summary
from harness.run.pacing import Pacer, Segment, timetable
from harness.run.procstack import ProcessStack, StackInfo, stack_run
from harness.run.session import phase_windows, write_reports
from harness.run.targets import fill_request
from harness.run.timeline import Timeline
from harness.units import parse_duration

if TYPE_CHECKING:
    from harness.scenario.model import PhaseSpec, Scenario

logger = logging.getLogger("harness.load")
PHASE_MESSAGE = "harness_phase"
"""Master -> workers: the phase now running and the run's time origin."""
FLUSH_MESSAGE = "harness_flush"
"""Master -> workers, after the test stopped: send what you recorded since your last report."""
FINAL_MESSAGE = "harness_final"
"""Worker -> master: the answer to a flush (a recorder drain)."""
FLUSH_TIMEOUT = 30.0
USERS_PER_PROCESS = 1_000_000
"""Worker ``i`` numbers its users (and open-loop requests) from ``i`` million on."""
INTENDED = "harness_intended"
"""The request event's ``context`` key holding an open-loop request's intended start."""
STARTED_IN = "harness_phase"
"""The request event's ``context`` key holding the phase a request started (or was due) in."""


class LoadState:
    """Everything the harness keeps in one Locust process."""

    def __init__(self) -> None:
        self.scenario: Scenario | None = None
        self.source = ""
        self.pm: PluginManager | None = None
        self.recorder = Recorder(now=time.time, threadsafe=False)
        self.phase: str | None = None
        self.run: RunContext | None = None
        self.stack: ProcessStack | None = None
        self.stack_info: StackInfo | None = None
        self.timeline: Timeline | None = None
        self.started_at: datetime | None = None
        self.report: Report | None = None
        self.exit_code: int | None = None
        self.users = 0
        self.duration = 0.0
        self.report_dir = Path("reports")
        self.metrics_url: str | None = None  # a service in another process: its core's counters
        self.counters: PhaseCounters | None = None
        self.finished = False
        self.finishing: gevent.Greenlet[Any] | None = None
        self._users = 0
        self._awaiting: set[str] = set()
        self._all_final = gevent.event.Event()
        self._collecting = False  # master: the test stopped, workers' last recordings due
        self._finals: set[str] = set()  # master: workers whose last recording arrived
        self.worker_runner: Any = None  # worker: its runner (is it stopped?)
        self.share = 1  # processes running users (open loop: each takes its part of the timetable)
        self.index = 0
        self.generator = "locust"  # this process in the measurement health
        self.usage = UsageMeter()
        self._pacing = False
        self._arrivals: gevent.pool.Group | None = None
        self._due_in: dict[Any, str] = {}  # open loop: request greenlet -> phase
        self._sent = 0

    # -- configuration ---------------------------------------------------------------------------

    def configure(self, options: Any) -> None:
        """Load the scenario named by ``--chaos-scenario`` (every process does this)."""
        self.source = options.chaos_scenario
        self.pm = get_plugin_manager()
        self.scenario = self.pm.load_scenario(self.source)
        load = self.scenario.load
        if options.chaos_users and load.open_loop:
            raise InputError(
                f"--users {options.chaos_users} was given, but {self.source} runs open loop "
                f"(load.rate {load.rate:g}/s: requests start on a timetable, not per user); "
                "drop --users or give the scenario load.users"
            )
        self.users = options.chaos_users or load.users
        self.duration = (
            parse_duration(options.chaos_duration)
            if options.chaos_duration
            else self.scenario.load.duration or self.scenario.duration
        )
        self.report_dir = Path(options.chaos_report_dir)

    @property
    def open_loop(self) -> bool:
        return self.scenario is not None and self.scenario.load.open_loop

    def in_flight_cap(self, phase: str | None = None) -> int:
        """The whole run's in-flight cap in ``phase`` (None: the largest over the phases)."""
        assert self.scenario is not None
        load, timeout = self.scenario.load, self.scenario.target.request.timeout
        phases = [p for p in self.scenario.phases if phase is None or p.name == phase]
        return max((load.in_flight_cap(load.rate_of(p), timeout) for p in phases), default=1)

    def plan(self) -> list[tuple[float, float, PhaseSpec]]:
        """``(start, end, phase)`` in seconds from the test start, scaled to ``duration``."""
        assert self.scenario is not None
        scale = self.duration / self.scenario.duration
        plan, start = [], 0.0
        for phase in self.scenario.phases:
            end = start + phase.duration * scale
            plan.append((start, end, phase))
            start = end
        return plan

    # -- the stack (master / local only) ---------------------------------------------------------

    def open_stack(self, options: Any) -> str:
        """Attach to ``--chaos-stack-file`` or start the stack; returns the target URL."""
        assert self.scenario is not None and self.pm is not None
        if options.chaos_stack_file:
            info = StackInfo.load(Path(options.chaos_stack_file))
            self.run = RunContext(
                run_id=info.run_id,
                seed=info.seed,
                report_dir=self.report_dir,
                scenario=self.scenario,
            )
            self.run.endpoints.update(info.attach(self.pm, self.run))
            self.stack_info = info
        else:
            self.run = stack_run(
                self.scenario,
                seed=options.chaos_seed,
                report_dir=self.report_dir,
                source=Path(self.source),
                resilience=options.chaos_resilience,
            )
            self.stack = ProcessStack(self.scenario, self.pm, self.run)
            self.stack_info = self.stack.start()
        target = self.stack_info.target_url
        if self.scenario.target.app or self.scenario.target.command:
            self.metrics_url = f"{target}/metrics"
        return target

    def close_stack(self) -> None:
        """Stop the stack this process started, or release the clients of an attached one."""
        if self.stack is not None:
            self.stack.close()
            self.stack = None
        elif self.run is not None:
            for endpoint in self.run.endpoints.values():
                endpoint.close()

    # -- phases ----------------------------------------------------------------------------------

    def start_test(self) -> None:
        assert self.scenario is not None and self.pm is not None and self.run is not None
        self.recorder = Recorder(now=time.time, threadsafe=False)
        self.recorder.set_load_model("open" if self.open_loop else "closed")
        self.usage.start()
        self.started_at = datetime.now(UTC)
        self.timeline = Timeline(self.scenario, self.pm, self.run, on_phase=self._phase_starts)
        self.pm.hooks.harness_run_start(run=self.run)
        self.counters = PhaseCounters(self.metrics_url, self.recorder) if self.metrics_url else None
        if self.counters is not None:
            self.counters.start()
        self.finished = False
        self._collecting = False
        self._finals = set()

    def _phase_starts(self, name: str | None) -> None:
        """The timeline switches phase (before it marks the vendors and applies the faults):
        requests this process starts from now on belong to ``name``, as the calls the vendors
        count from their mark on do."""
        self.recorder.set_phase(name)
        if name is not None:
            self.phase = name

    def enter_phase(self, phase: PhaseSpec) -> None:
        """Called from a greenlet at each phase boundary: scrape, then swap the faults."""
        if self.counters is not None:
            self.counters.phase_starts(phase.name)
        assert self.timeline is not None
        self.timeline.enter(phase)
        self.phase = phase.name

    def stop_test(self) -> None:
        """Revert every fault (the load is over)."""
        self._collecting = True
        if self.timeline is not None:
            try:
                if self.counters is not None:
                    self.counters.finish()
            finally:
                self.timeline.close()

    # -- recording -------------------------------------------------------------------------------

    def _numbers_from(self) -> int:
        """Where this process's user numbers start: workers count from their own million, so
        two workers' requests never carry the same ``{user}`` (the vendor's Retry-After count
        tells requests apart by their bodies)."""
        index = getattr(self.worker_runner, "worker_index", 0) if self.worker_runner else 0
        return max(0, int(index)) * USERS_PER_PROCESS

    def next_user(self) -> int:
        """A number for a new user of this process (``{user}`` in the request body)."""
        self._users += 1
        return self._numbers_from() + self._users

    def on_request(
        self,
        *,
        name: str,
        response_time: float,
        exception: BaseException | None = None,
        response: Any = None,
        context: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        """Locust's ``request`` event (fired with keyword arguments, right as the request
        ends): an open-loop request's latency counts from its intended start."""
        status = getattr(response, "status_code", None)
        error = None
        if exception is not None:
            error = f"HTTP {status}" if status and status >= 400 else type(exception).__name__
        intended = context.get(INTENDED) if context else None
        if intended is not None:
            latency = time.monotonic() - intended
        else:
            latency = (response_time or 0.0) / 1000.0
        # the phase the request started in (the harness's users say so), as in-process
        started_in = context.get(STARTED_IN) if context else None
        phase = started_in if started_in is not None else (self.phase or "")
        self.recorder.record_request(
            name,
            latency,
            ok=exception is None,
            error=error,
            status=status or None,
            phase=phase,
        )

    # -- open loop -------------------------------------------------------------------------------

    def pace(self, user: Any) -> None:
        """Open loop: start this process's share of the timetable with ``user``'s client, each
        request in its own greenlet, until the timetable ends (then idle until Locust stops
        the user). One scheduler per process: a second user of this process only idles."""
        if self._pacing or self.scenario is None:
            gevent.sleep(1.0)
            return
        self._pacing = True
        group = self._arrivals = gevent.pool.Group()
        try:
            while self.phase is None:  # the first phase's faults are in, the origin known
                gevent.sleep(0.01)
            self._walk_timetable(user, group)
            while True:  # done: Locust stops this user when the shape ends
                gevent.sleep(1.0)
        finally:
            for arrival, phase in self._due_in.items():
                if not arrival.dead:  # never answered: no latency to record
                    # cut by the end of the test (no grace under Locust): counted, not failed
                    self.recorder.record_unfinished(1, phase=phase)
            self._due_in.clear()
            group.kill(block=False)
            self._pacing = False

    def _walk_timetable(self, user: Any, group: gevent.pool.Group) -> None:
        assert self.scenario is not None
        load = self.scenario.load
        # the plan is on the master's clock (time.time() at recorder.started): to ours
        origin = time.monotonic() - (time.time() - self.recorder.started)
        segments = [
            Segment(origin + start, origin + end, load.rate_of(phase))
            for start, end, phase in self.plan()
        ]
        # starts due before this scheduler began were nobody's (Locust was spawning it)
        starts = timetable(segments, share=self.share, index=self.index, begin=time.monotonic())
        pacer = Pacer(starts)
        try:
            while (at := pacer.next_start()) is not None:
                wait = at - time.monotonic()
                if wait > 0:
                    gevent.sleep(wait)
                phase = self.phase or ""
                cap = math.ceil(self.in_flight_cap(phase or None) / self.share)
                due = pacer.due(time.monotonic(), cap - len(group))
                self.recorder.record_starts(
                    scheduled=due.scheduled, missed=due.missed, capped=due.capped, phase=phase
                )
                for intended in due.send:
                    arrival = group.spawn(self._arrival, user, intended, phase)
                    self._due_in[arrival] = phase
                    arrival.link(self._landed)
        except GreenletExit:  # stopped before the timetable's end: what was due is missed
            missed = pacer.abandon(time.monotonic())
            self.recorder.record_starts(scheduled=missed, missed=missed, phase=self.phase or "")
            raise

    def _landed(self, arrival: Any) -> None:
        self._due_in.pop(arrival, None)

    def _arrival(self, user: Any, intended: float, phase: str) -> None:
        """One open-loop request (Locust's client fires the request event when it ends)."""
        assert self.scenario is not None
        self.recorder.record_start_delay(time.monotonic() - intended)
        spec = self.scenario.target.request
        self._sent += 1
        number = self._numbers_from() + self._sent
        body = fill_request(spec.body, number, number) if spec.body else None
        context = {INTENDED: intended, STARTED_IN: phase}
        if spec.method == "GET":
            user.client.get(spec.path, params=body, name=spec.label, context=context)
        else:
            user.client.post(spec.path, json=body, name=spec.label, context=context)

    # -- measurement health ----------------------------------------------------------------------

    def watch_loop(self) -> None:
        """A greenlet: record how late this process's event loop wakes while a test runs."""
        while True:
            expected = time.monotonic() + LAG_INTERVAL
            gevent.sleep(LAG_INTERVAL)
            if self.phase is not None and not self.finished:
                lag = max(0.0, time.monotonic() - expected)
                self.recorder.record_loop_lag(self.generator, lag)

    def _record_usage(self) -> None:
        cpu, wall = self.usage.take()
        if wall > 0:
            self.recorder.record_usage(self.generator, cpu, wall)

    # -- the verdict -----------------------------------------------------------------------------

    def finish(self) -> Report | None:
        """Evaluate the SLA, write the reports, print the table (master / local, once)."""
        if self.finished or self.scenario is None or self.run is None or self.timeline is None:
            return self.report
        self.finished = True
        self.phase = None
        assert self.pm is not None and self.started_at is not None
        self._record_usage()
        self.recorder.finish()
        windows = phase_windows(self.scenario, self.recorder)
        report = build_report(
            run_id=self.run.run_id,
            driver="locust",
            scenario=ScenarioInfo(
                name=self.scenario.name, description=self.scenario.description, source=self.source
            ),
            target=self.stack_info.target_url if self.stack_info else "",
            seed=self.run.seed,
            started_at=self.started_at,
            recorder=self.recorder,
            verdicts=evaluate(
                self.scenario.sla,
                self.recorder,
                windows,
                saturation=saturation(self.recorder.health()),
                vendor=self.timeline.vendor,
            ),
            phases=windows,
            faults=self.timeline.records(),
            vendor=self.timeline.vendor,
        )
        paths = write_reports(report, self.pm, self.report_dir)
        self.pm.hooks.harness_run_end(run=self.run, report=report)
        self.report = report
        self.exit_code = exit_code(report)
        out = sys.stdout
        for line in run_summary(report):
            out.write(line + "\n")
        for path in paths:
            out.write(f"report: {path}\n")
        out.flush()
        return report

    # -- workers ---------------------------------------------------------------------------------

    def on_phase_message(self, msg: Any, environment: Any = None, **_: Any) -> None:
        """Worker: the master entered a phase."""
        self.share = max(1, int(msg.data.get("share", 1)))
        index = getattr(getattr(environment, "runner", None), "worker_index", 0)
        self.index = max(0, index) % self.share
        self.generator = f"worker {max(0, index)}"
        if not self.usage.running:
            self.usage.start()
            self.recorder.set_load_model("open" if self.open_loop else "closed")
        self.recorder.started = msg.data["t0"]
        self.phase = msg.data["phase"]

    def report_to_master(self, client_id: str, data: dict[str, Any]) -> None:
        """Worker: Locust's periodic report carries what was recorded since the last one;
        once this worker's users are stopped, it is its last recording (``harness_final``)."""
        self._record_usage()
        data["harness"] = self.recorder.drain()
        runner = self.worker_runner
        data[FINAL_MESSAGE] = runner is not None and runner.state == STATE_STOPPED

    def worker_report(self, client_id: str, data: dict[str, Any]) -> None:
        """Master: merge a worker's periodic report (exactly: HDR histograms).

        When the shape ends a headless run, Locust's master tells workers to quit rather than
        to stop: each sends its last report (with its last recording) and exits without
        answering a flush, so a stopped worker's report after the test stopped counts as its
        final answer."""
        snapshot = data.get("harness")
        if snapshot:
            self.recorder.merge(snapshot)
        if self._collecting and data.get(FINAL_MESSAGE):
            self._final_from(client_id)

    def _final_from(self, worker: str) -> None:
        self._finals.add(worker)
        self._awaiting.discard(worker)
        if not self._awaiting:
            self._all_final.set()

    def on_flush_message(self, environment: Any, msg: Any, **_: Any) -> None:
        """Worker: the test stopped; send the master the rest of what was recorded."""
        self._record_usage()
        environment.runner.send_message(FINAL_MESSAGE, self.recorder.drain())

    def on_final_message(self, environment: Any, msg: Any, **_: Any) -> None:
        """Master: a worker's last recording arrived."""
        if msg.data:
            self.recorder.merge(msg.data)
        self._final_from(msg.node_id)

    def await_workers(self, runner: Any, workers: list[str]) -> None:
        """Master: ask every worker whose last recording is not in yet for it, and wait until
        all have answered (or :data:`FLUSH_TIMEOUT`, or the master stopped listening to
        workers: it quits; missing workers are then named in the log)."""
        self._all_final.clear()
        self._awaiting = set(workers) - self._finals
        if not self._awaiting:
            return
        for worker in sorted(self._awaiting):
            runner.send_message(FLUSH_MESSAGE, None, client_id=worker)
        deadline = time.monotonic() + FLUSH_TIMEOUT
        while not self._all_final.wait(0.1):
            listening = len(getattr(runner, "greenlet", ())) > 0
            if not listening or time.monotonic() > deadline:
                logger.warning("no final recording from worker(s) %s", ", ".join(self._awaiting))
                return

    def fail(self, exc: HarnessError) -> None:
        sys.stderr.write(f"harness: {exc}\n")
        self.exit_code = exc.exit_code


def spawn_enter(state: LoadState, phase: PhaseSpec) -> Any:
    """Swap faults in a greenlet so the shape's tick never blocks."""
    return gevent.spawn(state.enter_phase, phase)
