"""A fake OpenAI/Anthropic vendor that lives in the test process, served through respx.

No server, no socket: httpx requests to the vendor's base URL are answered in-process with the
vendors' own wire formats (``harness.plugin.wire``), and the same HTTP fault specs as the fake
vendor server apply, planned by the same :class:`~harness.plugin.FaultBook`. Delays sleep on the
core's clock, so under ``use_clock(VirtualClock())`` a scenario with seconds of latency and
``Retry-After`` runs in milliseconds. What reaches it is counted per phase in a
:class:`~harness.plugin.VendorLedger`, timed on the core's clock too.

Answers that need a delay are produced by a coroutine, which only async httpx clients can await
(respx's rule); without a delay the answer is immediate and sync clients work too.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Any

import httpx

from harness.core import get_clock
from harness.plugin import (
    ConnectionResetFault,
    EmptyResponseFault,
    FaultBook,
    HttpStatusFault,
    LedgerCall,
    Plan,
    VendorLedger,
)
from harness.plugin.wire import anthropic, openai
from harness.plugin.wire.common import SSE_CONTENT_TYPE, Api, dumps, new_id
from harness.plugin.wire.errors import fault_response
from harness.plugin.wire.text import complete

_JSON = {"content-type": "application/json"}
_SSE = {"content-type": SSE_CONTENT_TYPE}


class _PacedStream(httpx.AsyncByteStream):
    """SSE events, each after its pause (first-event delay, stalls), on the core's clock."""

    def __init__(self, paced: Sequence[tuple[float, bytes]]) -> None:
        self._paced = paced

    async def __aiter__(self) -> AsyncIterator[bytes]:
        clock = get_clock()
        for pause, event in self._paced:
            if pause:
                await clock.sleep(pause)
            yield event


