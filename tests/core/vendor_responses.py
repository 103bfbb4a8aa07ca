"""Helpers for the core's tests: respx responses in each vendor's format, a wrapper factory,
a wait for a caller queued on the connection pool."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from typing import Any

import httpx
import respx

from harness.core import (
    AnthropicProvider,
    BaseLLMWrapper,
    BreakerConfig,
    BudgetConfig,
    OpenAIProvider,
    RetryPolicy,
    VirtualClock,
)
from harness.core._transport import admission

PRIMARY = "https://primary.test/v1"
BACKUP = "https://backup.test/v1"
PRIMARY_URL = f"{PRIMARY}/chat/completions"
BACKUP_URL = f"{BACKUP}/messages"
SECRET = "sk-test-SECRET-0123456789"


def openai_ok(text: str = "hello", model: str = "gpt-test") -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        },
    )


def openai_error(
    status: int,
    *,
    code: str | None = None,
    etype: str = "server_error",
    message: str = "boom",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body = {"error": {"message": message, "type": etype, "param": None, "code": code}}
    return httpx.Response(status, json=body, headers=headers or {})


def anthropic_ok(text: str = "hi from claude") -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-test",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 4, "output_tokens": 3},
        },
    )


def anthropic_error(status: int, etype: str, message: str = "nope") -> httpx.Response:
    return httpx.Response(
        status, json={"type": "error", "error": {"type": etype, "message": message}}
    )


def openai_sse(chunks: list[str], *, done: bool = True) -> httpx.Response:
    lines = [
        "data: "
        + json.dumps({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
    ]
    for chunk in chunks:
        lines.append(
            "data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": chunk}}]})
        )
    if done:
        lines.append(
            "data: "
            + json.dumps(
                {
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": len(chunks)},
                }
            )
        )
        lines.append("data: [DONE]")
    body = "".join(f"{line}\n\n" for line in lines)
    return httpx.Response(200, content=body.encode(), headers={"content-type": "text/event-stream"})


def anthropic_sse(chunks: list[str]) -> httpx.Response:
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {"usage": {"input_tokens": 4, "output_tokens": 0}},
            },
        ),
        ("content_block_start", {"type": "content_block_start", "index": 0}),
        ("ping", {"type": "ping"}),
    ]
    for chunk in chunks:
        events.append(
            (
                "content_block_delta",
                {"type": "content_block_delta", "delta": {"type": "text_delta", "text": chunk}},
            )
        )
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 7},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    body = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
    return httpx.Response(200, content=body.encode(), headers={"content-type": "text/event-stream"})


def primary_down(mock: respx.MockRouter) -> respx.Route:
    """An outage of the primary (503 on every call) while the backup answers; the primary's
    route, for its call count."""
    mock.post(BACKUP_URL).mock(return_value=anthropic_ok())
    return mock.post(PRIMARY_URL).mock(return_value=openai_error(503))


def taking(
    clock: VirtualClock, seconds: float, response: Callable[[], httpx.Response]
) -> Callable[[httpx.Request], httpx.Response]:
    """A respx side effect: the vendor takes ``seconds`` of virtual time to give ``response()``."""

    def answer(request: httpx.Request) -> httpx.Response:
        clock.advance(seconds)
        return response()

    return answer


def make_llm(
    *,
    backup: bool = False,
    policy: RetryPolicy | None = None,
    breaker: BreakerConfig | None = None,
    budget: BudgetConfig | None = None,
    seed: int = 7,
) -> BaseLLMWrapper:
    providers: list[Any] = [
        OpenAIProvider(base_url=PRIMARY, api_key=SECRET, model="gpt-test", name="primary")
    ]
    if backup:
        providers.append(
            AnthropicProvider(base_url=BACKUP, api_key=SECRET, model="claude-test", name="backup")
        )
    return BaseLLMWrapper(
        providers,
        policy=policy or RetryPolicy(jitter="none"),
        breaker=breaker,
        budget=budget,
        rng=random.Random(seed),
    )


async def until_queued(llm: BaseLLMWrapper) -> None:
    """Returns once a call of ``llm`` waits for a connection (the pool's every one is taken)."""
    queue = admission(llm.client())
    assert queue is not None
    for _ in range(5000):
        if queue.waiting:
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the first call never took the connection")
