"""Every option is checked before anything starts: a bad one is exit 2 naming the option as the
user typed it (never a traceback, never a run that silently ignores it), and an unwritable
report directory is found before the run, not after it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli import main

TINY = """\
name: tiny
seed: 3
target: {core: llm}
upstreams: [{name: primary, api: openai, backend: respx}]
load: {users: 2, think_time: 5ms}
phases: [{name: calm, duration: %s}]
sla: [availability >= 99%%]
"""


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY % "200ms")
    return path


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["load", "{s}", "--duration", "abc"], "--duration 'abc': expected a duration"),
        (["load", "{s}", "--duration", "1e400s"], "--duration '1e400s': expected a finite"),
        (["load", "{s}", "--duration", "0s"], "--duration '0s': expected more than 0s"),
        (["load", "{s}", "--duration", "-5s"], "--duration '-5s': expected a duration"),
        (["load", "{s}", "--duration", "25h"], "--duration '25h': expected more than 0s and at"),
        (["load", "{s}", "--users", "-5"], "Invalid value for '--users'"),
        (["load", "{s}", "--users", "0"], "Invalid value for '--users'"),
        (["load", "{s}", "--processes", "-1"], "Invalid value for '--processes'"),
        (["run", "{s}", "--users", "-3"], "Invalid value for '--users'"),
        (["run", "{s}", "--users", "0"], "Invalid value for '--users'"),
    ],
)
def test_a_bad_option_is_exit_2_naming_it(
    argv: list[str], message: str, scenario: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _assert_exit_2_naming(capsys, [a.replace("{s}", str(scenario)) for a in argv], message)


@pytest.mark.parametrize(
    "argv",
    [
        ["vendor", "serve", "--port", "-1"],
        ["toxiproxy", "serve", "--port", "70000"],
        ["app", "serve", "nope:app", "--port", "65536"],
    ],
)
def test_a_server_on_a_bad_port_is_exit_2_naming_it(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    _assert_exit_2_naming(capsys, argv, "Invalid value for '--port'")


def _assert_exit_2_naming(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split()), err


@pytest.mark.parametrize("command", ["run", "load"])
def test_an_unwritable_report_dir_is_exit_2_before_the_run(
    command: str, scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    assert main([command, str(scenario), "--report-dir", "/proc/harness-reports"]) == 2
    err = capsys.readouterr().err
    assert "--report-dir /proc/harness-reports: reports cannot be written there" in err
    assert time.monotonic() - started < 5  # nothing was started


def test_pytest_names_an_unwritable_report_dir(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        "def test_uses_chaos(chaos):\n    chaos.record('x', 0.01)\n",
    )
    result = pytester.runpytest("--chaos-report-dir", "/proc/harness-reports")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*InputError: --chaos-report-dir /proc/harness-reports*"])
    assert "FileNotFoundError" not in result.stdout.str()


def test_no_scratch_files_are_left_after_an_interrupted_run(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    path.write_text(
        TINY.replace("upstreams: [", "upstreams: [{name: store, api: sqlite, backend: sqlite}, ")
        % "60s"
    )
    run = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(path), "--report-dir", "out"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 30
    while not list((tmp_path / "out" / ".work").glob("*/store.db")):
        assert time.monotonic() < deadline, "the run never created its database"
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    run.communicate(timeout=60)
    assert not (tmp_path / "out" / ".work").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["app", "serve", "examples.genai_service.app:create_app", "--host", "0.0.0.0"],
        ["vendor", "serve", "--host", "0.0.0.0"],
        ["toxiproxy", "serve", "--host", "10.0.0.1"],
    ],
)
def test_every_server_refuses_a_host_off_this_machine(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert "must be a loopback address (127.0.0.1, ::1 or localhost)" in capsys.readouterr().err
