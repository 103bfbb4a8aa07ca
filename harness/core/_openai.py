"""The OpenAI-compatible chat provider (``POST {base_url}/chat/completions``)."""

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

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"


class OpenAIProvider(HTTPProvider):
    """Any OpenAI-compatible API. Unset arguments come from ``OPENAI_BASE_URL``,
    ``OPENAI_API_KEY`` and ``OPENAI_MODEL``."""

    api = "openai"

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
    ) -> None:
        model = model or os.environ.get("OPENAI_MODEL") or DEFAULT_OPENAI_MODEL
        super().__init__(
            name=name or f"openai:{model}",
            base_url=base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_OPENAI_BASE_URL,
            model=model,
            api_key=api_key if api_key is not None else os.environ.get("OPENAI_API_KEY"),
            timeouts=timeouts,
            headers=headers,
            clock=clock,
        )

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def auth_headers(self) -> dict[str, str]:
        key = self.api_key.reveal()
        return {"authorization": f"Bearer {key}"} if key else {}

    def request_body(
        self, messages: Sequence[Message], params: Mapping[str, Any], *, stream: bool
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": list(messages)}
        body.update(params)
        if stream:
            body["stream"] = True
            body.setdefault("stream_options", {"include_usage": True})
        return body

    def parse_reply(self, data: Mapping[str, Any]) -> Reply:
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        return Reply(
            text=choice["message"].get("content") or "",
            model=str(data.get("model") or self.model),
            usage=Usage(
                input_tokens=int(usage.get("prompt_tokens") or 0),
                output_tokens=int(usage.get("completion_tokens") or 0),
            ),
            finish_reason=choice.get("finish_reason"),
        )

    def parse_event(self, event: ServerSentEvent, progress: StreamProgress) -> str | None:
        if event.data.strip() == "[DONE]":
            progress.done = True
            return None
        if not event.data:
            return None
        payload = loads_event(event)
        if "error" in payload:
            raise classify_event_error(self.name, payload)
        usage = payload.get("usage")
        if usage:
            progress.usage = Usage(
                input_tokens=int(usage.get("prompt_tokens") or 0),
                output_tokens=int(usage.get("completion_tokens") or 0),
            )
        choices = payload.get("choices") or []
        if not choices:
            return None
        choice = choices[0]
        if choice.get("finish_reason"):
            progress.finish_reason = choice["finish_reason"]
        content = (choice.get("delta") or {}).get("content")
        return str(content) if content else None
