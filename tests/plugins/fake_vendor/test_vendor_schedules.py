"""Fault schedules, matching and the combination rules, through the server."""

from __future__ import annotations

import time

import httpx
from fake_vendor_support import CHAT, KEY_HEADERS, MESSAGES, chat_body, messages_body

from harness_fake_vendor import FakeVendor, VendorControl


def _statuses(http: httpx.Client, n: int, path: str = CHAT) -> list[int]:
    body = chat_body() if path == CHAT else messages_body()
    return [http.post(path, json=body).status_code for _ in range(n)]


def test_first(http: httpx.Client, control: VendorControl) -> None:
    fault = control.add_fault({"kind": "http_status", "status": 503, "first": 2})
    assert _statuses(http, 4) == [503, 503, 200, 200]
    assert (control.fault(fault)["seen"], control.fault(fault)["fired"]) == (4, 2)


def test_every(http: httpx.Client, control: VendorControl) -> None:
    control.add_fault({"kind": "http_status", "status": 500, "every": 3})
    assert _statuses(http, 6) == [200, 200, 500, 200, 200, 500]


def test_after(http: httpx.Client, control: VendorControl) -> None:
    control.add_fault({"kind": "http_status", "status": 502, "after": 2, "first": 1})
    assert _statuses(http, 4) == [200, 200, 502, 200]


def test_route_and_model_matching(http: httpx.Client, control: VendorControl) -> None:
    by_route = control.add_fault({"kind": "http_status", "status": 529, "route": "/v1/messages"})
    by_model = control.add_fault({"kind": "http_status", "status": 404, "model": "gpt-4o"})
    assert _statuses(http, 1, CHAT) == [200]  # model gpt-4o-mini, not gpt-4o
    assert _statuses(http, 1, MESSAGES) == [529]
    assert http.post(CHAT, json={**chat_body(), "model": "gpt-4o"}).status_code == 404
    assert control.fault(by_route)["seen"] == 1
    assert control.fault(by_model)["seen"] == 1


def test_seeded_rate_is_reproducible_across_servers() -> None:
    def run(seed: int) -> list[int]:
        with (
            FakeVendor(seed=seed) as server,
            httpx.Client(base_url=server.url, headers=KEY_HEADERS, trust_env=False) as client,
        ):
            server.control.add_fault({"kind": "http_status", "status": 503, "rate": "50%"})
            return _statuses(client, 24)

    first, second, other = run(7), run(7), run(8)
    assert first == second
    assert 503 in first
    assert 200 in first
    assert first != other


def test_spec_seed_wins_over_server_seed() -> None:
    spec = {"kind": "http_status", "status": 503, "rate": 0.5, "seed": 99}
    runs = []
    for server_seed in (1, 2):
        with (
            FakeVendor(seed=server_seed) as server,
            httpx.Client(base_url=server.url, headers=KEY_HEADERS, trust_env=False) as client,
        ):
            server.control.add_fault(spec)
            runs.append(_statuses(client, 16))
    assert runs[0] == runs[1]


def test_latency_then_status_both_apply(http: httpx.Client, control: VendorControl) -> None:
    latency = control.add_fault({"kind": "latency", "latency": "150ms", "distribution": "fixed"})
    status = control.add_fault({"kind": "http_status", "status": 503})
    started = time.perf_counter()
    assert _statuses(http, 1) == [503]
    assert time.perf_counter() - started >= 0.15
    assert control.fault(latency)["fired"] == 1
    assert control.fault(status)["fired"] == 1


def test_latencies_add_up(http: httpx.Client, control: VendorControl) -> None:
    for _ in range(2):
        control.add_fault({"kind": "latency", "latency": "100ms", "distribution": "fixed"})
    started = time.perf_counter()
    _statuses(http, 1)
    assert time.perf_counter() - started >= 0.2


def test_first_terminal_fault_wins_and_later_ones_do_not_see_the_request(
    http: httpx.Client, control: VendorControl
) -> None:
    first = control.add_fault({"kind": "http_status", "status": 500, "first": 1})
    second = control.add_fault({"kind": "http_status", "status": 503})
    assert _statuses(http, 2) == [500, 503]
    assert (control.fault(first)["seen"], control.fault(first)["fired"]) == (2, 1)
    assert (control.fault(second)["seen"], control.fault(second)["fired"]) == (1, 1)
    assert control.counters()["faults_fired"] == {"http_status": 2}


def test_stream_modifiers_skip_answers_that_are_not_streams(
    http: httpx.Client, control: VendorControl
) -> None:
    control.add_fault({"kind": "http_status", "status": 503, "first": 1})
    stall = control.add_fault({"kind": "stream_stall", "stall": "2s"})
    response = http.post(CHAT, json=chat_body(stream=True))
    assert response.status_code == 503
    assert control.fault(stall)["seen"] == 0
