"""Reach below ASGI to the TCP connection, for the faults that have no HTTP answer.

uvicorn does not put the transport in the ASGI scope. :func:`protocol_class` subclasses its
HTTP protocol so that ``data_received`` stores the connection's transport in a context
variable *before* the protocol creates the request task; the task copies the context at
creation, so the application reads its own connection's transport with
:func:`current_transport`. (asyncio runs each connection's read callback in a context of its
own, so two connections never see each other's transport.)

- :func:`reset_connection`: ``SO_LINGER`` 0 then ``abort()``: the kernel sends a TCP RST, the
  client gets "connection reset by peer" and no HTTP answer.
- :func:`close_connection`: flush what was written, then FIN: a chunked body left without its
  last chunk ("incomplete chunked read" on the client).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from harness_fake_vendor._asgi import Receive

_TRANSPORT: ContextVar[asyncio.Transport | None] = ContextVar(
    "harness_fake_vendor_transport", default=None
)

_LINGER_RESET = struct.pack("ii", 1, 0)


def protocol_class(on_connection: Callable[[], None] | None = None) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol (httptools if installed, else h11) that records its transport
    (and calls ``on_connection`` for each new connection).

    It also turns off uvicorn's access log for its connections (without touching the global
    ``uvicorn.access`` logger): the fake vendor logs no request lines, hence no headers or keys.
    """
    base: Any = AutoHTTPProtocol

    class TransportRecordingProtocol(base):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.access_log = False

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            if on_connection is not None:
                on_connection()

        def data_received(self, data: bytes) -> None:
            _TRANSPORT.set(self.transport)
            super().data_received(data)

    return TransportRecordingProtocol


def current_transport() -> asyncio.Transport | None:
    """The transport of the connection the running request came on (None outside uvicorn)."""
    return _TRANSPORT.get()


def reset_connection(transport: asyncio.Transport) -> None:
    """Drop the connection with a TCP RST: no HTTP answer, no orderly close."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    transport.abort()


def close_connection(transport: asyncio.Transport) -> None:
    """Close the connection after the bytes already written (FIN, not RST)."""
    transport.close()


class ClientWatch:
    """Learns when the client of one request goes away, while the request waits.

    One ``receive()`` call, started on first use and shared by every wait of the request:
    once the body is read, uvicorn answers it only with ``http.disconnect`` (when the client
    leaves, or when the answer is complete). :meth:`close` cancels it.
    """

    __slots__ = ("_receive", "_task")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._task: asyncio.Task[None] | None = None

    def future(self) -> asyncio.Future[None]:
        """Done once the client is gone."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._until_disconnect())
        return self._task

    async def _until_disconnect(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass

    def gone(self) -> bool:
        """Whether the client has disconnected (its answer cannot land)."""
        task = self._task
        if task is not None and task.done() and not task.cancelled():
            return True
        transport = _TRANSPORT.get()
        return transport is not None and transport.is_closing()

    async def wait(self, within: float = 5.0) -> None:
        """Wait until the server reports the connection gone, so the app can return quietly.

        Returning from the ASGI app before that makes uvicorn log "returned without completing
        response" and answer 500 on a connection that is already closing.
        """
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await asyncio.shield(self.future())

    def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
