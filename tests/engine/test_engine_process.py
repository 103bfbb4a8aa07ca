"""Which process a pid names (``ProcessIdentity``), and ``harness stack down`` stopping only the
processes the stack started: a pid the kernel has since handed to another process is left alone.

These tests run real processes: ``sleep`` in its own session stands for an unrelated process
that happens to have a pid the stack file names.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli import main
from harness.plugin.hookspecs import hookimpl
from harness.plugin.manager import PluginManager
from harness.plugin.process import ChildProcess, ProcessIdentity, start_server, stop_pid
from harness.plugin.types import Endpoint, FaultBackend, RunContext
from harness.run.procstack import ProcessStack, StackInfo
from harness.scenario.loader import parse_scenario
from harness.scenario.model import UpstreamSpec

SERVER = textwrap.dedent(
    """\
    import sys, time
    print("listening on http://127.0.0.1:1", flush=True)
    time.sleep(60)
    """
)


@pytest.fixture
def unrelated() -> Iterator[subprocess.Popen[bytes]]:
    """A process that is none of the harness's business, in a session (and group) of its own, as
    a detached stack process would be."""
    process = subprocess.Popen(["sleep", "30"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


def _alive(process: subprocess.Popen[bytes]) -> bool:
    return process.poll() is None


def _impostor(pid: int) -> ProcessIdentity:
    """What the stack file would say had the stack's process had ``pid`` before it exited."""
    return ProcessIdentity(pid, "boot:12345", (sys.executable, "-m", "harness", "vendor", "serve"))


# -- ProcessIdentity ----------------------------------------------------------------------------


def test_a_live_process_matches_its_identity_and_a_reused_pid_does_not(
    unrelated: subprocess.Popen[bytes],
) -> None:
    identity = ProcessIdentity.of(unrelated.pid)
    assert identity is not None
    assert identity.pid == unrelated.pid
    assert identity.cmdline == ("sleep", "30")
    assert ProcessIdentity.of(unrelated.pid) == identity  # stable while it lives
    assert identity.status() == "running"
    assert _impostor(unrelated.pid).status() == "other"
    unrelated.kill()
    unrelated.wait()
    assert ProcessIdentity.of(unrelated.pid) is None
    assert identity.status() == "gone"


