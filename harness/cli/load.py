"""``harness load``: the stack as child processes, then Locust headless against it.

The CLI process starts the stack (it is not gevent-patched: it never imports Locust) and runs
Locust as a child process with the harness's locustfile, attached to the stack through a stack
file. Locust's exit code is the verdict: 0 held, 1 breached, 2 bad input, 3 infrastructure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import harness.load
from harness.plugin.manager import get_plugin_manager
from harness.plugin.process import die_with_parent
from harness.plugin.types import RunContext
from harness.run.appserver import bind
from harness.run.procstack import ProcessStack, StackInfo, stack_run
from harness.run.service import DEFAULT_URL_READY_TIMEOUT, wait_until_ready
from harness.run.signals import deferred_signals, sigterm_as_interrupt

if TYPE_CHECKING:
    from harness.plugin.manager import PluginManager
    from harness.scenario.model import Scenario

LOCUSTFILE = Path(harness.load.__file__).with_name("locustfile.py")


def locust_command(
    scenario_file: Path,
    *,
    stack_file: Path,
    target_url: str,
    report_dir: Path,
    users: int | None = None,
    duration: str | None = None,
    processes: int = 0,
    seed: int | None = None,
) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--host",
        target_url,
        "--chaos-scenario",
        str(scenario_file),
        "--chaos-stack-file",
        str(stack_file),
        "--chaos-report-dir",
        str(report_dir),
        "--chaos-progress",
    ]
    if users:
        argv += ["--chaos-users", str(users)]
    if duration:
        argv += ["--chaos-duration", duration]
    if processes:
        # Locust's master binds every interface on port 5557 by default: keep it on loopback,
        # on a free port (two runs side by side must not meet); the forked workers connect to
        # 127.0.0.1 and inherit the port.
        with bind() as probe:
            port = probe.getsockname()[1]
        argv += [
            "--processes",
            str(processes),
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            "--master-port",
            str(port),
        ]
    if seed is not None:
        argv += ["--chaos-seed", str(seed)]
    return argv


def run_load(
    scenario_file: Path,
    *,
    users: int | None = None,
    duration: str | None = None,
    processes: int = 0,
    report_dir: Path = Path("reports"),
    seed: int | None = None,
    resilience: bool = True,
    disable: list[str] | None = None,
    stack_file: Path | None = None,
) -> int:
    pm = get_plugin_manager(disable=disable or ())
    scenario = pm.load_scenario(scenario_file)
    if stack_file is not None:  # a stack `harness stack up` started: Locust attaches to it
        info = StackInfo.load(stack_file)
        wait_until_ready(info.target_url, scenario.target.ready, DEFAULT_URL_READY_TIMEOUT)
        argv = locust_command(
            scenario_file,
            stack_file=stack_file,
            target_url=info.target_url,
            report_dir=report_dir,
            users=users,
            duration=duration,
            processes=processes,
            seed=info.seed,
        )
        with sigterm_as_interrupt():
            return _locust(argv)
    run = stack_run(
        scenario, seed=seed, report_dir=report_dir, source=scenario_file, resilience=resilience
    )
    try:
        return _load(scenario_file, scenario, pm, run, users, duration, processes)
    finally:
        shutil.rmtree(run.workdir, ignore_errors=True)
        with contextlib.suppress(OSError):
            run.workdir.parent.rmdir()


def _load(
    scenario_file: Path,
    scenario: Scenario,
    pm: PluginManager,
    run: RunContext,
    users: int | None,
    duration: str | None,
    processes: int,
) -> int:
    with sigterm_as_interrupt(), ProcessStack(scenario, pm, run) as stack:
        info = stack.info()
        stack_file = run.workdir / "stack.json"
        info.save(stack_file)
        argv = locust_command(
            scenario_file,
            stack_file=stack_file,
            target_url=info.target_url,
            report_dir=run.report_dir,
            users=users,
            duration=duration,
            processes=processes,
            seed=run.seed,
        )
        return _locust(argv)


def _locust(argv: list[str]) -> int:
    """Run Locust as a child; its exit code is the verdict."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # Even a SIGKILLed `harness load` must not leave Locust running: it dies with us.
    locust: subprocess.Popen[bytes] | None = None
    try:
        with deferred_signals():  # a Ctrl-C during Popen is delivered once `locust` is known
            locust = subprocess.Popen(argv, env=env, preexec_fn=die_with_parent)  # noqa: S603, PLW1509
        return locust.wait()
    except KeyboardInterrupt:
        if locust is None:
            raise
        # Locust gets one Ctrl-C (it stops its users and writes its reports); more of them
        # are held until it has exited and been reaped, then go on
        with deferred_signals():
            locust.send_signal(signal.SIGINT)
            try:
                locust.wait(30)
            except subprocess.TimeoutExpired:
                locust.kill()
                locust.wait()
        raise
