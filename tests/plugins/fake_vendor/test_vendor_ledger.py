"""The fake vendor's ledger over its control API (``POST /_harness/phase``, ``GET
/_harness/ledger``): what reached it per phase, on a real server and real sockets, through the
backend in-thread and as a child process, and with the official SDK that honours
``Retry-After`` next to a raw client that does not."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Literal

import httpx
import openai
import pytest
from fake_vendor_support import CHAT, KEY_HEADERS, OPENAI_MODEL, chat_body

from harness.plugin import RunContext, UpstreamSpec, ledger_from_json
from harness_fake_vendor import FakeVendor, VendorControl
from harness_fake_vendor._plugin import FakeVendorBackend


def _stats(control: VendorControl, phase: str) -> dict[str, object]:
    return dict(control.ledger()["phases"][phase])


def test_phases_split_what_arrived(control: VendorControl, http: httpx.Client) -> None:
    control.mark_phase("calm", "run-a")
    for text in ("one", "two"):
        assert http.post(CHAT, json=chat_body(text)).status_code == 200
    control.mark_phase("outage", "run-a")
    fault = control.add_fault({"kind": "http_status", "status": 503})
    assert http.post(CHAT, json=chat_body("three")).status_code == 503
    control.remove_fault(fault)
    control.mark_phase(None, "run-a")
    assert http.post(CHAT, json=chat_body("after")).status_code == 200  # not counted
    ledger = control.ledger()
    assert ledger["run"] == "run-a" and ledger["phase"] is None
    calm, outage = ledger_from_json(ledger).values()
    assert (calm.calls, calm.ok, dict(calm.statuses)) == (2, 2, {"200": 2})
    assert calm.first_ok_after is not None and calm.first_ok_after >= 0
    assert (outage.calls, outage.ok, dict(outage.statuses)) == (1, 0, {"503": 1})
    assert dict(outage.faults_fired) == {"http_status": 1}


def test_new_connections_and_aborted_requests(vendor: FakeVendor, control: VendorControl) -> None:
    control.mark_phase("p", "run-b")
    with httpx.Client(base_url=vendor.url, headers=KEY_HEADERS, trust_env=False) as client:
        for _ in range(3):  # one keep-alive connection
            client.post(CHAT, json=chat_body())
    control.add_fault({"kind": "latency", "latency": "5s"})
    with pytest.raises(httpx.ReadTimeout):  # the client leaves during the fault's delay
        httpx.post(
            vendor.openai_base_url + "/chat/completions",
            json=chat_body("slow"),
            headers=KEY_HEADERS,
            timeout=0.3,
        )
    deadline = time.monotonic() + 5
    while _stats(control, "p")["aborted"] != 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    stats = _stats(control, "p")
    assert (stats["calls"], stats["ok"], stats["aborted"], stats["connections"]) == (4, 3, 1, 2)


def test_the_openai_sdk_honours_retry_after_and_a_raw_retry_loop_does_not(
    vendor: FakeVendor, control: VendorControl, oai: openai.OpenAI, http: httpx.Client
) -> None:
    control.mark_phase("storm", "run-c")
    control.add_fault({"kind": "http_status", "status": 429, "retry_after": 0.3, "first": 2})
    answer = oai.chat.completions.create(
        model=OPENAI_MODEL, messages=[{"role": "user", "content": "sdk question"}]
    )
    assert answer.choices[0].message.content == "echo: sdk question"  # after two 429s
    stats = _stats(control, "storm")
    assert (stats["retry_after_sent"], stats["retry_after_violations"]) == (2, 0)
    control.clear_faults()
    control.add_fault({"kind": "http_status", "status": 429, "retry_after": 0.3, "first": 1})
    body = chat_body("raw question")
    statuses = [http.post(CHAT, json=body).status_code for _ in range(2)]  # retried at once
    assert statuses == [429, 200]
    stats = _stats(control, "storm")
    assert (stats["retry_after_sent"], stats["retry_after_violations"]) == (3, 1)


def test_bad_marks_are_refused(vendor: FakeVendor, control: VendorControl) -> None:
    with httpx.Client(base_url=vendor.url + "/_harness", trust_env=False) as client:
        assert client.post("/phase", json={"run": "x"}).status_code == 422
        assert client.post("/phase", json={"phase": 3}).status_code == 422
        assert client.post("/phase", json={"phase": ""}).status_code == 422
        assert client.post("/phase", json={"phase": "a", "run": 1}).status_code == 422
        assert client.post("/phase", content=b"{nope").status_code == 400
        assert client.get("/phase").status_code == 405
        assert client.post("/ledger").status_code == 405


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_the_backend_marks_and_reads_the_ledger(
    isolation: Literal["thread", "process"], tmp_path: Path
) -> None:
    backend = FakeVendorBackend()
    run = RunContext(run_id="r1", seed=1, report_dir=tmp_path, isolation=isolation)
    endpoint = backend.start_upstream(UpstreamSpec(name="primary", api="openai"), run)
    try:
        backend.mark_phase(endpoint, "only", run)
        host, port = str(endpoint.address).rsplit(":", 1)
        with socket.create_connection((host, int(port))):
            pass  # a connection without a request
        response = httpx.post(
            f"{endpoint.url}/chat/completions", json=chat_body(), headers=KEY_HEADERS
        )
        assert response.status_code == 200
        backend.mark_phase(endpoint, None, run)
        ledger = backend.ledger(endpoint, run)
        assert ledger is not None
        assert (ledger["only"].calls, ledger["only"].ok, ledger["only"].connections) == (1, 1, 2)
        attached = backend.attach(endpoint.describe() | endpoint.descriptor, run)
        try:  # another process reads the same ledger (Locust's master, `--stack`)
            assert backend.ledger(attached, run) == ledger
        finally:
            attached.close()
    finally:
        endpoint.close()