def test_an_identity_that_could_not_be_read_never_matches(
    unrelated: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.plugin import process as module

    unreadable = ProcessIdentity(unrelated.pid, "unreadable", ())
    monkeypatch.setattr(module, "_proc_identity", lambda pid: unreadable)
    assert unreadable.status() == "other"
    assert stop_pid(unreadable, timeout=0.5) == "other"
    assert _alive(unrelated)


def test_a_zombie_has_no_identity() -> None:
    child = subprocess.Popen(["true"])
    try:
        # not reaped yet: the pid is still taken, but by a process that has exited
        for _ in range(200):
            if ProcessIdentity.of(child.pid) is None:
                break
            subprocess.run(["sleep", "0.01"], check=True)
        assert ProcessIdentity.of(child.pid) is None
    finally:
        child.wait()


def test_identity_where_there_is_no_proc_comes_from_psutil(
    unrelated: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.plugin import process as module

    monkeypatch.setattr(module, "_PROC", Path("/nonexistent-proc"))
    identity = ProcessIdentity.of(unrelated.pid)
    assert identity is not None and identity.cmdline == ("sleep", "30")
    assert identity.status() == "running"
    assert _impostor(unrelated.pid).status() == "other"


def test_identity_round_trips_through_json_and_rejects_anything_else() -> None:
    identity = ProcessIdentity(12, "b:3", ("python", "-m", "harness"))
    assert ProcessIdentity.from_json(json.loads(json.dumps(identity.to_json()))) == identity
    for bad in [None, 12, {"pid": "12", "started": "b:3", "cmdline": []}, {"pid": 12}]:
        with pytest.raises(ValueError, match="expected a process as"):
            ProcessIdentity.from_json(bad)


def test_a_child_records_its_identity_when_it_starts(tmp_path: Path) -> None:
    child = ChildProcess("server", [sys.executable, "-c", SERVER])
    child.start()
    try:
        assert child.pid is not None and child.identity is not None
        assert child.identity == ProcessIdentity.of(child.pid)
        assert child.identity.cmdline == (sys.executable, "-c", SERVER)
    finally:
        child.stop()


# -- stop_pid -------------------------------------------------------------------------------------


def test_stop_pid_leaves_a_process_that_has_taken_the_pid_alone(
    unrelated: subprocess.Popen[bytes],
) -> None:
    assert stop_pid(_impostor(unrelated.pid), timeout=0.5) == "other"
    assert _alive(unrelated)


def test_stop_pid_stops_the_process_it_names_and_says_gone_after(
    unrelated: subprocess.Popen[bytes],
) -> None:
    identity = ProcessIdentity.of(unrelated.pid)
    assert identity is not None
    assert stop_pid(identity) == "stopped"
    assert unrelated.wait(5) is not None
    assert stop_pid(identity) == "gone"


# -- harness stack down ---------------------------------------------------------------------------


class ServerPlugin:
    """A backend whose upstream is a real detached child process, as ``harness stack up``
    starts the fake vendor; its descriptor carries the pid, as the built-in plugins' do."""

    def __init__(self) -> None:
        self.children: list[ChildProcess] = []

    @hookimpl
    def harness_fault_backends(self) -> list[FaultBackend]:
        return [ServerBackend(self)]


class ServerBackend(FaultBackend):
    name = "server"
    kinds = frozenset({"http_status"})
    where = "upstream"

    def __init__(self, plugin: ServerPlugin) -> None:
        self.plugin = plugin

    def start_upstream(self, upstream: UpstreamSpec, run: RunContext) -> Endpoint:
        child = start_server(f"server {upstream.name}", [sys.executable, "-c", SERVER], run)
        self.plugin.children.append(child)
        return self.endpoint(
            upstream,
            url=f"{child.url}/v1",
            address=child.url.removeprefix("http://"),
            close=child.stop,
            descriptor={"pid": child.pid},
        )


STACK_SCENARIO = """\
name: stack
target: {url: 'http://127.0.0.1:8000'}
upstreams:
  - {name: primary, backend: server}
  - {name: backup, backend: server}
phases: [{name: a, duration: 1s}]
"""


@pytest.fixture
def started_stack(tmp_path: Path) -> Iterator[tuple[StackInfo, ServerPlugin]]:
    """A stack of two detached server processes, started the way ``harness stack up`` does."""
    plugin = ServerPlugin()
    pm = PluginManager()
    pm.add(plugin, "servers")
    pm.check()
    run = RunContext(
        run_id="r",
        seed=1,
        report_dir=tmp_path / "work",
        detached=True,
        log_dir=tmp_path / "logs",
    )
    stack = ProcessStack(parse_scenario(STACK_SCENARIO), pm, run)
    info = stack.start()
    yield info, plugin
    for child in plugin.children:  # whatever the test left running
        child.stop(timeout=1)


def test_the_stack_file_records_each_process_identity(
    started_stack: tuple[StackInfo, ServerPlugin],
) -> None:
    info, plugin = started_stack
    assert len(info.pids) == 2
    assert [info.identity(child.pid or 0) for child in plugin.children] == [
        child.identity for child in plugin.children
    ]
    assert all(info.identity(pid) == ProcessIdentity.of(pid) for pid in info.pids)


def test_stack_down_stops_the_stack_and_leaves_a_reused_pid_alone(
    started_stack: tuple[StackInfo, ServerPlugin],
    unrelated: subprocess.Popen[bytes],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    info, plugin = started_stack
    # a third process the stack had started, gone since, its pid now the unrelated one's
    info.pids.append(unrelated.pid)
    info.processes.append(_impostor(unrelated.pid).to_json())
    state = tmp_path / "stack.json"
    info.save(state)

    assert main(["stack", "down", "--state", str(state)]) == 0

    captured = capsys.readouterr()
    assert "stopped 2 process(es)" in captured.out
    assert f"pid {unrelated.pid} left alone: it is no longer the stack's process" in captured.err
    assert _alive(unrelated)
    for child in plugin.children:
        assert child.process is not None and child.process.wait(5) is not None
    assert not state.exists()


def test_a_stack_file_without_identities_never_kills(
    unrelated: subprocess.Popen[bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "stack.json"
    old = {"run_id": "r", "seed": 1, "target_url": "http://x", "endpoints": [], "scenario": "s"}
    state.write_text(json.dumps({**old, "pids": [unrelated.pid]}))

    assert main(["stack", "down", "--state", str(state)]) == 0

    captured = capsys.readouterr()
    assert "stopped 0 process(es)" in captured.out
    assert (
        f"pid {unrelated.pid} left alone: the file does not record which process it was"
    ) in captured.err
    assert _alive(unrelated)


@pytest.mark.parametrize(
    "content",
    [
        '{"run_id": "r", "seed": 1, "target_url": "", "endpoints": [], "pids": ["1"]}',
        '{"run_id": "r", "seed": 1, "target_url": "", "endpoints": [], "processes": [{"pid": 1}]}',
        '{"run_id": "r", "seed": 1, "target_url": "", "endpoints": [], "processes": 7}',
        "[" * 100_000,
    ],
)
def test_a_malformed_stack_file_is_exit_2(
    content: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "stack.json"
    state.write_text(content)
    assert main(["stack", "down", "--state", str(state)]) == 2
    assert "not a stack file written by `harness stack up`" in capsys.readouterr().err
