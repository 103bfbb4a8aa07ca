"""The fake vendor as a bare ASGI application: vendor routes, faults, control API.

Vendor routes (``/v1`` may be left out of any of them):

- ``POST /v1/chat/completions`` (OpenAI; ``stream: true`` answers SSE ending in ``[DONE]``);
- ``POST /v1/messages`` and ``POST /v1/messages/count_tokens`` (Anthropic);
- ``GET /v1/models`` (Anthropic's shape when the request has ``anthropic-version``).

The control API lives under ``/_harness/`` (see :mod:`harness_fake_vendor._control_api`).

Hostile input never reaches a 500: a body over ``max_body_bytes`` is answered 413 in the
vendor's error format; JSON too deeply nested for Python's parser is "not JSON" (400); the
answer to a request larger than :data:`OFFLOAD_BYTES` (parsing it, building its text and
stream events) is computed in a worker thread, so one huge prompt cannot stall the event loop
that serves every other request. A client that disconnects before its answer is counted as
aborted, not under the status it would have got.

Every vendor request also goes into the :class:`~harness.plugin.VendorLedger` (per phase:
calls, outcomes, faults fired, aborted requests, new connections, ``Retry-After`` answers and
violations), which the control API marks and reads.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from harness.plugin import (
    ConnectionResetFault,
    EmptyResponseFault,
    HttpStatusFault,
    LedgerCall,
    VendorLedger,
)
from harness.plugin.wire import anthropic, openai
from harness.plugin.wire.common import (
    JSON_CONTENT_TYPE,
    SSE_CONTENT_TYPE,
    Api,
    WireResponse,
    dumps,
    new_id,
    ratelimit_family,
)
from harness.plugin.wire.errors import error_response, fault_response, retry_after_headers
from harness.plugin.wire.text import complete, prompt_tokens
from harness_fake_vendor._asgi import (
    BodyTooLarge,
    ClientGone,
    Receive,
    Scope,
    Send,
    header_map,
    raw_headers,
    read_body,
    send_response,
)
from harness_fake_vendor._config import VendorConfig
from harness_fake_vendor._conn import (
    ClientWatch,
    close_connection,
    current_transport,
    reset_connection,
)
from harness_fake_vendor._control_api import ControlApi, too_large
from harness_fake_vendor._state import Counters, FaultBook, Plan, RateLimiter, Window

CONTROL_PREFIX = "/_harness"

_CHAT = "/v1/chat/completions"
_MESSAGES = "/v1/messages"
_COUNT_TOKENS = "/v1/messages/count_tokens"
_MODELS = "/v1/models"
_KNOWN_ROUTES = frozenset({_CHAT, _MESSAGES, _COUNT_TOKENS, _MODELS})
_OTHER_ROUTE = "(other)"

_INVALID_JSON = object()
_JSON = json.JSONDecoder()

OFFLOAD_BYTES = 16 * 1024
"""Requests with a larger body are parsed and answered in a worker thread (a 16 KiB prompt
is ~3,000 tokens; building its stream events takes ~20 ms, about what the loop may lose)."""

_T = TypeVar("_T")

_YIELD_EVERY = 64
"""A stream lets other requests run every this many events (uvicorn's ``send`` only waits
when the socket's buffer is full, so a fast reader would otherwise get the whole stream in
one go while every other connection waits)."""

# what a fault pause ended with
_ELAPSED, _STOPPING, _GONE = "elapsed", "stopping", "gone"


@dataclass(slots=True)
class StreamAnswer:
    """A 200 SSE answer: headers, then ``events`` (the terminator last)."""

    api: Api
    headers: dict[str, str]
    events: list[bytes]


def _route(path: str) -> str:
    """The canonical route of a path (``/chat/completions`` -> ``/v1/chat/completions``)."""
    path = path.rstrip("/") or "/"
    if path in _KNOWN_ROUTES:
        return path
    prefixed = "/v1" + path
    return prefixed if prefixed in _KNOWN_ROUTES else _OTHER_ROUTE


def _api_for(route: str, headers: dict[bytes, bytes]) -> Api:
    if route in (_MESSAGES, _COUNT_TOKENS):
        return "anthropic"
    if route == _CHAT:
        return "openai"
    return "anthropic" if b"anthropic-version" in headers else "openai"


def _api_key(headers: dict[bytes, bytes]) -> bytes:
    """The request's key as sent (``Authorization`` or ``x-api-key``): part of the identity of
    a logical request in the ledger."""
    return headers.get(b"authorization") or headers.get(b"x-api-key") or b""


def _has_key(api: Api, headers: dict[bytes, bytes]) -> bool:
    """Whether the request carries a key (``Authorization: Bearer``, or ``x-api-key``)."""
    auth = headers.get(b"authorization", b"")
    if auth[:7].lower() == b"bearer " and auth[7:].strip():
        return True
    return api == "anthropic" and bool(headers.get(b"x-api-key", b"").strip())


@dataclass(slots=True)
class VendorRequest:
    """What the vendor routes need to know about one request."""

    method: str
    path: str
    route: str
    api: Api
    headers: dict[bytes, bytes]
    payload: Any
    model: str | None
    streaming: bool


def _parse(scope: Scope, body: bytes) -> VendorRequest:
    """Route, API, JSON payload, ``model`` and ``stream`` of a request."""
    path: str = scope["path"]
    headers = header_map(scope)
    route = _route(path)
    payload: Any = None
    model: str | None = None
    streaming = False
    if body:
        try:
            # decode first: json.loads(bytes) spends time sniffing the encoding
            payload = _JSON.decode(body.decode())
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError too
            payload = _INVALID_JSON
        if isinstance(payload, dict):
            raw_model = payload.get("model")
            model = raw_model if isinstance(raw_model, str) else None
            streaming = payload.get("stream") is True
    return VendorRequest(
        scope["method"], path, route, _api_for(route, headers), headers, payload, model, streaming
    )


def _int_field(payload: dict[str, Any], *names: str) -> int | None:
    for name in names:
        value = payload.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _request_id(api: Api) -> dict[str, str]:
    """The vendor's request-id header, a fresh id as long as the vendor's own."""
    if api == "openai":
        return openai.response_headers(new_id("req_", 32))
    return anthropic.response_headers(new_id("req_", 24))


class VendorApp:
    """ASGI callable serving both vendors' APIs with faults applied, plus the control API."""

    def __init__(self, config: VendorConfig) -> None:
        self.config = config
        self.faults = FaultBook(default_seed=config.seed)
        self.counters = Counters()
        self.ledger = VendorLedger()
        self.limiter = RateLimiter(
            config.rate_limit_requests,
            config.rate_limit_tokens,
            config.rate_limit_window,
            enforce=config.enforce_rate_limit,
        )
        self.control = ControlApi(self.faults, self.counters, self.limiter, self.ledger)
        self._closing: asyncio.Future[None] | None = None
        self._limit_text = str(config.rate_limit_requests)
        self._workers: ThreadPoolExecutor | None = None

    def begin_serving(self) -> None:
        """Forget a previous run's shutdown (the app may be served again after a stop)."""
        self._closing = None

    def begin_shutdown(self) -> None:
        """Cut short every fault pause (called on the server loop when it starts stopping)."""
        closing = self._closing_future()
        if not closing.done():
            closing.set_result(None)

    def close(self) -> None:
        """End the worker threads (after the server stopped: waits for an answer being built,
        at most what one ``max_body_bytes`` request costs, so no thread outlives the server)."""
        workers, self._workers = self._workers, None
        if workers is not None:
            workers.shutdown(wait=True, cancel_futures=True)

    def _closing_future(self) -> asyncio.Future[None]:
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_future()
        return self._closing

    async def _pause(self, seconds: float, watch: ClientWatch) -> str:
        """Sleep ``seconds``; ends early if the server starts stopping or the client goes."""
        closing = self._closing_future()
        if closing.done():
            return _STOPPING
        gone = watch.future()
        done, _ = await asyncio.wait(
            (closing, gone), timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
        if gone in done:
            return _GONE
        return _STOPPING if closing in done else _ELAPSED

    async def _offload(self, work: Callable[..., _T], *args: Any) -> _T:
        """``work(*args)`` in a worker thread (for a request over :data:`OFFLOAD_BYTES`)."""
        if self._workers is None:
            self._workers = ThreadPoolExecutor(4, thread_name_prefix="fake-vendor-work")
        try:
            future = asyncio.get_running_loop().run_in_executor(self._workers, work, *args)
        except RuntimeError:  # the workers were let go: the server is stopping
            return work(*args)
        return await future

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path.startswith(CONTROL_PREFIX):
            try:
                body = await read_body(receive, self.config.max_body_bytes)
            except ClientGone:
                return
            except BodyTooLarge as exc:
                await send_response(send, too_large(exc.size, exc.limit))
                return
            await send_response(send, self.control.handle(scope["method"], path, body))
            return
        await self._vendor(scope, receive, send)

    # --- vendor side -------------------------------------------------------------------------

    async def _vendor(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await read_body(receive, self.config.max_body_bytes)
        except ClientGone:
            self.counters.request(_route(scope["path"]))
            self.counters.aborted()
            self.ledger.aborted(self.ledger.arrived(b"", _api_key(header_map(scope))))
            return
        except BodyTooLarge as exc:
            await self._too_large(scope, send, exc)
            return
        size = len(body)
        large = size > OFFLOAD_BYTES  # (tested inline: the small request is the hot path)
        request = await self._offload(_parse, scope, body) if large else _parse(scope, body)
        self.counters.request(request.route)
        call = self.ledger.arrived(body, _api_key(request.headers))
        api, model = request.api, request.model
        plan = self.faults.plan(request.path, model, request.streaming)
        window = self.limiter.take()
        watch = ClientWatch(receive)
        try:
            if plan is not None:
                self.counters.fired(plan.fired)
                self.ledger.fired(call, plan.fired)
                if plan.delay > 0:
                    ended = await self._pause(plan.delay, watch)
                    if ended != _ELAPSED:
                        await self._interrupted(ended, receive, send, watch, call)
                        return
                terminal = plan.terminal
                if isinstance(terminal, ConnectionResetFault):
                    await self._reset(receive, send, watch, call)
                    return
                if isinstance(terminal, HttpStatusFault):
                    answer = fault_response(terminal, api, model=model)
                    answer = self._with_limits(api, answer, window, 0, rate_limited=terminal)
                    await self._send_answer(send, answer, watch, call)
                    return
                if isinstance(terminal, EmptyResponseFault):
                    await self._empty(api, send, window, request.streaming, watch, call)
                    return

            result = (
                await self._offload(self._answer, request, window)
                if large
                else self._answer(request, window)
            )
            if isinstance(result, StreamAnswer):
                if watch.gone():
                    self.counters.aborted()
                    self.ledger.aborted(call)
                    return
                self.counters.answered(200)
                self.ledger.answered(call, 200, result.headers)
                await self._stream(result, plan, receive, send, watch)
                return
            await self._send_answer(send, result, watch, call)
        finally:
            watch.close()

    async def _send_answer(
        self, send: Send, answer: WireResponse, watch: ClientWatch, call: LedgerCall
    ) -> None:
        """Send a complete answer and count it (as aborted if the client already left)."""
        if watch.gone():
            self.counters.aborted()
            self.ledger.aborted(call)
            return
        self.counters.answered(answer.status)
        self.ledger.answered(call, answer.status, answer.headers)
        await send_response(send, answer)

    async def _interrupted(
        self, ended: str, receive: Receive, send: Send, watch: ClientWatch, call: LedgerCall
    ) -> None:
        """A fault pause before the answer ended early: the client left, or the server stops."""
        if ended == _GONE:
            self.counters.aborted()
            self.ledger.aborted(call)
            return
        self.ledger.answered(call, "cut")
        await self._cut(receive, send, watch)

    async def _too_large(self, scope: Scope, send: Send, exc: BodyTooLarge) -> None:
        """413 in the vendor's own error format (the body was never parsed)."""
        route = _route(scope["path"])
        headers = header_map(scope)
        api = _api_for(route, headers)
        self.counters.request(route)
        call = self.ledger.arrived(b"", _api_key(headers))
        message = (
            f"Request too large: the body is {exc.size} bytes, the limit is {exc.limit}."
            if api == "openai"
            else f"Request exceeds the maximum allowed number of bytes ({exc.limit})."
        )
        answer = error_response(api, 413, message=message)
        self.counters.answered(413)
        self.ledger.answered(call, 413, answer.headers)
        await send_response(send, answer)

    def _with_limits(
        self,
        api: Api,
        answer: WireResponse,
        window: Window,
        tokens: int,
        *,
        rate_limited: HttpStatusFault | None = None,
    ) -> WireResponse:
        """Add the rate-limit headers (a 429 that is not about quota reports 0 remaining).

        The same headers as ``harness.plugin.wire.{openai,anthropic}.ratelimit_headers``, written
        straight into the answer: this runs on every request.
        """
        remaining = window.remaining_requests
        if (
            rate_limited is not None
            and rate_limited.status == 429
            and rate_limited.error_code != openai.INSUFFICIENT_QUOTA
        ):
            remaining = 0
        if tokens:
            self.limiter.spend(tokens)
        headers = answer.headers
        if api == "openai":
            requests, token_names = openai.RATELIMIT_REQUESTS, openai.RATELIMIT_TOKENS
            reset = openai.format_reset(round(window.reset_in, 3))  # ms: what the header shows
        else:
            requests, token_names = anthropic.RATELIMIT_REQUESTS, anthropic.RATELIMIT_TOKENS
            reset = anthropic.rfc3339(time.time() + window.reset_in)
        limit_name, remaining_name, reset_name = requests
        headers[limit_name] = self._limit_text
        headers[remaining_name] = str(remaining) if remaining > 0 else "0"
        headers[reset_name] = reset
        if window.limit_tokens is not None:  # one window: the tokens reset with the requests
            left = window.remaining_tokens - tokens
            headers.update(ratelimit_family(token_names, window.limit_tokens, left, reset))
        return answer

    def _answer(self, request: VendorRequest, window: Window) -> WireResponse | StreamAnswer:
        """The vendor's own answer (no fault): success, or its validation/auth errors."""
        api, route, method, path = request.api, request.route, request.method, request.path
        payload, model = request.payload, request.model
        if window.exceeded:
            answer = error_response(api, 429, model=model, retry_after=window.reset_in)
            answer.headers.update(retry_after_headers(max(window.reset_in, 0.001)))
            return self._with_limits(api, answer, window, 0)
        if self.config.require_api_key and not _has_key(api, request.headers):
            message = (
                openai.MISSING_KEY_MESSAGE if api == "openai" else anthropic.MISSING_KEY_MESSAGE
            )
            answer = error_response(api, 401, message=message, default_code=False)
            return self._with_limits(api, answer, window, 0)
        expected = "GET" if route == _MODELS else "POST"
        if route == _OTHER_ROUTE or method != expected:
            message = (
                f"Invalid URL ({method} {path})"
                if api == "openai"
                else f"Not found: {method} {path}"
            )
            return self._with_limits(api, error_response(api, 404, message=message), window, 0)
        if route == _MODELS:
            models = list(self.config.models)
            body = openai.models_list(models) if api == "openai" else anthropic.models_list(models)
            return self._with_limits(api, self._ok(api, body), window, 0)
        if payload is _INVALID_JSON or not isinstance(payload, dict):
            message = (
                "We could not parse the JSON body of your request. The API expects a JSON payload."
                if api == "openai"
                else "There was an issue with the format or content of your request: "
                "the body is not a JSON object."
            )
            return self._with_limits(api, error_response(api, 400, message=message), window, 0)
        if route == _CHAT:
            return self._chat(payload, model, window)
        if route == _COUNT_TOKENS:
            return self._count_tokens(payload, model, window)
        return self._messages(payload, model, window)

    def _ok(self, api: Api, body: Any) -> WireResponse:
        """A 200 JSON answer (``body`` already encoded, or a JSON-able value)."""
        headers = {"content-type": JSON_CONTENT_TYPE, **_request_id(api)}
        return WireResponse(200, headers, body if isinstance(body, bytes) else dumps(body))

    def _invalid(self, api: Api, window: Window, message: str, param: str | None) -> WireResponse:
        code = "missing_required_parameter" if api == "openai" and param else None
        answer = error_response(api, 400, message=message, code=code, param=param)
        return self._with_limits(api, answer, window, 0)

    def _chat(
        self, payload: dict[str, Any], model: str | None, window: Window
    ) -> WireResponse | StreamAnswer:
        if model is None:
            return self._invalid("openai", window, "you must provide a model parameter", None)
        messages = payload.get("messages")
        if not isinstance(messages, list) or not messages:
            return self._invalid(
                "openai", window, "Missing required parameter: 'messages'.", "messages"
            )
        max_tokens = _int_field(payload, "max_completion_tokens", "max_tokens")
        answer = complete(messages, max_tokens=max_tokens, reply=self.config.reply)
        finish = "length" if answer.truncated else "stop"
        completion_id = new_id("chatcmpl-", 29)
        created = int(time.time())
        tokens = answer.prompt_tokens + answer.completion_tokens
        if payload.get("stream") is True:
            options = payload.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            chunks = openai.chat_completion_chunks(
                completion_id=completion_id,
                model=model,
                created=created,
                pieces=answer.pieces,
                prompt_tokens=answer.prompt_tokens,
                finish_reason=finish,
                include_usage=include_usage,
            )
            head = self._stream_head("openai", window, tokens)
            return StreamAnswer("openai", head, openai.stream_events(chunks))
        body = openai.chat_completion_json(
            completion_id=completion_id,
            model=model,
            created=created,
            text=answer.text,
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens,
            finish_reason=finish,
        )
        return self._with_limits("openai", self._ok("openai", body), window, tokens)

    def _anthropic_checks(
        self, payload: dict[str, Any], window: Window, *, need_max: bool
    ) -> WireResponse | None:
        if not isinstance(payload.get("messages"), list):
            return self._invalid("anthropic", window, "messages: Field required", "messages")
        if need_max and _int_field(payload, "max_tokens") is None:
            return self._invalid("anthropic", window, "max_tokens: Field required", "max_tokens")
        return None

    def _messages(
        self, payload: dict[str, Any], model: str | None, window: Window
    ) -> WireResponse | StreamAnswer:
        if model is None:
            return self._invalid("anthropic", window, "model: Field required", "model")
        problem = self._anthropic_checks(payload, window, need_max=True)
        if problem is not None:
            return problem
        answer = complete(
            payload["messages"],
            system=payload.get("system"),
            max_tokens=_int_field(payload, "max_tokens"),
            reply=self.config.reply,
        )
        stop_reason = "max_tokens" if answer.truncated else "end_turn"
        message_id = new_id("msg_01", 22)
        tokens = answer.prompt_tokens + answer.completion_tokens
        if payload.get("stream") is True:
            events = anthropic.stream_events(
                message_id=message_id,
                model=model,
                pieces=answer.pieces,
                input_tokens=answer.prompt_tokens,
                stop_reason=stop_reason,
            )
            return StreamAnswer("anthropic", self._stream_head("anthropic", window, tokens), events)
        body = anthropic.message(
            message_id=message_id,
            model=model,
            text=answer.text,
            input_tokens=answer.prompt_tokens,
            output_tokens=answer.completion_tokens,
            stop_reason=stop_reason,
        )
        return self._with_limits("anthropic", self._ok("anthropic", body), window, tokens)

    def _count_tokens(
        self, payload: dict[str, Any], model: str | None, window: Window
    ) -> WireResponse:
        if model is None:
            return self._invalid("anthropic", window, "model: Field required", "model")
        problem = self._anthropic_checks(payload, window, need_max=False)
        if problem is not None:
            return problem
        count = prompt_tokens(payload["messages"], payload.get("system"))
        body = anthropic.count_tokens_body(count)
        return self._with_limits("anthropic", self._ok("anthropic", body), window, 0)

    def _stream_head(self, api: Api, window: Window, tokens: int) -> dict[str, str]:
        head = WireResponse(
            200,
            {"content-type": SSE_CONTENT_TYPE, "cache-control": "no-cache", **_request_id(api)},
            b"",
        )
        return self._with_limits(api, head, window, tokens).headers

    # --- answers that bend HTTP --------------------------------------------------------------

    async def _reset(
        self, receive: Receive, send: Send, watch: ClientWatch, call: LedgerCall
    ) -> None:
        transport = current_transport()
        self.counters.answered("connection_reset")
        self.ledger.answered(call, "connection_reset")
        if transport is None:  # not under uvicorn (e.g. an in-memory ASGI client)
            await send_response(send, WireResponse(502, {"content-type": JSON_CONTENT_TYPE}, b""))
            return
        reset_connection(transport)
        await watch.wait()

    async def _empty(  # noqa: PLR0917 - the request's state, passed along
        self,
        api: Api,
        send: Send,
        window: Window,
        streaming: bool,
        watch: ClientWatch,
        call: LedgerCall,
    ) -> None:
        content_type = SSE_CONTENT_TYPE if streaming else JSON_CONTENT_TYPE
        answer = WireResponse(200, {"content-type": content_type, **_request_id(api)}, b"")
        await self._send_answer(send, self._with_limits(api, answer, window, 0), watch, call)

    async def _stream(
        self,
        answer: StreamAnswer,
        plan: Plan | None,
        receive: Receive,
        send: Send,
        watch: ClientWatch,
    ) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": raw_headers(answer.headers)}
        )
        events = answer.events
        delay = self.config.stream_chunk_delay
        transport = current_transport()
        if plan is None:
            for index, event in enumerate(events):
                if delay and index:
                    ended = await self._pause(delay, watch)
                    if ended != _ELAPSED:
                        await self._stop_stream(ended, receive, send, watch)
                        return
                elif index % _YIELD_EVERY == _YIELD_EVERY - 1:
                    await asyncio.sleep(0)  # a long stream must not hold the loop
                if transport is not None and transport.is_closing():
                    await watch.wait()  # the client left mid-stream: stop writing
                    return
                await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        cut_at, stalls, malformed = plan.placed(len(events))
        malformed_event = (
            openai.malformed_event() if answer.api == "openai" else anthropic.malformed_event()
        )
        if plan.first_event_delay > 0:
            ended = await self._pause(plan.first_event_delay, watch)
            if ended != _ELAPSED:
                await self._stop_stream(ended, receive, send, watch)
                return
        for index, event in enumerate(events):
            pause = stalls.get(index, delay if index else 0.0)
            if pause > 0:
                ended = await self._pause(pause, watch)
                if ended != _ELAPSED:
                    await self._stop_stream(ended, receive, send, watch)
                    return
            elif index % _YIELD_EVERY == _YIELD_EVERY - 1:
                await asyncio.sleep(0)
            if transport is not None and transport.is_closing():
                await watch.wait()
                return
            if index in malformed:
                await send(
                    {"type": "http.response.body", "body": malformed_event, "more_body": True}
                )
            if index == cut_at:
                await self._cut(receive, send, watch)
                return
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _stop_stream(
        self, ended: str, receive: Receive, send: Send, watch: ClientWatch
    ) -> None:
        """A pause inside a stream ended early: nothing more to send if the client left."""
        if ended != _GONE:
            await self._cut(receive, send, watch)

    async def _cut(self, receive: Receive, send: Send, watch: ClientWatch) -> None:
        """Close the connection where the answer stands (no terminator, maybe no answer)."""
        transport = current_transport()
        if transport is None:  # not under uvicorn: end the body cleanly, still without terminator
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        close_connection(transport)
        await watch.wait()
