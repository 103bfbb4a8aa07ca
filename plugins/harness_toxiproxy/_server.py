"""Running the server: on the current asyncio loop, in a background thread, or as a CLI.

* :class:`ToxiproxyServer` lives on a running event loop (``async with``).
* :class:`EmbeddedToxiproxy` runs one on its own loop in a daemon thread, for sync code and
  for the ``requests``-based ``toxiproxy-python`` client.
* :func:`serve` blocks (for ``python -m harness toxiproxy serve``) until SIGINT/SIGTERM.

Stopping closes the API listener, every proxy listener and every connection (proxied and
admin), and waits for their sockets to be released, so nothing leaks a ``ResourceWarning``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from pathlib import Path
from types import TracebackType
from typing import Self

from harness.plugin import Closing, InfrastructureError, InputError, loopback_problem

from ._api import ToxiproxyApi
from ._http import HttpServer
from ._loop import new_event_loop
from ._registry import ProxyCollection

__all__ = ["EmbeddedToxiproxy", "ToxiproxyServer", "serve"]

log = logging.getLogger("harness_toxiproxy")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8474
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


_CONFIG_SHAPE = (
    'a JSON array of proxies such as [{"name": "redis", "listen": "127.0.0.1:26379", '
    '"upstream": "127.0.0.1:6379"}]'
)


def check_address(host: str, port: int) -> None:
    """Refuse a non-loopback host or a port outside 0-65535 (:class:`InputError`)."""
    problem = loopback_problem("embedded Toxiproxy host (--host)", host)
    if problem is not None:
        raise InputError(problem)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InputError(
            f"embedded Toxiproxy port (--port) must be between 0 and 65535 (0: a free port), "
            f"got {port!r}"
        )


class ToxiproxyServer:
    """A Toxiproxy-compatible server on the running asyncio loop.

    ``host`` must be loopback and ``port`` within 0-65535 (else :class:`InputError`); a
    ``config_path`` that cannot be read or is not a valid proxy list makes :meth:`start`
    raise :class:`InputError` (real Toxiproxy only logs it: here a fault that silently did
    not apply would report a false "resilient").
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        config_path: str | Path | None = None,
    ) -> None:
        check_address(host, port)
        self._requested = (host, port)
        self.config_path = Path(config_path) if config_path is not None else None
        self.host = host
        self.port = port
        self._collection: ProxyCollection | None = None
        self._http: HttpServer | None = None

    @property
    def url(self) -> str:
        return _url(self.host, self.port)

    @property
    def collection(self) -> ProxyCollection:
        """The live proxies (for in-process inspection; use the HTTP API to change them)."""
        if self._collection is None:
            raise RuntimeError("the server is not started")
        return self._collection

    async def start(self) -> None:
        """Load ``config_path`` (like ``-config``), then listen.

        Raises :class:`InputError` for a bad config file, :class:`InfrastructureError` if the
        API port cannot be bound.
        """
        loop = asyncio.get_running_loop()
        self._collection = ProxyCollection(loop)
        api = ToxiproxyApi(self._collection)
        if self.config_path is not None:
            try:
                await self._populate_from_config(self.config_path)
            except BaseException:
                await self._collection.close()
                raise
        self._http = HttpServer(api.handle)
        host, port = self._requested
        try:
            self.host, self.port = await self._http.start(host, port)
        except OSError as exc:
            await self._collection.close()
            raise InfrastructureError(
                f"the embedded Toxiproxy could not listen on {_url(host, port)}: {exc}",
                fix="use another port (port=0 picks a free one), stop whatever holds it, "
                "or point TOXIPROXY_URL at a running Toxiproxy instead",
            ) from exc

    async def _populate_from_config(self, path: Path) -> None:
        """Go's ``PopulateConfig``, but a problem is an :class:`InputError`, not a log line."""
        assert self._collection is not None
        where = f"Toxiproxy config file {str(path)!r} (--config)"
        try:
            body = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            raise InputError(
                f"{where} cannot be read: {exc.strerror or exc}; expected {_CONFIG_SHAPE}"
            ) from None
        proxies, error = await self._collection.populate_json(body)
        if error is not None:
            raise InputError(
                f"{where}: {error.message} (after {len(proxies)} of its proxies were created); "
                f"expected {_CONFIG_SHAPE}"
            )
        log.info("populated %d proxies from file %s", len(proxies), path)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._collection is not None:
            await self._collection.close()

    async def __aenter__(self) -> ToxiproxyServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class EmbeddedToxiproxy(Closing):
    """A :class:`ToxiproxyServer` on its own event loop in a background thread.

    ``port=0`` picks a free port; read it from :attr:`port` or :attr:`url` after
    :meth:`start`. Usable as a context manager; :meth:`stop` is idempotent, and a stopped
    server can be started again (with no proxies: state does not survive a stop).
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = 0,
        config_path: str | Path | None = None,
    ) -> None:
        self._server = ToxiproxyServer(host, port, config_path)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def host(self) -> str:
        return self._server.host

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("EmbeddedToxiproxy.start() called twice")
        self._ready = threading.Event()
        self._error = None
        self._thread = threading.Thread(
            target=self._run, name=f"toxiproxy-{self._server.port}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT):  # pragma: no cover - a wedged machine
            raise InfrastructureError(
                "the embedded Toxiproxy did not start within 10 s",
                fix="check the machine's load, or point TOXIPROXY_URL at a running Toxiproxy",
            )
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error
        return self

    def _run(self) -> None:
        loop = new_event_loop()
        self._loop = loop
        try:
            try:
                loop.run_until_complete(self._server.start())
            except BaseException as exc:  # handed to the starting thread
                self._error = exc
                return
            finally:
                self._ready.set()
            loop.run_forever()
            loop.run_until_complete(self._server.aclose())
        finally:
            _close_loop(loop)

    def stop(self) -> None:
        """Close every listener and connection and join the thread."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if thread is threading.current_thread():
            raise RuntimeError("EmbeddedToxiproxy.stop() called from its own event loop")
        if thread.is_alive():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
            thread.join(_STOP_TIMEOUT)
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def close(self) -> None:
        """The same as :meth:`stop` (what leaving a ``with`` block does)."""
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<EmbeddedToxiproxy {self.url} {state}>"


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left, let transports release their sockets, then close the loop."""
    try:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(asyncio.sleep(0))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()


def serve(
    host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, config_path: str | Path | None = None
) -> None:
    """Run the server until SIGINT or SIGTERM (blocking; for the CLI).

    Prints ``toxiproxy listening on http://HOST:PORT`` (flushed) once it accepts requests.
    Raises :class:`~harness.plugin.InputError` for a host that is not loopback, a port outside
    0-65535 or a bad config file (the CLI prints it and exits 2), and
    :class:`~harness.plugin.InfrastructureError` if it cannot listen (exit 3).
    """
    check_address(host, port)
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(_serve(host, port, config_path))


async def _serve(host: str, port: int, config_path: str | Path | None) -> None:
    server = ToxiproxyServer(host, port, config_path)
    await server.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
        except (ValueError, RuntimeError, NotImplementedError):  # not the main thread
            pass
    print(f"toxiproxy listening on {server.url}", flush=True)
    try:
        await stop.wait()
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
        await server.aclose()
