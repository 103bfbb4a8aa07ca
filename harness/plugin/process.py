"""Child processes the harness starts (fake vendors, Toxiproxy, the target app) and stops.

Each child prints one ``... listening on http://HOST:PORT`` line when it is ready; the harness
waits for it (with a timeout), keeps draining the child's output (the last lines go into error
messages), and stops it with SIGTERM, then SIGKILL. Children started from the main thread are
also told by the kernel to die with the harness (``PR_SET_PDEATHSIG``), so even a ``kill -9`` of
the harness leaves no orphan behind.

A detached child (``harness stack up``) is stopped later by another process that knows only
what the stack file says. A pid alone is not enough for that: once the child is gone, the
kernel hands its pid to the next process. So each child's :class:`ProcessIdentity` (pid, start
time, command line) is recorded when it starts, and :func:`stop_pid` signals nothing that does
not still match it.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from harness.errors import InfrastructureError
from harness.plugin.closing import deferred_signals

if TYPE_CHECKING:
    from harness.plugin.types import RunContext

READY = re.compile(r"listening on (?P<url>https?://\S+)")


def die_with_parent() -> None:
    """``preexec_fn`` of a child that must not outlive this process (Linux; elsewhere a no-op).

    Runs in the child between fork and exec; pass it only from the main thread (the kernel ties
    the signal to the thread that forked)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: rely on stop()
        pass


_PROC = Path("/proc")
_BOOT_ID = _PROC / "sys" / "kernel" / "random" / "boot_id"


@dataclass(frozen=True, slots=True)
class ProcessIdentity:
    """Which process a pid named: its pid, when it started and its command line.

    ``started`` is opaque, only compared: on Linux the boot id and the start time in clock ticks
    since boot (``/proc/<pid>/stat`` field 22, which no clock change moves); elsewhere psutil's
    creation time. A reused pid has another start time, so it never matches.
    """

    pid: int
    started: str
    cmdline: tuple[str, ...]

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity | None:
        """The identity of the live process ``pid``; None when there is none (or only a zombie,
        which nothing can stop any more)."""
        if pid <= 0:
            return None
        if _PROC.joinpath("self", "stat").exists():
            return _proc_identity(pid)
        return _psutil_identity(pid)

    def status(self) -> Literal["running", "gone", "other"]:
        """``running``: still this process; ``gone``: no process has the pid; ``other``: the pid
        now names another process (or one whose identity cannot be read)."""
        now = ProcessIdentity.of(self.pid)
        if now is None:
            return "gone"
        same = now.started == self.started and now.started not in _UNVERIFIABLE
        # an exiting process has released its memory, and with it its command line
        if same and (now.cmdline == self.cmdline or not now.cmdline):
            return "running"
        return "other"

    def describe(self) -> str:
        return f"pid {self.pid} ({' '.join(self.cmdline)[:120] or '?'})"

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "started": self.started, "cmdline": list(self.cmdline)}

    @classmethod
    def from_json(cls, data: object) -> ProcessIdentity:
        """The inverse of :meth:`to_json`; ``ValueError`` saying what was expected."""
        if isinstance(data, dict):
            pid, started, cmdline = data.get("pid"), data.get("started"), data.get("cmdline")
            if (
                type(pid) is int
                and isinstance(started, str)
                and isinstance(cmdline, list)
                and all(isinstance(a, str) for a in cmdline)
            ):
                return cls(pid, started, tuple(cmdline))
        raise ValueError(
            f"expected a process as {{'pid': int, 'started': str, 'cmdline': [str]}}, got {data!r}"
        )


