"""The official ``anthropic`` SDK, unchanged, against the fake vendor."""

from __future__ import annotations

import time

import anthropic
import httpx2
import pytest
from fake_vendor_support import ANTHROPIC_MODEL

from harness_fake_vendor import FakeVendor, VendorControl

MESSAGES = [{"role": "user", "content": "hello there"}]


def test_plain_message(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES)
    assert message.content[0].type == "text"
    assert message.content[0].text == "echo: hello there"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (2, 3)
    assert message._request_id is not None


def test_streaming_helper(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(
        model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES, system="be brief"
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert pieces == ["echo: ", "hello ", "there"]
    assert final.content[0].type == "text"
    assert final.content[0].text == "echo: hello there"
    assert final.usage.input_tokens == 4
    assert final.usage.output_tokens == 3


def test_raw_stream_events(claude: anthropic.Anthropic) -> None:
    stream = claude.messages.create(
        model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES, stream=True
    )
    with stream:
        kinds = [event.type for event in stream]
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_stop"
    assert kinds.count("content_block_delta") == 3
    assert "ping" not in kinds  # the SDK swallows pings


def test_count_tokens(claude: anthropic.Anthropic) -> None:
    result = claude.messages.count_tokens(model=ANTHROPIC_MODEL, messages=MESSAGES)
    assert result.input_tokens == 2


def test_overloaded_529_is_retried(claude: anthropic.Anthropic, control: VendorControl) -> None:
    control.add_fault(
        {
            "kind": "http_status",
            "status": 529,
            "first": 1,
            "retry_after": "100ms",
            "retry_after_format": "ms",
        }
    )
    message = claude.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES)
    assert message.content[0].type == "text"
    assert control.counters()["responses_by_status"] == {"529": 1, "200": 1}


def test_overloaded_without_retry_after_uses_the_sdk_backoff(
    claude: anthropic.Anthropic, control: VendorControl
) -> None:
    control.add_fault({"kind": "http_status", "status": 529})
    started = time.perf_counter()
    with pytest.raises(anthropic.OverloadedError) as raised:
        claude.with_options(max_retries=1).messages.create(
            model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES
        )
    assert time.perf_counter() - started >= 0.375  # 0.5 s minus at most 25 % jitter
    assert raised.value.status_code == 529
    assert raised.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert control.counters()["requests_total"] == 2


def test_rate_limit_retry_after_seconds(
    claude: anthropic.Anthropic, control: VendorControl
) -> None:
    control.add_fault({"kind": "http_status", "status": 429, "retry_after": 0.2, "first": 2})
    started = time.perf_counter()
    claude.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES)
    assert 0.4 <= time.perf_counter() - started < 1.1  # SDK backoff alone: >= 1.125 s
    assert control.counters()["responses_by_status"] == {"429": 2, "200": 1}


def test_rate_limit_error_class_and_body(
    claude: anthropic.Anthropic, control: VendorControl
) -> None:
    control.add_fault({"kind": "http_status", "status": 429, "should_retry": False})
    with pytest.raises(anthropic.RateLimitError) as raised:
        claude.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES)
    assert raised.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert raised.value.request_id == raised.value.response.headers["request-id"]
    assert control.counters()["requests_total"] == 1


def test_missing_key_is_authentication_error(
    claude: anthropic.Anthropic, control: VendorControl
) -> None:
    with pytest.raises(anthropic.AuthenticationError):
        claude.messages.create(
            model=ANTHROPIC_MODEL,
            max_tokens=64,
            messages=MESSAGES,
            extra_headers={"Authorization": anthropic.omit},
        )


def test_connection_reset_is_a_connection_error(
    claude: anthropic.Anthropic, control: VendorControl
) -> None:
    control.add_fault({"kind": "connection_reset"})
    with pytest.raises(anthropic.APIConnectionError):
        claude.with_options(max_retries=0).messages.create(
            model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES
        )
    assert control.counters()["responses_by_status"] == {"connection_reset": 1}


def test_stream_cut_raises_the_raw_transport_error(
    claude: anthropic.Anthropic, control: VendorControl
) -> None:
    """Unlike OpenAI's, the Anthropic SDK lets the transport error through unwrapped."""
    control.add_fault({"kind": "stream_cut", "after_events": 4})
    seen: list[str] = []
    with (
        pytest.raises(httpx2.RemoteProtocolError, match="incomplete chunked read"),
        claude.messages.stream(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES) as stream,
    ):
        seen.extend(stream.text_stream)
    assert seen == ["echo: "]


def test_malformed_stream_and_empty_response_are_json_errors(
    claude: anthropic.Anthropic, control: VendorControl
) -> None:
    control.add_fault({"kind": "malformed_stream", "after_events": 3, "first": 1})
    stream = claude.messages.create(
        model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES, stream=True
    )
    with stream, pytest.raises(ValueError, match="Unterminated string"):
        list(stream)
    control.add_fault({"kind": "empty_response", "first": 1})
    with pytest.raises(ValueError):
        claude.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES)


def test_first_token_delay_with_the_stream_helper(
    claude: anthropic.Anthropic, control: VendorControl
) -> None:
    control.add_fault({"kind": "first_token_delay", "delay": "250ms", "model": ANTHROPIC_MODEL})
    started = time.perf_counter()
    with claude.messages.stream(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES) as stream:
        first = next(iter(stream.text_stream))
        waited = time.perf_counter() - started
    assert first == "echo: "
    assert waited >= 0.25


@pytest.mark.anyio
async def test_async_client(vendor: FakeVendor, control: VendorControl) -> None:
    async with anthropic.AsyncAnthropic(
        base_url=vendor.anthropic_base_url, api_key="sk-ant-test", max_retries=0
    ) as client:
        message = await client.messages.create(
            model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES
        )
        async with client.messages.stream(
            model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES
        ) as stream:
            text = await stream.get_final_text()
    assert message.content[0].type == "text"
    assert text == "echo: hello there"
