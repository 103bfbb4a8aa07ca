"""The vendor side without faults: answers, headers, auth and validation errors."""

from __future__ import annotations

import json

import httpx
from fake_vendor_support import (
    ANTHROPIC_MODEL,
    CHAT,
    KEY_HEADERS,
    MESSAGES,
    OPENAI_MODEL,
    chat_body,
    messages_body,
    sse_data_lines,
)

from harness_fake_vendor import FakeVendor, VendorControl


def test_chat_completion_echoes_the_last_user_message(http: httpx.Client) -> None:
    response = http.post(CHAT, json=chat_body("hello there"))
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == OPENAI_MODEL
    assert body["choices"][0]["message"]["content"] == "echo: hello there"
    assert body["usage"] == {
        **body["usage"],
        "prompt_tokens": 2,
        "completion_tokens": 3,
        "total_tokens": 5,
    }
    assert response.headers["x-request-id"].startswith("req_")


def test_chat_streaming_ends_with_done_and_honours_include_usage(http: httpx.Client) -> None:
    plain = http.post(CHAT, json=chat_body("a b c", stream=True))
    assert plain.headers["content-type"].startswith("text/event-stream")
    lines = sse_data_lines(plain.text)
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == "echo: a b c"
    assert all("usage" not in c for c in chunks)

    with_usage = http.post(
        CHAT, json=chat_body("a b c", stream=True, stream_options={"include_usage": True})
    )
    chunks = [json.loads(line) for line in sse_data_lines(with_usage.text)[:-1]]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 4
    assert all(c["usage"] is None for c in chunks[:-1])


def test_max_tokens_truncates_with_length(http: httpx.Client) -> None:
    body = http.post(CHAT, json=chat_body("one two three", max_tokens=2)).json()
    assert body["choices"][0]["message"]["content"] == "echo: one "
    assert body["choices"][0]["finish_reason"] == "length"
    message = http.post(MESSAGES, json=messages_body("one two three", max_tokens=2)).json()
    assert message["stop_reason"] == "max_tokens"


def test_anthropic_message_and_stream(http: httpx.Client) -> None:
    message = http.post(MESSAGES, json=messages_body("hi")).json()
    assert message["type"] == "message"
    assert message["content"] == [{"type": "text", "text": "echo: hi"}]
    assert message["model"] == ANTHROPIC_MODEL
    stream = http.post(MESSAGES, json=messages_body("hi", stream=True))
    assert stream.headers["request-id"].startswith("req_")
    events = [line[7:] for line in stream.text.splitlines() if line.startswith("event: ")]
    assert events[0] == "message_start"
    assert "ping" in events
    assert events[-1] == "message_stop"


def test_count_tokens(http: httpx.Client) -> None:
    response = http.post(
        "/v1/messages/count_tokens",
        json={
            "model": ANTHROPIC_MODEL,
            "system": "be brief",
            "messages": [{"role": "user", "content": "a b c"}],
        },
    )
    assert response.json() == {"input_tokens": 5}


def test_models_in_each_vendor_shape(http: httpx.Client) -> None:
    openai_models = http.get("/v1/models").json()
    assert openai_models["object"] == "list"
    assert OPENAI_MODEL in [m["id"] for m in openai_models["data"]]
    anthropic_models = http.get("/v1/models", headers={"anthropic-version": "2023-06-01"}).json()
    assert anthropic_models["has_more"] is False
    assert ANTHROPIC_MODEL in [m["id"] for m in anthropic_models["data"]]


def test_routes_without_v1_prefix(http: httpx.Client) -> None:
    assert http.post("/chat/completions", json=chat_body()).status_code == 200