class InProcessVendor:
    """Answers one vendor API (``openai`` or ``anthropic``) at ``base_url``; holds its faults."""

    def __init__(
        self,
        name: str,
        api: Api,
        base_url: str,
        *,
        model: str | None = None,
        seed: int | None = None,
    ) -> None:
        self.name = name
        self.api = api
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.book = FaultBook(default_seed=seed)
        self.statuses: Counter[str] = Counter()
        self.requests = 0
        self._lock = threading.Lock()
        self.ledger = VendorLedger(clock=lambda: get_clock().now(), wall=lambda: get_clock().wall())

    # -- respx side effect ---------------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response | Awaitable[httpx.Response]:
        with self._lock:
            self.requests += 1
        path = request.url.path
        # faults apply to ``GET /models`` too, as at the fake vendor server
        models = request.method == "GET" and path.endswith("/models")
        try:
            body = {} if models else json.loads(request.content or b"{}")
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        streaming = bool(body.get("stream"))
        key = request.headers.get("authorization") or request.headers.get("x-api-key") or ""
        call = self.ledger.arrived(request.content, key.encode("latin-1"))
        with self._lock:
            plan = self.book.plan(path, body.get("model"), streaming)
        if plan is not None:
            self.ledger.fired(call, plan.fired)
        if plan is not None and (plan.delay or plan.first_event_delay or plan.stalls):
            return self._later(plan, body, streaming, models, call)
        return self._respond(plan, body, streaming, models, call)

    async def _later(
        self, plan: Plan, body: dict[str, Any], streaming: bool, models: bool, call: LedgerCall
    ) -> httpx.Response:
        if plan.delay:
            await get_clock().sleep(plan.delay)
        return self._respond(plan, body, streaming, models, call)

    # -- answers ---------------------------------------------------------------------------------

    def _answer(self, response: httpx.Response, call: LedgerCall) -> httpx.Response:
        with self._lock:
            self.statuses[str(response.status_code)] += 1
        self.ledger.answered(call, response.status_code, response.headers)
        return response

    def _respond(
        self,
        plan: Plan | None,
        body: dict[str, Any],
        streaming: bool,
        models: bool,
        call: LedgerCall,
    ) -> httpx.Response:
        terminal = plan.terminal if plan else None
        if isinstance(terminal, ConnectionResetFault):
            with self._lock:
                self.statuses["reset"] += 1
            self.ledger.answered(call, "connection_reset")
            raise httpx.ReadError("[Errno 104] Connection reset by peer")
        if isinstance(terminal, EmptyResponseFault):
            return self._answer(httpx.Response(200, headers=_JSON, content=b""), call)
        if isinstance(terminal, HttpStatusFault):
            status, headers, content = fault_response(
                terminal,
                self.api,
                model=body.get("model"),
                now=get_clock().wall(),
            )
            return self._answer(httpx.Response(status, headers=headers, content=content), call)
        if models:
            return self._answer(httpx.Response(200, headers=_JSON, content=self._models()), call)
        model = str(body.get("model") or self.model or "fake-model")
        messages = body.get("messages") or []
        answer = complete(messages, system=body.get("system"), max_tokens=body.get("max_tokens"))
        if not streaming:
            return self._answer(
                httpx.Response(200, headers=_JSON, content=self._completion(model, answer)), call
            )
        return self._answer(self._stream(self._events(model, answer, body), plan), call)

    def _stream(self, events: list[bytes], plan: Plan | None) -> httpx.Response:
        """The SSE answer, with the plan's cut, stalls and malformed events where
        :meth:`Plan.placed` puts them, as the fake vendor server does."""
        if plan is None:
            return httpx.Response(200, headers=_SSE, content=b"".join(events))
        cut_at, stalls, malformed = plan.placed(len(events))
        bad = openai.malformed_event() if self.api == "openai" else anthropic.malformed_event()
        paced: list[tuple[float, bytes]] = []
        for index, event in enumerate(events):
            pause = stalls.get(index, 0.0) + (plan.first_event_delay if index == 0 else 0.0)
            if index in malformed:
                paced.append((pause, bad))
                pause = 0.0
            if index == cut_at:
                break
            paced.append((pause, event))
        if any(pause for pause, _ in paced):
            return httpx.Response(200, headers=_SSE, stream=_PacedStream(paced))
        return httpx.Response(200, headers=_SSE, content=b"".join(chunk for _, chunk in paced))

    def _completion(self, model: str, answer: Any) -> bytes:
        if self.api == "openai":
            return openai.chat_completion_json(
                completion_id=new_id("chatcmpl-"),
                model=model,
                created=int(time.time()),
                text=answer.text,
                prompt_tokens=answer.prompt_tokens,
                completion_tokens=answer.completion_tokens,
                finish_reason="length" if answer.truncated else "stop",
            )
        return dumps(
            anthropic.message(
                message_id=new_id("msg_"),
                model=model,
                text=answer.text,
                input_tokens=answer.prompt_tokens,
                output_tokens=answer.completion_tokens,
                stop_reason="max_tokens" if answer.truncated else "end_turn",
            )
        )

    def _events(self, model: str, answer: Any, body: dict[str, Any]) -> list[bytes]:
        if self.api == "openai":
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            chunks = openai.chat_completion_chunks(
                completion_id=new_id("chatcmpl-"),
                model=model,
                created=int(time.time()),
                pieces=answer.pieces,
                prompt_tokens=answer.prompt_tokens,
                finish_reason="length" if answer.truncated else "stop",
                include_usage=include_usage,
            )
            return openai.stream_events(chunks)
        return anthropic.stream_events(
            message_id=new_id("msg_"),
            model=model,
            pieces=answer.pieces,
            input_tokens=answer.prompt_tokens,
            stop_reason="max_tokens" if answer.truncated else "end_turn",
        )

    def _models(self) -> bytes:
        names = [self.model or "fake-model"]
        if self.api == "openai":
            return dumps(openai.models_list(names))
        return dumps(anthropic.models_list(names))

    def __repr__(self) -> str:
        return f"InProcessVendor({self.name!r}, api={self.api!r}, base_url={self.base_url!r})"
