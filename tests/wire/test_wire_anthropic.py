from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from harness.plugin.wire import anthropic as wire


def _parse(event: bytes) -> tuple[str, dict[str, object]]:
    head, data = event.rstrip(b"\n").split(b"\n")
    assert head.startswith(b"event: ")
    assert data.startswith(b"data: ")
    return head[7:].decode(), json.loads(data[6:])


def test_message_shape() -> None:
    body = wire.message(message_id="msg_1", model="m", text="hi", input_tokens=2, output_tokens=1)
    assert body["type"] == "message"
    assert body["role"] == "assistant"
    assert body["content"] == [{"type": "text", "text": "hi"}]
    assert body["stop_reason"] == "end_turn"
    assert body["usage"]["input_tokens"] == 2
    assert body["usage"]["output_tokens"] == 1


def test_stream_event_sequence() -> None:
    events = [
        _parse(e)
        for e in wire.stream_events(message_id="m1", model="m", pieces=["a ", "b"], input_tokens=4)
    ]
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(data["type"] == name for name, data in events)
    start = events[0][1]["message"]
    assert start["content"] == []
    assert start["stop_reason"] is None
    assert start["usage"]["input_tokens"] == 4
    assert [e[1]["delta"] for e in events[3:5]] == [
        {"type": "text_delta", "text": "a "},
        {"type": "text_delta", "text": "b"},
    ]
    delta = events[6][1]
    assert delta["delta"]["stop_reason"] == "end_turn"
    assert delta["usage"] == {"output_tokens": 2}


def test_malformed_event_is_a_named_event_with_bad_json() -> None:
    head, data = wire.malformed_event().rstrip(b"\n").split(b"\n")
    assert head == b"event: content_block_delta"
    with pytest.raises(ValueError):
        json.loads(data[6:])


@pytest.mark.parametrize(
    ("status", "etype"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (504, "timeout_error"),
        (529, "overloaded_error"),
        (418, "invalid_request_error"),
        (503, "api_error"),
    ],
)
def test_error_types_by_status(status: int, etype: str) -> None:
    body = wire.error_body(status, request_id="req_1")
    assert body["type"] == "error"
    assert body["error"]["type"] == etype
    assert body["error"]["message"]
    assert body["request_id"] == "req_1"


def test_error_code_goes_to_details_unless_it_is_a_type() -> None:
    body = wire.error_body(429, error_code="enforced_spend_limit_reached")
    assert body["error"]["type"] == "rate_limit_error"
    assert body["error"]["details"] == {"error_code": "enforced_spend_limit_reached"}
    body = wire.error_body(503, error_code="overloaded_error")
    assert body["error"]["type"] == "overloaded_error"
    assert "details" not in body["error"]


def test_ratelimit_headers_are_rfc3339() -> None:
    headers = wire.ratelimit_headers(
        limit_requests=50,
        remaining_requests=49,
        reset_requests_at=1_700_000_000.2,
        limit_tokens=1000,
        remaining_tokens=900,
        reset_tokens_at=1_700_000_000.0,
    )
    assert headers["anthropic-ratelimit-requests-limit"] == "50"
    assert headers["anthropic-ratelimit-requests-remaining"] == "49"
    reset = headers["anthropic-ratelimit-requests-reset"]
    assert reset == "2023-11-14T22:13:21Z"  # rounded up to the next second
    assert datetime.strptime(reset, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp() > 1.7e9
    assert headers["anthropic-ratelimit-tokens-reset"] == "2023-11-14T22:13:20Z"


def test_models_list_anthropic_shape() -> None:
    body = wire.models_list(["x", "y"])
    assert body["has_more"] is False
    assert (body["first_id"], body["last_id"]) == ("x", "y")
    assert body["data"][0]["type"] == "model"
