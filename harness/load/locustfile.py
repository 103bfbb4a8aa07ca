"""The harness's locustfile: a scenario's phases as a LoadTestShape, its faults on a timeline.

    locust -f scenarios/locustfile.py --chaos-scenario scenarios/demo.yaml            # web UI
    locust -f scenarios/locustfile.py --chaos-scenario scenarios/demo.yaml --headless
    harness load scenarios/demo.yaml --users 50 --processes 2                          # the CLI

Without ``--chaos-stack-file`` the master starts the scenario's stack itself (child processes)
and points ``--host`` at the target. At each phase boundary the master swaps the faults (in a
greenlet), every request is recorded with its phase in HDR histograms, and at the end the SLA is
evaluated, the reports are written and the exit code is 0 (held) or 1 (breached).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import gevent
from gevent import GreenletExit
from locust import FastHttpUser, LoadTestShape, constant, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from harness.errors import HarnessError
from harness.load._state import (
    FINAL_MESSAGE,
    FLUSH_MESSAGE,
    PHASE_MESSAGE,
    STARTED_IN,
    LoadState,
    spawn_enter,
)
from harness.run.targets import fill_request


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    group = parser.add_argument_group("harness", "chaos scenario options (harness)")
    group.add_argument(
        "--chaos-scenario", default="", env_var="HARNESS_SCENARIO", help="the scenario YAML to run"
    )
    group.add_argument(
        "--chaos-stack-file",
        default="",
        env_var="HARNESS_STACK_FILE",
        help="attach to a stack started by `harness stack up` / `harness load`",
    )
    group.add_argument("--chaos-report-dir", default="reports", help="where reports go")
    group.add_argument("--chaos-seed", type=int, default=None, help="seed of fault schedules")
    group.add_argument(
        "--chaos-no-resilience",
        dest="chaos_resilience",
        action="store_false",
        default=True,
        help="start the target with the resilient core off (the naive client)",
    )
    group.add_argument(
        "--chaos-users", type=int, default=None, help="override the scenario's users"
    )
    group.add_argument(
        "--chaos-duration",
        default="",
        help="override the total duration (phases are scaled), e.g. 30s",
    )
    group.add_argument(
        "--chaos-progress",
        action="store_true",
        default=False,
        help="print one progress line per second (phase, users, rps, p95, errors)",
    )


SPAWN_AT_ONCE = 1000
"""Users per second when spawning the open-loop schedulers (one per process): all at once."""


def _state(environment: Environment) -> LoadState:
    """The harness's state in this Locust process: it lives on the scenario's shape."""
    shape = environment.shape_class
    assert isinstance(shape, ScenarioShape), "the harness locustfile defines ScenarioShape"
    return shape.state


class ChatUser(FastHttpUser):
    """Closed loop (``load.users``): sends the scenario's request (``target.request``) back to
    back, plus ``think_time``. Open loop (``load.rate``): one per process, it is the arrival
    scheduler, starting requests on the timetable (:meth:`LoadState.pace`); its client's
    connection pool is sized to the in-flight cap."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self.user_id = _state(self.environment).next_user()
        self.n = 0

    @task
    def request(self) -> None:
        state = _state(self.environment)
        scenario = state.scenario
        if scenario is None:
            return
        if scenario.load.open_loop:
            state.pace(self)
            return
        spec = scenario.target.request
        self.n += 1
        body = fill_request(spec.body, self.user_id, self.n) if spec.body else None
        phase = state.phase
        context = {STARTED_IN: phase or ""}  # recorded in the phase it started in
        try:
            if spec.method == "GET":
                self.client.get(spec.path, params=body, name=spec.label, context=context)
            else:
                self.client.post(spec.path, json=body, name=spec.label, context=context)
        except GreenletExit:  # stopped mid-request when the test ended
            # cut by the end of the test, not by the service: counted, not failed
            state.recorder.record_unfinished(1, phase=phase or "")
            raise


