"""The /_harness/ control API and the VendorControl client."""

from __future__ import annotations

import httpx
import pytest
import uvicorn
from fake_vendor_support import CHAT, MESSAGES, chat_body, messages_body

from harness.errors import FaultInjectionError
from harness.plugin import IDLE_CONNECTION_EXPIRY
from harness.scenario.faults import HttpStatusFault, LatencyFault
from harness_fake_vendor import FakeVendor, VendorControl


def test_add_list_remove_clear(control: VendorControl) -> None:
    first = control.add_fault(
        {"kind": "http_status", "status": 503, "name": "outage", "rate": "0%"}
    )
    second = control.add_fault(LatencyFault(latency="10ms", route="/v1/messages"))
    faults = control.faults()
    assert [f["id"] for f in faults] == [first, second]
    assert faults[0]["label"] == "outage"
    assert faults[0]["spec"]["status"] == 503
    assert faults[1]["spec"] == {
        "kind": "latency",
        "latency": 0.01,
        "jitter": 0.0,
        "distribution": "uniform",
        "sigma": 0.5,
        "stream": "downstream",
        "optional": False,
        "rate": 1.0,
        "after": 0,
        "route": "/v1/messages",
    }
    assert (faults[0]["seen"], faults[0]["fired"]) == (0, 0)
    control.remove_fault(first)
    assert [f["id"] for f in control.faults()] == [second]
    assert control.clear_faults() == 1
    assert control.faults() == []


def test_counters_and_reset(http: httpx.Client, control: VendorControl) -> None:
    control.add_fault({"kind": "http_status", "status": 500, "name": "boom", "first": 1})
    http.post(CHAT, json=chat_body())
    http.post(CHAT, json=chat_body())
    http.post(MESSAGES, json=messages_body())
    http.get("/v1/unknown")
    counters = control.counters()
    assert counters["requests_total"] == 4
    assert counters["requests_by_route"] == {
        "/v1/chat/completions": 2,
        "/v1/messages": 1,
        "(other)": 1,
    }
    assert counters["responses_by_status"] == {"500": 1, "200": 2, "404": 1}
    assert counters["faults_fired"] == {"boom": 1}
    control.reset()
    assert control.counters()["requests_total"] == 0
    assert len(control.faults()) == 1  # reset keeps faults unless asked
    control.reset(faults=True)
    assert control.faults() == []


def test_control_requests_are_not_counted(control: VendorControl) -> None:
    control.faults()
    control.counters()
    assert control.counters()["requests_total"] == 0


def test_invalid_spec_is_422_naming_the_field(vendor: FakeVendor, control: VendorControl) -> None:
    with httpx.Client(base_url=vendor.url, trust_env=False) as raw:
        response = raw.post("/_harness/faults", json={"kind": "http_status", "status": 200})
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["field"] == "status"
        assert "greater than or equal to 400" in error["message"]
        assert "got 200" in error["message"]

        missing = raw.post("/_harness/faults", json={"kind": "latency"}).json()["error"]
        assert missing["field"] == "latency"

        extra = raw.post("/_harness/faults", json={"kind": "empty_response", "colour": "red"})
        assert extra.json()["error"]["field"] == "colour"

        unknown = raw.post("/_harness/faults", json={"kind": "explode"})
        assert unknown.status_code == 422
        assert unknown.json()["error"]["field"] == "kind"
        assert "http_status" in unknown.json()["error"]["message"]

        network = raw.post("/_harness/faults", json={"kind": "bandwidth", "kbps": 1})
        assert network.status_code == 422
        assert network.json()["error"]["field"] == "kind"
        assert "network fault" in network.json()["error"]["message"]

        not_json = raw.post(
            "/_harness/faults", content=b"{", headers={"content-type": "application/json"}
        )
        assert not_json.status_code == 400
        assert "not valid JSON" in not_json.json()["error"]["message"]

        assert raw.delete("/_harness/faults/f999").status_code == 404
        assert raw.put("/_harness/faults").status_code == 405
        assert raw.get("/_harness/nowhere").status_code == 404
        assert raw.get("/_harness/health").json() == {"status": "ok", "faults": 0}


def test_client_errors_are_fault_injection_errors_naming_the_fault(control: VendorControl) -> None:
    with pytest.raises(FaultInjectionError, match=r"'slow-anthropic'.*latency") as raised:
        control.add_fault({"kind": "latency", "name": "slow-anthropic", "latency": "-1s"})
    assert raised.value.exit_code == 3
    with pytest.raises(FaultInjectionError, match="reset_peer"):
        control.add_fault({"kind": "reset_peer"})
    with pytest.raises(FaultInjectionError, match="f404"):
        control.remove_fault("f404")


def test_unreachable_server_is_a_fault_injection_error() -> None:
    vendor = FakeVendor().start()
    url = vendor.url
    vendor.stop()
    with VendorControl(url, timeout=1.0) as dead:
        assert not dead.health()
        with pytest.raises(FaultInjectionError, match="could not add fault 'http_status'"):
            dead.add_fault(HttpStatusFault(status=503))


def test_idle_control_connections_are_dropped_before_the_server_drops_them() -> None:
    # A phase of 5 s between two marks once lost a mark: httpx reused a connection uvicorn was
    # closing after its 5 s keep-alive timeout (ReadError: connection reset by peer).
    assert uvicorn.Config(app=None).timeout_keep_alive / 2 > IDLE_CONNECTION_EXPIRY
