"""The FastAPI app of the example service (``create_app`` is the uvicorn factory).

Run it by hand against a fake vendor::

    python -m harness vendor serve --port 9100 &
    GENAI_PRIMARY_URL=http://127.0.0.1:9100/v1 OPENAI_API_KEY=sk-fake \\
        uvicorn --factory examples.genai_service.app:create_app --port 8000
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from examples.genai_service.catalog import CatalogTool, blocking_lookup, build_catalog
from examples.genai_service.config import Settings, from_env
from examples.genai_service.metrics import ServiceMetrics
from harness.core import (
    AnthropicProvider,
    BaseLLMWrapper,
    BudgetConfig,
    Completion,
    OpenAIProvider,
    Provider,
    ResilienceError,
    RetryPolicy,
    SQLiteMemory,
)

SYSTEM_PROMPT = "You are the shop assistant. Facts: {facts}"


class ChatIn(BaseModel):
    session_id: str = Field(min_length=1, max_length=200)
    message: str = Field(min_length=1, max_length=20_000)


class ChatOut(BaseModel):
    answer: str
    provider: str
    attempts: int
    fallback: bool
    degraded: list[str]


def build_llm(settings: Settings) -> BaseLLMWrapper:
    providers: list[Provider] = []
    for upstream in settings.upstreams:
        if upstream.api == "anthropic":
            key = os.environ.get("ANTHROPIC_API_KEY") or "sk-ant-fake"
            providers.append(
                AnthropicProvider(
                    name=upstream.name, base_url=upstream.url, model=upstream.model, api_key=key
                )
            )
        else:
            key = os.environ.get("OPENAI_API_KEY") or "sk-fake"
            providers.append(
                OpenAIProvider(
                    name=upstream.name, base_url=upstream.url, model=upstream.model, api_key=key
                )
            )
    if settings.resilient:
        return BaseLLMWrapper(
            providers,
            policy=RetryPolicy(deadline=settings.deadline),
            budget=BudgetConfig() if settings.retry_budget else None,
            name="llm",
        )
    return BaseLLMWrapper(
        providers[:1],
        policy=RetryPolicy.no_retries(deadline=settings.deadline),
        breaker=None,
        budget=None,
        name="llm",
    )


class ChatService:
    """One chat turn: memory, tool, LLM, memory again. Memory and tool failures degrade the
    answer (reported in ``degraded``); only an LLM chain failure makes the request fail. The
    naive variant (resilience off) degrades nothing: any failure fails the request."""

    def __init__(self, settings: Settings, metrics: ServiceMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.llm = build_llm(settings)
        self.llm.subscribe(metrics.on_event)
        # Memory is not worth failing a chat for: a short budget, then the answer degrades.
        memory_policy = (
            RetryPolicy(max_attempts=4, initial_delay=0.02, max_delay=0.2, deadline=0.5)
            if settings.resilient
            else RetryPolicy.no_retries(deadline=5.0)
        )
        self.memory = SQLiteMemory(settings.memory_file, policy=memory_policy)
        self.catalog = CatalogTool(
            settings.catalog_file, latency=settings.tool_latency, resilient=settings.resilient
        )

    async def lookup(self, topic: str) -> list[str]:
        if self.settings.blocking_tool:
            return blocking_lookup(self.settings.catalog_file, topic, self.settings.tool_latency)
        return await self.catalog.answers(topic)

    def _degrade(self, component: str, degraded: list[str], error: ResilienceError) -> None:
        """Resilient: go on without ``component`` and say so. Naive: the request fails (no
        fallback of any kind, which is what the chaos suite must catch)."""
        if not self.settings.resilient:
            raise error
        degraded.append(component)

    async def _answer(self, body: ChatIn, degraded: list[str]) -> Completion:
        try:
            history = await self.memory.async_load(body.session_id, limit=6)
        except ResilienceError as exc:
            self._degrade("memory", degraded, exc)
            history = []
        try:
            facts = await self.lookup(body.message.split()[0].lower().strip("?!.,"))
        except ResilienceError as exc:
            self._degrade("tool", degraded, exc)
            facts = []
        system = SYSTEM_PROMPT.format(facts=" ".join(facts) or "none")
        messages = [{"role": "system", "content": system}]
        messages += [{"role": r.role, "content": r.content} for r in history]
        messages.append({"role": "user", "content": body.message})
        answer = await self.llm.complete(messages, max_tokens=256)
        try:
            await self.memory.async_store(body.session_id, "user", body.message)
            await self.memory.async_store(
                body.session_id, "assistant", answer.text, {"provider": answer.provider}
            )
        except ResilienceError as exc:
            self._degrade("memory", degraded, exc)
        return answer

    async def chat(self, body: ChatIn) -> JSONResponse:
        degraded: list[str] = []
        try:
            answer = await self._answer(body, degraded)
        except ResilienceError as exc:
            self.metrics.requests.labels("error").inc()
            return JSONResponse(
                {"error": str(exc), "kind": type(exc).__name__},
                status_code=503,
                headers={"retry-after": "1"},
            )
        for component in dict.fromkeys(degraded):
            self.metrics.degraded.labels(component).inc()
        self.metrics.requests.labels("ok").inc()
        payload = ChatOut(
            answer=answer.text,
            provider=answer.provider,
            attempts=answer.attempts,
            fallback=answer.fallback,
            degraded=sorted(set(degraded)),
        )
        return JSONResponse(
            payload.model_dump(),
            headers={
                "x-provider": answer.provider,
                "x-attempts": str(answer.attempts),
                "x-fallback": "true" if answer.fallback else "false",
            },
        )

    async def aclose(self) -> None:
        await self.llm.aclose()
        await self.memory.aclose()
        await self.catalog.aclose()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The uvicorn factory: ``uvicorn --factory examples.genai_service.app:create_app``."""
    settings = settings or from_env()
    metrics = ServiceMetrics()
    service = ChatService(settings, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(build_catalog, settings.catalog_file)
        try:
            yield
        finally:
            await service.aclose()

    app = FastAPI(title="example GenAI service", lifespan=lifespan)
    app.state.service = service

    @app.post("/chat", response_model=ChatOut)
    async def chat(body: ChatIn) -> JSONResponse:
        metrics.in_flight.inc()
        try:
            return await service.chat(body)
        finally:
            metrics.in_flight.dec()

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "providers": [p.name for p in service.llm.providers],
            "resilience": "on" if settings.resilient else "off",
            "blocking_tool": settings.blocking_tool,
        }

    @app.get("/metrics")
    async def prometheus(request: Request) -> Response:
        metrics.refresh(service.llm)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
