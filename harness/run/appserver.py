"""Serving a target ASGI app factory on uvicorn: as ``harness app serve`` (a child process,
announcing its address when ready) or in a background thread of this process (:class:`AppServer`,
for in-process runs). Both bind the socket first, so port 0 works and a taken port is a clear
error.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from harness.errors import InfrastructureError, InputError
from harness.plugin.net import loopback_problem


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A TCP socket bound to ``host:port``; a taken port is an :class:`InfrastructureError`, a
    host off this machine an :class:`InputError` (the one loopback rule,
    :mod:`harness.plugin.net`)."""
    problem = loopback_problem("the host to bind", host)
    if problem is not None:
        raise InputError(problem)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InfrastructureError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            "choose another --port (0 picks a free one) or stop what holds it",
        ) from exc
    return sock


def load_app(spec: str) -> Any:
    """The ASGI app ``spec`` (``"package.module:attribute"``) names: the attribute itself when
    it is an app (``app = FastAPI()``), or what it returns when it is a factory (a callable
    that takes no arguments, ``def create_app() -> FastAPI``). Failures are an
    :class:`InputError` naming the import string."""
    from uvicorn.importer import ImportFromStringError, import_from_string

    try:
        target = import_from_string(spec)
    except ImportFromStringError as exc:
        raise InputError(f"target.app {spec!r}: {exc}") from None
    except Exception as exc:  # the user's module raised while importing
        raise InfrastructureError(
            f"target.app {spec!r} could not be imported: {type(exc).__name__}: {exc}",
            f"run `python -c 'import {spec.split(':', maxsplit=1)[0]}'` to see the error",
        ) from exc
    if not callable(target):
        raise InputError(f"target.app {spec!r} is neither an ASGI app nor a factory of one")
    try:
        required = [
            p
            for p in inspect.signature(target).parameters.values()
            if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):  # no signature to read: take it as an app
        return target
    if required:
        return target  # an ASGI app: (scope, receive, send)
    try:
        return target()
    except Exception as exc:
        raise InfrastructureError(
            f"the factory target.app {spec!r} raised {type(exc).__name__}: {exc}",
            "run the factory by hand to see the error",
        ) from exc


def serve_app(spec: str, *, host: str = "127.0.0.1", port: int = 0) -> None:
    """Serve the app ``spec`` names (see :func:`load_app`) until SIGTERM, printing ``app
    listening on http://HOST:PORT`` once up."""
    import uvicorn

    sock = bind(host, port)
    bound = sock.getsockname()[1]
    config = uvicorn.Config(
        load_app(spec),
        log_level="warning",
        lifespan="on",
        backlog=2048,
        timeout_keep_alive=30,
    )

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                print(f"app listening on http://{host}:{bound}", flush=True)

    try:
        AnnouncingServer(config).run(sockets=[sock])
    finally:
        sock.close()


@contextlib.contextmanager
def _patched_env(env: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class AppServer:
    """An ASGI app (see :func:`load_app`) served by uvicorn on 127.0.0.1 in a background
    thread. It is imported (and a factory called) with ``env`` set: that is how the harness
    points it at the scenario's endpoints."""

    def __init__(self, spec: str, env: dict[str, str]) -> None:
        self.spec = spec
        self.env = env
        self.url = ""
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    def start(self, timeout: float = 5.0) -> str:
        import uvicorn

        with _patched_env(self.env):
            config = uvicorn.Config(load_app(self.spec), log_level="warning", lifespan="on")
            config.load()
        self._server = uvicorn.Server(config)
        self._sock = bind()
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name="harness-app",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self._server.started:
            self.stop()
            raise InfrastructureError(
                f"the target app {self.spec!r} did not start",
                "run it by hand (harness app serve ...) to see its error",
            )
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
