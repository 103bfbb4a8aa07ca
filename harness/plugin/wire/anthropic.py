"""Anthropic Messages wire format: bodies, stream events, errors and rate-limit headers.

Shapes follow the Anthropic API reference: a ``message`` object, the streaming sequence
``message_start``, ``content_block_start``, ``ping``, ``content_block_delta``...,
``content_block_stop``, ``message_delta``, ``message_stop``, and errors as
``{"type": "error", "error": {"type", "message"}, "request_id"}`` with the error type fixed by
the status (``overloaded_error`` is 529). An error code such as
``enforced_spend_limit_reached`` travels in ``error.details.error_code``, where the SDK reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from math import ceil
from typing import Any

from harness.plugin.wire.common import ratelimit_family
from harness.plugin.wire.sse import sse_event

MESSAGES_PATH = "/v1/messages"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
MODELS_PATH = "/v1/models"
REQUEST_ID_HEADER = "request-id"
VERSION_HEADER = "anthropic-version"
MODEL_CREATED_AT = "2025-01-01T00:00:00Z"

RATELIMIT_REQUESTS = (
    "anthropic-ratelimit-requests-limit",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-requests-reset",
)
"""The request rate-limit headers: limit, remaining, reset (an RFC 3339 time)."""

RATELIMIT_TOKENS = (
    "anthropic-ratelimit-tokens-limit",
    "anthropic-ratelimit-tokens-remaining",
    "anthropic-ratelimit-tokens-reset",
)
"""The token rate-limit headers, in the same order."""

ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
"""``error.type`` by status, as listed in the API's error reference."""

_MESSAGES: dict[str, str] = {
    "invalid_request_error": "There was an issue with the format or content of your request.",
    "authentication_error": "invalid x-api-key",
    "billing_error": "There is an issue with your billing or payment information.",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "Not found",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": (
        "This request would exceed the rate limit for your organization of 50 requests per "
        "minute. For details, refer to: https://docs.claude.com/en/api/rate-limits."
    ),
    "api_error": "Internal server error",
    "timeout_error": "Request timed out",
    "overloaded_error": "Overloaded",
}

MISSING_KEY_MESSAGE = "x-api-key header is required"


def usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    """The ``usage`` object of a message."""
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def message(
    *,
    message_id: str,
    model: str,
    text: str,
    input_tokens: int,
    output_tokens: int,
    stop_reason: str = "end_turn",
) -> dict[str, Any]:
    """A non-streaming ``message`` object with one text block."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage(input_tokens, output_tokens),
    }


def stream_events(
    *,
    message_id: str,
    model: str,
    pieces: Sequence[str],
    input_tokens: int,
    stop_reason: str = "end_turn",
) -> list[bytes]:
    """Every SSE event of a streamed message, ``message_stop`` (the terminator) last."""
    start = message(
        message_id=message_id, model=model, text="", input_tokens=input_tokens, output_tokens=1
    )
    start["content"] = []
    start["stop_reason"] = None
    events = [
        sse_event("message_start", {"type": "message_start", "message": start}),
        sse_event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        sse_event("ping", {"type": "ping"}),
    ]
    events.extend(
        sse_event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": piece},
            },
        )
        for piece in pieces
    )
    events.append(sse_event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    events.append(
        sse_event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": len(pieces)},
            },
        )
    )
    events.append(sse_event("message_stop", {"type": "message_stop"}))
    return events


def malformed_event() -> bytes:
    """A ``content_block_delta`` whose ``data:`` is not valid JSON (cut in the middle)."""
    return (
        b"event: content_block_delta\n"
        b'data: {"type":"content_block_delta","index":0,"delta":{"ty\n\n'
    )


def error_event(error_type: str, message_text: str) -> bytes:
    """An in-stream ``error`` event (what the API sends when a started stream fails)."""
    return sse_event(
        "error", {"type": "error", "error": {"type": error_type, "message": message_text}}
    )


def count_tokens_body(input_tokens: int) -> dict[str, Any]:
    """The ``POST /v1/messages/count_tokens`` body."""
    return {"input_tokens": input_tokens}


def models_list(models: Sequence[str]) -> dict[str, Any]:
    """The ``GET /v1/models`` body (Anthropic shape)."""
    data = [
        {"type": "model", "id": model, "display_name": model, "created_at": MODEL_CREATED_AT}
        for model in models
    ]
    return {
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def error_type_for(status: int) -> str:
    """``error.type`` for a status: the table, else ``invalid_request_error`` / ``api_error``."""
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def error_body(
    status: int,
    *,
    message: str | None = None,
    error_type: str | None = None,
    error_code: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """``{"type": "error", "error": {"type", "message"[, "details"]}, "request_id"}``.

    ``error_code`` goes to ``error.details.error_code`` unless it names an error type itself
    (``overloaded_error``, ``rate_limit_error``...), in which case it replaces ``error.type``.
    """
    if error_code is not None and error_code in _MESSAGES:
        error_type, error_code = error_code, None
    kind = error_type or error_type_for(status)
    error: dict[str, Any] = {"type": kind, "message": message or _MESSAGES.get(kind, "Error")}
    if error_code is not None:
        error["details"] = {"error_code": error_code}
    body: dict[str, Any] = {"type": "error", "error": error}
    if request_id is not None:
        body["request_id"] = request_id
    return body


def rfc3339(timestamp: float) -> str:
    """``2025-01-01T00:00:00Z`` for the first whole second at or after ``timestamp``."""
    return _rfc3339(ceil(timestamp))


@lru_cache(maxsize=64)  # one value per second: cached, a server formats it once
def _rfc3339(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ratelimit_headers(
    *,
    limit_requests: int,
    remaining_requests: int,
    reset_requests_at: float,
    limit_tokens: int | None = None,
    remaining_tokens: int = 0,
    reset_tokens_at: float = 0.0,
) -> dict[str, str]:
    """``anthropic-ratelimit-*`` headers (resets as POSIX timestamps, sent as RFC 3339).

    The token family only when ``limit_tokens`` is given.
    """
    headers = ratelimit_family(
        RATELIMIT_REQUESTS, limit_requests, remaining_requests, rfc3339(reset_requests_at)
    )
    if limit_tokens is not None:
        tokens = rfc3339(reset_tokens_at)
        headers |= ratelimit_family(RATELIMIT_TOKENS, limit_tokens, remaining_tokens, tokens)
    return headers


def response_headers(request_id: str) -> dict[str, str]:
    """Headers Anthropic adds to every answer besides rate limits (the request id)."""
    return {REQUEST_ID_HEADER: request_id}
