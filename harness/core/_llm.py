"""``BaseLLMWrapper``: one resilient entry point to a chain of LLM providers.

The first provider is the primary; the others are backups (a different model or vendor).
Every call gets retries with backoff and ``Retry-After``, the per-provider breaker, retry budget
and rate-limit gate, one deadline, and falls back down the chain when a provider cannot serve:
a provider with a backup gets two attempts and takes no wait the backup would beat; the last one
runs the whole schedule (the rules: ``harness.core._executor``).
All providers share one pooled client per event loop (aiohttp's pool; see ``_transport``).
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from functools import partial
from types import TracebackType
from typing import Any, Self

import httpx

from harness.core._breaker import BreakerConfig
from harness.core._budget import BudgetConfig
from harness.core._clock import Clock
from harness.core._errors import StreamInterrupted, UpstreamError
from harness.core._executor import AttemptInfo, Resilience, Resilient
from harness.core._policy import RetryPolicy
from harness.core._providers import Message, OpenedStream, Provider, Reply, Usage
from harness.core._transport import DEFAULT_LIMITS, pooled_client


class _ClosedOnExit:
    """``async with`` support for an object with an ``aclose()``: the block's end closes it."""

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


@dataclass(frozen=True, slots=True)
class Completion:
    """A finished answer: the text and who served it after how many attempts."""

    text: str
    provider: str
    model: str
    attempts: int
    usage: Usage
    finish_reason: str | None
    elapsed: float
    fallback: bool
    attempts_by_provider: dict[str, int] = field(default_factory=dict)


