"""OpenAI Chat Completions wire format: bodies, stream chunks, errors and rate-limit headers.

Shapes follow the OpenAI API reference (``chat.completion``, ``chat.completion.chunk``, the
``{"error": {"message", "type", "param", "code"}}`` envelope) and what the API is seen to send:
429 is either ``type: requests``/``code: rate_limit_exceeded`` or
``type: insufficient_quota``/``code: insufficient_quota``; 502/504 come from Cloudflare as
``cf_bad_gateway``/``cf_gateway_timeout`` with the status as an integer ``code``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from json.encoder import encode_basestring
from typing import Any

from harness.plugin.wire.common import format_seconds, ratelimit_family
from harness.plugin.wire.sse import OPENAI_DONE, sse_data

CHAT_COMPLETIONS_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
REQUEST_ID_HEADER = "x-request-id"
SYSTEM_FINGERPRINT = "fp_fakevendor"
MODEL_CREATED = 1_700_000_000

RATELIMIT_REQUESTS = (
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
)
"""The request rate-limit headers: limit, remaining, reset (a duration such as ``6m0s``)."""

RATELIMIT_TOKENS = (
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
)
"""The token rate-limit headers, in the same order."""

RATE_LIMIT_CODE = "rate_limit_exceeded"
INSUFFICIENT_QUOTA = "insufficient_quota"

_QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)
MISSING_KEY_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)

# status -> (type, code, message)
_ERRORS: dict[int, tuple[str, str | int | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: (
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
    ),
    403: ("invalid_request_error", None, "You are not allowed to sample from this model."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    408: ("invalid_request_error", None, "Request timed out."),
    409: ("invalid_request_error", None, "The request conflicts with another request."),
    413: ("invalid_request_error", None, "Request too large."),
    422: ("invalid_request_error", None, "Unprocessable request."),
    429: ("requests", RATE_LIMIT_CODE, "Rate limit reached for requests."),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    502: ("cf_bad_gateway", 502, "Bad gateway."),
    503: ("server_error", None, "The server is overloaded or not ready yet."),
    504: ("cf_gateway_timeout", 504, "Gateway timeout."),
    524: ("cf_gateway_timeout", 524, "Gateway timeout."),
}
_SERVER_ERROR: tuple[str, str | int | None, str] = (
    "server_error",
    None,
    "The server had an error processing your request.",
)
_CLIENT_ERROR: tuple[str, str | int | None, str] = ("invalid_request_error", None, "Bad request.")


def _error_row(status: int) -> tuple[str, str | int | None, str]:
    """``(type, code, message)`` for ``status``: its row, else the generic 5xx or 4xx one."""
    return _ERRORS.get(status) or (_SERVER_ERROR if status >= 500 else _CLIENT_ERROR)


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    """The ``usage`` object of a completion."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def chat_completion(
    *,
    completion_id: str,
    model: str,
    created: int,
    text: str,
    prompt_tokens: int,
    completion_tokens: int,
    finish_reason: str = "stop",
) -> dict[str, Any]:
    """A non-streaming ``chat.completion`` object with one choice."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": text,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage(prompt_tokens, completion_tokens),
        "service_tier": "default",
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }


_USAGE_DETAILS = (
    '"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},'
    '"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,'
    '"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}'
)


def chat_completion_json(
    *,
    completion_id: str,
    model: str,
    created: int,
    text: str,
    prompt_tokens: int,
    completion_tokens: int,
    finish_reason: str = "stop",
) -> bytes:
    """``dumps(chat_completion(...))``, byte for byte, built without the intermediate dicts.

    The fake vendor's hot path: a load test asks for thousands of these per second.
    """
    return (
        f'{{"id":{encode_basestring(completion_id)},"object":"chat.completion",'
        f'"created":{created},"model":{encode_basestring(model)},'
        f'"choices":[{{"index":0,"message":{{"role":"assistant","content":{encode_basestring(text)},'
        f'"refusal":null,"annotations":[]}},"logprobs":null,'
        f'"finish_reason":{encode_basestring(finish_reason)}}}],'
        f'"usage":{{"prompt_tokens":{prompt_tokens},"completion_tokens":{completion_tokens},'
        f'"total_tokens":{prompt_tokens + completion_tokens},{_USAGE_DETAILS},'
        f'"service_tier":"default","system_fingerprint":"{SYSTEM_FINGERPRINT}"}}'
    ).encode()


def _chunk(
    completion_id: str,
    model: str,
    created: int,
    choices: list[dict[str, Any]],
    include_usage: bool,
) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": choices,
    }
    if include_usage:
        chunk["usage"] = None
    return chunk


def _choice(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def chat_completion_chunks(
    *,
    completion_id: str,
    model: str,
    created: int,
    pieces: Sequence[str],
    prompt_tokens: int,
    finish_reason: str = "stop",
    include_usage: bool = False,
) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of a stream, in order, without ``[DONE]``.

    A role chunk (``content: ""``), one chunk per piece, a chunk with an empty delta and the
    ``finish_reason``; with ``stream_options.include_usage`` every chunk carries
    ``"usage": null`` and a last chunk has ``choices: []`` and the usage.
    """
    chunks = [
        _chunk(
            completion_id,
            model,
            created,
            [_choice({"role": "assistant", "content": "", "refusal": None})],
            include_usage,
        )
    ]
    chunks.extend(
        _chunk(completion_id, model, created, [_choice({"content": piece})], include_usage)
        for piece in pieces
    )
    chunks.append(
        _chunk(completion_id, model, created, [_choice({}, finish_reason)], include_usage)
    )
    if include_usage:
        last = _chunk(completion_id, model, created, [], include_usage)
        last["usage"] = usage(prompt_tokens, len(pieces))
        chunks.append(last)
    return chunks


