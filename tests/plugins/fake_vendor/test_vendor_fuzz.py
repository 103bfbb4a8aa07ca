"""Fuzzing the fake vendor's routes with hostile bodies: always an answer, never a 5xx.

For every body (random bytes, JSON nested far past the parser's limit, numbers too large for
any type, valid JSON with the wrong types in the known fields), every route answers within
the client's timeout with a status below 500; an error (4xx) carries the route's own error
body with a message: ``{"error": {"message": ...}}`` for OpenAI and the control API,
``{"type": "error", "error": {"message": ...}}`` for Anthropic. Faults a valid spec installs
are removed after each example, so no example changes what the next one sees.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fake_vendor_support import vendor_http
from fuzz_support import FUZZ, any_json, nested
from hypothesis import given
from hypothesis import strategies as st

from harness_fake_vendor import FakeVendor

json_values = any_json(st.integers(min_value=10**30, max_value=10**60))


deep_bodies = st.builds(nested, st.integers(1, 60_000), st.sampled_from(["array", "object"]))
huge_numbers = st.builds(
    lambda field, digits: b'{"model": "m", "%s": 1%s}' % (field.encode(), b"0" * digits),
    st.sampled_from(["max_tokens", "stream", "messages", "model", "temperature"]),
    st.integers(300, 20_000),
)
raw_literals = st.sampled_from([b"1e999", b"-1e999", b"NaN", b"Infinity", b'{"model": NaN}'])


def _message(role: Any, content: Any) -> dict[str, Any]:
    return {"role": role, "content": content}


messages = st.lists(
    st.builds(_message, st.sampled_from(["user", "system", "assistant"]) | json_values, json_values)
    | json_values,
    max_size=4,
)
request_like = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["gpt-4o-mini", "claude-haiku-4-5"]) | json_values,
        "messages": messages | json_values,
        "stream": st.booleans() | json_values,
        "max_tokens": st.integers(-(10**6), 10**6) | json_values,
        "max_completion_tokens": json_values,
        "stream_options": st.fixed_dictionaries({"include_usage": json_values}) | json_values,
        "system": json_values,
    },
)
fault_like = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(
            [
                "http_status",
                "latency",
                "first_token_delay",
                "stream_cut",
                "stream_stall",
                "malformed_stream",
                "connection_reset",
                "empty_response",
                "packet_loss",
            ]
        )
        | json_values
    },
    optional=dict.fromkeys(
        (
            "status",
            "latency",
            "jitter",
            "distribution",
            "sigma",
            "delay",
            "stall",
            "after_events",
            "retry_after",
            "retry_after_format",
            "error_code",
            "message",
            "should_retry",
            "route",
            "model",
            "after",
            "every",
            "rate",
            "first",
            "seed",
            "name",
            "target",
        ),
        json_values,
    ),
)


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


bodies = st.one_of(
    st.binary(max_size=2_000),
    deep_bodies,
    huge_numbers,
    raw_literals,
    json_values.map(_dumps),
    request_like.map(_dumps),
)
control_bodies = st.one_of(bodies, fault_like.map(_dumps))


@pytest.fixture(scope="module")
def http(vendor: FakeVendor) -> Iterator[httpx.Client]:
    vendor.control.reset(faults=True)
    with vendor_http(vendor, timeout=10.0) as client:
        yield client


def assert_answered(response: httpx.Response, shape: str) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code < 400:
        return
    body = response.json()
    if shape == "anthropic":
        assert body["type"] == "error", body
    message = body["error"]["message"]
    assert isinstance(message, str), body
    assert message, body


@FUZZ
@given(body=bodies, route=st.sampled_from(["/v1/chat/completions", "/chat/completions"]))
def test_openai_chat_completions_never_fails_on_a_body(
    http: httpx.Client, body: bytes, route: str
) -> None:
    assert_answered(http.post(route, content=body), "openai")


@FUZZ
@given(body=bodies, route=st.sampled_from(["/v1/messages", "/v1/messages/count_tokens"]))
def test_anthropic_messages_never_fail_on_a_body(
    http: httpx.Client, body: bytes, route: str
) -> None:
    headers = {"x-api-key": "sk-ant", "anthropic-version": "2023-06-01"}
    assert_answered(http.post(route, content=body, headers=headers), "anthropic")


@FUZZ
@given(body=control_bodies, route=st.sampled_from(["/_harness/faults", "/_harness/reset"]))
def test_control_api_never_fails_on_a_body(http: httpx.Client, body: bytes, route: str) -> None:
    try:
        assert_answered(http.post(route, content=body), "control")
    finally:
        assert http.delete("/_harness/faults").status_code == 200
