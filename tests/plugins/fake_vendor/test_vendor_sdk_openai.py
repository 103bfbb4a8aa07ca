"""The official ``openai`` SDK, unchanged, against the fake vendor."""

from __future__ import annotations

import time

import anyio
import openai
import pytest
from fake_vendor_support import OPENAI_MODEL

from harness_fake_vendor import FakeVendor, VendorControl

MESSAGES = [{"role": "user", "content": "hello there"}]


def test_plain_completion(oai: openai.OpenAI, control: VendorControl) -> None:
    completion = oai.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
    assert completion.choices[0].message.content == "echo: hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.total_tokens == 5
    assert completion._request_id is not None
    assert completion._request_id.startswith("req_")


def test_streaming_with_usage(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model=OPENAI_MODEL,
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    with stream:
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: hello there"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 3
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 3


def test_models_list(oai: openai.OpenAI) -> None:
    assert OPENAI_MODEL in [m.id for m in oai.models.list()]


def test_sdk_retries_honour_retry_after_seconds(oai: openai.OpenAI, control: VendorControl) -> None:
    control.add_fault({"kind": "http_status", "status": 429, "retry_after": 0.2, "first": 2})
    started = time.perf_counter()
    completion = oai.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
    elapsed = time.perf_counter() - started
    assert completion.choices[0].message.content == "echo: hello there"
    # two waits of 0.2 s; the SDK's own backoff would have taken >= 1.125 s
    assert 0.4 <= elapsed < 1.1
    counters = control.counters()
    assert counters["requests_total"] == 3
    assert counters["responses_by_status"] == {"429": 2, "200": 1}


def test_sdk_retries_honour_retry_after_ms(oai: openai.OpenAI, control: VendorControl) -> None:
    control.add_fault(
        {"kind": "http_status", "status": 503, "retry_after": "150ms", "retry_after_format": "ms"}
    )
    started = time.perf_counter()
    with pytest.raises(openai.InternalServerError) as raised:
        oai.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
    elapsed = time.perf_counter() - started
    assert raised.value.status_code == 503
    assert 0.3 <= elapsed < 1.1
    assert control.counters()["requests_total"] == 3  # 1 + max_retries


def test_sdk_honours_retry_after_http_date(oai: openai.OpenAI, control: VendorControl) -> None:
    control.add_fault(
        {
            "kind": "http_status",
            "status": 429,
            "retry_after": 0.2,
            "retry_after_format": "http-date",
            "first": 1,
        }
    )
    started = time.perf_counter()
    oai.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
    assert 0.2 <= time.perf_counter() - started < 1.6  # the date has one-second resolution
    assert control.counters()["requests_total"] == 2


def test_insufficient_quota_is_a_rate_limit_error_with_its_code(
    oai: openai.OpenAI, control: VendorControl
) -> None:
    control.add_fault(
        {
            "kind": "http_status",
            "status": 429,
            "error_code": "insufficient_quota",
            "should_retry": False,
        }
    )
    with pytest.raises(openai.RateLimitError) as raised:
        oai.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
    assert raised.value.code == "insufficient_quota"
    assert raised.value.type == "insufficient_quota"
    assert control.counters()["requests_total"] == 1  # x-should-retry: false stops the SDK


def test_x_should_retry_true_retries_a_400(oai: openai.OpenAI, control: VendorControl) -> None:
    control.add_fault(
        {
            "kind": "http_status",
            "status": 400,
            "should_retry": True,
            "retry_after": 0.05,
            "first": 1,
        }
    )
    oai.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
    assert control.counters()["responses_by_status"] == {"400": 1, "200": 1}


def test_missing_key_is_authentication_error(oai: openai.OpenAI, control: VendorControl) -> None:
    with pytest.raises(openai.AuthenticationError) as raised:
        oai.chat.completions.create(
            model=OPENAI_MODEL, messages=MESSAGES, extra_headers={"Authorization": ""}
        )
    assert raised.value.code is None
    assert control.counters()["requests_total"] == 1


def test_connection_reset_is_a_connection_error_after_retries(
    oai: openai.OpenAI, control: VendorControl
) -> None:
    control.add_fault({"kind": "connection_reset"})
    with pytest.raises(openai.APIConnectionError) as raised:
        oai.with_options(max_retries=1).chat.completions.create(
            model=OPENAI_MODEL, messages=MESSAGES
        )
    assert not isinstance(raised.value, openai.APIStatusError)
    assert "reset" in repr(raised.value.__cause__).lower()
    assert control.counters()["responses_by_status"] == {"connection_reset": 2}


def test_stream_cut_raises_connection_error_mid_stream(
    oai: openai.OpenAI, control: VendorControl
) -> None:
    """The OpenAI SDK wraps the truncated body in APIConnectionError while iterating."""
    control.add_fault({"kind": "stream_cut", "after_events": 2})
    stream = oai.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES, stream=True)
    seen: list[str] = []
    with stream, pytest.raises(openai.APIConnectionError):
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content or "")
    assert seen == ["", "echo: "]  # the role chunk and one piece, then nothing


