"""The few ASGI types and helpers the fake vendor needs (it is a bare ASGI app, for speed)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from harness.plugin.wire.common import WireResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

RawHeaders = list[tuple[bytes, bytes]]


async def read_body(receive: Receive) -> bytes:
    """The whole request body (empty if the client went away)."""
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    parts = [body]
    while message.get("more_body", False):
        message = await receive()
        parts.append(message.get("body", b""))
    return b"".join(parts)


def header_map(scope: Scope) -> dict[bytes, bytes]:
    """Request headers by lower-case name (the last one wins)."""
    return dict(scope["headers"])


_NAMES: dict[str, bytes] = {}


def _name(name: str) -> bytes:
    encoded = _NAMES.get(name)
    if encoded is None:
        encoded = name.encode("latin-1")
        if len(_NAMES) < 256:  # header names are a small fixed set; never grow unbounded
            _NAMES[name] = encoded
    return encoded


def raw_headers(headers: dict[str, str]) -> RawHeaders:
    """ASGI header pairs for a ``name -> value`` mapping."""
    names = _NAMES
    return [
        (names.get(name) or _name(name), value.encode("latin-1")) for name, value in headers.items()
    ]


async def send_response(send: Send, response: WireResponse) -> None:
    """Send a complete answer with its ``content-length``."""
    status, headers, body = response
    pairs = raw_headers(headers)
    pairs.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": pairs})
    await send({"type": "http.response.body", "body": body, "more_body": False})
