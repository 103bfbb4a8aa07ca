"""Types and helpers every vendor format shares."""

from __future__ import annotations

import json
import math
import random
from email.utils import formatdate
from typing import Any, Literal, NamedTuple

Api = Literal["openai", "anthropic"]
"""The vendor API a request was sent to; decides every body and header shape."""

APIS: tuple[Api, ...] = ("openai", "anthropic")

JSON_CONTENT_TYPE = "application/json"
SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"


class WireResponse(NamedTuple):
    """One complete HTTP answer: unpacks as ``status, headers, body``."""

    status: int
    headers: dict[str, str]
    body: bytes


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON, the way both vendors send it on the wire."""
    return _ENCODER.encode(obj).encode()


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> WireResponse:
    """A JSON answer with its ``content-type``; ``headers`` are added after it."""
    merged = {"content-type": JSON_CONTENT_TYPE}
    if headers:
        merged.update(headers)
    return WireResponse(status, merged, dumps(body))


def new_id(prefix: str, length: int = 24) -> str:
    """A random id such as ``req_8f3a...``: ``prefix`` then ``length`` hex digits.

    Unique enough for request and message ids (not secret: the PRNG is not cryptographic).
    """
    return f"{prefix}{random.getrandbits(length * 4):0{length}x}"


def http_date(timestamp: float) -> str:
    """RFC 9110 IMF-fixdate (``Wed, 21 Oct 2015 07:28:00 GMT``) for a POSIX timestamp."""
    return formatdate(timestamp, usegmt=True)


def ceil_http_date(timestamp: float) -> str:
    """The HTTP date of the first whole second at or after ``timestamp``.

    An HTTP date has one-second resolution; rounding up keeps a ``Retry-After`` date from
    asking for less wait than intended.
    """
    return http_date(float(math.ceil(timestamp)))


def format_seconds(seconds: float) -> str:
    """``2`` for whole seconds, else the shortest float text (``0.2``), as ``Retry-After``."""
    if seconds == int(seconds):
        return str(int(seconds))
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


def ratelimit_family(
    names: tuple[str, str, str], limit: int, remaining: int, reset: str
) -> dict[str, str]:
    """One family of rate-limit headers (``names``: limit, remaining, reset), in that order;
    ``remaining`` is never sent below 0 and ``reset`` goes as the vendor writes it."""
    limit_name, remaining_name, reset_name = names
    return {limit_name: str(limit), remaining_name: str(max(remaining, 0)), reset_name: reset}
