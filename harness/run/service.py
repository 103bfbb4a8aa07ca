"""The user's own service as a target: a process the harness starts, waits for, and stops.

``target: {command: "uvicorn mysvc:app --port {port}", ready: /healthz, env: {...}}``: the
harness picks a free loopback port, fills the placeholders (:mod:`harness.scenario.wiring`),
starts the command in its own process group with the run's environment, keeps its output in
``reports/<run>.target.log``, and waits until ``ready`` answers (2xx; without ``ready``, any
HTTP answer to ``/``). A service that exits or never answers is an
:class:`~harness.errors.InfrastructureError` (exit 3) carrying the last lines of its output.
:meth:`ServiceProcess.stop` ends the whole process group (SIGTERM, then SIGKILL), and the
kernel ends the service if the harness itself dies (``PR_SET_PDEATHSIG``).

:func:`wait_until_ready` is also how a ``url`` target (a service started by hand) is checked
before any load is sent to it.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from harness.errors import InfrastructureError
from harness.plugin.process import die_with_parent
from harness.run.signals import deferred_signals

DEFAULT_COMMAND_READY_TIMEOUT = 30.0
DEFAULT_URL_READY_TIMEOUT = 5.0


def probe(url: str, ready: str | None, *, timeout: float = 1.0) -> str | None:
    """None when the service at ``url`` is ready, else why not (one line)."""
    path = ready or "/"
    try:
        response = httpx.get(url.rstrip("/") + path, timeout=timeout)
    except httpx.HTTPError as exc:
        return f"GET {path}: {type(exc).__name__}: {exc}"
    if ready is None or 200 <= response.status_code < 300:
        return None
    return f"GET {path} answered {response.status_code}"


class _Exited(Exception):
    """The service process ended while the harness waited for it."""


def wait_until_ready(
    url: str,
    ready: str | None,
    timeout: float,
    *,
    alive: ServiceProcess | None = None,
    what: str = "the target",
) -> None:
    """Poll until the service answers (see :func:`probe`); raise :class:`InfrastructureError`
    when ``timeout`` passes or ``alive`` exits first (tenacity drives the polling)."""
    deadline = time.monotonic() + timeout

    def attempt() -> str | None:
        if alive is not None and alive.exit_code() is not None:
            raise _Exited
        return probe(url, ready, timeout=min(1.0, max(0.05, deadline - time.monotonic())))

    polling = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(0.05),
        retry=retry_if_result(lambda why: why is not None),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
    )
    try:
        why = polling(attempt)
    except _Exited:
        raise InfrastructureError(
            f"{what} exited with code {alive.exit_code() if alive else '?'} before it was "
            "ready; its last output:\n    "
            + "\n    ".join((alive.tail() if alive else []) or ["(none)"]),
            f"run the command by hand in its cwd to see the error (full log: "
            f"{alive.log if alive else '?'})",
        ) from None
    if why is None:
        return
    tail = alive.tail() if alive is not None else []
    output = ("; its last output:\n    " + "\n    ".join(tail)) if tail else ""
    raise InfrastructureError(
        f"{what} at {url} did not answer within {timeout:g}s ({why}){output}",
        "start it (or check it is listening on that address), or give it longer "
        "with target.ready_timeout; target.ready names the path that must answer",
    )


class ServiceProcess:
    """A command started in its own process group, its output in ``log``."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path | None,
        log: Path,
        detached: bool = False,
    ) -> None:
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd
        self.log = log
        self.detached = detached
        self.process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        main_thread = threading.current_thread() is threading.main_thread()
        # Ctrl-C held through Popen, so that the child is known (and stopped) when it arrives
        with self.log.open("wb") as out, deferred_signals():
            try:
                self.process = subprocess.Popen(  # noqa: S603 - the user's own command
                    self.argv,
                    cwd=self.cwd,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: stopped as a whole
                    preexec_fn=die_with_parent if main_thread and not self.detached else None,  # noqa: PLW1509
                )
            except OSError as exc:
                raise InfrastructureError(
                    f"could not start the target command {' '.join(self.argv)!r}"
                    f"{f' in {self.cwd}' if self.cwd else ''}: {exc.strerror or exc}",
                    "check target.command (is the program installed in this environment?) "
                    "and target.cwd",
                ) from exc

    def exit_code(self) -> int | None:
        return self.process.poll() if self.process is not None else None

    def tail(self, lines: int = 20) -> list[str]:
        """The last ``lines`` lines of the service's output."""
        try:
            with self.log.open("rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - 16_384))
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            return []
        return list(collections.deque(text.splitlines(), maxlen=lines))

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the process group, wait up to ``timeout``, then SIGKILL it and reap it
        (Ctrl-C held meanwhile: an interrupted stop would leave a zombie). Idempotent."""
        with self._lock, deferred_signals():
            process = self.process
            if process is None:
                return
            if process.poll() is None:
                _signal_group(process.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout)
            # the service's own children too, even when the service itself already left
            _signal_group(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
