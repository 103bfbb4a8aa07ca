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


class ClientGone(Exception):
    """The client disconnected before its request was answered."""


class BodyTooLarge(Exception):
    """The request body is larger than the server accepts; ``size`` is how large it was."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"request body of {size} bytes is larger than {limit}")
        self.size = size
        self.limit = limit


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body, at most ``limit`` bytes.

    A larger body is read to its end and dropped, then :class:`BodyTooLarge` is raised: the
    answer (413) can only reach a client that is done sending (one that is cut off while
    writing sees a reset, not the answer). Raises :class:`ClientGone` if the client
    disconnects first.
    """
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientGone
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False) and len(body) <= limit:
        return body
    parts = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            parts.append(chunk)
        elif parts:
            parts = []  # over the limit: keep reading, keep nothing
    if size > limit:
        raise BodyTooLarge(size, limit)
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
