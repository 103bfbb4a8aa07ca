"""Starting a run's target, whatever its kind, the same way for every driver.

``harness run`` and pytest serve an ``app`` target in a thread of their own process; ``harness
load`` and ``harness stack up`` (``run.isolation == "process"``) serve it as a child process.
A ``command`` target is always its own process (:mod:`harness.run.service`); a ``url`` target
is probed before the load starts. Every target is told where the run's endpoints are: the
``HARNESS_*`` variables (:func:`harness.run.targets.harness_env`) and ``target.env`` with its
placeholders filled (:mod:`harness.scenario.wiring`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import InputError
from harness.plugin.process import harness_command, start_server
from harness.run.appserver import AppServer, bind
from harness.run.service import (
    DEFAULT_COMMAND_READY_TIMEOUT,
    DEFAULT_URL_READY_TIMEOUT,
    ServiceProcess,
    wait_until_ready,
)
from harness.run.targets import app_spec, harness_env
from harness.scenario.wiring import fill, run_values

if TYPE_CHECKING:
    from harness.plugin.types import RunContext
    from harness.scenario.model import Scenario


def _nothing() -> None:
    return None


@dataclass
class StartedTarget:
    """A running target: where to send requests, how to stop it, its process (if any)."""

    url: str
    stop: Callable[[], None] = _nothing
    pid: int | None = None
    log: Path | None = None
    env: dict[str, str] = field(default_factory=dict)


def target_log(run: RunContext) -> Path:
    """Where a command target's output goes: ``<report dir>/<run id>.target.log`` (next to the
    run's reports), or the stack's log directory for a detached stack."""
    if run.detached and run.log_dir is not None:
        return run.log_dir / "target.log"
    return run.report_dir / f"{run.run_id}.target.log"


def target_values(scenario: Scenario, run: RunContext, port: int | None) -> dict[str, str]:
    """What the target's placeholders are filled with, for this run."""
    return run_values(
        run.endpoints,
        [p.name for p in scenario.proxies],
        port=port,
        run_id=run.run_id,
        seed=run.seed,
        workdir=str(run.workdir.resolve()),
    )


def target_env(scenario: Scenario, run: RunContext, port: int | None = None) -> dict[str, str]:
    """The environment a target gets (beyond the harness's own): the run's endpoints as
    ``HARNESS_*`` variables, its work directory, and ``target.env`` filled in."""
    values = target_values(scenario, run, port)
    env = {
        **harness_env(scenario, run.endpoints, resilience=run.resilience),
        "HARNESS_WORKDIR": str(run.workdir.resolve()),
    }
    for key, value in scenario.target.env.items():
        env[key] = fill(value, values, f"target.env.{key}")
    return env


def launch_target(scenario: Scenario, run: RunContext) -> StartedTarget:
    """Start (or check) ``scenario``'s target for ``run``; the caller stops it."""
    spec = scenario.target
    if spec.core:
        raise InputError(
            f"scenario {scenario.name!r}: a load test needs a service to send HTTP to; "
            "target 'core' runs only in-process (harness run, pytest)"
        )
    if spec.url:
        if not run.detached:  # a detached stack's service is started by hand, afterwards
            timeout = spec.ready_timeout or DEFAULT_URL_READY_TIMEOUT
            wait_until_ready(spec.url, spec.ready, timeout)
        return StartedTarget(spec.url.rstrip("/"))
    if spec.app:
        env = target_env(scenario, run)
        app = app_spec(spec.app)
        if run.isolation == "thread":
            server = AppServer(app, env)
            return StartedTarget(server.start(), server.stop, env=env)
        argv = harness_command("app", "serve", app, "--port", "0")
        child = start_server(f"target app {app}", argv, run, env=env)
        return StartedTarget(child.url, child.stop, child.pid, env=env)
    return _launch_command(scenario, run)


def _launch_command(scenario: Scenario, run: RunContext) -> StartedTarget:
    spec = scenario.target
    with bind() as probe:
        port = probe.getsockname()[1]
    values = target_values(scenario, run, port)
    argv = [fill(arg, values, "target.command") for arg in spec.argv_template]
    base = run.source.parent if run.source is not None else Path.cwd()
    cwd = base / fill(spec.cwd, values, "target.cwd") if spec.cwd else base
    if not cwd.is_dir():
        raise InputError(f"target.cwd: {cwd} is not a directory")
    env = target_env(scenario, run, port)
    # the harness's interpreter first on PATH: a service in the same virtual environment
    # (uvicorn, your package's scripts) is found without activating it
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    service = ServiceProcess(
        argv,
        env={**os.environ, "PATH": path, **env},
        cwd=cwd,
        log=target_log(run),
        detached=run.detached,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        service.start()
        wait_until_ready(
            url,
            spec.ready,
            spec.ready_timeout or DEFAULT_COMMAND_READY_TIMEOUT,
            alive=service,
            what=f"the target command {' '.join(argv)!r}",
        )
    except BaseException:
        service.stop()
        raise
    return StartedTarget(url, service.stop, service.pid, service.log, env)
