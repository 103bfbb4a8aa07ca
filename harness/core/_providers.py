"""LLM providers: what one attempt against one vendor does, over a shared client.

A provider knows its vendor's wire format and nothing about retries: it raises core errors and
the wrapper decides what to do. :class:`HTTPProvider` holds what OpenAI- and Anthropic-compatible
APIs share: the request, error translation, and streaming with a time-to-first-token and a
stalled-stream timeout. On the core's own client (:func:`~harness.core.pooled_client`) a
completion goes straight to aiohttp's session (``harness.core._transport``); through any other
``httpx.AsyncClient``, or a mount, it goes through httpx's API, and so do streams.
"""

from __future__ import annotations

import abc
import asyncio
import functools
import math
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple, Protocol, runtime_checkable

import aiohttp
import httpx
import orjson
from httpx_sse import EventSource, ServerSentEvent, SSEError

from harness.core._clock import Clock, get_clock
from harness.core._errors import ConnectError, ServerError, Timeout, UpstreamError
from harness.core._http import (
    TRANSPORT_ERRORS,
    Secret,
    classify_response,
    translate_transport_error,
)
from harness.core._transport import admission, direct_pool, mounted

Message = Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeouts:
    """Per-attempt limits. Each is also clipped to the call's remaining deadline.

    ``connect`` bounds opening a connection and ``read`` the wait for the answer: a whole
    completion (which a vendor sends in one piece once generated), or each piece of a stream.
    ``pool`` bounds the wait for a free connection when the client's are all busy
    (:class:`~harness.core.PoolTimeout`); the call's deadline bounds that wait too, so a call
    never waits for a connection past it. ``first_token`` bounds the wait for the first text
    of a stream, ``stall`` the gap between two stream events.
    """

    connect: float = 5.0
    read: float = 60.0
    pool: float = 60.0
    first_token: float = 30.0
    stall: float = 15.0

    def for_attempt(self, limit: float) -> httpx.Timeout:
        """httpx limits for one attempt with ``limit`` seconds left."""
        if limit >= max(self.connect, self.read, self.pool):
            return _unclipped(self)
        return httpx.Timeout(
            connect=min(self.connect, limit),
            read=min(self.read, limit),
            write=min(self.read, limit),
            pool=min(self.pool, limit),
        )

    def aiohttp_for(self, limit: float) -> aiohttp.ClientTimeout:
        """aiohttp limits for one attempt with ``limit`` seconds left: ``connect`` for a new
        connection, unless the attempt's own time limit ends first.

        The wait for a connection is the admission queue's (``pool``), and the provider bounds
        the answer by ``read`` itself (one watchdog timer per request, where aiohttp re-arms a
        loop timer on every chunk received).
        """
        return _aiohttp_timeout(self.connect if self.connect < limit else None)


@functools.lru_cache(maxsize=64)
def _aiohttp_timeout(connect: float | None) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=None, sock_connect=connect)


def _encode(body: Mapping[str, Any], params: Mapping[str, Any]) -> bytes:
    """A request body as httpx writes one (compact UTF-8 JSON), with orjson: a tenth of the
    standard library's time. orjson writes NaN and infinities as ``null``; httpx refuses them,
    and so does this for the caller's parameters (``temperature=float("nan")``)."""
    for value in params.values():
        if value.__class__ is float and not math.isfinite(value):
            raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")
    return orjson.dumps(body)


@functools.lru_cache(maxsize=64)
def _unclipped(timeouts: Timeouts) -> httpx.Timeout:
    """The httpx limits when the deadline is farther than every timeout (the common case)."""
    return httpx.Timeout(
        connect=timeouts.connect, read=timeouts.read, write=timeouts.read, pool=timeouts.pool
    )


class Usage(NamedTuple):
    """Token counts as the vendor reported them (immutable; a named tuple, built per call)."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class Reply(NamedTuple):
    """One provider's answer to one attempt (immutable)."""

    text: str
    model: str
    usage: Usage
    finish_reason: str | None


@dataclass(slots=True)
class StreamProgress:
    """What a stream reported besides text; updated as events arrive."""

    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    done: bool = False


@dataclass(frozen=True, slots=True)
class OpenedStream:
    """A stream whose first text chunk has arrived: ``first`` plus an iterator over the rest.

    Always ``aclose()`` it (the wrapper does): ``stack`` holds the HTTP response open.
    """

    first: str
    rest: AsyncIterator[str]
    progress: StreamProgress
    stack: AsyncExitStack = field(repr=False)

    async def aclose(self) -> None:
        await self.stack.aclose()


