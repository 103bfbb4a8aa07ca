"""``harness stack up/down``: a scenario's stack as detached background processes."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from harness.errors import InputError
from harness.plugin.manager import get_plugin_manager
from harness.plugin.process import stop_pid
from harness.run.procstack import ProcessStack, StackInfo, stack_run


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
    run = stack_run(
        scenario,
        seed=seed,
        report_dir=workdir,
        source=scenario_file,
        resilience=resilience,
        detached=True,
        log_dir=state.parent / "logs",
    )
    stack = ProcessStack(scenario, pm, run)
    info = stack.start()
    info.save(state)
    return info


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def stack_down(state: Path, *, warn: Callable[[str], None] = _to_stderr) -> int:
    """Stop every process of ``state`` that is still the one the stack started; remove the file
    and the work directory. Returns how many were stopped; ``warn`` hears of each pid left alone
    (another process has it now, or the file does not say which process it was)."""
    if not state.exists():
        raise InputError(f"{state}: no stack file (nothing is up, or pass --state)")
    info = StackInfo.load(state)
    stopped = 0
    for pid in info.pids:
        expected = info.identity(pid)
        if expected is None:
            warn(
                f"{state}: pid {pid} left alone: the file does not record which process it was "
                "(written by an older harness), and the pid may belong to another process by now; "
                f"if `ps -o pid,lstart,args -p {pid}` shows a harness server, stop it by hand"
            )
            continue
        outcome = stop_pid(expected)
        if outcome == "stopped":
            stopped += 1
        elif outcome == "other":
            warn(
                f"{state}: pid {pid} left alone: it is no longer the stack's process "
                f"({' '.join(expected.cmdline)[:120]}) but another one (the pid was reused)"
            )
    state.unlink()
    shutil.rmtree(state.parent / "work", ignore_errors=True)
    return stopped
