from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.plugin.wire import openai as wire
from harness.plugin.wire.common import dumps
from harness.plugin.wire.sse import OPENAI_DONE


def _decode(event: bytes) -> dict[str, object]:
    assert event.startswith(b"data: ")
    assert event.endswith(b"\n\n")
    return json.loads(event[6:-2])


COMPLETION: dict[str, Any] = {
    "completion_id": "chatcmpl-1",
    "model": "gpt-4o-mini",
    "created": 1,
    "text": "hi",
    "prompt_tokens": 3,
    "completion_tokens": 1,
}


def test_chat_completion_has_the_api_shape() -> None:
    body = wire.chat_completion(**COMPLETION)
    assert body["object"] == "chat.completion"
    choice = body["choices"][0]
    assert choice["message"] == {
        "role": "assistant",
        "content": "hi",
        "refusal": None,
        "annotations": [],
    }
    assert choice["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] == 4


@given(
    st.fixed_dictionaries(
        {
            "completion_id": st.text(),
            "model": st.text(),
            "created": st.integers(0, 2**40),
            "text": st.text(),
            "prompt_tokens": st.integers(0, 10**7),
            "completion_tokens": st.integers(0, 10**7),
            "finish_reason": st.sampled_from(["stop", "length", "content_filter"]),
        }
    )
)
def test_the_hot_path_json_is_the_completion_dumped(fields: dict[str, Any]) -> None:
    # the fake vendor answers with chat_completion_json: the same bytes, without the dicts
    assert wire.chat_completion_json(**fields) == dumps(wire.chat_completion(**fields))


def test_stream_chunks_without_usage() -> None:
    chunks = wire.chat_completion_chunks(
        completion_id="c", model="m", created=1, pieces=["a ", "b"], prompt_tokens=2
    )
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": "", "refusal": None},
        {"content": "a "},
        {"content": "b"},
        {},
    ]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in c for c in chunks)
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)


def test_stream_chunks_with_include_usage() -> None:
    chunks = wire.chat_completion_chunks(
        completion_id="c",
        model="m",
        created=1,
        pieces=["a"],
        prompt_tokens=2,
        include_usage=True,
    )
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens"] == 2
    assert chunks[-1]["usage"]["completion_tokens"] == 1


def test_stream_events_end_with_done() -> None:
    events = wire.stream_events([{"x": 1}, {"y": 2}])
    assert events[-1] == OPENAI_DONE == b"data: [DONE]\n\n"
    assert [_decode(e) for e in events[:-1]] == [{"x": 1}, {"y": 2}]


def test_malformed_event_is_not_json() -> None:
    event = wire.malformed_event()
    assert event.startswith(b"data: ")
    with pytest.raises(ValueError):
        json.loads(event[6:])


@pytest.mark.parametrize(
    ("status", "code", "etype", "ecode"),
    [
        (429, None, "requests", "rate_limit_exceeded"),
        (429, "insufficient_quota", "insufficient_quota", "insufficient_quota"),
        (401, None, "invalid_request_error", "invalid_api_key"),
        (500, None, "server_error", None),
        (502, None, "cf_bad_gateway", 502),
        (503, None, "server_error", None),
        (504, None, "cf_gateway_timeout", 504),
        (418, None, "invalid_request_error", None),
        (599, None, "server_error", None),
    ],
)
def test_error_body_types_and_codes(
    status: int, code: str | None, etype: str, ecode: object
) -> None:
    error = wire.error_body(status, code=code)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == etype
    assert error["code"] == ecode
    assert error["message"]


def test_rate_limit_message_names_model_and_wait() -> None:
    message = wire.error_body(429, model="gpt-4o", retry_after=0.2)["error"]["message"]
    assert "gpt-4o" in message
    assert "Please try again in 200ms" in message


def test_missing_key_can_keep_code_null() -> None:
    assert wire.error_body(401, default_code=False)["error"]["code"] is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.02, "20ms"),
        (0.0, "0ms"),
        (1.0, "1s"),
        (17.28, "17.28s"),
        (360.0, "6m0s"),
        (3661, "1h1m1s"),
    ],
)
def test_reset_durations_use_go_syntax(seconds: float, text: str) -> None:
    assert wire.format_reset(seconds) == text


def test_ratelimit_headers() -> None:
    headers = wire.ratelimit_headers(
        limit_requests=10,
        remaining_requests=-1,
        reset_requests=6.5,
        limit_tokens=100,
        remaining_tokens=90,
        reset_tokens=0.5,
    )
    assert headers == {
        "x-ratelimit-limit-requests": "10",
        "x-ratelimit-limit-tokens": "100",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-remaining-tokens": "90",
        "x-ratelimit-reset-requests": "6.5s",
        "x-ratelimit-reset-tokens": "500ms",
    }


def test_models_list() -> None:
    body = wire.models_list(["a", "b"])
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["a", "b"]
    assert all(m["object"] == "model" for m in body["data"])
