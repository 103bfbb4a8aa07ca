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
from locust import FastHttpUser, LoadTestShape, constant, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from harness.errors import HarnessError
from harness.load._state import PHASE_MESSAGE, LoadState, spawn_enter
from harness.run.targets import fill_request

STATE = LoadState()


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


class ChatUser(FastHttpUser):
    """Sends the scenario's request (``target.request``) back to back."""

    wait_time = constant(0)
    _count = 0

    def on_start(self) -> None:
        ChatUser._count += 1
        self.user_id = ChatUser._count
        self.n = 0

    @task
    def request(self) -> None:
        if STATE.scenario is None:
            return
        spec = STATE.scenario.target.request
        self.n += 1
        body = fill_request(spec.body, self.user_id, self.n) if spec.body else None
        if spec.method == "GET":
            self.client.get(spec.path, params=body, name=spec.label)
        else:
            self.client.post(spec.path, json=body, name=spec.label)


class ScenarioShape(LoadTestShape):
    """The scenario's phases, in order, at its number of users; ends after the last one."""

    def tick(self) -> tuple[int, float] | None:
        if STATE.scenario is None or STATE.run is None:
            return None
        if STATE.timeline is None:  # the first tick comes before Locust's test_start event
            STATE.start_test()
        elapsed = self.get_run_time()
        for start, end, phase in STATE.plan():
            if start <= elapsed < end:
                if STATE.phase != phase.name and getattr(self, "_entering", None) != phase.name:
                    self._entering = phase.name
                    name = phase.name
                    spawn_enter(STATE, phase).link(lambda _, name=name: _broadcast(name))
                rate = STATE.scenario.load.spawn_rate or float(STATE.users)
                return STATE.users, rate
        return None


def _broadcast(phase: str) -> None:
    runner = STATE_RUNNER.get("runner")
    if isinstance(runner, MasterRunner):
        runner.send_message(PHASE_MESSAGE, {"phase": phase, "t0": STATE.recorder.started})


STATE_RUNNER: dict[str, Any] = {}


@events.init.add_listener
def _init(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is None or not options.chaos_scenario:
        sys.stderr.write("harness: no --chaos-scenario given; nothing to run\n")
        return
    runner = environment.runner
    STATE_RUNNER["runner"] = runner
    try:
        STATE.configure(options)
        ChatUser.wait_time = constant(STATE.scenario.load.think_time if STATE.scenario else 0)
        if isinstance(runner, WorkerRunner):
            runner.register_message(PHASE_MESSAGE, _on_phase_message)
            environment.events.report_to_master.add_listener(_report_to_master)
            environment.events.request.add_listener(STATE.on_request)
            return
        target = STATE.open_stack(options)
    except HarnessError as exc:
        STATE.fail(exc)
        environment.events.quitting.add_listener(_quitting)
        if runner is not None:
            runner.quit()
        return
    if not environment.host:
        environment.host = target
    environment.events.request.add_listener(STATE.on_request)
    if isinstance(runner, MasterRunner):
        environment.events.worker_report.add_listener(_worker_report)
    environment.events.test_stop.add_listener(_test_stop)
    environment.events.quitting.add_listener(_quitting)
    if options.chaos_progress:
        gevent.spawn(_progress, environment)


def _on_phase_message(msg: Any, **_: Any) -> None:
    STATE.phase = msg.data["phase"]
    STATE.recorder.started = msg.data["t0"]


def _report_to_master(client_id: str, data: dict[str, Any]) -> None:
    data["harness"] = STATE.recorder.drain()


def _worker_report(client_id: str, data: dict[str, Any]) -> None:
    snapshot = data.get("harness")
    if snapshot:
        STATE.recorder.merge(snapshot)


FINISHING: list[Any] = []


def _test_stop(environment: Environment, **_: Any) -> None:
    """Revert the faults now; evaluate once the workers' last reports are in."""
    try:
        STATE.stop_test()
    except HarnessError as exc:
        STATE.fail(exc)
    FINISHING.append(gevent.spawn(_finish, environment))


def _finish(environment: Environment) -> None:
    if isinstance(environment.runner, MasterRunner):
        gevent.sleep(1.0)  # workers send what they recorded last when they stop
    try:
        STATE.finish()
    except HarnessError as exc:
        STATE.fail(exc)
    finally:
        STATE.timeline = None  # a new test (web UI) starts a new run
        if STATE.exit_code is not None:
            environment.process_exit_code = STATE.exit_code


def _quitting(environment: Environment, **_: Any) -> None:
    try:
        gevent.joinall(FINISHING, timeout=30)
    finally:
        STATE.close_stack()
        if STATE.exit_code is not None:
            environment.process_exit_code = STATE.exit_code


def _progress(environment: Environment) -> None:
    started = time.monotonic()
    while True:
        gevent.sleep(1.0)
        runner = environment.runner
        if runner is None or STATE.timeline is None or STATE._finished:
            continue
        total = environment.stats.total
        p95 = total.get_current_response_time_percentile(0.95) or 0
        sys.stdout.write(
            f"[{time.monotonic() - started:6.1f}s] phase={STATE.phase or '-':<14} "
            f"users={runner.user_count:<4} rps={total.current_rps:7.1f} p95={p95:6.0f}ms "
            f"errors={total.num_failures}\n"
        )
        sys.stdout.flush()


__all__ = ["ChatUser", "ScenarioShape"]
