"""A proxy: its listener, its open connections and its toxics.

Mirrors Go's ``proxy.go``: ``listen`` becomes the bound address once started (``:0`` turns
into the real port) and keeps it after a stop, so a restart binds the same port; a proxy
created disabled keeps ``listen`` exactly as given. Stopping closes the listener and drops
every open connection.

One rule Toxiproxy does not have: a ``listen`` host that is not loopback (``0.0.0.0``, a LAN
address, a host name other than ``localhost``) is refused when the proxy is created or moved,
enabled or not, with a 400 shaped like Toxiproxy's other errors; an empty host still means
127.0.0.1 (see :mod:`._addr`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from harness.plugin import VendorLedger, loopback_problem

from ._addr import (
    DEFAULT_LISTEN_HOST,
    LISTEN_BACKLOG,
    AddrError,
    ResolvedAddr,
    bind_listener,
    split_host_port,
)
from ._addr import resolve_tcp_addr as _resolve
from ._apierrors import ApiError
from ._connection import Connection
from ._hosts import HostCache
from ._toxic_collection import ToxicCollection

__all__ = ["Proxy", "check_listen"]


def check_listen(listen: str) -> None:
    """Refuse a ``listen`` whose host is not loopback (:class:`ApiError` 400).

    An address that does not even parse is left to the bind, which fails with Go's text.
    """
    try:
        host, _ = split_host_port(listen) if listen else ("", "")
    except AddrError:
        return
    problem = loopback_problem("proxy listen address", host) if host else None
    if problem is not None:
        raise ApiError(f"listen tcp {listen}: {problem}", 400)


class Proxy:
    """One named proxy (``listen`` -> ``upstream``)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        name: str,
        listen: str,
        upstream: str,
        hosts: HostCache | None = None,
    ) -> None:
        check_listen(listen)
        self.loop = loop
        self.hosts = hosts if hosts is not None else HostCache(loop)
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.connections: set[Connection] = set()
        self.toxics: ToxicCollection = ToxicCollection(self)
        self.ledger = VendorLedger()
        """Per phase: connections accepted, bytes each way, toxics that acted (a harness
        extension, served by ``/_harness/phase`` and ``/_harness/ledger``)."""
        self._server: asyncio.Server | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "Logger": {},
            "toxics": [toxic.to_json() for toxic in self.toxics.all()],
        }

    def differs(self, listen: str, upstream: str) -> bool:
        """Go's ``Proxy.Differs``: resolved ``listen`` or raw ``upstream`` changed.

        Raises :class:`~._addr.AddrError` (a 500 for the API) if ``listen`` does not resolve.
        """
        resolved = _resolve(listen)
        effective = str(ResolvedAddr(resolved.host or DEFAULT_LISTEN_HOST, resolved.port))
        return self.listen != effective or self.upstream != upstream

    async def start(self) -> None:
        """Bind and accept; raises :class:`~._addr.AddrError` with Go's text on failure."""
        if self.enabled:
            raise RuntimeError("Proxy already started")
        sock, bound = bind_listener(self.listen)
        try:
            self._server = await self.loop.create_server(
                lambda: Connection(self).client, sock=sock, backlog=LISTEN_BACKLOG
            )
        except BaseException:
            sock.close()
            raise
        self.listen = bound
        self.enabled = True
        self._warm_upstream()

    def _warm_upstream(self) -> None:
        """Look the upstream host up now, so the first connection does not wait for it."""
        try:
            host, _ = split_host_port(self.upstream)
        except AddrError:
            return  # each connection will fail to dial it, as in Go
        if host:
            self.hosts.warm(host)

    def stop(self) -> None:
        """Close the listener and drop every connection (no-op when disabled)."""
        if not self.enabled:
            return
        self.enabled = False
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self.connections):
            conn.abort()

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        """Go's ``Proxy.Update``: restart on a new address, then apply ``enabled``."""
        check_listen(listen)
        if self.differs(listen, upstream):
            self.stop()
            self.listen = listen
            self.upstream = upstream
        if enabled != self.enabled:
            if enabled:
                await self.start()
            else:
                self.stop()

    async def wait_closed(self) -> None:
        """Wait until every dropped connection has released its sockets."""
        pending = [conn.done for conn in list(self.connections)]
        if pending:
            await asyncio.wait(pending, timeout=5.0)
