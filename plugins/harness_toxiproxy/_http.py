"""A small HTTP/1.1 server on asyncio streams, enough for Toxiproxy's admin API.

Hand-written rather than Starlette/uvicorn so that every status line, header and body is
exactly what Go's ``net/http`` + gorilla/mux send (e.g. a 405 with an empty body, a 301 for an
unclean path, ``text/plain`` error bodies ending in a newline). It supports keep-alive,
``Content-Length`` and chunked request bodies, ``Expect: 100-continue`` and an idle timeout;
malformed requests get Go's ``400 Bad Request`` and the connection is closed.

One guard real Toxiproxy lacks: a request body over :data:`MAX_BODY` (1 MiB, a thousand times
any real API call) is read to its end, dropped and answered ``413 Request Entity Too Large``
(then the connection is closed), so a hostile body can neither fill memory nor hold the
event loop in the JSON scanner.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import http
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["HttpServer", "Request", "Response"]

log = logging.getLogger("harness_toxiproxy")

_MAX_HEAD = 1 << 20
MAX_BODY = 1 << 20
_IDLE_TIMEOUT = 60.0
_READ_TIMEOUT = 15.0


@dataclass
class Request:
    """A parsed request; ``headers`` keys are lower case, ``target`` is the raw request target."""

    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class Response:
    """A response; ``Content-Length`` and ``Date`` are added when it is written."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


Handler = Callable[[Request], Awaitable[Response]]


class _BadRequest(Exception):
    pass


class _TooLarge(Exception):
    pass


async def _discard(reader: asyncio.StreamReader, size: int) -> None:
    """Read ``size`` bytes and drop them."""
    while size > 0:
        chunk = await reader.read(min(size, 1 << 16))
        if not chunk:
            raise asyncio.IncompleteReadError(b"", size)
        size -= len(chunk)


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:  # pragma: no cover - only standard codes are used
        return ""


def _serialize(response: Response, close: bool) -> bytes:
    headers = dict(response.headers)
    headers["Date"] = email.utils.formatdate(usegmt=True)
    if response.status != 204 and response.status >= 200:
        headers["Content-Length"] = str(len(response.body))
    if close:
        headers["Connection"] = "close"
    lines = [f"HTTP/1.1 {response.status} {_reason(response.status)}"]
    lines += [f"{name}: {value}" for name, value in sorted(headers.items())]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (response.body if response.status != 204 else b"")


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    too_large = False
    while True:
        line = await reader.readuntil(b"\n")
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise _BadRequest from None
        if size < 0:
            raise _BadRequest
        if size == 0:
            while (await reader.readuntil(b"\n")).strip():
                pass  # trailers
            if too_large:
                raise _TooLarge
            return bytes(body)
        if too_large or len(body) + size > MAX_BODY:
            too_large = True
            body.clear()
            await _discard(reader, size)
        else:
            body += await reader.readexactly(size)
        if (await reader.readexactly(2)) != b"\r\n":
            raise _BadRequest


def _parse_head(head: bytes) -> Request:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
        raise _BadRequest from None
    lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[0] or not parts[1]:
        raise _BadRequest
    if parts[1].startswith(("http://", "https://")):
        urlsplit(parts[1])  # ValueError (a 400) for what Go's url.ParseRequestURI refuses too
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _BadRequest
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return Request(parts[0], parts[1], parts[2], headers)


class HttpServer:
    """Serves ``handler`` on one listening socket; :meth:`close` ends every connection."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._closing = False

    async def start(self, host: str, port: int) -> tuple[str, int]:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(128)
            sock.setblocking(False)
            self._server = await asyncio.start_server(self._serve, sock=sock, limit=_MAX_HEAD)
        except BaseException:
            sock.close()
            raise
        bound = sock.getsockname()
        return str(bound[0]), int(bound[1])

    async def close(self) -> None:
        """Stop listening and drop every connection, waiting for their tasks to end.

        Connections are aborted rather than their tasks cancelled: on Python 3.11 a
        ``start_server`` callback task that ends cancelled makes asyncio log a spurious
        "Exception in callback" (its done-callback calls ``task.exception()``).
        """
        self._closing = True
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        if self._clients:
            _, pending = await asyncio.wait(set(self._clients), timeout=2.0)
            for task in pending:  # pragma: no cover - only if a handler hangs
                task.cancel()
            if pending:  # pragma: no cover
                await asyncio.wait(pending, timeout=1.0)
        await asyncio.sleep(0)  # connections accepted just now see _closing and go

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._closing:
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        self._writers.add(writer)
        try:
            await self._serve_requests(reader, writer)
        except (asyncio.CancelledError, ConnectionError, asyncio.IncompleteReadError):
            pass  # shutting down, or the client went away
        except Exception:  # a bug must not kill the server  # pragma: no cover
            log.exception("admin API connection failed")
        finally:
            self._clients.discard(task)
            self._writers.discard(writer)
            writer.close()

    async def _serve_requests(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _IDLE_TIMEOUT)
            except (TimeoutError, asyncio.IncompleteReadError):
                return
            except asyncio.LimitOverrunError:
                await self._bad_request(writer, "431 Request Header Fields Too Large")
                return
            try:
                request = _parse_head(head)
                if request.headers.get("expect", "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                request.body = await asyncio.wait_for(
                    self._read_body(reader, request), _READ_TIMEOUT
                )
            except (_BadRequest, ValueError, asyncio.LimitOverrunError):
                await self._bad_request(writer, "400 Bad Request")
                return
            except _TooLarge:
                await self._bad_request(writer, "413 Request Entity Too Large")
                return
            except TimeoutError:  # a body that never completes: drop the connection
                return
            connection = request.headers.get("connection", "").lower()
            close = connection == "close" or (
                request.version == "HTTP/1.0" and connection != "keep-alive"
            )
            response = await self._handler(request)
            writer.write(_serialize(response, close))
            await writer.drain()
            if close:
                return

    @staticmethod
    async def _read_body(reader: asyncio.StreamReader, request: Request) -> bytes:
        if "chunked" in request.headers.get("transfer-encoding", "").lower():
            return await _read_chunked(reader)
        length_text = request.headers.get("content-length")
        if length_text is None:
            return b""
        if not length_text.isascii() or not length_text.isdigit():
            raise _BadRequest  # Go: digits only (no sign, no spaces, no underscores)
        length = int(length_text)
        if length > MAX_BODY:
            await _discard(reader, length)
            raise _TooLarge
        return await reader.readexactly(length)

    @staticmethod
    async def _bad_request(writer: asyncio.StreamWriter, status_line: str) -> None:
        body = status_line.encode()
        writer.write(
            f"HTTP/1.1 {status_line}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Connection: close\r\n\r\n".encode()
            + body
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
