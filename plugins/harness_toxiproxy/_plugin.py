"""The ``toxiproxy`` backend: the proxies a scenario declares, and toxics on them.

The run's Toxiproxy is the one at ``--toxiproxy-url``/``TOXIPROXY_URL`` when set, otherwise an
embedded server started for the run (and stopped with its last proxy). Every network fault kind
maps to one toxic (``rate`` becomes the toxicity, rolled per connection as Toxiproxy does), except
``down``, which disables the proxy. Every change is read back from the API to verify it.

Toxiproxy counts nothing per toxic, so ``fired`` is what the server can tell: the embedded server
answers ``GET /_harness/hits`` (a harness extension, absent from real Toxiproxy) with how many
connection links each toxic acted on; against a real Toxiproxy ``fired`` stays unknown (None).
Likewise each embedded proxy keeps a ledger per phase (connections, bytes each way, toxics that
acted: ``/_harness/phase`` and ``/_harness/ledger``); a real Toxiproxy's is None.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from harness.plugin import (
    AppliedFault,
    BandwidthFault,
    DownFault,
    Endpoint,
    FaultBackend,
    FaultInjectionError,
    FaultSpec,
    LatencyFault,
    LimitDataFault,
    NetworkFault,
    ProxySpec,
    ResetPeerFault,
    RunContext,
    SlicerFault,
    SlowCloseFault,
    TimeoutFault,
    VendorStats,
    hookimpl,
    ledger_from_json,
    start_server,
)

KINDS = frozenset(
    {"latency", "bandwidth", "timeout", "reset_peer", "slow_close", "slicer", "limit_data", "down"}
)


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def toxic_for(fault: FaultSpec) -> tuple[str, dict[str, Any]]:
    """The Toxiproxy toxic type and attributes for a network fault."""
    if isinstance(fault, LatencyFault):
        if fault.distribution == "lognormal":
            raise FaultInjectionError(
                f"{fault.label()}: Toxiproxy jitter is uniform; lognormal is fake-vendor only"
            )
        return "latency", {"latency": _ms(fault.latency), "jitter": _ms(fault.jitter)}
    if isinstance(fault, BandwidthFault):
        return "bandwidth", {"rate": fault.kbps}
    if isinstance(fault, TimeoutFault):
        return "timeout", {"timeout": _ms(fault.timeout)}
    if isinstance(fault, ResetPeerFault):
        return "reset_peer", {"timeout": _ms(fault.timeout)}
    if isinstance(fault, SlowCloseFault):
        return "slow_close", {"delay": _ms(fault.delay)}
    if isinstance(fault, SlicerFault):
        return "slicer", {
            "average_size": fault.average_size,
            "size_variation": fault.size_variation,
            "delay": round(fault.delay * 1_000_000),
        }
    if isinstance(fault, LimitDataFault):
        return "limit_data", {"bytes": fault.bytes}
    raise FaultInjectionError(f"{fault.label()}: {fault.kind!r} is not a Toxiproxy toxic")


class _ChildToxiproxy:
    """An embedded Toxiproxy run as a child process (``python -m harness_toxiproxy``)."""

    def __init__(self, run: RunContext) -> None:
        from harness_toxiproxy import ToxiproxyClient

        argv = [sys.executable, "-m", "harness_toxiproxy", "--port", "0"]
        self._child = start_server("toxiproxy", argv, run)
        self.client = ToxiproxyClient(self._child.url)

    @property
    def pid(self) -> int | None:
        return self._child.pid

    def close(self) -> None:
        self._child.stop()


class _RunToxiproxy:
    """The Toxiproxy of one run and how many of its proxies are up (stopped with the last)."""

    def __init__(self, run: RunContext) -> None:
        from harness_toxiproxy import resolve_toxiproxy

        url = run.toxiproxy_url or os.environ.get("TOXIPROXY_URL")
        if not url and run.isolation == "process":
            self.handle: Any = _ChildToxiproxy(run)
        else:
            self.handle = resolve_toxiproxy({"TOXIPROXY_URL": url} if url else {})
        self.proxies = 0


class ToxiproxyBackend(FaultBackend):
    name = "toxiproxy"
    kinds = KINDS
    where = "proxy"
    description = "network faults on a TCP proxy (embedded Toxiproxy-compatible server or real)"

    def _toxiproxy(self, run: RunContext) -> _RunToxiproxy:
        state = run.stash.get(self.name)
        if state is None:
            state = run.stash[self.name] = _RunToxiproxy(run)
        return state

    def start_proxy(self, proxy: ProxySpec, upstream: str, run: RunContext) -> Endpoint:
        state = self._toxiproxy(run)
        client = state.handle.client
        info = client.create_proxy(proxy.name, upstream, listen=proxy.listen or "127.0.0.1:0")
        state.proxies += 1

        def close() -> None:
            try:
                client.delete_proxy(proxy.name, missing_ok=True)
            finally:
                state.proxies -= 1
                if state.proxies == 0:
                    run.stash.pop(self.name, None)
                    state.handle.close()

        return self.endpoint(
            proxy,
            address=info.listen,
            handle=client,
            close=close,
            descriptor={
                "toxiproxy_url": client.url,
                "pid": getattr(state.handle, "pid", None),
            },
        )

    def attach(self, descriptor: dict[str, Any], run: RunContext) -> Endpoint:
        from harness_toxiproxy import ToxiproxyClient

        client = ToxiproxyClient(descriptor["toxiproxy_url"])
        return self.attached(descriptor, handle=client, descriptor={"toxiproxy_url": client.url})

    def adopt(self, target: object, run: RunContext, *, api: str = "openai") -> Endpoint | None:
        """A proxy name a test gives (``chaos.inject(fault, at="primary_net")``), on the run's
        Toxiproxy (the ``toxiproxy`` fixture's, ``--toxiproxy-url`` or ``TOXIPROXY_URL``)."""
        if not isinstance(target, str) or "://" in target or not run.toxiproxy_url:
            return None
        from harness_toxiproxy import ToxiproxyClient

        client = ToxiproxyClient(run.toxiproxy_url)
        return Endpoint(name=target, role="proxy", backend=self.name, handle=client)

    def apply(self, fault: FaultSpec, endpoint: Endpoint, run: RunContext) -> AppliedFault:
        if not isinstance(fault, NetworkFault | LatencyFault):
            raise FaultInjectionError(
                f"proxy {endpoint.name!r} cannot inject {fault.kind!r}: HTTP faults need an "
                "upstream"
            )
        if fault.first is not None or fault.every is not None or fault.after:
            raise FaultInjectionError(
                f"{fault.label()}: Toxiproxy cannot count requests, so first/every/after do "
                "not apply; use rate (the toxicity, rolled per connection)"
            )
        client = endpoint.handle
        if isinstance(fault, DownFault):
            info = client.disable(endpoint.name)
            if info.enabled:
                raise FaultInjectionError(f"proxy {endpoint.name!r} is still enabled after 'down'")
            # The client travels with the fault: a proxy the test made itself (the ``chaos``
            # fixture) is not among the run's endpoints.
            return self.applied(fault, endpoint, (client, None))
        toxic_type, attributes = toxic_for(fault)
        existing = {t.name for t in client.toxics(endpoint.name)}
        name = f"harness_{fault.kind}_{len(existing) + 1}"
        while name in existing:
            name += "_"
        toxic = client.add_toxic(
            endpoint.name,
            toxic_type,
            name=name,
            stream=getattr(fault, "stream", "downstream"),
            toxicity=fault.rate,
            attributes=attributes,
        )
        # A new toxic counts from 0: no "before" reading (it would race the first hits).
        return self.applied(fault, endpoint, (client, toxic.name))

    def revert(self, applied: AppliedFault, run: RunContext) -> None:
        client, toxic_name = applied.handle
        if isinstance(applied.fault, DownFault):
            info = client.enable(applied.endpoint)
            if not info.enabled:
                raise FaultInjectionError(f"proxy {applied.endpoint!r} did not come back up")
            applied.fired = None
            return
        hits = _hits(client, applied.endpoint)
        applied.fired = None if hits is None else hits.get(toxic_name, 0)
        client.remove_toxic(applied.endpoint, toxic_name)
        if any(t.name == toxic_name for t in client.toxics(applied.endpoint)):
            raise FaultInjectionError(
                f"toxic {toxic_name!r} is still on proxy {applied.endpoint!r} after removal"
            )

    def mark_phase(self, endpoint: Endpoint, phase: str | None, run: RunContext) -> None:
        marker = getattr(endpoint.handle, "mark_phase", None)
        if marker is not None:
            marker(endpoint.name, phase, run.run_id)

    def ledger(self, endpoint: Endpoint, run: RunContext) -> dict[str, VendorStats] | None:
        reader = getattr(endpoint.handle, "ledger", None)
        data = reader(endpoint.name) if reader is not None else None
        return None if data is None else ledger_from_json(data)


def _hits(client: Any, proxy: str) -> dict[str, int] | None:
    reader = getattr(client, "toxic_hits", None)
    return reader(proxy) if reader is not None else None


@hookimpl
def harness_fault_backends() -> list[FaultBackend]:
    return [ToxiproxyBackend()]


@hookimpl
def harness_add_commands(app: Any) -> None:
    from harness_toxiproxy._cli import toxiproxy_app

    app.add_typer(toxiproxy_app, name="toxiproxy")