@runtime_checkable
class Provider(Protocol):
    """What the wrapper needs from a provider. Implement it to wrap any other client."""

    name: str
    model: str

    async def complete(
        self,
        client: httpx.AsyncClient,
        messages: Sequence[Message],
        params: Mapping[str, Any],
        *,
        limit: float,
    ) -> Reply: ...

    async def open_stream(
        self,
        client: httpx.AsyncClient,
        messages: Sequence[Message],
        params: Mapping[str, Any],
        *,
        limit: float,
    ) -> OpenedStream: ...


class HTTPProvider(abc.ABC):
    """Shared machinery of HTTP chat APIs; subclasses describe the wire format."""

    api: ClassVar[str]

    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        model: str,
        api_key: str | Secret | None,
        timeouts: Timeouts | None = None,
        headers: Mapping[str, str] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key if isinstance(api_key, Secret) else Secret(api_key or "")
        self.timeouts = timeouts or Timeouts()
        self.extra_headers = dict(headers or {})
        self._built_headers: dict[str, str] | None = None
        self._built_json_headers: dict[str, str] | None = None
        self._clock = clock

    # -- what subclasses say about their wire format -----------------------------------------

    @property
    @abc.abstractmethod
    def url(self) -> str: ...

    @abc.abstractmethod
    def auth_headers(self) -> dict[str, str]: ...

    @abc.abstractmethod
    def request_body(
        self, messages: Sequence[Message], params: Mapping[str, Any], *, stream: bool
    ) -> dict[str, Any]: ...

    @abc.abstractmethod
    def parse_reply(self, data: Mapping[str, Any]) -> Reply: ...

    @abc.abstractmethod
    def parse_event(self, event: ServerSentEvent, progress: StreamProgress) -> str | None:
        """Text carried by ``event`` (or None); update ``progress``; raise on an error event."""

    # -- one attempt --------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        """Request headers, built once (httpx sets the JSON content type itself)."""
        headers = self._built_headers
        if headers is None:
            headers = self._built_headers = {**self.extra_headers, **self.auth_headers()}
        return headers

    def _json_headers(self) -> dict[str, str]:
        """Request headers with the JSON content type, for aiohttp (built once)."""
        headers = self._built_json_headers
        if headers is None:
            headers = self._built_json_headers = {
                **self._headers(),
                "content-type": "application/json",
            }
        return headers

    def _pool_wait(self, limit: float) -> float:
        """How long to wait for a free connection: ``Timeouts.pool`` when that ends first;
        otherwise ``inf``, as the attempt's time limit (the deadline) will end the wait."""
        return self.timeouts.pool if self.timeouts.pool < limit else math.inf

    def _wall(self) -> float:
        return (self._clock or get_clock()).wall()

    async def complete(
        self,
        client: httpx.AsyncClient,
        messages: Sequence[Message],
        params: Mapping[str, Any],
        *,
        limit: float,
    ) -> Reply:
        url = self.url
        pool = direct_pool(client)
        if pool is None or mounted(url) is not None:
            status, headers, content = await self._post_httpx(client, url, messages, params, limit)
        else:
            # The core's own client: straight to aiohttp's session, no httpx objects.
            queue = pool.admission
            detached = False
            if queue is not None and not queue.try_enter():
                await queue.enter(self._pool_wait(limit), provider=self.name)
                detached = True
            read = self.timeouts.read
            try:
                # Built once a connection is ours (a queued call holds only its place in line),
                # and encoded as httpx would.
                exchange = pool.exchange(
                    url,
                    _encode(self.request_body(messages, params, stream=False), params),
                    self._json_headers(),
                    self.timeouts.aiohttp_for(limit),
                    # Inline, the attempt's time limit bounds the answer when it ends first; a
                    # detached exchange outlives its caller and always needs ``read``.
                    read=read if detached or read < limit else math.inf,
                    provider=self.name,
                )
            except BaseException:
                if queue is not None:
                    queue.leave()
                raise
            try:
                status, headers, content = await (pool.detached(exchange) if detached else exchange)
            except aiohttp.ClientError as exc:
                raise translate_transport_error(exc, self.name) from exc
        if status >= 400:
            raise self._error(status, headers, content)
        try:
            data = orjson.loads(content)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ServerError(
                f"malformed response body ({len(content)} bytes)",
                provider=self.name,
                status=status,
            ) from exc
        if not isinstance(data, dict):
            raise ServerError("response body is not a JSON object", provider=self.name)
        try:
            return self.parse_reply(data)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ServerError(f"unexpected response shape: {exc!r}", provider=self.name) from exc

    async def _post_httpx(
        self,
        client: httpx.AsyncClient,
        url: str,
        messages: Sequence[Message],
        params: Mapping[str, Any],
        limit: float,
    ) -> tuple[int, Mapping[str, str], bytes]:
        """POST a completion through httpx's API: a client passed in, a mount, or a proxy."""
        client = mounted(url) or client
        queue = admission(client)
        if queue is not None:
            await queue.enter(self._pool_wait(limit), provider=self.name)
        try:
            response = await client.post(
                url,
                json=self.request_body(messages, params, stream=False),
                headers=self._headers(),
                timeout=self.timeouts.for_attempt(limit),
            )
        except TRANSPORT_ERRORS as exc:
            raise translate_transport_error(exc, self.name) from exc
        finally:
            if queue is not None:
                queue.leave()
        return response.status_code, response.headers, response.content

    async def open_stream(
        self,
        client: httpx.AsyncClient,
        messages: Sequence[Message],
        params: Mapping[str, Any],
        *,
        limit: float,
    ) -> OpenedStream:
        body = self.request_body(messages, params, stream=True)
        url = self.url
        client = mounted(url) or client
        stack = AsyncExitStack()
        queue = admission(client)
        if queue is not None:
            await queue.enter(self._pool_wait(limit), provider=self.name)
            stack.callback(queue.leave)  # runs after the response closes: its connection is free
        try:
            try:
                response = await stack.enter_async_context(
                    client.stream(
                        "POST",
                        url,
                        json=body,
                        headers={**self._headers(), "accept": "text/event-stream"},
                        timeout=self.timeouts.for_attempt(limit),
                    )
                )
            except TRANSPORT_ERRORS as exc:
                raise translate_transport_error(exc, self.name) from exc
            if response.status_code >= 400:
                try:
                    content = await response.aread()
                except TRANSPORT_ERRORS as exc:
                    raise translate_transport_error(exc, self.name) from exc
                raise self._error(response.status_code, response.headers, content)
            progress = StreamProgress()
            events = self._texts(EventSource(response), progress)
            stack.push_async_callback(events.aclose)
            first = await self._next_text(events, min(self.timeouts.first_token, limit))
            if first is None:
                raise ConnectError("stream ended before any text", provider=self.name)
        except BaseException:
            await stack.aclose()
            raise
        return OpenedStream(first, self._rest(events), progress, stack)

    async def _texts(
        self, source: EventSource, progress: StreamProgress
    ) -> AsyncGenerator[str, None]:
        """Non-empty text chunks; raises when the stream ends without its terminator."""
        try:
            async for event in source.aiter_sse():
                text = self.parse_event(event, progress)
                if text:
                    yield text
                if progress.done:
                    return
        except TRANSPORT_ERRORS as exc:
            raise translate_transport_error(exc, self.name) from exc
        except SSEError as exc:
            raise ServerError(f"not an event stream: {exc}", provider=self.name) from exc
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise ServerError(f"malformed stream event: {exc!r}", provider=self.name) from exc
        raise ConnectError("stream ended without its terminator", provider=self.name)

    async def _next_text(self, events: AsyncIterator[str], limit: float) -> str | None:
        try:
            async with asyncio.timeout(limit):
                return await anext(events)
        except StopAsyncIteration:
            return None
        except TimeoutError as exc:
            raise Timeout(f"no stream event within {limit:g}s", provider=self.name) from exc

    async def _rest(self, events: AsyncIterator[str]) -> AsyncIterator[str]:
        while True:
            chunk = await self._next_text(events, self.timeouts.stall)
            if chunk is None:
                return
            yield chunk

    def _error(self, status: int, headers: Mapping[str, str], content: bytes) -> UpstreamError:
        return classify_response(
            provider=self.name,
            status=status,
            headers=headers,
            body=content,
            now_wall=self._wall(),
            secret=self.api_key,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r}, "
            f"model={self.model!r}, api_key={self.api_key!r})"
        )


def loads_event(event: ServerSentEvent) -> Any:
    """The JSON payload of an SSE event (``ValueError`` when it is not JSON)."""
    return orjson.loads(event.data)
