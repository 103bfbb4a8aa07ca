"""The OpenAI-compatible chat provider (``POST {base_url}/chat/completions``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from httpx_sse import ServerSentEvent

from harness.core._http import classify_event_error
from harness.core._providers import Message, Reply, StreamProgress, loads_event
from harness.core._vendor import VendorProvider, usage_from

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"


class OpenAIProvider(VendorProvider):
    """Any OpenAI-compatible API. Unset arguments come from ``OPENAI_BASE_URL``,
    ``OPENAI_API_KEY`` and ``OPENAI_MODEL``."""

    api = "openai"
    env_prefix = "OPENAI"
    default_base_url = DEFAULT_OPENAI_BASE_URL
    default_model = DEFAULT_OPENAI_MODEL

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
            usage=usage_from(usage, "prompt_tokens", "completion_tokens"),
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
            progress.usage = usage_from(usage, "prompt_tokens", "completion_tokens")
        choices = payload.get("choices") or []
        if not choices:
            return None
        choice = choices[0]
        if choice.get("finish_reason"):
            progress.finish_reason = choice["finish_reason"]
        content = (choice.get("delta") or {}).get("content")
        return str(content) if content else None
