"""The resilient call: retries (tenacity), breaker, budget, rate-limit gate, deadline, fallback.

One :class:`Resilience` object belongs to one wrapper (LLM, tool or memory store) and keeps a
:class:`Guard` per provider: its circuit breaker, retry budget and rate-limit gate, shared by all
concurrent calls. :meth:`Resilience.run` tries the providers of a fallback chain in order; on each
one, tenacity's ``AsyncRetrying`` drives the attempts with our own ``wait`` (backoff with jitter,
or the vendor's ``Retry-After``, clipped to the deadline) and ``stop`` (attempts, Retry-After cap,
deadline, breaker, budget) strategies, sleeping on the injectable clock.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, NamedTuple, NoReturn, TypeVar

from tenacity import AsyncRetrying, retry_if_exception

from harness.core._breaker import BreakerConfig, BreakerPermit, CircuitBreaker
from harness.core._budget import BudgetConfig, RetryBudget
from harness.core._clock import Clock, get_clock
from harness.core._deadline import Deadline
from harness.core._errors import (
    AllProvidersFailed,
    CircuitOpen,
    DeadlineExceeded,
    RateLimited,
    RetryBudgetExhausted,
    Timeout,
    UpstreamError,
    is_retryable,
)
from harness.core._events import (
    GLOBAL_EVENTS,
    AttemptFailed,
    AttemptStarted,
    BreakerStateChanged,
    BudgetExhausted,
    CallFinished,
    EventBus,
    FallbackUsed,
    ResilienceEvent,
    RetryReason,
    RetryScheduled,
    next_call_id,
)
from harness.core._gate import RateLimitGate
from harness.core._policy import RetryPolicy
from harness.core._watchdog import start_attempt_timer

T = TypeVar("T")
_EPSILON = 1e-9  # float slack when comparing a sleep with the time left
StopReason = Literal["attempts", "retry_after", "patience", "deadline", "breaker", "budget"]


class DefaultClock:
    """Delegates to whatever :func:`harness.core.get_clock` returns at each call.

    Objects built without an explicit clock use this, so ``use_clock(VirtualClock())`` applies
    to them even when they were created before the block.
    """

    def now(self) -> float:
        return get_clock().now()

    def wall(self) -> float:
        return get_clock().wall()

    async def sleep(self, seconds: float) -> None:
        await get_clock().sleep(seconds)

    def sleep_sync(self, seconds: float) -> None:
        get_clock().sleep_sync(seconds)

    def __repr__(self) -> str:
        return f"DefaultClock(-> {get_clock()!r})"


class AttemptInfo(NamedTuple):
    """What an operation learns about the attempt it runs: its number and its time limit.

    (A named tuple: one is built per attempt, on the hot path.)"""

    provider: str
    attempt: int
    timeout: float


Operation = Callable[[AttemptInfo], Awaitable[T]]


class Served(NamedTuple, Generic[T]):
    """The value of a successful call and how it was obtained (immutable)."""

    value: T
    provider: str
    attempts: int
    elapsed: float
    fallback: bool
    attempts_by_provider: dict[str, int]


@dataclass(slots=True)
class Guard:
    """The shared protection of one provider."""

    name: str
    breaker: CircuitBreaker | None
    budget: RetryBudget | None
    gate: RateLimitGate


@dataclass(slots=True)
class _Call:
    call_id: int
    deadline: Deadline
    attempts: int = 0
    by_provider: dict[str, int] = field(default_factory=dict)
    pending_delay: float = 0.0
    pending_reason: RetryReason = "backoff"
    previous_delay: float | None = None
    stop_reason: StopReason | None = None
    has_fallback: bool = False
    attempt_timeout: float | None = None
    last_attempt: float = 0.0
    pending_clipped: bool = False
    slept_clipped: bool = False


class Resilience:
    """Retry, breaker, budget, gate, deadline and fallback for one wrapper's calls.

    ``breaker=None`` or ``budget=None`` switch those off. ``events`` receives this object's
    events (they also go to the process-wide bus). ``retry_if`` decides which errors are retried
    on the same provider (default: the error's own ``retryable``).
    """

    def __init__(
        self,
        source: str,
        *,
        policy: RetryPolicy | None = None,
        breaker: BreakerConfig | None = None,
        budget: BudgetConfig | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        events: EventBus | None = None,
        retry_if: Callable[[BaseException], bool] = is_retryable,
    ) -> None:
        self.source = source
        self.policy = policy or RetryPolicy()
        self.breaker_config = breaker
        self.budget_config = budget
        self.clock: Clock = clock or DefaultClock()
        self.rng = rng or random.Random()
        self.events = events or EventBus()
        self.retry_if = retry_if
        self._guards: dict[str, Guard] = {}
        self._lock = threading.Lock()

    # -- per-provider state ----------------------------------------------------------------------

    def guard(self, name: str) -> Guard:
        """The guard of provider ``name``, created on first use."""
        guard = self._guards.get(name)
        if guard is not None:
            return guard
        with self._lock:
            guard = self._guards.get(name)
            if guard is None:
                guard = Guard(
                    name=name,
                    breaker=self._make_breaker(name),
                    budget=RetryBudget(self.budget_config, self.clock)
                    if self.budget_config
                    else None,
                    gate=RateLimitGate(self.clock, self.rng),
                )
                self._guards[name] = guard
        return guard

    def guards(self) -> dict[str, Guard]:
        """Every guard created so far, by provider name."""
        return dict(self._guards)

    def _make_breaker(self, name: str) -> CircuitBreaker | None:
        if self.breaker_config is None:
            return None

        def changed(old: Any, new: Any) -> None:
            self._emit(BreakerStateChanged, call_id=0, provider=name, old=old, new=new)

        return CircuitBreaker(name, self.breaker_config, self.clock, on_change=changed)

    # -- events ------------------------------------------------------------------------------------

    @property
    def _observed(self) -> bool:
        return bool(len(self.events) or len(GLOBAL_EVENTS))

    def _emit(self, kind: type[ResilienceEvent], **fields: Any) -> None:
        if not self._observed:
            return
        event = kind(source=self.source, at=self.clock.now(), **fields)
        self.events.emit(event)
        GLOBAL_EVENTS.emit(event)

    # -- the call ----------------------------------------------------------------------------------

    async def run(
        self,
        chain: Sequence[tuple[str, Operation[T]]],
        *,
        deadline: float | None = None,
        attempt_timeout: float | None = None,
    ) -> Served[T]:
        """Run the operations of ``chain`` (provider name, operation) in fallback order.

        Each attempt is bounded by the time left and, when given, by ``attempt_timeout``.

        Raises the first non-fallback error (``BadRequest``), ``DeadlineExceeded`` when time
        ran out, or ``AllProvidersFailed`` with every provider's last error.
        """
        if not chain:
            raise ValueError("Resilience.run needs at least one provider")
        budget_seconds = deadline if deadline is not None else self.policy.deadline
        # Resolve the default clock once per call: the deadline reads it many times.
        clock = get_clock() if isinstance(self.clock, DefaultClock) else self.clock
        call = _Call(
            call_id=next_call_id(),
            deadline=Deadline(clock, budget_seconds),
            attempt_timeout=attempt_timeout,
        )
        errors: dict[str, BaseException] = {}
        previous: str | None = None
        try:
            for index, (name, operation) in enumerate(chain):
                call.has_fallback = index < len(chain) - 1
                if previous is not None:
                    self._emit(
                        FallbackUsed,
                        call_id=call.call_id,
                        from_provider=previous,
                        to_provider=name,
                        reason=type(errors[previous]).__name__,
                    )
                if call.deadline.remaining() <= self.policy.min_attempt_time:
                    call.stop_reason = "deadline"
                    break
                guard = self.guard(name)
                self._enter_provider(guard, call)
                try:
                    # The first attempt is awaited right here: the happy path pays for no
                    # retry machinery and no extra coroutine frame. The retries start outside
                    # the except block, so their errors do not chain onto the first one.
                    first_error: BaseException | None = None
                    try:
                        value = await self._attempt(guard, operation, call)
                    except Exception as exc:
                        if not self.retry_if(exc):
                            raise
                        first_error = exc
                    if first_error is not None:
                        value = await self._retry(first_error, guard, operation, call)
                except (UpstreamError, CircuitOpen, RetryBudgetExhausted) as exc:
                    errors[name] = exc
                    if isinstance(exc, UpstreamError) and not exc.fallback:
                        raise
                    previous = name
                    continue
                served = Served(
                    value=value,
                    provider=name,
                    attempts=call.attempts,
                    elapsed=call.deadline.elapsed(),
                    fallback=name != chain[0][0],
                    attempts_by_provider=dict(call.by_provider),
                )
                if self._observed:
                    self._emit(
                        CallFinished,
                        call_id=call.call_id,
                        outcome="ok",
                        provider=name,
                        attempts=call.attempts,
                        elapsed=served.elapsed,
                        error=None,
                        fallback=served.fallback,
                    )
                return served
            if call.stop_reason == "deadline" or call.deadline.expired:
                raise DeadlineExceeded(budget_seconds or math.inf, errors=errors)
            raise AllProvidersFailed(errors)
        except BaseException as exc:
            self._emit(
                CallFinished,
                call_id=call.call_id,
                outcome="error",
                provider=None,
                attempts=call.attempts,
                elapsed=call.deadline.elapsed(),
                error=type(exc).__name__,
                fallback=len(errors) > 0,
            )
            raise

    async def run_single(
        self,
        name: str,
        operation: Operation[T],
        *,
        deadline: float | None = None,
        attempt_timeout: float | None = None,
    ) -> Served[T]:
        """Like :meth:`run` with one provider, raising that provider's own error."""
        try:
            return await self.run(
                [(name, operation)], deadline=deadline, attempt_timeout=attempt_timeout
            )
        except AllProvidersFailed as exc:
            raise exc.errors[name] from None

    @staticmethod
    def _enter_provider(guard: Guard, call: _Call) -> None:
        if guard.budget is not None:
            guard.budget.record_call()
        call.stop_reason = None
        call.previous_delay = None
        call.slept_clipped = False
        call.last_attempt = 0.0

    async def _retry(
        self, first: BaseException, guard: Guard, operation: Operation[T], call: _Call
    ) -> T:
        """After the first attempt on a provider failed retryably: the retries, with tenacity."""
        self._decide(first, guard, call)
        if call.stop_reason is not None:
            self._raise_stopped(first, guard, call)
        self._before_sleep(guard, call)
        await self.clock.sleep(call.pending_delay)
        retrying = AsyncRetrying(
            sleep=self.clock.sleep,
            retry=retry_if_exception(self.retry_if),
            wait=lambda state: self._decide(
                state.outcome.exception() if state.outcome else None, guard, call
            ),
            stop=lambda state: call.stop_reason is not None,
            before_sleep=lambda state: self._before_sleep(guard, call),
            reraise=True,
        )
        try:
            result: T = await retrying(self._attempt, guard, operation, call)
        except UpstreamError as exc:
            self._raise_stopped(exc, guard, call)
        return result

    def _raise_stopped(self, error: BaseException, guard: Guard, call: _Call) -> NoReturn:
        """Re-raise the provider's last error, as the harness outcome that stopped retries."""
        if call.stop_reason == "budget":
            raise RetryBudgetExhausted(guard.name, last_error=error) from error
        if call.stop_reason == "breaker":
            raise CircuitOpen(guard.name, last_error=error) from error
        raise error

    async def _pass_gate(self, hold: float, guard: Guard, call: _Call) -> None:
        """Wait while another caller's 429 holds the provider, or give up on it (fallback)."""
        policy = self.policy
        room = call.deadline.remaining() - policy.min_attempt_time
        limit = policy.fallback_after if call.has_fallback else policy.max_retry_after
        if hold > limit or hold > room:
            raise RateLimited(
                f"rate-limit gate closed for {hold:.2f}s",
                provider=guard.name,
                retry_after=hold,
                should_retry=False,
            )
        await self.clock.sleep(hold)

    async def _attempt(self, guard: Guard, operation: Operation[T], call: _Call) -> T:
        hold = guard.gate.release_delay()
        if hold > 0.0:
            await self._pass_gate(hold, guard, call)
        remaining = call.deadline.remaining()
        if remaining <= 0.0:
            call.stop_reason = "deadline"
            raise Timeout("no time left for an attempt", provider=guard.name, should_retry=False)
        breaker = guard.breaker
        permit = breaker.try_acquire() if breaker is not None else None
        if breaker is not None and permit is None:
            raise CircuitOpen(guard.name)
        call.attempts += 1
        call.by_provider[guard.name] = call.by_provider.get(guard.name, 0) + 1
        if self._observed:
            self._emit(
                AttemptStarted, call_id=call.call_id, provider=guard.name, attempt=call.attempts
            )
        started = call.deadline.elapsed()
        limit = remaining
        if call.attempt_timeout is not None and call.attempt_timeout < remaining:
            limit = call.attempt_timeout
        info = AttemptInfo(provider=guard.name, attempt=call.attempts, timeout=limit)
        timer = start_attempt_timer(limit) if math.isfinite(limit) else None
        try:
            try:
                result = await operation(info)
            finally:
                if timer is not None:
                    timer.cancel()
        except asyncio.CancelledError as exc:
            if timer is None or not timer.expired_here():
                if breaker is not None and permit is not None:
                    breaker.release(permit)
                raise
            error = Timeout(f"attempt time limit ({limit:.3f}s) reached", provider=guard.name)
            self._failed(guard, call, error, started, permit)
            raise error from exc
        except TimeoutError as exc:  # raised by the operation itself (a tool's own timeout)
            error = Timeout(f"timed out: {exc}" if str(exc) else "timed out", provider=guard.name)
            self._failed(guard, call, error, started, permit)
            raise error from exc
        except UpstreamError as exc:
            self._failed(guard, call, exc, started, permit)
            raise
        except BaseException:
            if breaker is not None and permit is not None:
                breaker.release(permit)
            raise
        if breaker is not None and permit is not None:
            breaker.record_success(permit)
        return result

    def _failed(
        self,
        guard: Guard,
        call: _Call,
        error: UpstreamError,
        started: float,
        permit: BreakerPermit | None,
    ) -> None:
        breaker = guard.breaker
        call.last_attempt = call.deadline.elapsed() - started
        if breaker is not None and permit is not None:
            if error.counts_for_breaker:
                breaker.record_failure(permit)
            else:
                breaker.release(permit)
        if isinstance(error, RateLimited) and error.retry_after:
            guard.gate.close_for(error.retry_after)
        self._emit(
            AttemptFailed,
            call_id=call.call_id,
            provider=guard.name,
            attempt=call.attempts,
            error=type(error).__name__,
            status=error.status,
            retryable=self.retry_if(error),
            elapsed=call.last_attempt,
        )

    # -- retry decisions (also tenacity's wait and stop strategies) ---------------------------

    def _decide(self, error: BaseException | None, guard: Guard, call: _Call) -> float:
        """After a retryable failure: how long to wait, and whether to stop (``stop_reason``)."""
        policy = self.policy
        tried = call.by_provider.get(guard.name, 0)
        retry_after = error.retry_after if isinstance(error, UpstreamError) else None
        reason: RetryReason
        clipped = False
        # The next attempt will likely take as long as the last one did; with a backup left,
        # keep as much again for it, so retrying here cannot starve the fallback.
        estimate = max(policy.min_attempt_time, call.last_attempt)
        reserve = estimate if call.has_fallback else 0.0
        room = call.deadline.remaining() - estimate - reserve
        if retry_after is not None and policy.respect_retry_after:
            delay, reason = retry_after, "retry_after"
        else:
            delay, reason = policy.backoff(max(tried, 1), self.rng, call.previous_delay), "backoff"
            clipped = delay > room and not call.has_fallback
            if clipped:
                # The last provider spends what is left on one final attempt; with a backup
                # left, the stop decision below moves on to it instead of sleeping.
                delay = max(0.0, room)
        call.pending_delay, call.pending_reason = delay, reason
        call.pending_clipped = reason == "backoff" and clipped
        stop: StopReason | None = None
        if tried >= policy.max_attempts:
            stop = "attempts"
        elif reason == "retry_after" and delay > (
            policy.fallback_after if call.has_fallback else policy.max_retry_after
        ):
            stop = "retry_after"
        elif (
            reason == "backoff"
            and call.has_fallback
            and policy.step(max(tried, 1)) > (policy.fallback_after)
        ):
            stop = "patience"  # a backup answers sooner than this backoff step would
        elif call.slept_clipped or room <= _EPSILON or delay > room + _EPSILON:
            stop = "deadline"
        elif guard.breaker is not None and guard.breaker.state == "open":
            stop = "breaker"
        elif guard.budget is not None and not guard.budget.try_spend():
            self._emit(BudgetExhausted, call_id=call.call_id, provider=guard.name)
            stop = "budget"
        call.stop_reason = stop
        return delay

    def _before_sleep(self, guard: Guard, call: _Call) -> None:
        call.previous_delay = call.pending_delay
        call.slept_clipped = call.pending_clipped
        self._emit(
            RetryScheduled,
            call_id=call.call_id,
            provider=guard.name,
            attempt=call.attempts,
            delay=call.pending_delay,
            reason=call.pending_reason,
        )
