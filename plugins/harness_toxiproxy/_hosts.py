"""Upstream host names resolved once per few seconds, not on every proxied connection.

Given a host name, ``loop.create_connection`` runs ``getaddrinfo`` in the default thread pool
for *each* connection: a thread hand-off that added about 0.5 ms to every new connection to
an upstream such as ``localhost:6379`` (Toxiproxy's own client tests use exactly that), and
several ms at p99 on a busy machine. Go's resolver reads ``/etc/hosts`` in-process and keeps
it for 5 seconds; :class:`HostCache` keeps each successful lookup for as long, shared by the
proxies of a server, and a proxy warms it when it starts, so its first connection does not
wait either. IP literals are never looked up; failed lookups are not kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket

__all__ = ["HostCache"]

TTL = 5.0
"""Seconds a lookup is reused (Go's ``/etc/hosts`` cache)."""


class HostCache:
    """Host name -> its addresses, in ``getaddrinfo`` order, on one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._entries: dict[str, tuple[float, asyncio.Task[list[str]]]] = {}

    def _task(self, host: str) -> asyncio.Task[list[str]]:
        now = self._loop.time()
        entry = self._entries.get(host)
        if entry is not None:
            expires, task = entry
            if expires > now and not (task.done() and task.exception() is not None):
                return task
        task = self._loop.create_task(self._lookup(host), name=f"toxiproxy lookup {host}")
        self._entries[host] = (now + TTL, task)
        task.add_done_callback(lambda done: self._forget_failure(host, done))
        return task

    def _forget_failure(self, host: str, task: asyncio.Task[list[str]]) -> None:
        if task.cancelled() or task.exception() is not None:
            entry = self._entries.get(host)
            if entry is not None and entry[1] is task:
                del self._entries[host]

    async def _lookup(self, host: str) -> list[str]:
        infos = await self._loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        addresses: list[str] = []
        for info in infos:
            address = str(info[4][0])
            if address not in addresses:
                addresses.append(address)
        return addresses

    async def addresses(self, host: str) -> list[str]:
        """The addresses to dial for ``host`` (``OSError`` if it does not resolve)."""
        literal = host.split("%", 1)[0]
        with contextlib.suppress(ValueError):
            ipaddress.ip_address(literal)
            return [host]
        return await asyncio.shield(self._task(host))

    def warm(self, host: str) -> None:
        """Start looking ``host`` up now (its result, or its failure, is for the first dial)."""
        with contextlib.suppress(ValueError):
            ipaddress.ip_address(host.split("%", 1)[0])
            return
        task = self._task(host)
        # a failure is reported by the dial that needs it, not as "never retrieved"
        task.add_done_callback(_consume)

    def close(self) -> None:
        for _, task in self._entries.values():
            task.cancel()
        self._entries.clear()


def _consume(task: asyncio.Task[list[str]]) -> None:
    if not task.cancelled():
        task.exception()
