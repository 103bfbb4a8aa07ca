"""The Anthropic-compatible messages provider (``POST {base_url}/messages``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Unpack

from httpx_sse import ServerSentEvent

from harness.core._http import classify_event_error
from harness.core._providers import Message, Reply, StreamProgress, Usage, loads_event
from harness.core._vendor import VendorOptions, VendorProvider, usage_from

DEFAULT_ANTHROPIC_BASE_URL = "https://api.anthropic.com/v1"
DEFAULT_ANTHROPIC_MODEL = "claude-3-5-haiku-latest"
ANTHROPIC_VERSION = "2023-06-01"


class AnthropicProvider(VendorProvider):
    """Any Anthropic-compatible API. Unset arguments come from ``ANTHROPIC_BASE_URL``,
    ``ANTHROPIC_API_KEY`` and ``ANTHROPIC_MODEL``. ``max_tokens`` defaults to 1024; system
    messages are moved to the top-level ``system`` field, as the API requires."""

    api = "anthropic"
    env_prefix = "ANTHROPIC"
    default_base_url = DEFAULT_ANTHROPIC_BASE_URL
    default_model = DEFAULT_ANTHROPIC_MODEL

    def __init__(self, *, max_tokens: int = 1024, **options: Unpack[VendorOptions]) -> None:
        super().__init__(**options)
        self.max_tokens = max_tokens

    @staticmethod
    def normal_base_url(url: str) -> str:
        """Accept the SDK's convention (no ``/v1``, as in ``ANTHROPIC_BASE_URL``) and ours."""
        url = url.rstrip("/")
        return url if url.endswith("/v1") else f"{url}/v1"

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
            usage=usage_from(usage, "input_tokens", "output_tokens"),
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
