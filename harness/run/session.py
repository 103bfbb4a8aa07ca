"""Running one scenario end to end: stack, timeline, load, verdicts, report files.

``run_scenario`` is what ``harness run`` and the pytest plugin's scenario items call. It starts
the scenario's upstreams and proxies, applies each phase's faults while the in-process driver
sends load, reverts every fault, stops everything it started, evaluates the SLA and writes the
reports. It returns the :class:`Report`; deciding the exit code is the caller's job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from harness.core import subscribe
from harness.errors import InputError
from harness.measure.health import saturation
from harness.measure.prom import PhaseCounters
from harness.measure.recorder import Recorder
from harness.measure.verdicts import PhaseWindow, evaluate
from harness.plugin.types import RunContext
from harness.report.build import build_report
from harness.report.files import new_run_id
from harness.report.model import Report, ScenarioInfo
from harness.run.driver import Progress, drive
from harness.run.launch import StartedTarget, launch_target
from harness.run.procstack import AttachedStack, StackInfo
from harness.run.service import DEFAULT_URL_READY_TIMEOUT, wait_until_ready
from harness.run.stack import Stack
from harness.run.targets import (
    CoreTarget,
    HttpTarget,
    Target,
    build_wrapper,
    chain_endpoints,
    core_client_config,
)
from harness.run.timeline import Timeline

if TYPE_CHECKING:
    from harness.plugin.manager import PluginManager
    from harness.scenario.model import Scenario

logger = logging.getLogger("harness.session")


@dataclass
class RunOptions:
    """Knobs shared by every driver of a scenario (each has one spelling on every command
    line: ``--report-dir``, ``--seed``, ``--resilience/--no-resilience``, ``--users``,
    ``--duration``, ``--toxiproxy-url``; the pytest options carry a ``chaos-`` prefix)."""

    report_dir: Path = Path("reports")
    seed: int | None = None
    resilience: bool = True
    users: int | None = None
    duration: float | None = None
    driver: str = "cli"
    toxiproxy_url: str | None = None
    reporters: Iterable[str] | None = None
    stack_file: Path | None = None
    """Attach to this running stack (``harness stack up``) instead of starting one."""


def phase_windows(scenario: Scenario, recorder: Recorder) -> list[PhaseWindow]:
    windows = []
    for phase in scenario.phases:
        span = recorder.phase_spans.get(phase.name)
        if span is None:
            continue
        windows.append(PhaseWindow(phase.name, span[0], span[1], bool(phase.faults)))
    return windows


def run_scenario(
    scenario: Scenario,
    pm: PluginManager,
    options: RunOptions,
    *,
    source: str = "",
    on_progress: Callable[[Progress], None] | None = None,
) -> Report:
    """Run ``scenario`` and write its reports; returns the report (see module docstring)."""
    seed = scenario.run_seed(options.seed)
    started_at = datetime.now(UTC)
    run = RunContext(
        run_id=new_run_id(scenario.name, started_at),
        seed=seed,
        report_dir=Path(options.report_dir),
        scenario=scenario,
        toxiproxy_url=options.toxiproxy_url,
        resilience=options.resilience,
        source=Path(source) if source else None,
    )
    recorder = Recorder(seed=seed)
    unsubscribe = subscribe(recorder.on_event)
    report: Report | None = None
    counters: PhaseCounters | None = None

    def on_phase(name: str | None) -> None:
        recorder.set_phase(name)
        if counters is not None:
            counters.phase_starts(name)

    try:
        pm.hooks.harness_run_start(run=run)
        with (
            _stack(scenario, pm, run, options),
            Timeline(scenario, pm, run, on_phase=on_phase) as timeline,
        ):
            # the target starts in this (the main) thread: a service process is then tied to it
            # and dies with the harness even when the harness is killed (PR_SET_PDEATHSIG)
            started = _start_target(scenario, run, options)
            counters = _service_counters(scenario, options, started, recorder)
            try:
                asyncio.run(_load(scenario, run, recorder, timeline, options, on_progress, started))
            finally:
                if counters is not None:
                    counters.finish()  # the last phase's, while the service still answers
                if started is not None:
                    started.stop()
        recorder.finish()
        windows = phase_windows(scenario, recorder)
        report = build_report(
            run_id=run.run_id,
            driver=options.driver,
            scenario=ScenarioInfo(
                name=scenario.name, description=scenario.description, source=source
            ),
            target=_describe_target(scenario),
            seed=seed,
            started_at=started_at,
            recorder=recorder,
            verdicts=evaluate(
                scenario.sla,
                recorder,
                windows,
                saturation=saturation(recorder.health()),
                vendor=timeline.vendor,
            ),
            phases=windows,
            faults=timeline.records(),
            vendor=timeline.vendor,
        )
        write_reports(report, pm, run.report_dir, options.reporters)
        return report
    finally:
        unsubscribe()
        shutil.rmtree(run.workdir, ignore_errors=True)  # scratch files: databases, stack files
        with contextlib.suppress(OSError):
            run.workdir.parent.rmdir()  # .work itself, when no other run uses it
        pm.hooks.harness_run_end(run=run, report=report)


def _stack(
    scenario: Scenario, pm: PluginManager, run: RunContext, options: RunOptions
) -> Stack | AttachedStack:
    """The run's upstreams and proxies: started for it, or those of a running stack."""
    if options.stack_file is None:
        return Stack(scenario, pm, run)
    info = StackInfo.load(options.stack_file)
    if info.scenario != scenario.name:
        raise InputError(
            f"--stack {options.stack_file}: it runs scenario {info.scenario!r}, not "
            f"{scenario.name!r}; start this one with `harness stack up`"
        )
    return AttachedStack(info, pm, run)


