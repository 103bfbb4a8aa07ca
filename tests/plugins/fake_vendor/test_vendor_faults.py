"""Every fault kind through the real server, seen with a raw HTTP client."""

from __future__ import annotations

import email.utils
import json
import time

import httpx
import pytest
from fake_vendor_support import CHAT, MESSAGES, chat_body, messages_body, sse_data_lines

from harness_fake_vendor import VendorControl


def test_http_status_in_openai_format(http: httpx.Client, control: VendorControl) -> None:
    control.add_fault({"kind": "http_status", "status": 503, "retry_after": 2})
    response = http.post(CHAT, json=chat_body())
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.headers["x-request-id"].startswith("req_")
    assert "x-ratelimit-remaining-requests" in response.headers
    assert response.json()["error"]["type"] == "server_error"


def test_http_status_in_anthropic_format(http: httpx.Client, control: VendorControl) -> None:
    control.add_fault({"kind": "http_status", "status": 529, "should_retry": True})
    response = http.post(MESSAGES, json=messages_body())
    assert response.status_code == 529
    assert response.headers["x-should-retry"] == "true"
    body = response.json()
    assert body["type"] == "error"
    assert body["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert body["request_id"] == response.headers["request-id"]


def test_rate_limit_fault_reports_zero_remaining(
    http: httpx.Client, control: VendorControl
) -> None:
    control.add_fault(
        {"kind": "http_status", "status": 429, "retry_after": "250ms", "retry_after_format": "ms"}
    )
    response = http.post(CHAT, json=chat_body())
    assert response.status_code == 429
    assert response.headers["retry-after-ms"] == "250"
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("requests", "rate_limit_exceeded")


def test_retry_after_as_http_date(http: httpx.Client, control: VendorControl) -> None:
    control.add_fault(
        {
            "kind": "http_status",
            "status": 429,
            "retry_after": "3s",
            "retry_after_format": "http-date",
        }
    )
    before = time.time()
    response = http.post(CHAT, json=chat_body())
    when = email.utils.parsedate_to_datetime(response.headers["retry-after"]).timestamp()
    assert before + 3 <= when <= time.time() + 4


def test_latency_delays_the_answer(http: httpx.Client, control: VendorControl) -> None:
    control.add_fault({"kind": "latency", "latency": "200ms", "distribution": "fixed"})
    started = time.perf_counter()
    response = http.post(CHAT, json=chat_body())
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert 0.2 <= elapsed < 1.0


@pytest.mark.parametrize("distribution", ["uniform", "lognormal"])
def test_latency_distributions_stay_near_their_median(
    http: httpx.Client, control: VendorControl, distribution: str
) -> None:
    control.add_fault(
        {
            "kind": "latency",
            "latency": "50ms",
            "jitter": "20ms",
            "distribution": distribution,
            "sigma": 0.2,
        }
    )
    started = time.perf_counter()
    for _ in range(4):
        http.post(CHAT, json=chat_body())
    mean = (time.perf_counter() - started) / 4
    assert 0.02 <= mean < 0.3


def test_first_token_delay_sends_headers_then_holds_the_first_event(
    http: httpx.Client, control: VendorControl
) -> None:
    control.add_fault({"kind": "first_token_delay", "delay": "300ms"})
    started = time.perf_counter()
    with http.stream("POST", CHAT, json=chat_body(stream=True)) as response:
        headers_at = time.perf_counter() - started
        chunks = response.iter_raw()
        first = next(chunks)
        first_at = time.perf_counter() - started
        rest = b"".join(chunks)
    assert first_at >= 0.3
    assert first_at - headers_at >= 0.15  # the headers came well before the first event
    assert first.startswith(b"data: ")
    assert (first + rest).endswith(b"data: [DONE]\n\n")


def test_first_token_delay_acts_as_latency_without_streaming(
    http: httpx.Client, control: VendorControl
) -> None:
    control.add_fault({"kind": "first_token_delay", "delay": "200ms"})
    started = time.perf_counter()
    assert http.post(CHAT, json=chat_body()).status_code == 200
    assert time.perf_counter() - started >= 0.2


def test_stream_cut_closes_without_terminator(http: httpx.Client, control: VendorControl) -> None:
    control.add_fault({"kind": "stream_cut", "after_events": 2})
    received = b""
    with (
        pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"),
        http.stream("POST", CHAT, json=chat_body("a b c d", stream=True)) as response,
    ):
        assert response.status_code == 200
        for chunk in response.iter_raw():
            received += chunk
    events = sse_data_lines(received.decode())
    assert len(events) == 2
    assert "[DONE]" not in events


def test_stream_cut_past_the_end_still_drops_the_terminator(
    http: httpx.Client, control: VendorControl
) -> None:
    control.add_fault({"kind": "stream_cut", "after_events": 99, "route": "/v1/messages"})
    received = b""
    with (
        pytest.raises(httpx.RemoteProtocolError),
        http.stream("POST", MESSAGES, json=messages_body(stream=True)) as response,
    ):
        for chunk in response.iter_raw():
            received += chunk
    assert b"event: message_delta" in received
    assert b"message_stop" not in received


def test_stream_stall_pauses_then_resumes(http: httpx.Client, control: VendorControl) -> None:
    control.add_fault({"kind": "stream_stall", "after_events": 2, "stall": "300ms"})
    arrivals: list[tuple[float, str]] = []
    started = time.perf_counter()
    with http.stream("POST", CHAT, json=chat_body("a b", stream=True)) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                arrivals.append((time.perf_counter() - started, line[6:]))
    assert arrivals[-1][1] == "[DONE]"
    assert arrivals[2][0] >= 0.3
    assert arrivals[2][0] - arrivals[1][0] >= 0.25  # the pause sits between events 2 and 3


def test_malformed_stream_sends_a_bad_data_line_then_goes_on(
    http: httpx.Client, control: VendorControl
) -> None:
    control.add_fault({"kind": "malformed_stream", "after_events": 1})
    lines = sse_data_lines(http.post(CHAT, json=chat_body(stream=True)).text)
    assert lines[-1] == "[DONE]"
    bad = []
    for index, line in enumerate(lines[:-1]):
        try:
            json.loads(line)
        except ValueError:
            bad.append(index)
    assert bad == [1]


def test_stream_faults_ignore_non_streaming_requests(
    http: httpx.Client, control: VendorControl
) -> None:
    cut = control.add_fault({"kind": "stream_cut"})
    stall = control.add_fault({"kind": "stream_stall", "stall": "1s"})
    assert http.post(CHAT, json=chat_body()).status_code == 200
    assert control.fault(cut)["seen"] == 0
    assert control.fault(stall)["seen"] == 0


def test_connection_reset_gives_no_http_answer(http: httpx.Client, control: VendorControl) -> None:
    control.add_fault({"kind": "connection_reset", "first": 1})
    with pytest.raises(httpx.TransportError) as raised:
        http.post(CHAT, json=chat_body())
    assert not isinstance(raised.value, httpx.TimeoutException)
    assert isinstance(raised.value, httpx.ReadError | httpx.RemoteProtocolError | httpx.WriteError)
    assert http.post(CHAT, json=chat_body()).status_code == 200
    counters = control.counters()
    assert counters["responses_by_status"] == {"connection_reset": 1, "200": 1}


def test_empty_response(http: httpx.Client, control: VendorControl) -> None:
    control.add_fault({"kind": "empty_response"})
    response = http.post(CHAT, json=chat_body())
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "0"
