"""Run the fake vendor: in a background thread (:class:`FakeVendor`) or blocking (:func:`serve`)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import Callable, Generator, Sequence
from types import FrameType
from typing import Any, Never, Self, cast

import uvicorn

from harness.plugin import Closing, InfrastructureError
from harness.plugin.wire.text import Reply
from harness_fake_vendor._app import VendorApp
from harness_fake_vendor._config import DEFAULT_MAX_BODY_BYTES, VendorConfig, vendor_config
from harness_fake_vendor._conn import protocol_class
from harness_fake_vendor._control import VendorControl

_BACKLOG = 2048


class _Server(uvicorn.Server):
    """uvicorn's server with a prompt exit and no signal games unless asked.

    - ``main_loop`` sleeps on an event instead of polling every 0.1 s, so :meth:`request_exit`
      (thread-safe) stops it at once;
    - ``capture_signals`` installs SIGINT/SIGTERM handlers only when ``handle_signals`` is set
      and, unlike uvicorn, does not re-raise the signal after a graceful shutdown (so a CLI
      exits 0 after Ctrl-C or ``kill``).
    """

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        handle_signals: bool = False,
        on_ready: Callable[[], None] | None = None,
        on_shutdown: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(config)
        self.handle_signals = handle_signals
        self.on_ready = on_ready
        self.on_shutdown = on_shutdown
        self.ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        await super().startup(sockets=sockets)
        if self.started:
            if self.on_ready is not None:
                self.on_ready()
            self.ready.set()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.on_shutdown is not None:
            self.on_shutdown()
        await super().shutdown(sockets=sockets)

    async def main_loop(self) -> None:
        wake = self._wake
        while not await self.on_tick(0):  # counter 0: refreshes the Date header every call
            if wake is None:
                await asyncio.sleep(0.1)
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await wake.wait()

    def request_exit(self, *, force: bool = False) -> None:
        """Ask the server to stop (callable from any thread)."""
        self.should_exit = True
        if force:
            self.force_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop closed in between
                loop.call_soon_threadsafe(wake.set)

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self.request_exit(force=self.should_exit and sig == signal.SIGINT)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(_BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise InfrastructureError(
            f"fake vendor could not listen on {host}:{port}: {exc.strerror or exc}",
            fix="use port 0 for a free port, or stop whatever holds this one",
        ) from exc
    return sock


def _uvicorn_config(app: VendorApp, config: VendorConfig) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        http=protocol_class(app.ledger.connection),
        ws="none",
        lifespan="off",
        interface="asgi3",
        log_config=None,
        log_level=None,
        proxy_headers=False,
        server_header=False,
        backlog=_BACKLOG,
        # uvicorn hands this to asyncio.wait_for, which takes fractions of a second too
        timeout_graceful_shutdown=cast("int", config.graceful_timeout),
    )


class FakeVendor(Closing):
    """A fake OpenAI/Anthropic server on loopback, run by uvicorn in a background thread.

    ::

        with FakeVendor(seed=7) as vendor:
            vendor.control.add_fault({"kind": "http_status", "status": 429, "first": 1})
            client = openai.OpenAI(base_url=vendor.openai_base_url, api_key="sk-test")

    ``port=0`` picks a free port; :attr:`url` is known as soon as :meth:`start` returns.
    Options are those of :class:`~harness_fake_vendor._config.VendorConfig`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
        *,
        models: Sequence[str] | None = None,
        rate_limit_requests: int = 10_000,
        rate_limit_tokens: int | None = None,
        rate_limit_window: float = 60.0,
        enforce_rate_limit: bool = False,
        require_api_key: bool = True,
        stream_chunk_delay: float = 0.0,
        graceful_timeout: float = 1.0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        reply: Reply | None = None,
        startup_timeout: float = 10.0,
        **unknown: Never,
    ) -> None:
        # Every option goes through vendor_config(), so a misspelled or mistyped one is the
        # same InputError (exit 2) here, in serve() and on the command line.
        self.config = vendor_config(
            host,
            port,
            seed,
            {
                "models": models,
                "rate_limit_requests": rate_limit_requests,
                "rate_limit_tokens": rate_limit_tokens,
                "rate_limit_window": rate_limit_window,
                "enforce_rate_limit": enforce_rate_limit,
                "require_api_key": require_api_key,
                "stream_chunk_delay": stream_chunk_delay,
                "graceful_timeout": graceful_timeout,
                "max_body_bytes": max_body_bytes,
                "reply": reply,
                **unknown,
            },
        )
        self.startup_timeout = startup_timeout
        self.app = VendorApp(self.config)
        self._sock: socket.socket | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._port: int | None = None
        self._control: VendorControl | None = None

    # --- addresses ---------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def port(self) -> int:
        if self._port is None:
            raise InfrastructureError("the fake vendor is not started", fix="call start() first")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """What ``openai.OpenAI(base_url=...)`` wants: ``{url}/v1``."""
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """What ``anthropic.Anthropic(base_url=...)`` wants: the bare URL (it adds ``/v1/...``)."""
        return self.url

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def control(self) -> VendorControl:
        """A control client for this server (closed by :meth:`stop`)."""
        if self._control is None:
            self._control = VendorControl(self.url)
        return self._control

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind, start uvicorn in a thread and return once it accepts connections."""
        if self._thread is not None:
            raise InfrastructureError("the fake vendor is already started")
        self._sock = _bind(self.config.host, self._port or self.config.port)
        self._port = self._sock.getsockname()[1]
        self.app.begin_serving()
        self._server = _Server(
            _uvicorn_config(self.app, self.config), on_shutdown=self.app.begin_shutdown
        )
        self._error = None
        self._thread = threading.Thread(
            target=self._run, name=f"fake-vendor-{self._port}", daemon=True
        )
        self._thread.start()
        server = self._server
        deadline_ok = server.ready.wait(self.startup_timeout)
        if not deadline_ok or not server.started:
            error = self._error
            self.stop()
            raise InfrastructureError(
                f"fake vendor did not start on {self.config.host}:{self._port}"
                + (f": {error!r}" if error else f" within {self.startup_timeout:g}s"),
                fix="check that nothing else uses the port and that uvicorn is installed",
            )
        return self

    def _run(self) -> None:
        server, sock = self._server, self._sock
        if server is None or sock is None:  # pragma: no cover - start() sets both
            return
        try:
            with asyncio.Runner() as runner:
                runner.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # reported by start(), never lost
            self._error = exc
        finally:
            server.ready.set()

    def stop(self) -> None:
        """Stop the server, wait for its thread and free the port (idempotent)."""
        if self._control is not None:
            self._control.close()
            self._control = None
        server, thread = self._server, self._thread
        if server is not None and thread is not None:
            server.request_exit()
            thread.join(self.config.graceful_timeout + 5.0)
            if thread.is_alive():
                server.request_exit(force=True)
                thread.join(5.0)
        if self._sock is not None:
            self._sock.close()
        self.app.close()
        self._sock = None
        self._server = None
        self._thread = None
        if thread is not None and thread.is_alive():
            raise InfrastructureError(
                f"fake vendor on port {self._port} did not stop",
                fix="a request handler is stuck; report this as a bug",
            )

    def __enter__(self) -> Self:
        return self.start()

    def close(self) -> None:
        """The same as :meth:`stop` (what leaving a ``with`` block does)."""
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._port is not None else "not started"
        return f"FakeVendor({where})"


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int | None = None,
    *,
    ready_message: bool = True,
    **options: Any,
) -> None:
    """Run a fake vendor in the foreground until SIGINT or SIGTERM, then stop cleanly.

    Prints ``fake vendor listening on http://HOST:PORT`` (flushed) once it accepts
    connections. ``options`` are :class:`FakeVendor`'s keyword options; an unknown or mistyped
    one, or a host that is not loopback, raises :class:`~harness.plugin.InputError` (the CLI
    prints it and exits 2). Returns normally after a signal (the caller exits 0).
    """
    options.pop("startup_timeout", None)
    config = vendor_config(host, port, seed, options)
    sock = _bind(config.host, config.port)
    bound_port = sock.getsockname()[1]
    shown = f"[{config.host}]" if ":" in config.host else config.host

    def announce() -> None:
        if ready_message:
            print(f"fake vendor listening on http://{shown}:{bound_port}", flush=True)

    app = VendorApp(config)
    server = _Server(
        _uvicorn_config(app, config),
        handle_signals=True,
        on_ready=announce,
        on_shutdown=app.begin_shutdown,
    )
    try:
        with asyncio.Runner() as runner:
            runner.run(server.serve(sockets=[sock]))
    finally:
        sock.close()
        app.close()
