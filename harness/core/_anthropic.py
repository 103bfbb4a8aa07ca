"""The Anthropic-compatible messages provider (``POST {base_url}/messages``)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from httpx_sse import ServerSentEvent

from harness.core._clock import Clock
from harness.core._http import Secret, classify_event_error
from harness.core._providers import (
    HTTPProvider,
    Message,
    Reply,
    StreamProgress,
    Timeouts,
    Usage,
    loads_event,
)

DEFAULT_ANTHROPIC_BASE_URL = "https://api.anthropic.com/v1"
DEFAULT_ANTHROPIC_MODEL = "claude-3-5-haiku-latest"
ANTHROPIC_VERSION = "2023-06-01"


def _with_v1(url: str) -> str:
    """Accept the SDK's convention (no ``/v1``, as in ``ANTHROPIC_BASE_URL``) and ours."""
    url = url.rstrip("/")
    return url if url.endswith("/v1") else f"{url}/v1"


class AnthropicProvider(HTTPProvider):
    """Any Anthropic-compatible API. Unset arguments come from ``ANTHROPIC_BASE_URL``,
    ``ANTHROPIC_API_KEY`` and ``ANTHROPIC_MODEL``. ``max_tokens`` defaults to 1024; system
    messages are moved to the top-level ``system`` field, as the API requires."""

    api = "anthropic"

    def __init__(
        self,
        *,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | Secret | None = None,
        name: str | None = None,
        timeouts: Timeouts | None = None,
        headers: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        max_tokens: int = 1024,
    ) -> None:
        model = model or os.environ.get("ANTHROPIC_MODEL") or DEFAULT_ANTHROPIC_MODEL
        super().__init__(
            name=name or f"anthropic:{model}",
            base_url=_with_v1(
                base_url or os.environ.get("ANTHROPIC_BASE_URL") or DEFAULT_ANTHROPIC_BASE_URL
            ),
            model=model,
            api_key=api_key if api_key is not None else os.environ.get("ANTHROPIC_API_KEY"),
            timeouts=timeouts,
            headers=headers,
            clock=clock,
        )
        self.max_tokens = max_tokens

    @property
    def url(self) -> str:
        return f"{self.base_url}/messages"

    def auth_headers(self) -> dict[str, str]:
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        key = self.api_key.reveal()
        if key:
            headers["x-api-key"] = key
        return headers

    def request_body(
        self, messages: Sequence[Message], params: Mapping[str, Any], *, stream: bool
    ) -> dict[str, Any]:
        system = [str(m.get("content", "")) for m in messages if m.get("role") == "system"]
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "messages": [dict(m) for m in messages if m.get("role") != "system"],
        }
        if system:
            body["system"] = "\n\n".join(system)
        body.update(params)
        if stream:
            body["stream"] = True
        return body

    def parse_reply(self, data: Mapping[str, Any]) -> Reply:
        blocks = data["content"]
        text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
        usage = data.get("usage") or {}
        return Reply(
            text=text,
            model=str(data.get("model") or self.model),
            usage=Usage(
                input_tokens=int(usage.get("input_tokens") or 0),
                output_tokens=int(usage.get("output_tokens") or 0),
            ),
            finish_reason=data.get("stop_reason"),
        )

    def parse_event(self, event: ServerSentEvent, progress: StreamProgress) -> str | None:
        kind = event.event
        if kind in ("ping", "content_block_start", "content_block_stop") or not event.data:
            return None
        payload = loads_event(event)
        if kind == "error" or payload.get("type") == "error":
            raise classify_event_error(self.name, payload)
        if kind == "message_start":
            usage = payload["message"].get("usage") or {}
            progress.usage = Usage(input_tokens=int(usage.get("input_tokens") or 0))
        elif kind == "content_block_delta":
            delta = payload.get("delta") or {}
            if delta.get("type") == "text_delta":
                return str(delta.get("text") or "") or None
        elif kind == "message_delta":
            usage = payload.get("usage") or {}
            progress.usage = Usage(
                input_tokens=progress.usage.input_tokens,
                output_tokens=int(usage.get("output_tokens") or 0),
            )
            progress.finish_reason = (payload.get("delta") or {}).get("stop_reason")
        elif kind == "message_stop":
            progress.done = True
        return None
