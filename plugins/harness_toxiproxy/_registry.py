"""The proxies of a server, by name (Go's ``proxy_collection.go``).

Populate validates every entry's name and upstream first; an existing proxy whose resolved
listen address and upstream are unchanged is kept as is (toxics and enabled state included,
even if the entry says ``enabled: false``); otherwise it is stopped and replaced. If the
replacement cannot bind, the stopped original stays registered, as in Go.
"""

from __future__ import annotations

import asyncio

from . import _schema
from ._apierrors import (
    BAD_REQUEST_BODY,
    MISSING_FIELD,
    PROXY_ALREADY_EXISTS,
    PROXY_NOT_FOUND,
    ApiError,
    as_api_error,
)
from ._gojson import unmarshal_list
from ._hosts import HostCache
from ._proxy import Proxy
from ._toxic_collection import decode_body

__all__ = ["ProxyCollection"]


class ProxyCollection:
    """Every proxy of the server, by name."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.proxies: dict[str, Proxy] = {}
        self.hosts = HostCache(loop)

    def get(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise PROXY_NOT_FOUND
        return proxy

    def new_proxy(self, name: str, listen: str, upstream: str) -> Proxy:
        return Proxy(self.loop, name, listen, upstream, self.hosts)

    async def add(self, proxy: Proxy, start: bool) -> None:
        if proxy.name in self.proxies:
            raise PROXY_ALREADY_EXISTS
        if start:
            await proxy.start()
        self.proxies[proxy.name] = proxy

    async def add_or_replace(self, proxy: Proxy, start: bool) -> Proxy:
        existing = self.proxies.get(proxy.name)
        if existing is not None:
            if not existing.differs(proxy.listen, proxy.upstream):
                return existing
            existing.stop()
        if start:
            await proxy.start()
        self.proxies[proxy.name] = proxy
        return proxy

    async def populate_json(self, body: bytes) -> tuple[list[Proxy], ApiError | None]:
        """Create or replace proxies from a JSON array; returns those done and the error."""
        try:
            value = decode_body(body)
        except ApiError as exc:
            return [], exc
        entries, error = unmarshal_list(
            value,
            _schema.POPULATE_ELEMENT,
            _schema.POPULATE_LIST_TYPE,
            lambda: {"name": "", "listen": "", "upstream": "", "enabled": None},
        )
        if error is not None:
            return [], BAD_REQUEST_BODY.join(error)
        for index, entry in enumerate(entries, start=1):
            if not entry["name"]:
                return [], MISSING_FIELD.join(f"name at proxy {index}")
            if not entry["upstream"]:
                return [], MISSING_FIELD.join(f"upstream at proxy {index}")
        done: list[Proxy] = []
        for entry in entries:
            enabled = True if entry["enabled"] is None else bool(entry["enabled"])
            try:
                proxy = self.new_proxy(entry["name"], entry["listen"], entry["upstream"])
                done.append(await self.add_or_replace(proxy, enabled))
            except Exception as exc:  # Go turns any error into the answer
                return done, as_api_error(exc)
        return done, None

    def remove(self, name: str) -> None:
        proxy = self.get(name)
        proxy.stop()
        del self.proxies[name]

    async def close(self) -> None:
        proxies = list(self.proxies.values())
        for proxy in proxies:
            proxy.stop()
        for proxy in proxies:
            await proxy.wait_closed()
        self.hosts.close()
