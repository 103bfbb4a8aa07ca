"""Every network fault kind of the Toxiproxy plugin, applied and reverted through the ``chaos``
fixture: the toxic the server holds while it applies (units converted), traffic that makes it
fire, and nothing left behind once it is reverted (read back from the API)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from harness.run.chaos import ChaosSession
from harness_fake_vendor import FakeVendor

CASES: list[tuple[dict[str, Any], str, dict[str, Any]]] = [
    (
        {"kind": "latency", "latency": "120ms", "jitter": "15ms"},
        "latency",
        {"latency": 120, "jitter": 15},
    ),
    ({"kind": "bandwidth", "kbps": 64}, "bandwidth", {"rate": 64}),
    ({"kind": "timeout", "timeout": "150ms"}, "timeout", {"timeout": 150}),
    ({"kind": "reset_peer", "timeout": "0s"}, "reset_peer", {"timeout": 0}),
    ({"kind": "slow_close", "delay": "250ms"}, "slow_close", {"delay": 250}),
    (
        {"kind": "slicer", "average_size": 16, "size_variation": 4, "delay": "2ms"},
        "slicer",
        {"average_size": 16, "size_variation": 4, "delay": 2000},
    ),
    ({"kind": "limit_data", "bytes": 40}, "limit_data", {"bytes": 40}),
]


@pytest.fixture(scope="module")
def vendor() -> Iterator[FakeVendor]:
    with FakeVendor() as server:
        yield server


def _traffic(listen: str) -> None:
    """A few requests through the proxy; the fault may well make them fail."""
    with httpx.Client(base_url=f"http://{listen}", timeout=0.5, trust_env=False) as client:
        for _ in range(3):
            with contextlib.suppress(httpx.HTTPError):
                client.get("/_harness/health")


@pytest.mark.parametrize(("fault", "toxic_type", "attributes"), CASES, ids=[c[1] for c in CASES])
def test_a_network_fault_becomes_its_toxic_and_is_reverted(
    chaos: ChaosSession,
    toxiproxy: Any,
    vendor: FakeVendor,
    fault: dict[str, Any],
    toxic_type: str,
    attributes: dict[str, Any],
) -> None:
    proxy = toxiproxy.create_proxy("vendor_net", f"{vendor.host}:{vendor.port}")
    with chaos.inject(fault, at="vendor_net") as applied:
        (toxic,) = toxiproxy.toxics("vendor_net")
        assert toxic.type == toxic_type
        assert toxic.attributes == attributes
        _traffic(proxy.listen)
    assert applied.fired
    assert toxiproxy.toxics("vendor_net") == []


def test_down_disables_the_proxy_and_enables_it_again(
    chaos: ChaosSession, toxiproxy: Any, vendor: FakeVendor
) -> None:
    proxy = toxiproxy.create_proxy("vendor_net", f"{vendor.host}:{vendor.port}")
    with chaos.inject({"kind": "down"}, at="vendor_net"):
        assert toxiproxy.get_proxy("vendor_net").enabled is False
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://{proxy.listen}/_harness/health", timeout=0.5, trust_env=False)
    assert toxiproxy.get_proxy("vendor_net").enabled is True
    assert httpx.get(f"http://{proxy.listen}/_harness/health", trust_env=False).status_code == 200


def test_rate_becomes_toxicity(chaos: ChaosSession, toxiproxy: Any, vendor: FakeVendor) -> None:
    toxiproxy.create_proxy("vendor_net", f"{vendor.host}:{vendor.port}")
    fault = {"kind": "latency", "latency": "5ms", "rate": "25%", "optional": True}
    with chaos.inject(fault, at="vendor_net"):
        (toxic,) = toxiproxy.toxics("vendor_net")
        assert toxic.toxicity == 0.25


def test_lognormal_jitter_is_refused_with_the_reason(chaos: ChaosSession, toxiproxy: Any) -> None:
    toxiproxy.create_proxy("vendor_net", "127.0.0.1:9")
    fault = {"kind": "latency", "latency": "5ms", "jitter": "1ms", "distribution": "lognormal"}
    with pytest.raises(Exception, match="Toxiproxy jitter is uniform"):
        chaos.apply(fault, at="vendor_net")
    assert toxiproxy.toxics("vendor_net") == []