class ScenarioShape(LoadTestShape):
    """The scenario's phases, in order, at its number of users; ends after the last one.
    Open loop: one user per process, and the phases begin once those users run.

    Holds the harness's state for this process (:class:`LoadState`); Locust gives it the
    runner (``self.runner``)."""

    def __init__(self) -> None:
        super().__init__()
        self.state = LoadState()
        self._entering: str | None = None
        self._origin = 0.0  # run time at which the phases began

    def tick(self) -> tuple[int, float] | None:
        state = self.state
        if state.scenario is None or state.run is None:
            return None
        if state.timeline is None:  # the first tick comes before Locust's test_start event
            running = self.runner.user_count if self.runner is not None else 0
            if state.open_loop and running < self._processes():
                # The arrival schedulers are spawned first; the phases (and the timetable)
                # begin once they run, so no start is due before a process can make it.
                return self._processes(), float(SPAWN_AT_ONCE)
            state.start_test()
            self._origin = self.get_run_time()
        elapsed = self.get_run_time() - self._origin
        for start, end, phase in state.plan():
            if start <= elapsed < end:
                if phase.name not in (state.phase, self._entering):
                    self._entering = phase.name
                    name = phase.name
                    spawn_enter(state, phase).link(lambda _, name=name: self._broadcast(name))
                if state.open_loop:  # one arrival scheduler per process running users
                    return self._processes(), float(SPAWN_AT_ONCE)
                rate = state.scenario.load.spawn_rate or float(state.users)
                return state.users, rate
        return None

    def _processes(self) -> int:
        """How many processes run users: the workers, or this one."""
        if isinstance(self.runner, MasterRunner):
            return max(1, self.runner.worker_count)
        return 1

    def _broadcast(self, phase: str) -> None:
        if isinstance(self.runner, MasterRunner):
            self.runner.send_message(
                PHASE_MESSAGE,
                {"phase": phase, "t0": self.state.recorder.started, "share": self._processes()},
            )


@events.init.add_listener
def _init(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is None or not options.chaos_scenario:
        sys.stderr.write("harness: no --chaos-scenario given; nothing to run\n")
        return
    runner = environment.runner
    state = _state(environment)
    try:
        state.configure(options)
        ChatUser.wait_time = constant(state.scenario.load.think_time if state.scenario else 0)
        if state.open_loop:
            ChatUser.concurrency = max(ChatUser.concurrency, state.in_flight_cap())
        if isinstance(runner, MasterRunner):
            state.generator = "master"
        gevent.spawn(state.watch_loop)
        if isinstance(runner, WorkerRunner):
            state.worker_runner = runner
            runner.register_message(PHASE_MESSAGE, state.on_phase_message)
            runner.register_message(FLUSH_MESSAGE, state.on_flush_message)
            environment.events.report_to_master.add_listener(state.report_to_master)
            environment.events.request.add_listener(state.on_request)
            return
        target = state.open_stack(options)
    except HarnessError as exc:
        state.fail(exc)
        environment.events.quitting.add_listener(_quitting)
        if runner is not None:
            runner.quit()
        return
    if not environment.host:
        environment.host = target
    environment.events.request.add_listener(state.on_request)
    if isinstance(runner, MasterRunner):
        runner.register_message(FINAL_MESSAGE, state.on_final_message)
        environment.events.worker_report.add_listener(state.worker_report)
    environment.events.test_stop.add_listener(_test_stop)
    environment.events.quitting.add_listener(_quitting)
    if options.chaos_progress:
        gevent.spawn(_progress, environment)


def _test_stop(environment: Environment, **_: Any) -> None:
    """Revert the faults now; evaluate once every worker's last recording is in."""
    state = _state(environment)
    try:
        state.stop_test()
    except HarnessError as exc:
        state.fail(exc)
    state.finishing = gevent.spawn(_finish, environment)


def _finish(environment: Environment) -> None:
    state = _state(environment)
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        # Workers stopped their users before test_stop; ask each for what it recorded since
        # its last report and wait for the answers (an event, not a guess of how long).
        state.await_workers(runner, [client.id for client in runner.clients.values()])
    try:
        state.finish()
    except HarnessError as exc:
        state.fail(exc)
    finally:
        state.timeline = None  # a new test (web UI) starts a new run
        if state.exit_code is not None:
            environment.process_exit_code = state.exit_code


def _quitting(environment: Environment, **_: Any) -> None:
    state = _state(environment)
    try:
        if state.finishing is not None:
            state.finishing.join(timeout=30)
    finally:
        state.close_stack()
        if state.exit_code is not None:
            environment.process_exit_code = state.exit_code


def _progress(environment: Environment) -> None:
    state = _state(environment)
    started = time.monotonic()
    while True:
        gevent.sleep(1.0)
        runner = environment.runner
        if runner is None or state.timeline is None or state.finished:
            continue
        total = environment.stats.total
        p95 = total.get_current_response_time_percentile(0.95) or 0
        sys.stdout.write(
            f"[{time.monotonic() - started:6.1f}s] phase={state.phase or '-':<14} "
            f"users={runner.user_count:<4} rps={total.current_rps:7.1f} p95={p95:6.0f}ms "
            f"errors={total.num_failures}\n"
        )
        sys.stdout.flush()


__all__ = ["ChatUser", "ScenarioShape"]
