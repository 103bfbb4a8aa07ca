"""A proxied TCP connection: the client socket, the upstream socket and the two links.

Both sockets start with reading paused; the upstream is dialled after accepting (Go dials
synchronously in its accept loop; here dials run concurrently), and only once both links
are wired is reading resumed. A failed dial closes the client socket, as Toxiproxy does.
An upstream host name is resolved through the server's :class:`~._hosts.HostCache` and its
addresses are tried in order, never through a thread per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._addr import parse_port, split_host_port
from ._link import Link, set_linger_zero
from ._toxics import DOWNSTREAM, UPSTREAM

if TYPE_CHECKING:
    from ._proxy import Proxy

__all__ = ["Connection", "Endpoint"]

log = logging.getLogger("harness_toxiproxy")


def _drop(data: bytes) -> None:
    return None


class Endpoint(asyncio.BaseProtocol):
    """The asyncio protocol of one socket of a connection.

    ``data_received`` is an attribute, not a method: the link that reads from this socket
    points it at the destination transport's ``write`` (no toxics), at its own feed (toxics),
    or at a function that drops data (closing).
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.transport: asyncio.Transport | None = None
        self.reader: Link | None = None
        self.writer: Link | None = None
        self.lost = False
        self.data_received: Callable[[bytes], None] = _drop

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.pause_reading()
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Go sets TCP_NODELAY on every connection; asyncio only does for sockets created
            # with proto IPPROTO_TCP, which accepted ones are not.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def eof_received(self) -> bool:
        if self.reader is not None:
            self.reader.source_eof()
        # Keep the socket open for writing: the opposite link closes it once flushed.
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.conn.endpoint_lost(self)

    def pause_writing(self) -> None:
        if self.writer is not None:
            self.writer.set_dest_paused(True)

    def resume_writing(self) -> None:
        if self.writer is not None:
            self.writer.set_dest_paused(False)


class _ClientEndpoint(Endpoint):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.conn.start()


class Connection:
    """One accepted client and its upstream."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.loop = proxy.loop
        self.client: Endpoint = _ClientEndpoint(self)
        self.upstream: Endpoint | None = None
        self.links: list[Link] = []
        self.reset_armed = False
        self.aborted = False
        self.finished = False
        self._dial: asyncio.Task[None] | None = None
        self.done: asyncio.Future[None] = self.loop.create_future()

    def start(self) -> None:
        self.proxy.connections.add(self)
        self.proxy.ledger.connection()
        self._dial = self.loop.create_task(self._connect(), name="toxiproxy dial")

    async def _connect(self) -> None:
        upstream = Endpoint(self)
        try:
            host, service = split_host_port(self.proxy.upstream)
            port = parse_port(service)
            await self._open_upstream(upstream, host or "127.0.0.1", port)
        except OSError as exc:
            log.info("proxy %s: unable to open connection to upstream: %s", self.proxy.name, exc)
            if self.client.transport is not None:
                self.client.transport.close()
            return
        if self.aborted or self.client.lost:
            assert upstream.transport is not None
            upstream.transport.abort()
            self.upstream = upstream
            self._maybe_finish()
            return
        self.upstream = upstream
        toxics = self.proxy.toxics
        self.links = [
            Link(self, UPSTREAM, self.client, upstream, toxics.chain(UPSTREAM)),
            Link(self, DOWNSTREAM, upstream, self.client, toxics.chain(DOWNSTREAM)),
        ]
        for endpoint in (self.client, upstream):
            assert endpoint.transport is not None
            endpoint.transport.resume_reading()

    async def _open_upstream(self, upstream: Endpoint, host: str, port: int) -> None:
        """Connect to each address of ``host`` in turn; the last failure if none answers."""
        error: OSError | None = None
        for address in await self.proxy.hosts.addresses(host):
            try:
                await self.loop.create_connection(lambda: upstream, address, port)
            except OSError as exc:
                error = exc
                continue
            return
        raise error or OSError(f"lookup {host}: no such host")

    def link(self, direction: int) -> Link | None:
        return self.links[direction] if self.links else None

    def arm_reset(self) -> None:
        """reset_peer fired: closes from now on send RST (SO_LINGER 0) on both sockets."""
        self.reset_armed = True
        set_linger_zero(self.client.transport)
        if self.upstream is not None:
            set_linger_zero(self.upstream.transport)

    def endpoint_lost(self, endpoint: Endpoint) -> None:
        if endpoint.reader is not None:
            endpoint.reader.source_eof()
        if endpoint.writer is not None:
            endpoint.writer.dest_lost()
        if endpoint is self.client and self.upstream is None and self._dial is not None:
            self._dial.cancel()
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        if self.finished or not self.client.lost:
            return
        if self.upstream is None and self._dial is not None and not self._dial.done():
            return
        if self.upstream is not None and not self.upstream.lost:
            return
        self.finished = True
        for link in self.links:
            link.cancel()
        self.proxy.connections.discard(self)
        if not self.done.done():
            self.done.set_result(None)

    def abort(self) -> None:
        """Drop the connection now (proxy disabled or deleted): Go closes both sockets."""
        if self.aborted:
            return
        self.aborted = True
        if self._dial is not None and not self._dial.done():
            self._dial.cancel()
            self._dial.add_done_callback(lambda _: self._maybe_finish())
        for link in self.links:
            link.cancel()
        for endpoint in (self.client, self.upstream):
            if endpoint is not None and endpoint.transport is not None and not endpoint.lost:
                endpoint.transport.abort()
        self._maybe_finish()
