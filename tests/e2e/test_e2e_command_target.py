"""A ``command`` target: the harness starts your service, waits for it, logs it, and stops its
whole process group on every exit path (held, breached, Ctrl-C, SIGTERM, the harness killed).
Real processes and sockets: ``harness run`` as a child, and a tiny stdlib service
(``services/tiny_service.py``) that writes its pid and starts a grandchild in its group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SERVICE = Path(__file__).with_name("services") / "tiny_service.py"

SCENARIO = """\
name: command target
seed: 5
target:
  command: ["{{python}}", "{service}", "--port", "{{port}}", "--pidfile", "{pidfile}", "--child"%(extra)s]
  ready: /healthz
  ready_timeout: %(ready_timeout)s
  env: {{TINY_PRIMARY: "{{upstreams.primary.openai_base_url}}"}}
upstreams:
  - {{name: primary, api: openai}}
load: {{users: 2, think_time: 20ms}}
phases:
  - {{name: calm, duration: %(duration)s}}
sla:
  - %(threshold)s
"""


def _scenario(
    tmp_path: Path,
    *,
    extra: str = "",
    threshold: str = "availability >= 99%",
    duration: str = "1s",
    ready_timeout: str = "20s",
) -> Path:
    text = SCENARIO.format(service=SERVICE, pidfile=tmp_path / "service.pid") % {
        "extra": extra,
        "threshold": threshold,
        "duration": duration,
        "ready_timeout": ready_timeout,
    }
    path = tmp_path / "command.yaml"
    path.write_text(text)
    return path


def _harness(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,  # a signal to the test's group must not reach it by accident
    )


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(pgid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _group_alive(pgid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def service_group(tmp_path: Path) -> Iterator[list[int]]:
    """The service's process group id, once known; killed after the test whatever happened."""
    groups: list[int] = []
    yield groups
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


def _service_pgid(tmp_path: Path, timeout: float = 20.0) -> int:
    pidfile = tmp_path / "service.pid"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pidfile.exists() and pidfile.read_text():
            return os.getpgid(int(pidfile.read_text()))
        time.sleep(0.05)
    raise AssertionError("the service never wrote its pid")


@pytest.mark.parametrize(
    ("threshold", "code"),
    [("availability >= 99%", 0), ("max < 1us", 1)],
    ids=["held", "breached"],
)
def test_started_ready_logged_and_stopped_with_its_group(
    tmp_path: Path, service_group: list[int], threshold: str, code: int
) -> None:
    path = _scenario(tmp_path, threshold=threshold)
    harness = _harness("run", str(path), "--report-dir", "out", cwd=tmp_path)
    pgid = _service_pgid(tmp_path)
    service_group.append(pgid)
    out, err = harness.communicate(timeout=120)
    assert harness.returncode == code, out + err
    assert _wait_gone(pgid), "the service or its grandchild outlived the run"
    (log,) = (tmp_path / "out").glob("*.target.log")
    assert "tiny service ready" in log.read_text()
    assert "target command:" in out


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_run_stops_the_service_group(
    tmp_path: Path, service_group: list[int], signum: signal.Signals
) -> None:
    path = _scenario(tmp_path, duration="60s")
    harness = _harness("run", str(path), "--report-dir", "out", cwd=tmp_path)
    pgid = _service_pgid(tmp_path)
    service_group.append(pgid)
    time.sleep(0.5)  # the load is running
    os.kill(harness.pid, signum)
    harness.communicate(timeout=60)
    assert harness.returncode != 0
    assert _wait_gone(pgid), "the service survived an interrupted run"


def test_a_killed_harness_does_not_leave_the_service_behind(
    tmp_path: Path, service_group: list[int]
) -> None:
    path = _scenario(tmp_path, duration="60s")
    harness = _harness("run", str(path), "--report-dir", "out", cwd=tmp_path)
    pgid = _service_pgid(tmp_path)
    service_group.append(pgid)
    service = int((tmp_path / "service.pid").read_text())
    os.kill(harness.pid, signal.SIGKILL)
    harness.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the kernel ends the service (PR_SET_PDEATHSIG)
        try:
            os.kill(service, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the service outlived a SIGKILLed harness")


@pytest.mark.parametrize(
    ("extra", "ready_timeout", "expected"),
    [
        (', "--exit-early"', "20s", "exited with code 3 before it was ready"),
        (', "--never-ready"', "2s", "did not answer within 2s (GET /healthz answered 503)"),
    ],
    ids=["dead", "never-ready"],
)
def test_a_service_that_never_gets_ready_is_exit_3_fast(
    tmp_path: Path, service_group: list[int], extra: str, ready_timeout: str, expected: str
) -> None:
    path = _scenario(tmp_path, extra=extra, ready_timeout=ready_timeout)
    started = time.monotonic()
    harness = _harness("run", str(path), "--report-dir", "out", cwd=tmp_path)
    out, err = harness.communicate(timeout=60)
    assert harness.returncode == 3, out + err
    assert time.monotonic() - started < 10
    assert expected in err
    assert "tiny service pid" in err  # the last lines of its output come with the error
    assert "fix:" in err


def test_a_dead_url_target_is_exit_3_before_any_load(tmp_path: Path) -> None:
    path = tmp_path / "url.yaml"
    path.write_text(
        "name: dead\ntarget: {url: 'http://127.0.0.1:9'}\n"
        "phases: [{name: a, duration: 30s}]\nsla: [availability >= 99%]\n"
    )
    started = time.monotonic()
    harness = _harness("run", str(path), "--report-dir", "out", cwd=tmp_path)
    out, err = harness.communicate(timeout=60)
    assert harness.returncode == 3, out + err
    assert time.monotonic() - started < 10
    assert "did not answer within 5s" in err
    assert not list((tmp_path / "out").glob("*.json")) if (tmp_path / "out").exists() else True


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            "{command: 'srv --port {prt}'}",
            "target.command (line 2): unknown placeholder {prt}; expected one of: port, python",
        ),
        (
            "{command: srv, env: {URL: '{upstreams.primary.base}'}}",
            "target.env.URL (line 2): unknown placeholder {upstreams.primary.base}",
        ),
        (
            "{command: srv, env: {URL: '{proxies.nope.url}'}}",
            "target.env.URL (line 2): unknown placeholder {proxies.nope.url}",
        ),
    ],
)
def test_an_unknown_placeholder_is_exit_2_naming_the_field(
    tmp_path: Path, target: str, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        f"name: bad\ntarget: {target}\nupstreams: [{{name: primary}}]\n"
        "phases: [{name: a, duration: 1s}]\n"
    )
    for command in ("validate", "run"):
        harness = _harness(command, str(path), cwd=tmp_path)
        out, err = harness.communicate(timeout=60)
        assert harness.returncode == 2, out + err
        assert message in err
        assert "upstreams.primary.{url,openai_base_url,anthropic_base_url" in err
