"""The built-in ``url`` backend: a real vendor at a URL the scenario gives (no server to start).

Registered by the plugin manager like any plugin (as pytest registers its default plugins). It
injects nothing itself: faults on a real vendor need a proxy in front of it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from harness.errors import FaultInjectionError
from harness.plugin.hookspecs import hookimpl
from harness.plugin.types import AppliedFault, Endpoint, FaultBackend, RunContext
from harness.scenario.faults import FaultSpec
from harness.scenario.model import UpstreamSpec


class UrlBackend(FaultBackend):
    name = "url"
    kinds = frozenset()
    where = "upstream"
    description = "a real vendor at a URL (network faults through a proxy in front of it)"

    def start_upstream(self, upstream: UpstreamSpec, run: RunContext) -> Endpoint:
        assert upstream.url is not None  # the scenario model requires it for backend 'url'
        parts = urlsplit(upstream.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname  # IPv6
        return self.endpoint(upstream, url=upstream.url.rstrip("/"), address=f"{host}:{port}")

    def attach(self, descriptor: dict[str, Any], run: RunContext) -> Endpoint:
        return self.attached(descriptor)

    def apply(self, fault: FaultSpec, endpoint: Endpoint, run: RunContext) -> AppliedFault:
        raise FaultInjectionError(
            f"{endpoint.name!r} is a real URL: only a proxy in front of it can inject "
            f"{fault.kind!r}"
        )

    def revert(self, applied: AppliedFault, run: RunContext) -> None:  # pragma: no cover
        raise FaultInjectionError(f"{applied.endpoint!r} is a real URL: nothing was applied")


@hookimpl
def harness_fault_backends() -> list[FaultBackend]:
    return [UrlBackend()]
