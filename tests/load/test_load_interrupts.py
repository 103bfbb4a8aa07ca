"""Ctrl-C, pressed again and again, at any moment of ``harness load``: it exits 130 and leaves
no process of its own behind, not even a zombie. (A child stopped without being reaped, or
started while the interrupt arrived, used to outlive the harness as a zombie: in a container
whose first process does not reap orphans, it stays one.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from wait_support import wait_for

pytestmark = pytest.mark.slow  # real processes for seconds


def _group(pgid: int) -> dict[int, tuple[str, str]]:
    """Every process of process group ``pgid``: pid -> (state, command line); zombies too."""
    members: dict[int, tuple[str, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        if int(fields[2]) == pgid:
            members[int(entry.name)] = (fields[0], command)
    return members


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process groups in /proc")
@pytest.mark.parametrize(
    ("moment", "to_whole_group"),
    [
        ("while the stack starts", False),  # `kill -INT <harness pid>`
        ("while the load runs", True),  # a terminal's Ctrl-C: the whole foreground group
    ],
)
def test_three_interrupts_leave_no_process_not_even_a_zombie(
    scenario_file: Path, tmp_path: Path, moment: str, to_whole_group: bool
) -> None:
    out = tmp_path / "reports"
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "load", str(scenario_file), "--report-dir", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,  # its own group, as a shell job
    )
    pgid = process.pid
    try:
        if moment == "while the stack starts":
            wait_for(
                lambda: any("harness_toxiproxy" in c for _, c in _group(pgid).values()),
                "the proxy server to be starting",
                within=60.0,
            )
        else:
            assert process.stdout is not None
            for line in process.stdout:
                if "phase=" in line:
                    break
        for _ in range(3):
            if to_whole_group:
                os.killpg(pgid, signal.SIGINT)
            else:
                process.send_signal(signal.SIGINT)
            time.sleep(0.05)
        process.communicate(timeout=60)
        assert process.returncode == 130
        # every child was stopped and reaped before the harness exited: none left to orphan
        assert not _group(pgid)
    finally:
        if process.poll() is None:
            os.killpg(pgid, signal.SIGKILL)
            process.wait()
