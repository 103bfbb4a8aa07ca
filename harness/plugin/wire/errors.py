"""Vendor error answers, and an :class:`~harness.plugin.HttpStatusFault` turned into one."""

from __future__ import annotations

import time
from typing import Literal

from harness.plugin.wire import anthropic, openai
from harness.plugin.wire.common import (
    Api,
    WireResponse,
    ceil_http_date,
    format_seconds,
    json_response,
    new_id,
)
from harness.scenario.faults import HttpStatusFault

RetryAfterFormat = Literal["seconds", "ms", "http-date"]


def retry_after_headers(
    seconds: float, fmt: RetryAfterFormat = "seconds", *, now: float | None = None
) -> dict[str, str]:
    """The header that asks a client to wait ``seconds`` before retrying.

    - ``seconds``: ``retry-after: 2`` (a float such as ``0.2`` when not whole; both SDKs accept it);
    - ``ms``: ``retry-after-ms: 200`` (OpenAI/Anthropic SDKs prefer it over ``retry-after``);
    - ``http-date``: ``retry-after: <IMF-fixdate>`` of ``now + seconds`` rounded up to the second.
    """
    if fmt == "ms":
        return {"retry-after-ms": str(round(seconds * 1000))}
    if fmt == "http-date":
        return {"retry-after": ceil_http_date((time.time() if now is None else now) + seconds)}
    return {"retry-after": format_seconds(seconds)}


def request_id_header(api: Api) -> str:
    """``x-request-id`` (OpenAI) or ``request-id`` (Anthropic)."""
    return openai.REQUEST_ID_HEADER if api == "openai" else anthropic.REQUEST_ID_HEADER


def error_response(
    api: Api,
    status: int,
    *,
    message: str | None = None,
    code: str | None = None,
    param: str | None = None,
    request_id: str | None = None,
    model: str | None = None,
    retry_after: float | None = None,
    default_code: bool = True,
) -> WireResponse:
    """A vendor error answer (body and request-id header) for ``status``.

    ``default_code=False`` keeps OpenAI's ``code`` null when none is given (its missing-key 401).
    """
    rid = request_id or new_id("req_")
    if api == "openai":
        body = openai.error_body(
            status,
            message=message,
            code=code,
            param=param,
            model=model,
            retry_after=retry_after,
            default_code=default_code,
        )
    else:
        body = anthropic.error_body(status, message=message, error_code=code, request_id=rid)
    return json_response(status, body, {request_id_header(api): rid})


def fault_response(
    fault: HttpStatusFault,
    api: Api,
    *,
    request_id: str | None = None,
    model: str | None = None,
    now: float | None = None,
) -> WireResponse:
    """What the vendor sends when ``fault`` fires: ``(status, headers, body)``.

    The body is the vendor's error envelope for the status (``fault.message`` and
    ``fault.error_code`` override the defaults); headers carry the request id, ``retry-after``
    or ``retry-after-ms`` in ``fault.retry_after_format`` when ``fault.retry_after`` is set, and
    ``x-should-retry`` when ``fault.should_retry`` is set. Rate-limit headers are the caller's.
    """
    status, headers, body = error_response(
        api,
        fault.status,
        message=fault.message,
        code=fault.error_code,
        request_id=request_id,
        model=model,
        retry_after=fault.retry_after,
    )
    if fault.retry_after is not None:
        headers.update(retry_after_headers(fault.retry_after, fault.retry_after_format, now=now))
    if fault.should_retry is not None:
        headers["x-should-retry"] = "true" if fault.should_retry else "false"
    return WireResponse(status, headers, body)
