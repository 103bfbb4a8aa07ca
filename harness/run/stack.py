"""Starting what a scenario declares: upstreams (fake vendors, mocks) and proxies in front of them.

Each one's backend (a plugin's :class:`~harness.plugin.FaultBackend`) starts it; the stack
calls them in order, records the endpoints in the run, and closes everything in reverse order
on exit, whatever happened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Self
from urllib.parse import urlsplit, urlunsplit

from harness.errors import HarnessError, InfrastructureError, PluginError
from harness.plugin.closing import Closing
from harness.plugin.types import Endpoint, RunContext
from harness.run.signals import undo_all

if TYPE_CHECKING:
    from harness.plugin.manager import PluginManager
    from harness.scenario.model import Scenario, UpstreamSpec

logger = logging.getLogger("harness.stack")


def _through(url: str | None, address: str | None) -> str | None:
    """``url`` with its host and port replaced by ``address`` (the proxy's listen address)."""
    if not url or not address:
        return None
    parts = urlsplit(url)
    return urlunsplit(("http", address, parts.path, parts.query, parts.fragment))


class Stack(Closing):
    """The upstreams and proxies of one run, started in order and closed in reverse."""

    def __init__(self, scenario: Scenario, pm: PluginManager, run: RunContext) -> None:
        self.scenario = scenario
        self.pm = pm
        self.run = run
        self._started: list[Endpoint] = []

    def start(self) -> dict[str, Endpoint]:
        try:
            for upstream in self.scenario.upstreams:
                self._add(self._start_upstream(upstream))
            for proxy in self.scenario.proxies:
                behind = self.run.endpoints.get(proxy.upstream)
                address = behind.address if behind else proxy.upstream
                if not address:
                    raise InfrastructureError(
                        f"proxy {proxy.name!r}: upstream {proxy.upstream!r} has no TCP address",
                        "point the proxy at an upstream served over the network (not respx)",
                    )
                backend = self.pm.backend(proxy.backend)
                endpoint = self._start(
                    f"proxy {proxy.name!r}",
                    proxy.backend,
                    partial(backend.start_proxy, proxy, address, self.run),
                )
                if behind is not None:
                    endpoint.url = endpoint.url or _through(behind.url, endpoint.address)
                    endpoint.api = endpoint.api or behind.api
                self._add(endpoint)
        except BaseException:
            self.close()
            raise
        return dict(self.run.endpoints)

    def _start_upstream(self, upstream: UpstreamSpec) -> Endpoint:
        backend = self.pm.backend(upstream.backend)
        return self._start(
            f"upstream {upstream.name!r}",
            upstream.backend,
            partial(backend.start_upstream, upstream, self.run),
        )

    def _start(self, what: str, backend: str, start: Callable[[], Endpoint]) -> Endpoint:
        """Start through a backend; whatever goes wrong names the upstream or proxy, and a
        plugin's own bug names the plugin."""
        try:
            endpoint = start()
        except HarnessError:
            raise
        except OSError as exc:
            raise InfrastructureError(
                f"{what} ({backend}) could not start: {exc}",
                "check that 127.0.0.1 has free ports and nothing else holds the port",
            ) from exc
        except Exception as exc:
            owner = self.pm.backend_owner.get(backend, backend)
            raise PluginError(f"{what}: plugin {owner!r} failed to start it: {exc!r}") from exc
        if not isinstance(endpoint, Endpoint):
            owner = self.pm.backend_owner.get(backend, backend)
            raise PluginError(f"{what}: plugin {owner!r} returned {endpoint!r}, not an Endpoint")
        return endpoint

    def _add(self, endpoint: Endpoint) -> None:
        self._started.append(endpoint)
        self.run.endpoints[endpoint.name] = endpoint
        logger.info(
            "started %s %s (%s) at %s",
            endpoint.role,
            endpoint.name,
            endpoint.backend,
            endpoint.url or endpoint.address,
        )

    def close(self) -> None:
        """Close every started endpoint, latest first; raise the first failure at the end."""
        failures = undo_all(self._started, self._close)
        for endpoint, exc in failures:
            logger.error("closing %s failed", endpoint.name, exc_info=exc)
        if failures:
            first = failures[0][1]
            raise InfrastructureError(f"could not stop everything cleanly: {first}") from first

    def _close(self, endpoint: Endpoint) -> None:
        try:
            endpoint.close()
        finally:
            self.run.endpoints.pop(endpoint.name, None)

    def __enter__(self) -> Self:
        self.start()
        return self
