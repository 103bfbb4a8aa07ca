"""Streaming: retried or failed over before the first chunk, never re-sent after it."""

from __future__ import annotations

import httpx
import pytest
import respx
from vendor_responses import (
    BACKUP_URL,
    PRIMARY_URL,
    anthropic_sse,
    make_llm,
    openai_error,
    openai_sse,
)

from harness.core import AllProvidersFailed, StreamInterrupted, VirtualClock

pytestmark = pytest.mark.anyio


async def collect(stream: object) -> list[str]:
    return [chunk async for chunk in stream]  # type: ignore[attr-defined]


async def test_openai_stream_yields_chunks_and_usage(
    mock: respx.MockRouter, clock: VirtualClock
) -> None:
    route = mock.post(PRIMARY_URL).mock(return_value=openai_sse(["Hel", "lo", "!"]))
    stream = make_llm().stream("hi")
    assert await collect(stream) == ["Hel", "lo", "!"]
    assert stream.text == "Hello!"
    assert stream.provider == "primary"
    assert stream.attempts == 1
    assert stream.usage.output_tokens == 3
    assert stream.finish_reason == "stop"
    body = route.calls.last.request.content
    assert b'"stream": true' in body or b'"stream":true' in body


async def test_anthropic_stream_through_fallback(
    mock: respx.MockRouter, clock: VirtualClock
) -> None:
    mock.post(PRIMARY_URL).mock(return_value=openai_error(503))
    mock.post(BACKUP_URL).mock(return_value=anthropic_sse(["Bon", "jour"]))
    stream = make_llm(backup=True).stream("hi")
    assert await collect(stream) == ["Bon", "jour"]
    assert stream.provider == "backup"
    assert stream.fallback is True
    assert stream.attempts == 3  # two on the primary (the 2 s step is not worth it), one backup
    assert stream.usage.output_tokens == 7
    assert stream.finish_reason == "end_turn"


async def test_cut_before_the_first_chunk_is_retried(
    mock: respx.MockRouter, clock: VirtualClock
) -> None:
    route = mock.post(PRIMARY_URL)
    route.side_effect = [
        httpx.Response(200, content=b"", headers={"content-type": "text/event-stream"}),
        openai_sse(["ok"]),
    ]
    stream = make_llm().stream("hi")
    assert await collect(stream) == ["ok"]
    assert stream.attempts == 2
    assert route.call_count == 2


async def test_error_status_before_streaming_is_retried(
    mock: respx.MockRouter, clock: VirtualClock
) -> None:
    route = mock.post(PRIMARY_URL)
    route.side_effect = [openai_error(429, headers={"retry-after-ms": "250"}), openai_sse(["ok"])]
    stream = make_llm().stream("hi")
    assert await collect(stream) == ["ok"]
    assert clock.sleeps == [0.25]


async def test_cut_after_the_first_chunk_raises_with_the_partial_text(
    mock: respx.MockRouter, clock: VirtualClock
) -> None:
    route = mock.post(PRIMARY_URL).mock(
        return_value=openai_sse(["The ", "answer ", "is"], done=False)
    )
    stream = make_llm().stream("hi")
    received: list[str] = []
    with pytest.raises(StreamInterrupted) as info:
        async for chunk in stream:
            received.append(chunk)
    assert received == ["The ", "answer ", "is"]
    assert info.value.partial_text == "The answer is"
    assert info.value.provider == "primary"
    assert route.call_count == 1  # never re-sent: the caller already has those tokens


async def test_malformed_event_mid_stream_interrupts(
    mock: respx.MockRouter, clock: VirtualClock
) -> None:
    body = (
        'data: {"choices":[{"index":0,"delta":{"content":"one"}}]}\n\n'
        "data: {this is not json\n\n"
        "data: [DONE]\n\n"
    )
    mock.post(PRIMARY_URL).mock(
        return_value=httpx.Response(
            200, content=body.encode(), headers={"content-type": "text/event-stream"}
        )
    )
    with pytest.raises(StreamInterrupted) as info:
        await collect(make_llm().stream("hi"))
    assert info.value.partial_text == "one"


async def test_error_event_before_text_fails_over(
    mock: respx.MockRouter, clock: VirtualClock
) -> None:
    overloaded = 'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"busy"}}\n\n'
    mock.post(PRIMARY_URL).mock(return_value=openai_error(503))
    backup = mock.post(BACKUP_URL)
    backup.side_effect = [
        httpx.Response(
            200, content=overloaded.encode(), headers={"content-type": "text/event-stream"}
        ),
        anthropic_sse(["fine"]),
    ]
    stream = make_llm(backup=True).stream("hi")
    assert await collect(stream) == ["fine"]
    assert backup.call_count == 2


async def test_stream_from_a_dead_chain_raises_all_providers_failed(
    mock: respx.MockRouter, clock: VirtualClock
) -> None:
    mock.post(PRIMARY_URL).mock(return_value=openai_error(500))
    with pytest.raises(AllProvidersFailed):
        await collect(make_llm().stream("hi"))
