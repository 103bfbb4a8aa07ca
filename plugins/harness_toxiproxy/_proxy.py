"""A proxy: its listener, its open connections and its toxics.

Mirrors Go's ``proxy.go``: ``listen`` becomes the bound address once started (``:0`` turns
into the real port) and keeps it after a stop, so a restart binds the same port; a proxy
created disabled keeps ``listen`` exactly as given. Stopping closes the listener and drops
every open connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ._addr import DEFAULT_LISTEN_HOST, LISTEN_BACKLOG, ResolvedAddr, bind_listener
from ._addr import resolve_tcp_addr as _resolve
from ._connection import Connection
from ._toxic_collection import ToxicCollection

__all__ = ["Proxy"]


class Proxy:
    """One named proxy (``listen`` -> ``upstream``)."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, name: str, listen: str, upstream: str
    ) -> None:
        self.loop = loop
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.connections: set[Connection] = set()
        self.toxics: ToxicCollection = ToxicCollection(self)
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
