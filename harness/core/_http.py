"""The HTTP boundary: transport exceptions and vendor error responses become core errors here.

Nothing above this module sees an ``httpx`` or ``aiohttp`` exception: each is translated with
``raise ... from exc`` so the original stays in ``__cause__``. API keys are held in
:class:`Secret`, whose repr never shows the value, and are masked out of vendor messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import httpx
import orjson

from harness.core._errors import (
    AuthError,
    BadRequest,
    ConnectError,
    ContextWindowExceeded,
    NotFound,
    Overloaded,
    QuotaExhausted,
    RateLimited,
    ServerError,
    Timeout,
    UpstreamError,
)
from harness.core._retry_after import parse_retry_after, parse_should_retry

_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "maximum context length",
    "prompt is too long",
    "context window",
)


class Secret:
    """An API key. ``repr``/``str`` show ``***``; only :meth:`reveal` returns the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def mask(self, text: str) -> str:
        """``text`` with every occurrence of the key replaced by ``***`` (keys shorter than 8
        characters are not real keys and would garble the text, so they are left alone)."""
        return text.replace(self._value, "***") if len(self._value) >= 8 else text

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")


TRANSPORT_ERRORS = (httpx.HTTPError, aiohttp.ClientError)
"""What a request through the core's client may raise: httpx's errors, and the aiohttp errors
``httpx-aiohttp`` passes through untranslated (a malformed response, for one)."""


def translate_transport_error(exc: BaseException, provider: str) -> UpstreamError:
    """The core error for a transport failure (raise it ``from exc``).

    Over aiohttp's pool, ``httpx-aiohttp`` reports a refused connection or a dropped one as an
    ``httpx.ConnectTimeout``; the aiohttp error it came from (``__cause__``) says which, so it
    decides when there is one.
    """
    cause = exc if isinstance(exc, aiohttp.ClientError) else exc.__cause__
    if isinstance(cause, aiohttp.ClientError):
        return _translate(cause, provider, _AIOHTTP_ERRORS)
    return _translate(exc, provider, _HTTPX_ERRORS)


_Meanings = tuple[
    tuple[type[BaseException] | tuple[type[BaseException], ...], type[UpstreamError], str], ...
]

# What each client's transport errors mean, the most specific first: (its errors, core error, what
# happened). Anything else of theirs is a response that could not be read.
_HTTPX_ERRORS: _Meanings = (
    (httpx.ConnectTimeout, ConnectError, "connect timed out"),
    (httpx.TimeoutException, Timeout, "timed out"),
    (httpx.ConnectError, ConnectError, "could not connect"),
    (httpx.TransportError, ConnectError, "connection lost"),
)
_AIOHTTP_ERRORS: _Meanings = (
    (aiohttp.ConnectionTimeoutError, ConnectError, "connect timed out"),
    (aiohttp.ServerTimeoutError, Timeout, "timed out"),
    (aiohttp.ClientConnectorError, ConnectError, "could not connect"),
    ((aiohttp.ClientConnectionError, aiohttp.ClientPayloadError), ConnectError, "connection lost"),
)


def _translate(exc: BaseException, provider: str, meanings: _Meanings) -> UpstreamError:
    detail = _detail(exc)
    for kinds, error, what in meanings:
        if isinstance(exc, kinds):
            return error(f"{what} ({detail})", provider=provider)
    return ServerError(f"bad response ({detail})", provider=provider)


def _detail(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def error_fields(body: bytes) -> tuple[str, str | None, str | None]:
    """``(message, type, code)`` from an OpenAI or Anthropic error body (or raw text)."""
    try:
        data = orjson.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or "")
        etype = error.get("type")
        code = error.get("code")
        return (
            message,
            str(etype) if etype is not None else None,
            str(code) if code is not None else None,
        )
    text = body.decode("utf-8", "replace").strip() if body else ""
    return text[:500], None, None


def classify_response(
    *,
    provider: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    now_wall: float,
    secret: Secret | None = None,
) -> UpstreamError:
    """The core error for a non-2xx vendor answer.

    429 with ``insufficient_quota`` is :class:`QuotaExhausted` (retrying cannot help), other
    429s are :class:`RateLimited`; 529 or ``overloaded_error`` is :class:`Overloaded`; 5xx is
    :class:`ServerError`; a 400 that says the prompt is too long is
    :class:`ContextWindowExceeded`. ``Retry-After`` (any form) and ``x-should-retry`` are kept.
    """
    message, etype, code = error_fields(body)
    if secret is not None:
        message = secret.mask(message)
    message = message or f"HTTP {status}"
    fields: dict[str, Any] = {
        "provider": provider,
        "status": status,
        "retry_after": parse_retry_after(headers, now_wall=now_wall),
        "should_retry": parse_should_retry(headers),
        "request_id": headers.get("x-request-id") or headers.get("request-id"),
    }
    kinds = {etype, code}
    if status == 429:
        if "insufficient_quota" in kinds:
            return QuotaExhausted(message, **fields)
        return RateLimited(message, **fields)
    if status == 529 or "overloaded_error" in kinds:
        return Overloaded(message, **fields)
    if status in (401, 403):
        return AuthError(message, **fields)
    if status == 404:
        return NotFound(message, **fields)
    if status == 408:
        return Timeout(message, **fields)
    if status == 409 or status >= 500:
        return ServerError(message, **fields)
    lowered = f"{message} {etype} {code}".lower()
    if any(marker in lowered for marker in _CONTEXT_MARKERS):
        return ContextWindowExceeded(message, **fields)
    return BadRequest(message, **fields)


def classify_event_error(provider: str, payload: Mapping[str, Any]) -> UpstreamError:
    """The core error for an error sent *inside* a stream (``event: error`` / ``{"error": ..}``)."""
    error = payload.get("error")
    fields = error if isinstance(error, dict) else {}
    etype = str(fields.get("type") or "")
    message = str(fields.get("message") or "stream error")
    if etype == "overloaded_error":
        return Overloaded(message, provider=provider)
    if etype in ("rate_limit_error", "rate_limit_exceeded"):
        return RateLimited(message, provider=provider)
    if etype in ("invalid_request_error",):
        return BadRequest(message, provider=provider)
    return ServerError(message, provider=provider)
