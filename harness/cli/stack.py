"""``harness stack up/down``: a scenario's stack as detached background processes."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from harness.errors import InputError
from harness.plugin.manager import get_plugin_manager
from harness.plugin.process import stop_pid
from harness.plugin.types import RunContext
from harness.report.files import new_run_id
from harness.run.procstack import ProcessStack, StackInfo


def stack_up(
    scenario_file: Path,
    state: Path,
    *,
    resilience: bool = True,
    seed: int | None = None,
    disable: list[str] | None = None,
) -> StackInfo:
    """Start everything detached (it outlives this command) and write ``state``."""
    if state.exists():
        raise InputError(f"{state} exists: a stack is already up (run `harness stack down` first)")
    pm = get_plugin_manager(disable=disable or ())
    scenario = pm.load_scenario(scenario_file)
    workdir = state.parent / "work"
    run = RunContext(
        run_id=new_run_id(scenario.name),
        seed=seed if seed is not None else scenario.seed or random.randrange(2**31),
        report_dir=workdir,
        scenario=scenario,
        detached=True,
        log_dir=state.parent / "logs",
        resilience=resilience,
        source=scenario_file,
    )
    stack = ProcessStack(scenario, pm, run)
    info = stack.start()
    info.save(state)
    return info


def stack_down(state: Path) -> int:
    """Stop every process of ``state``; remove the file and the work directory."""
    if not state.exists():
        raise InputError(f"{state}: no stack file (nothing is up, or pass --state)")
    info = StackInfo.load(state)
    stopped = sum(stop_pid(pid) for pid in info.pids)
    state.unlink()
    shutil.rmtree(state.parent / "work", ignore_errors=True)
    return stopped