def _proc_identity(pid: int) -> ProcessIdentity | None:
    base = _PROC / str(pid)
    try:
        stat = base.joinpath("stat").read_bytes()
        cmdline = base.joinpath("cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:  # hidden (hidepid) or unreadable: an identity that matches nothing
        return ProcessIdentity(pid, "unreadable", ())
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last
    fields = stat[stat.rfind(b")") + 2 :].split()
    if len(fields) < 20 or fields[0] in (b"Z", b"X"):
        return None  # a zombie: its pid is still taken, but the process is gone
    try:
        boot = _BOOT_ID.read_text().strip()
    except OSError:
        boot = ""
    args = tuple(os.fsdecode(a) for a in cmdline.split(b"\0") if a)
    return ProcessIdentity(pid, f"{boot}:{int(fields[19])}", args)


def _psutil_identity(pid: int) -> ProcessIdentity | None:
    try:
        import psutil  # Locust depends on it; only platforms without /proc come here
    except ImportError:
        return ProcessIdentity(pid, "unknown", ())  # cannot be verified: never matches
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        started = repr(process.create_time())
        try:
            args = tuple(process.cmdline())
        except psutil.AccessDenied:
            args = ()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        return ProcessIdentity(pid, "unreadable", ())
    return ProcessIdentity(pid, started, args)


_UNVERIFIABLE = ("unreadable", "unknown")
_STARTED: dict[int, ProcessIdentity] = {}  # the children this process started, by pid


def started_identity(pid: int) -> ProcessIdentity | None:
    """The identity recorded when this process started child ``pid`` (None: not one of ours)."""
    return _STARTED.get(pid)


def harness_command(*args: str) -> list[str]:
    """``python -m harness <args>`` with this interpreter."""
    return [sys.executable, "-m", "harness", *args]


class ChildProcess:
    """One child process with a readiness line. ``start()`` returns the URL it announced."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        detached: bool = False,
        log_path: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = {**os.environ, **(env or {})}
        self.timeout = timeout
        self.detached = detached
        self.log_path = log_path
        self.url = ""
        self.process: subprocess.Popen[str] | None = None
        self.identity: ProcessIdentity | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=40)
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> str:
        try:
            # Ctrl-C held through Popen: one arriving between fork and return would leave a
            # child nobody knows of; delivered after it, it stops the child like any failure
            with deferred_signals():
                self.process = self._spawn()
            target = self._follow_log if self.log_path is not None else self._drain
            self._reader = threading.Thread(target=target, name=f"{self.name}-output", daemon=True)
            self._reader.start()
            self._wait_ready(self.process)
        except BaseException:  # not ready, or Ctrl-C: the child must not outlive it
            self.stop()
            raise
        # Read once the child is ready, not as Popen returns: the kernel lets the parent go on
        # during exec before the new command line is in place. The pid stays the child's until
        # we reap it, so this is the child's identity.
        self.identity = ProcessIdentity.of(self.process.pid)
        if self.identity is not None:
            _STARTED[self.process.pid] = self.identity
        return self.url

    def _spawn(self) -> subprocess.Popen[str]:
        main_thread = threading.current_thread() is threading.main_thread()
        log = None
        if self.log_path is not None:  # a detached child outlives us: its output goes to a file
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            log = self.log_path.open("w")
        try:
            return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                self.argv,
                stdout=log if log is not None else subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                env=self.env,
                start_new_session=self.detached,
                preexec_fn=die_with_parent if main_thread and not self.detached else None,  # noqa: PLW1509
            )
        except OSError as exc:
            raise InfrastructureError(
                f"could not start {self.name} ({' '.join(self.argv)}): {exc}",
                "check that the harness is installed in this Python environment",
            ) from exc
        finally:
            if log is not None:
                log.close()

    def _wait_ready(self, process: subprocess.Popen[str]) -> None:
        deadline = time.monotonic() + self.timeout
        while not self._ready.wait(0.05):
            if process.poll() is not None or time.monotonic() > deadline:
                code = process.poll()
                why = (
                    f"exited with code {code}"
                    if code is not None
                    else f"not ready in {self.timeout:g}s"
                )
                raise InfrastructureError(
                    f"{self.name} {why}; its last output:\n    " + "\n    ".join(self._tail),
                    "free the port it needs, or run the command by hand to see the problem",
                )

    def _drain(self) -> None:
        process = self.process
        if process is None or process.stdout is None:
            return
        for line in process.stdout:
            self._tail.append(line.rstrip())
            if not self._ready.is_set():
                match = READY.search(line)
                if match:
                    self.url = match.group("url")
                    self._ready.set()

    def _follow_log(self) -> None:
        assert self.log_path is not None
        with self.log_path.open() as handle:
            while not self._ready.is_set():
                line = handle.readline()
                if not line:
                    if self.process is None or self.process.poll() is not None:
                        return
                    time.sleep(0.02)
                    continue
                self._tail.append(line.rstrip())
                match = READY.search(line)
                if match:
                    self.url = match.group("url")
                    self._ready.set()

    def output(self) -> list[str]:
        return list(self._tail)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL; reaped, with Ctrl-C held meanwhile
        (an interrupted stop would leave a zombie). Idempotent."""
        process = self.process
        if process is None:
            return
        with deferred_signals():
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout)
        if process.stdout is not None:
            process.stdout.close()
        if self._reader is not None:
            self._reader.join(1.0)
        if self.identity is not None and _STARTED.get(process.pid) == self.identity:
            del _STARTED[process.pid]


def start_server(
    name: str,
    argv: Sequence[str],
    run: RunContext,
    *,
    env: Mapping[str, str] | None = None,
) -> ChildProcess:
    """Start a server child the way ``run`` wants it: detached, its output in a file under
    ``run.log_dir``, when ``run.detached`` (``harness stack up``); else tied to this process."""
    log_path = run.log_dir / f"{_slug(name)}.log" if run.detached and run.log_dir else None
    child = ChildProcess(name, argv, env=env, detached=run.detached, log_path=log_path)
    child.start()
    return child


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")


StopOutcome = Literal["stopped", "gone", "other"]


def stop_pid(expected: ProcessIdentity, timeout: float = 5.0) -> StopOutcome:
    """Stop a detached child (``harness stack down``) and its process group: SIGTERM, wait up to
    ``timeout``, then SIGKILL.

    Only while the pid still names ``expected`` (checked before each signal): ``gone`` when no
    process has the pid any more, ``other`` when another process has it now (left alone),
    ``stopped`` when it was running and has been stopped."""
    state = expected.status()
    if state != "running":
        return state
    pid = expected.pid
    try:
        _signal_group(pid, signal.SIGTERM)
    except ProcessLookupError:
        return "gone"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if expected.status() != "running":
            return "stopped"
        time.sleep(0.05)
    if expected.status() == "running":
        with contextlib.suppress(ProcessLookupError):
            _signal_group(pid, signal.SIGKILL)
    return "stopped"


def _signal_group(pid: int, signum: signal.Signals) -> None:
    """Signal ``pid``'s process group when it leads one (a detached child does), else ``pid``."""
    if os.getpgid(pid) == pid:  # ProcessLookupError when it has just exited
        try:
            os.killpg(pid, signum)
            return
        except PermissionError:  # a member we may not signal: the leader at least
            pass
    os.kill(pid, signum)