def test_latency_and_stall_slow_the_sdk_down(oai: openai.OpenAI, control: VendorControl) -> None:
    control.add_fault({"kind": "latency", "latency": "150ms", "distribution": "fixed"})
    control.add_fault({"kind": "stream_stall", "after_events": 2, "stall": "200ms"})
    started = time.perf_counter()
    oai.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
    assert time.perf_counter() - started >= 0.15
    started = time.perf_counter()
    stream = oai.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES, stream=True)
    arrivals = []
    with stream:
        for chunk in stream:
            arrivals.append((time.perf_counter() - started, chunk.choices[0].delta.content))
    assert "".join(text or "" for _, text in arrivals) == "echo: hello there"  # nothing lost
    assert arrivals[2][0] - arrivals[1][0] >= 0.15  # the stall sits between chunks 2 and 3
    assert arrivals[0][0] >= 0.15  # the latency came first


def test_malformed_stream_surfaces_as_a_json_error(
    oai: openai.OpenAI, control: VendorControl
) -> None:
    control.add_fault({"kind": "malformed_stream", "after_events": 1})
    stream = oai.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES, stream=True)
    with stream, pytest.raises(ValueError, match="Unterminated string"):
        list(stream)


def test_empty_response_fails_to_parse(oai: openai.OpenAI, control: VendorControl) -> None:
    control.add_fault({"kind": "empty_response"})
    with pytest.raises(ValueError):
        oai.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
    assert control.counters()["requests_total"] == 1  # a 200 is never retried


def test_empty_streaming_response_ends_silently(oai: openai.OpenAI, control: VendorControl) -> None:
    """No event, no [DONE]: the SDK yields nothing and raises nothing."""
    control.add_fault({"kind": "empty_response"})
    stream = oai.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES, stream=True)
    with stream:
        assert list(stream) == []


@pytest.mark.anyio
async def test_async_client_streams_and_runs_concurrently(
    vendor: FakeVendor, control: VendorControl
) -> None:
    async with openai.AsyncOpenAI(
        base_url=vendor.openai_base_url, api_key="sk-test", max_retries=0
    ) as client:
        stream = await client.chat.completions.create(
            model=OPENAI_MODEL, messages=MESSAGES, stream=True
        )
        async with stream:
            text = "".join([c.choices[0].delta.content or "" async for c in stream])
        assert text == "echo: hello there"

        answers: list[str] = []

        async def one(index: int) -> None:
            completion = await client.chat.completions.create(
                model=OPENAI_MODEL, messages=[{"role": "user", "content": f"n{index}"}]
            )
            answers.append(completion.choices[0].message.content or "")

        async with anyio.create_task_group() as group:
            for index in range(50):
                group.start_soon(one, index)
    assert sorted(answers) == sorted(f"echo: n{i}" for i in range(50))
    assert control.counters()["requests_total"] == 51
