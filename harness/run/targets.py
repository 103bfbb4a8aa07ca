"""What the driver sends load to: an HTTP service (the example app, yours) or the core itself.

Every target answers one request at a time as an :class:`Outcome`; the driver times it.
The harness tells an app target where its upstreams are through ``HARNESS_ENDPOINTS`` (a JSON
list, in fallback order, of ``{"name", "api", "url", "model"}``), each reached through the proxy
in front of it when the scenario declares one, and ``HARNESS_RESILIENCE`` (``on``/``off``).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from harness.core import (
    AnthropicProvider,
    BaseLLMWrapper,
    BreakerConfig,
    OpenAIProvider,
    ResilienceError,
    RetryPolicy,
    Timeouts,
)
from harness.plugin import IDLE_CONNECTION_EXPIRY

if TYPE_CHECKING:
    from harness.plugin.types import Endpoint
    from harness.scenario.model import RequestSpec, Scenario, TargetSpec

FAKE_KEY = "sk-harness-fake-key"  # the fake vendors only check that a key is present
EXAMPLE_APP = "examples.genai_service.app:create_app"
"""What ``target: {app: example}`` serves: the example GenAI service's uvicorn factory."""


def app_spec(app: str) -> str:
    """The import string of an app target (``example`` is the example service's factory)."""
    return EXAMPLE_APP if app == "example" else app


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    error: str | None = None
    status: int | None = None


class Target(Protocol):
    name: str

    async def request(self, user: int, n: int) -> Outcome: ...

    async def aclose(self) -> None: ...


def chain_endpoints(scenario: Scenario, endpoints: dict[str, Endpoint]) -> list[dict[str, Any]]:
    """The upstreams in fallback order, each as reached by a client (through its proxy)."""
    fronted = {p.upstream: p.name for p in scenario.proxies}
    chain = []
    for upstream in scenario.upstreams:
        if upstream.api not in ("openai", "anthropic"):
            continue
        endpoint = endpoints[fronted.get(upstream.name, upstream.name)]
        chain.append(
            {
                "name": upstream.name,
                "api": upstream.api,
                "url": endpoint.url,
                "model": upstream.model,
            }
        )
    return chain


def harness_env(
    scenario: Scenario, endpoints: dict[str, Endpoint], *, resilience: bool
) -> dict[str, str]:
    """Environment variables that point an app target at the scenario's endpoints."""
    env = {
        "HARNESS_ENDPOINTS": json.dumps(chain_endpoints(scenario, endpoints)),
        "HARNESS_RESILIENCE": "on" if resilience else "off",
    }
    for name, endpoint in endpoints.items():
        key = "HARNESS_" + "".join(c if c.isalnum() else "_" for c in name.upper())
        if endpoint.url:
            env[f"{key}_URL"] = endpoint.url
        if endpoint.address:
            env[f"{key}_ADDRESS"] = endpoint.address
    return env


def fill_request(value: Any, user: int, n: int) -> Any:
    """``value`` with ``{user}`` and ``{n}`` filled in, in every string it holds."""
    if isinstance(value, str):
        return value.replace("{user}", str(user)).replace("{n}", str(n))
    if isinstance(value, dict):
        return {k: fill_request(v, user, n) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_request(v, user, n) for v in value]
    return value


class HttpTarget:
    """An HTTP service: each request is ``RequestSpec`` with ``{user}`` and ``{n}`` filled in."""

    def __init__(self, base_url: str, request: RequestSpec, *, max_connections: int = 1000) -> None:
        self.name = request.label
        self.base_url = base_url.rstrip("/")
        self.spec = request
        self.client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(request.timeout),
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=200,
                keepalive_expiry=IDLE_CONNECTION_EXPIRY,
            ),
        )

    async def request(self, user: int, n: int) -> Outcome:
        body = fill_request(self.spec.body, user, n)
        try:
            if self.spec.method == "GET":
                response = await self.client.get(self.spec.path, params=body)
            else:
                response = await self.client.post(self.spec.path, json=body)
        except httpx.TimeoutException:
            return Outcome(False, "Timeout")
        except httpx.HTTPError as exc:
            return Outcome(False, type(exc).__name__)
        if response.status_code >= 400:
            return Outcome(False, f"HTTP {response.status_code}", response.status_code)
        return Outcome(True, None, response.status_code)

    async def aclose(self) -> None:
        await self.client.aclose()


def build_wrapper(
    chain: list[dict[str, Any]],
    *,
    resilience: bool,
    seed: int,
    timeouts: Timeouts | None = None,
    breaker: BreakerConfig | None = None,
) -> BaseLLMWrapper:
    """A resilient core over the chain; with ``resilience=False``, the naive client: one
    attempt, no fallback, no breaker, no budget (what the harness must catch failing).
    ``timeouts`` apply to both; ``breaker`` replaces the core's default breaker."""
    providers = []
    for entry in chain:
        cls = AnthropicProvider if entry["api"] == "anthropic" else OpenAIProvider
        providers.append(
            cls(
                name=entry["name"],
                base_url=entry["url"],
                model=entry.get("model"),
                api_key=FAKE_KEY,
                timeouts=timeouts,
            )
        )
    if resilience:
        return BaseLLMWrapper(
            providers,
            policy=RetryPolicy(deadline=30.0),
            breaker=breaker or BreakerConfig(),
            rng=random.Random(seed),
        )
    return BaseLLMWrapper(
        providers[:1], policy=RetryPolicy.no_retries(deadline=30.0), breaker=None, budget=None
    )


def core_client_config(spec: TargetSpec) -> tuple[Timeouts | None, BreakerConfig | None]:
    """The core's ``Timeouts`` and ``BreakerConfig`` a ``core`` target's scenario asks for."""
    timeouts = breaker = None
    if spec.timeouts is not None:
        timeouts = Timeouts(**spec.timeouts.model_dump(exclude_none=True))
    if spec.breaker is not None:
        breaker = BreakerConfig(**spec.breaker.model_dump(exclude_none=True))
    return timeouts, breaker


class CoreTarget:
    """The resilient core itself: each request is one ``complete`` (or ``stream``) call."""

    def __init__(self, wrapper: BaseLLMWrapper, request: RequestSpec) -> None:
        self.name = request.name or ("llm.stream" if request.stream else "llm.complete")
        self.wrapper = wrapper
        self.spec = request

    async def request(self, user: int, n: int) -> Outcome:
        prompt = str(
            fill_request(self.spec.body.get("message", "user {user} question {n}"), user, n)
        )
        try:
            if self.spec.stream:
                async for _ in self.wrapper.stream(prompt):
                    pass
            else:
                await self.wrapper.complete(prompt)
        except ResilienceError as exc:
            status = getattr(getattr(exc, "last", None), "status", None)
            return Outcome(False, type(exc).__name__, status)
        return Outcome(True)

    async def aclose(self) -> None:
        await self.wrapper.aclose()