def _start_target(scenario: Scenario, run: RunContext, options: RunOptions) -> StartedTarget | None:
    """The service under test (None for a core target): started for the run, or, attached to a
    running stack, the one it serves (checked before any load)."""
    if scenario.target.core:
        return None
    if options.stack_file is None or scenario.target.url:
        return launch_target(scenario, run)
    info = StackInfo.load(options.stack_file)
    wait_until_ready(info.target_url, scenario.target.ready, DEFAULT_URL_READY_TIMEOUT)
    return StartedTarget(info.target_url)


def _service_counters(
    scenario: Scenario, options: RunOptions, started: StartedTarget | None, recorder: Recorder
) -> PhaseCounters | None:
    """The core's counters of a service in another process (a command, or the app of an
    attached stack), read from its ``/metrics`` at each phase boundary: its core's events do
    not reach this process. None when the target runs here (or is a URL the harness knows
    nothing of)."""
    target = scenario.target
    elsewhere = bool(target.command) or (bool(target.app) and options.stack_file is not None)
    if started is None or not elsewhere:
        return None
    counters = PhaseCounters(f"{started.url}/metrics", recorder)
    counters.start()
    return counters


async def _load(  # noqa: PLR0917 - private plumbing between run_scenario and drive
    scenario: Scenario,
    run: RunContext,
    recorder: Recorder,
    timeline: Timeline,
    options: RunOptions,
    on_progress: Callable[[Progress], None] | None,
    started: StartedTarget | None,
) -> None:
    target = _target(scenario, run, options, started)
    try:
        await drive(
            scenario,
            target,
            recorder,
            timeline,
            users=options.users,
            duration=options.duration,
            on_progress=on_progress,
            warm_up=True,
        )
    finally:
        await target.aclose()


def _target(
    scenario: Scenario, run: RunContext, options: RunOptions, started: StartedTarget | None
) -> Target:
    """What the driver sends requests to: the started service, or the core itself."""
    spec = scenario.target
    if started is not None:
        return HttpTarget(started.url, spec.request)
    timeouts, breaker = core_client_config(spec)
    wrapper = build_wrapper(
        chain_endpoints(scenario, run.endpoints),
        resilience=options.resilience,
        seed=run.seed,
        timeouts=timeouts,
        breaker=breaker,
    )
    return CoreTarget(wrapper, spec.request)


def _describe_target(scenario: Scenario) -> str:
    spec = scenario.target
    if spec.core:
        return f"core:{spec.core}"
    if spec.command is not None:
        return "command:" + " ".join(spec.argv_template)
    return spec.url or f"app:{spec.app}"


def write_reports(
    report: Report, pm: PluginManager, report_dir: Path, names: Iterable[str] | None = None
) -> list[Path]:
    """Render ``report`` with each reporter (all by default) into ``report_dir``."""
    wanted = list(names) if names is not None else list(pm.reporters)
    written = []
    for name in wanted:
        reporter = pm.reporters.get(name)
        if reporter is None:
            raise InputError(
                f"unknown reporter {name!r}; available: {', '.join(sorted(pm.reporters))}"
            )
        path = report_dir / f"{report.run_id}{reporter.suffix}"
        reporter.write(report, path)
        written.append(path)
    return written
