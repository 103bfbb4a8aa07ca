"""The fake vendor under hostile input: 4xx in each vendor's own format, never a 500.

Each test failed before its fix: nested JSON answered 500 with a traceback, any body size was
parsed (a 50 MB prompt held the event loop ~20 s), a client that went away mid-request was
counted as a 400 answer, and an unknown option was a ``TypeError`` traceback.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from fake_vendor_support import CHAT, KEY_HEADERS, MESSAGES, chat_body, vendor_http
from wait_support import wait_for

from harness.cli import main
from harness.errors import InputError
from harness_fake_vendor import FakeVendor, serve
from harness_fake_vendor._app import OFFLOAD_BYTES

LIMIT = 64 * 1024
DEEP = b"[" * 30_000 + b"]" * 30_000  # far past the parser's recursion limit, under LIMIT


@pytest.fixture(scope="module")
def small() -> Iterator[FakeVendor]:
    """A vendor that reads at most 64 KiB per request."""
    with FakeVendor(max_body_bytes=LIMIT) as server:
        yield server


@pytest.fixture
def client(small: FakeVendor) -> Iterator[httpx.Client]:
    small.control.reset(faults=True)
    with vendor_http(small, timeout=10.0) as http:
        yield http


# ----------------------------------------------------------------------------- nesting
@pytest.mark.parametrize("path", [CHAT, MESSAGES, "/v1/messages/count_tokens"])
def test_deep_nesting_is_the_vendors_400(client: httpx.Client, path: str) -> None:
    response = client.post(path, content=DEEP)
    assert response.status_code == 400
    body = response.json()
    if path == CHAT:
        assert body["error"]["type"] == "invalid_request_error"
        assert "could not parse the JSON body" in body["error"]["message"]
    else:
        assert body["type"] == "error"
        assert body["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("path", ["/_harness/faults", "/_harness/reset"])
def test_deep_nesting_is_a_control_api_400(client: httpx.Client, path: str) -> None:
    response = client.post(path, content=DEEP)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "request body is not valid JSON: nested too deeply"
    )


def test_nested_values_in_a_fault_spec_are_quoted_short(client: httpx.Client) -> None:
    nested = {"kind": "http_status", "status": [[[["x" * 1_000]]]] * 20}
    response = client.post("/_harness/faults", json=nested)
    assert response.status_code == 422
    assert len(response.content) < 2_000


# ----------------------------------------------------------------------------- size
@pytest.mark.parametrize(
    ("path", "check"),
    [
        (CHAT, lambda b: b["error"]["type"] == "invalid_request_error"),
        (MESSAGES, lambda b: b["error"]["type"] == "request_too_large"),
        ("/_harness/faults", lambda b: "larger than the limit of 65536" in b["error"]["message"]),
    ],
)
def test_a_body_over_the_limit_is_a_413_in_the_vendors_format(
    client: httpx.Client, path: str, check: object
) -> None:
    response = client.post(path, content=b"x" * (LIMIT + 1))
    assert response.status_code == 413
    assert check(response.json())  # type: ignore[operator]
    # the body was read to its end, so the same connection goes on
    assert client.post(CHAT, json=chat_body("after")).status_code == 200


def test_a_chunked_body_over_the_limit_is_a_413(client: httpx.Client) -> None:
    chunks = iter([b"x" * 16_384] * 8)  # no content-length: counted while read
    response = client.post(CHAT, content=chunks)
    assert response.status_code == 413
    counters = client.get("/_harness/counters").json()
    assert counters["responses_by_status"] == {"413": 1}


def test_a_body_at_the_limit_is_answered(client: httpx.Client) -> None:
    body = json.dumps(chat_body("hi")).encode()
    response = client.post(CHAT, content=body + b" " * (LIMIT - len(body)))
    assert response.status_code == 200


def test_max_body_bytes_is_checked() -> None:
    with pytest.raises(InputError, match="max_body_bytes must be at least 1, got 0"):
        FakeVendor(max_body_bytes=0)


# ----------------------------------------------------------------------------- event loop
def test_a_large_request_is_answered_off_the_event_loop() -> None:
    """While one large request's answer is being built, the server answers others."""
    release = threading.Event()
    entered = threading.Event()

    def slow_reply(prompt: str) -> str:
        entered.set()
        release.wait(30)
        return "done"

    with (
        FakeVendor(reply=slow_reply) as vendor,
        httpx.Client(base_url=vendor.url, headers=KEY_HEADERS, timeout=30, trust_env=False) as c,
    ):
        big = chat_body("word " * (OFFLOAD_BYTES // 5 + 10))
        answers: list[httpx.Response] = []
        worker = threading.Thread(target=lambda: answers.append(c.post(CHAT, json=big)))
        worker.start()
        try:
            assert entered.wait(10), "the large request never reached the reply function"
            with httpx.Client(base_url=vendor.url, timeout=5, trust_env=False) as other:
                # Failed before: the loop was inside slow_reply, so this timed out.
                assert other.get("/_harness/health").status_code == 200
            assert not answers
        finally:
            release.set()
            worker.join(30)
        assert answers[0].status_code == 200
        assert answers[0].json()["choices"][0]["message"]["content"] == "done"


# ----------------------------------------------------------------------------- aborts
def _abandon(vendor: FakeVendor, head: bytes, body: bytes) -> None:
    with socket.create_connection((vendor.host, vendor.port), timeout=5) as sock:
        sock.sendall(head + body)


def test_clients_leaving_mid_body_are_counted_as_aborted(client: httpx.Client) -> None:
    vendor_url = httpx.URL(str(client.base_url))
    vendor = type("V", (), {"host": vendor_url.host, "port": vendor_url.port})()
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    for _ in range(20):
        _abandon(vendor, head, b'{"model": "gpt-4o-mini", "mess')  # type: ignore[arg-type]

    def all_counted() -> bool:
        return bool(client.get("/_harness/counters").json()["requests_aborted"] == 20)

    wait_for(all_counted, "20 aborted requests")
    counters = client.get("/_harness/counters").json()
    assert counters["responses_by_status"] == {}
    assert counters["requests_by_route"] == {CHAT: 20}
    assert counters["requests_total"] == 20


def test_a_client_gone_during_a_fault_delay_is_aborted_and_frees_the_request(
    client: httpx.Client,
) -> None:
    client.post("/_harness/faults", json={"kind": "latency", "latency": "30s"})
    body = json.dumps(chat_body()).encode()
    url = httpx.URL(str(client.base_url))
    with socket.create_connection((url.host, url.port), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )

        def waiting() -> bool:
            return bool(client.get("/_harness/counters").json()["requests_total"] == 1)

        wait_for(waiting, "the request to arrive")
    started = time.monotonic()

    def aborted() -> bool:
        return bool(client.get("/_harness/counters").json()["requests_aborted"] == 1)

    wait_for(aborted, "the abort to be noticed")
    assert time.monotonic() - started < 10  # not after the 30 s latency
    assert client.get("/_harness/counters").json()["responses_by_status"] == {}


# ----------------------------------------------------------------------------- options
def test_an_unknown_option_is_an_input_error_naming_the_known_ones() -> None:
    with pytest.raises(InputError) as caught:
        FakeVendor(bogus=1)  # type: ignore[call-arg]
    message = str(caught.value)
    assert "unknown fake vendor option(s) 'bogus'" in message
    assert "stream_chunk_delay" in message
    assert "max_body_bytes" in message
    with pytest.raises(InputError, match="'bogus'"):
        serve(port=0, bogus=1)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"rate_limit_requests": "many"}, "rate_limit_requests: Input should be a valid integer"),
        ({"enforce_rate_limit": "yes"}, "enforce_rate_limit: Input should be a valid boolean"),
        ({"stream_chunk_delay": float("inf")}, "stream_chunk_delay: Input should be a finite"),
        ({"models": "gpt-4o"}, "models: 'str' instances are not allowed"),
    ],
)
def test_a_mistyped_option_is_an_input_error(options: dict[str, object], problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        FakeVendor(**options)  # type: ignore[arg-type]


def test_cli_reports_a_bad_option_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vendor", "serve", "--port", "0", "--options-json", '{"bogus": 1}']) == 2
    assert main(["vendor", "serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "error: unknown fake vendor option(s) 'bogus'" in err
    assert "error: fake vendor host must be a loopback address (127.0.0.1, ::1 or localhost)" in err


def test_a_client_leaving_a_long_stream_stops_the_writes(
    small: FakeVendor, caplog: pytest.LogCaptureFixture
) -> None:
    """Failed before: the rest of the stream went to the dead socket in one go, each write
    logging asyncio's "socket.send() raised exception." while every other request waited."""
    with FakeVendor() as vendor:
        body = json.dumps(chat_body("word " * 50_000, stream=True)).encode()
        with socket.create_connection((vendor.host, vendor.port), timeout=10) as sock:
            sock.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                % (len(body), body)
            )
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
        with httpx.Client(base_url=vendor.url, timeout=5, trust_env=False) as other:
            assert other.get("/_harness/health").status_code == 200
            time.sleep(0.3)  # what the old loop wrote meanwhile, it logged
            assert other.get("/_harness/counters").json()["responses_by_status"] == {"200": 1}
    noisy = [r for r in caplog.records if "socket.send() raised exception" in r.getMessage()]
    assert noisy == []
