"""``BaseTool``: a tool call that never blocks the event loop, with timeout and safe retries.

A subclass implements exactly one body: ``async def arun(self, **args)`` for async I/O, or
``def run(self, **args)`` for blocking code, which then runs in a worker thread behind a
capacity limiter (anyio), so a slow SQL driver or file read cannot freeze a FastAPI loop.
Only tools declared ``idempotent`` are retried on transient errors; any tool is retried on
:class:`Locked`, which guarantees the operation did not take effect.
"""

from __future__ import annotations

import random
from functools import partial
from typing import Any, ClassVar

import anyio
import anyio.to_thread

from harness.core._breaker import BreakerConfig
from harness.core._budget import BudgetConfig
from harness.core._clock import Clock
from harness.core._errors import Locked, is_retryable
from harness.core._executor import AttemptInfo, Resilience, Resilient
from harness.core._policy import RetryPolicy

DEFAULT_TOOL_POLICY = RetryPolicy(max_attempts=3, initial_delay=0.2, max_delay=2.0, deadline=60.0)


class BaseTool(Resilient):
    """Base class of tools. Call :meth:`async_run`; implement :meth:`arun` *or* :meth:`run`.

    ``timeout`` bounds each attempt. A sync body that times out is abandoned (its thread runs
    on, its result is dropped): Python cannot kill a thread. ``breaker`` and ``budget`` are off
    unless given: a tool has no backup to fall back to, so they only matter for a tool shared
    by many callers that must stop multiplying load on a struggling backend.
    """

    name: ClassVar[str] = "tool"
    idempotent: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        has_async = cls.arun is not BaseTool.arun
        has_sync = cls.run is not BaseTool.run
        if has_async and has_sync:
            raise TypeError(f"{cls.__name__} implements both arun() and run(); keep one")

    def __init__(
        self,
        *,
        timeout: float | None = 30.0,
        policy: RetryPolicy | None = None,
        breaker: BreakerConfig | None = None,
        budget: BudgetConfig | None = None,
        max_threads: int = 16,
        idempotent: bool | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if idempotent is not None:
            self.idempotent = idempotent
        self.timeout = timeout
        self.limiter = anyio.CapacityLimiter(max_threads)
        self.resilience = Resilience(
            f"tool:{self.name}",
            policy=policy or DEFAULT_TOOL_POLICY,
            breaker=breaker,
            budget=budget,
            clock=clock,
            rng=rng,
            retry_if=self._should_retry,
        )

    def _should_retry(self, error: BaseException) -> bool:
        return is_retryable(error) and (self.idempotent or isinstance(error, Locked))

    async def arun(self, **args: Any) -> Any:
        """Async body: override for tools whose I/O is async."""
        raise NotImplementedError

    def run(self, **args: Any) -> Any:
        """Blocking body: override for tools whose I/O blocks; runs in a worker thread."""
        raise NotImplementedError

    @property
    def is_async(self) -> bool:
        return type(self).arun is not BaseTool.arun

    async def async_run(self, **args: Any) -> Any:
        """Run the tool with timeout and retries; never blocks the event loop."""
        served = await self.resilience.run_single(
            self.name, partial(self._attempt, args), attempt_timeout=self.timeout
        )
        return served.value

    async def _attempt(self, args: dict[str, Any], info: AttemptInfo) -> Any:
        # The executor bounds the attempt (timeout, deadline); a sync body is abandoned on
        # cancellation (its thread runs on, its result is dropped).
        if self.is_async:
            return await self.arun(**args)
        return await anyio.to_thread.run_sync(
            partial(self.run, **args), limiter=self.limiter, abandon_on_cancel=True
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, idempotent={self.idempotent!r})"
