"""Server-Sent Events framing (https://html.spec.whatwg.org/multipage/server-sent-events.html)."""

from __future__ import annotations

from typing import Any

from harness.plugin.wire.common import dumps

OPENAI_DONE = b"data: [DONE]\n\n"
"""The terminator of an OpenAI stream."""


def sse_data(data: Any) -> bytes:
    """One unnamed event: ``data: {json}\\n\\n`` (OpenAI style)."""
    payload = data if isinstance(data, bytes) else dumps(data)
    return b"data: " + payload + b"\n\n"


def sse_event(event: str, data: Any) -> bytes:
    """One named event: ``event: NAME\\ndata: {json}\\n\\n`` (Anthropic style)."""
    payload = data if isinstance(data, bytes) else dumps(data)
    return b"event: " + event.encode() + b"\ndata: " + payload + b"\n\n"
