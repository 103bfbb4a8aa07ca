"""Child processes the harness starts (fake vendors, Toxiproxy, the target app) and stops.

Each child prints one ``... listening on http://HOST:PORT`` line when it is ready; the harness
waits for it (with a timeout), keeps draining the child's output (the last lines go into error
messages), and stops it with SIGTERM, then SIGKILL. Children started from the main thread are
also told by the kernel to die with the harness (``PR_SET_PDEATHSIG``), so even a ``kill -9`` of
the harness leaves no orphan behind.
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
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import InfrastructureError

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
        self._tail: collections.deque[str] = collections.deque(maxlen=40)
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> str:
        main_thread = threading.current_thread() is threading.main_thread()
        log = None
        if self.log_path is not None:  # a detached child outlives us: its output goes to a file
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            log = self.log_path.open("w")
        try:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
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
        target = self._follow_log if self.log_path is not None else self._drain
        self._reader = threading.Thread(target=target, name=f"{self.name}-output", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self.timeout
        while not self._ready.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                code = self.process.poll()
                self.stop()
                why = (
                    f"exited with code {code}"
                    if code is not None
                    else f"not ready in {self.timeout:g}s"
                )
                raise InfrastructureError(
                    f"{self.name} {why}; its last output:\n    " + "\n    ".join(self._tail),
                    "free the port it needs, or run the command by hand to see the problem",
                )
        return self.url

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
        """SIGTERM, wait up to ``timeout``, then SIGKILL. Idempotent."""
        process = self.process
        if process is None:
            return
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


def stop_pid(pid: int, timeout: float = 5.0) -> bool:
    """Stop a detached child by pid (``harness stack down``); True if it was running."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    except PermissionError:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return True