class BaseLLMWrapper(Resilient, _ClosedOnExit):
    """A resilient LLM client over an ordered chain of providers (primary first).

    Subclass it to adapt messages (override :meth:`prepare_messages`) or use it as is.
    Breaker and retry budget are on by default; pass ``breaker=None`` / ``budget=None`` to switch
    them off, and ``policy=RetryPolicy.no_retries()`` for a client with no resilience at all.
    """

    def __init__(
        self,
        providers: Provider | Sequence[Provider],
        *,
        policy: RetryPolicy | None = None,
        breaker: BreakerConfig | None = BreakerConfig(),  # noqa: B008 - frozen value object
        budget: BudgetConfig | None = BudgetConfig(),  # noqa: B008 - frozen value object
        clock: Clock | None = None,
        rng: random.Random | None = None,
        name: str = "llm",
        client: httpx.AsyncClient | None = None,
        limits: httpx.Limits = DEFAULT_LIMITS,
    ) -> None:
        chain = [providers] if isinstance(providers, Provider) else list(providers)
        if not chain:
            raise ValueError("BaseLLMWrapper needs at least one provider")
        names = [p.name for p in chain]
        if len(set(names)) != len(names):
            raise ValueError(
                f"provider names must be unique in a chain, got {names!r}; pass name=... "
                "to tell two providers of the same model apart"
            )
        self.providers: tuple[Provider, ...] = tuple(chain)
        self.name = name
        self.resilience = Resilience(
            name, policy=policy, breaker=breaker, budget=budget, clock=clock, rng=rng
        )
        self._client = client
        self._limits = limits
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )

    # -- configuration and observation --------------------------------------------------------

    @property
    def policy(self) -> RetryPolicy:
        return self.resilience.policy

    def prepare_messages(self, messages: str | Sequence[Message]) -> list[Message]:
        """Turn the caller's input into chat messages (a bare string is one user message)."""
        if isinstance(messages, str):
            return [{"role": "user", "content": messages}]
        return list(messages)

    def client(self) -> httpx.AsyncClient:
        """The pooled client of the running event loop (created on first use)."""
        if self._client is not None:
            return self._client
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = pooled_client(self._limits)
            self._clients[loop] = client
        return client

    # -- calls ----------------------------------------------------------------------------------

    async def complete(
        self, messages: str | Sequence[Message], *, deadline: float | None = None, **params: Any
    ) -> Completion:
        """One answer, resiliently. ``params`` go to the vendor (``temperature``, ...)."""
        prepared = self.prepare_messages(messages)
        client = self.client()

        # A plain function returning the provider's coroutine: no extra coroutine frame for
        # every resumption of the request to pass through (the hot path of every call).
        def attempt(provider: Provider, info: AttemptInfo) -> Awaitable[Reply]:
            return provider.complete(client, prepared, params, limit=info.timeout)

        chain = [(p.name, partial(attempt, p)) for p in self.providers]
        served = await self.resilience.run(chain, deadline=deadline)
        reply = served.value
        return Completion(
            text=reply.text,
            provider=served.provider,
            model=reply.model,
            attempts=served.attempts,
            usage=reply.usage,
            finish_reason=reply.finish_reason,
            elapsed=served.elapsed,
            fallback=served.fallback,
            attempts_by_provider=served.attempts_by_provider,
        )

    def stream(
        self, messages: str | Sequence[Message], *, deadline: float | None = None, **params: Any
    ) -> CompletionStream:
        """Text chunks as they arrive. Failures before the first chunk are retried or fall back;
        a failure after it raises :class:`StreamInterrupted` with the text received so far."""
        return CompletionStream(self, self.prepare_messages(messages), params, deadline)

    def complete_sync(
        self, messages: str | Sequence[Message], *, deadline: float | None = None, **params: Any
    ) -> Completion:
        """Blocking facade over :meth:`complete` for synchronous code (not inside a loop)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(
                "complete_sync() was called from a running event loop; use `await complete()`"
            )

        async def once() -> Completion:
            try:
                return await self.complete(messages, deadline=deadline, **params)
            finally:
                await self._close_loop_client()

        return asyncio.run(once())

    # -- lifecycle ------------------------------------------------------------------------------

    async def _close_loop_client(self) -> None:
        if self._client is None:
            client = self._clients.pop(asyncio.get_running_loop(), None)
            if client is not None:
                await client.aclose()

    async def aclose(self) -> None:
        """Close the pooled client of the running loop (a client passed in is left open)."""
        await self._close_loop_client()

    def __repr__(self) -> str:
        chain = ", ".join(p.name for p in self.providers)
        return f"{type(self).__name__}(name={self.name!r}, providers=[{chain}])"


class CompletionStream(_ClosedOnExit):
    """An async iterator of text chunks. After (or during) iteration, ``text``, ``provider``,
    ``attempts``, ``usage`` and ``finish_reason`` describe the answer. Iterate it once."""

    def __init__(
        self,
        wrapper: BaseLLMWrapper,
        messages: list[Message],
        params: Mapping[str, Any],
        deadline: float | None,
    ) -> None:
        self._wrapper = wrapper
        self._messages = messages
        self._params = params
        self._deadline = deadline
        self._started = False
        self._generator: AsyncGenerator[str, None] | None = None
        self.text = ""
        self.provider: str | None = None
        self.attempts = 0
        self.fallback = False
        self.usage = Usage()
        self.finish_reason: str | None = None

    def __aiter__(self) -> AsyncIterator[str]:
        if self._started:
            raise RuntimeError("a CompletionStream can be iterated only once")
        self._started = True
        self._generator = self._chunks()
        return self._generator

    async def aclose(self) -> None:
        if self._generator is not None:
            await self._generator.aclose()

    async def _chunks(self) -> AsyncGenerator[str, None]:
        wrapper = self._wrapper
        client = wrapper.client()
        resilience = wrapper.resilience

        def attempt(provider: Provider, info: AttemptInfo) -> Awaitable[OpenedStream]:
            return provider.open_stream(client, self._messages, self._params, limit=info.timeout)

        chain = [(p.name, partial(attempt, p)) for p in wrapper.providers]
        served = await resilience.run(chain, deadline=self._deadline)
        opened = served.value
        self.provider = served.provider
        self.attempts = served.attempts
        self.fallback = served.fallback
        seconds = self._deadline if self._deadline is not None else wrapper.policy.deadline
        remaining = None if seconds is None else max(0.0, seconds - served.elapsed)
        try:
            self.text = opened.first
            yield opened.first
            async with asyncio.timeout(remaining):
                async for chunk in opened.rest:
                    self.text += chunk
                    yield chunk
        except (UpstreamError, TimeoutError) as exc:
            if isinstance(exc, UpstreamError):
                what = f"failed after {len(self.text)} characters: {exc}"
            else:  # the call's deadline (``asyncio.timeout`` above)
                what = f"passed the call deadline of {seconds}s"
            raise StreamInterrupted(
                f"stream from {served.provider} {what}",
                partial_text=self.text,
                provider=served.provider,
            ) from exc
        finally:
            self.usage = opened.progress.usage
            self.finish_reason = opened.progress.finish_reason
            await opened.aclose()