def test_missing_key_is_401_in_each_vendor_format(
    vendor: FakeVendor, control: VendorControl
) -> None:
    with httpx.Client(base_url=vendor.url, trust_env=False) as bare:
        openai_error = bare.post(CHAT, json=chat_body())
        anthropic_error = bare.post(MESSAGES, json=messages_body())
        with_key = bare.post(MESSAGES, json=messages_body(), headers={"x-api-key": "sk-ant"})
    assert openai_error.status_code == 401
    error = openai_error.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] is None
    assert "API key" in error["message"]
    assert anthropic_error.status_code == 401
    assert anthropic_error.json()["error"]["type"] == "authentication_error"
    assert with_key.status_code == 200
    assert control.counters()["responses_by_status"] == {"401": 2, "200": 1}


def test_validation_errors(http: httpx.Client) -> None:
    bad_json = http.post(CHAT, content=b"{nope", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400
    assert bad_json.json()["error"]["type"] == "invalid_request_error"
    no_messages = http.post(CHAT, json={"model": OPENAI_MODEL})
    assert no_messages.status_code == 400
    assert no_messages.json()["error"]["param"] == "messages"
    no_max = http.post(MESSAGES, json={"model": ANTHROPIC_MODEL, "messages": []})
    assert no_max.status_code == 400
    assert no_max.json()["error"] == {
        "type": "invalid_request_error",
        "message": "max_tokens: Field required",
    }


def test_unknown_route_is_404(http: httpx.Client) -> None:
    response = http.get("/v1/nothing")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Invalid URL (GET /v1/nothing)"
    assert http.get(CHAT).status_code == 404


def test_rate_limit_headers_count_down(http: httpx.Client) -> None:
    first = http.post(CHAT, json=chat_body())
    second = http.post(CHAT, json=chat_body())
    assert first.headers["x-ratelimit-limit-requests"] == "10000"
    remaining = [int(r.headers["x-ratelimit-remaining-requests"]) for r in (first, second)]
    assert remaining == [9999, 9998]
    assert first.headers["x-ratelimit-reset-requests"].endswith("s")
    assert "x-ratelimit-limit-tokens" not in first.headers  # token headers are opt-in
    claude = http.post(MESSAGES, json=messages_body())
    assert claude.headers["anthropic-ratelimit-requests-remaining"] == "9997"
    assert claude.headers["anthropic-ratelimit-requests-reset"].endswith("Z")
    errors = http.get("/v1/nowhere")
    assert errors.headers["x-ratelimit-remaining-requests"] == "9996"


def test_token_rate_limit_headers_when_configured() -> None:
    with (
        FakeVendor(rate_limit_tokens=1000, rate_limit_window=30) as vendor,
        httpx.Client(base_url=vendor.url, headers=KEY_HEADERS, trust_env=False) as client,
    ):
        first = client.post(CHAT, json=chat_body("a b"))  # 2 in, 3 out ("echo: a b")
        second = client.post(MESSAGES, json=messages_body("a b"))
    assert first.headers["x-ratelimit-limit-tokens"] == "1000"
    assert first.headers["x-ratelimit-remaining-tokens"] == "995"
    assert first.headers["x-ratelimit-reset-tokens"].endswith("s")
    assert second.headers["anthropic-ratelimit-tokens-limit"] == "1000"
    assert second.headers["anthropic-ratelimit-tokens-remaining"] == "990"


def test_enforced_rate_limit_answers_429_with_retry_after() -> None:
    with (
        FakeVendor(rate_limit_requests=2, enforce_rate_limit=True) as small,
        httpx.Client(
            base_url=small.url, headers={"Authorization": "Bearer k"}, trust_env=False
        ) as c,
    ):
        statuses = [c.post(CHAT, json=chat_body()).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        limited = c.post(CHAT, json=chat_body())
        assert limited.headers["x-ratelimit-remaining-requests"] == "0"
        assert 0 < float(limited.headers["retry-after"]) <= 60
        assert limited.json()["error"]["code"] == "rate_limit_exceeded"


def test_answers_are_reproducible(http: httpx.Client) -> None:
    one = http.post(CHAT, json=chat_body("same")).json()
    two = http.post(CHAT, json=chat_body("same")).json()
    assert one["choices"] == two["choices"]
    assert one["usage"] == two["usage"]
