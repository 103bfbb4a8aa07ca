"""Running the ``harness`` command line in a child process, as a user does, and reading the
JSON report it writes (shared by the end-to-end and Locust-driver tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[2]


def harness(
    *args: str, timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m harness *args`` (unbuffered, so a timeout still shows its output)."""
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=cwd,
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def assert_exit(run: subprocess.CompletedProcess[str], code: int = 0) -> None:
    """The run ended with ``code``; otherwise the tail of its output says why."""
    assert run.returncode == code, run.stdout[-3000:] + run.stderr[-3000:]


def report_file(report_dir: Path) -> tuple[Path, dict[str, Any]]:
    """The one JSON report in ``report_dir``: its path and content."""
    reports = list(report_dir.glob("*.json"))
    assert len(reports) == 1, reports
    return reports[0], json.loads(reports[0].read_text())


def only_report(report_dir: Path) -> dict[str, Any]:
    """The content of the one JSON report in ``report_dir``."""
    return report_file(report_dir)[1]