def stream_events(chunks: Sequence[dict[str, Any]]) -> list[bytes]:
    """SSE events for ``chunks`` followed by the ``data: [DONE]`` terminator."""
    return [*(sse_data(chunk) for chunk in chunks), OPENAI_DONE]


def malformed_event() -> bytes:
    """A ``data:`` line that is not valid JSON (a chunk cut in the middle)."""
    return b'data: {"id":"chatcmpl-malformed","object":"chat.completion.chunk","choices":[{"de\n\n'


def models_list(models: Sequence[str]) -> dict[str, Any]:
    """The ``GET /v1/models`` body."""
    return {
        "object": "list",
        "data": [
            {"id": model, "object": "model", "created": MODEL_CREATED, "owned_by": "fake-vendor"}
            for model in models
        ],
    }


def error_type_for(status: int, code: str | None = None) -> str:
    """The ``error.type`` OpenAI sends for a status (and error code)."""
    if code == INSUFFICIENT_QUOTA:
        return INSUFFICIENT_QUOTA
    return _error_row(status)[0]


def default_message(
    status: int,
    code: str | None = None,
    *,
    model: str | None = None,
    retry_after: float | None = None,
) -> str:
    """The message OpenAI writes for a status (and error code)."""
    if code == INSUFFICIENT_QUOTA:
        return _QUOTA_MESSAGE
    if status == 429:
        wait = f" Please try again in {format_reset(retry_after)}." if retry_after else ""
        return (
            f"Rate limit reached for {model or 'the model'} in organization org-fakevendor on "
            f"requests per min (RPM): Limit 1, Used 1, Requested 1.{wait} Visit "
            "https://platform.openai.com/account/rate-limits to learn more."
        )
    if status == 404 and model:
        return f"The model `{model}` does not exist or you do not have access to it."
    return _error_row(status)[2]


def error_body(
    status: int,
    *,
    message: str | None = None,
    code: str | int | None = None,
    param: str | None = None,
    error_type: str | None = None,
    model: str | None = None,
    retry_after: float | None = None,
    default_code: bool = True,
) -> dict[str, Any]:
    """``{"error": {"message", "type", "param", "code"}}`` with OpenAI's values for ``status``.

    Unless ``default_code`` is false, a missing ``code`` becomes what OpenAI sends for the status
    (``rate_limit_exceeded`` for 429, ``invalid_api_key`` for 401, the integer status for
    Cloudflare's 502/504).
    """
    str_code = code if isinstance(code, str) else None
    if code is None and default_code:
        code = None if status == 404 and not model else _error_row(status)[1]
    return {
        "error": {
            "message": message
            or default_message(status, str_code, model=model, retry_after=retry_after),
            "type": error_type or error_type_for(status, str_code),
            "param": param,
            "code": code,
        }
    }


@lru_cache(maxsize=1024)  # a server formats the same few values thousands of times a second
def format_reset(seconds: float) -> str:
    """A duration as ``x-ratelimit-reset-*`` carries it (Go syntax: ``20ms``, ``1s``, ``6m0s``)."""
    if seconds < 1.0:
        return f"{max(0, round(seconds * 1000))}ms"
    hours, rest = divmod(seconds, 3600.0)
    minutes, secs = divmod(rest, 60.0)
    text = format_seconds(round(secs, 3)) + "s"
    if hours >= 1:
        return f"{int(hours)}h{int(minutes)}m{text}"
    if minutes >= 1:
        return f"{int(minutes)}m{text}"
    return text


def ratelimit_headers(
    *,
    limit_requests: int,
    remaining_requests: int,
    reset_requests: float,
    limit_tokens: int | None = None,
    remaining_tokens: int = 0,
    reset_tokens: float = 0.0,
) -> dict[str, str]:
    """``x-ratelimit-*`` headers (resets in seconds from now); token ones if ``limit_tokens``."""
    headers = ratelimit_family(
        RATELIMIT_REQUESTS, limit_requests, remaining_requests, format_reset(reset_requests)
    )
    if limit_tokens is not None:
        tokens = format_reset(reset_tokens)
        headers |= ratelimit_family(RATELIMIT_TOKENS, limit_tokens, remaining_tokens, tokens)
    return headers


def response_headers(request_id: str) -> dict[str, str]:
    """Headers OpenAI adds to every answer besides rate limits: the request id.

    The API also sends ``openai-version``, ``openai-organization`` and ``openai-processing-ms``;
    no client logic depends on them and every header costs the fake vendor throughput.
    """
    return {REQUEST_ID_HEADER: request_id}
