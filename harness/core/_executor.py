"""The resilient call: one retry loop, with breaker, budget, rate-limit gate, deadline, fallback.

One :class:`Resilience` object belongs to one wrapper (LLM, tool or memory store) and keeps a
:class:`Guard` per provider: its circuit breaker, retry budget, rate-limit gate and latency
estimate, shared by all concurrent calls. :meth:`Resilience.run` tries the providers of a
fallback chain in order. On each provider one plain loop runs: an attempt; on a retryable error,
:meth:`Resilience._next_wait` either returns the wait before the next attempt or raises what
ends this provider (its error, :class:`CircuitOpen`, :class:`RetryBudgetExhausted`), and the
call falls back to the next one. The rules, on every path:

- **With a backup behind it**, a provider gets at most ``policy.attempts_with_backup`` attempts
  (the first, plus one per backoff step up to ``fallback_after``: 2 by default), and takes no
  wait (backoff, ``Retry-After``, or the gate closed by another caller's 429) longer than its
  *patience*: ``fallback_after``, or less when the backup is expected to answer sooner
  (``fallback_when_faster``): the backup's gate hold plus an exponentially weighted moving
  average of its served attempts' latency. A gate hold or a refused retry costs no attempt.
- **The last provider** runs the whole schedule (1, 2, 4, 8 s, full jitter) and waits up to
  ``max_retry_after`` for a ``Retry-After`` or the gate.
- Every wait is clipped to the deadline, keeping time for one more attempt (as long as the last
  one took) and, while a backup remains, as much again for it.

Why a latency threshold and not a hedged request: the core knows the wait *before* taking it
(the vendor's ``Retry-After``, the gate's hold, the backoff step), so it can compare it with what
the backup costs, at the price of one float update per served attempt. A hedge would send a
second request while the first is in flight: double load (and bill) on exactly the requests that
are slow, and a cancellation for every hedge that loses. Compared with the usual clients:

- the openai SDK retries twice and honours ``retry-after`` up to 60 s: with one provider,
  waiting is all it can do. With a backup, the core takes no wait the backup would beat.
- LiteLLM's Router cools a failing deployment down for a fixed time (5 s by default, after 3
  failures or 50 % failing in a minute, or a 429 in a group of several) and retries before its
  fallbacks. The core's gate closes a provider for exactly its ``Retry-After``, for every caller,
  and its breaker's break starts short and grows while the provider stays down.
- gRPC's retry throttling is a token bucket per server: failures withdraw, successes deposit,
  and retries stop below half. The core's retry budget is the same idea (each call deposits,
  each retry withdraws a whole token); a refused retry goes to the backup without waiting.

The loop is written out rather than driven by tenacity: on the happy path ``AsyncRetrying``
alone costs more than three times the core's whole call (``bench/bench_retry_loop.py``: 3.4
times, 20 µs against 5.9 µs), and which rule stopped the retries decides what is raised, which
tenacity's boolean ``stop`` cannot return.

The failure path keeps no error in a local of a frame the error's traceback holds (a reference
cycle, left for the garbage collector: a burst of failing calls would pile them up), and a
deadline that passes while the attempt waits for a connection is a :class:`PoolTimeout`, which
does not count against the breaker: the vendor was never asked.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar

from harness.core._breaker import BreakerConfig, BreakerPermit, CircuitBreaker
from harness.core._budget import BudgetConfig, RetryBudget
from harness.core._clock import Clock, get_clock
from harness.core._deadline import Deadline
from harness.core._errors import (
    AllProvidersFailed,
    CircuitOpen,
    DeadlineExceeded,
    PoolTimeout,
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
    EventHandler,
    FallbackUsed,
    ResilienceEvent,
    RetryReason,
    RetryScheduled,
    next_call_id,
)
from harness.core._gate import RateLimitGate
from harness.core._policy import RetryPolicy
from harness.core._transport import cancelled_in_queue
from harness.core._watchdog import AttemptTimer, start_attempt_timer

T = TypeVar("T")
_EPSILON = 1e-9  # float slack when comparing a sleep with the time left
_LATENCY_WEIGHT = 0.2  # weight of the newest served attempt in a provider's latency average


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
    """The shared protection of one provider, and what the core learnt about it.

    ``latency`` is the moving average of its served attempts' duration (None until one served).
    """

    name: str
    breaker: CircuitBreaker | None
    budget: RetryBudget | None
    gate: RateLimitGate
    latency: float | None = None

    def observe(self, seconds: float) -> None:
        """An attempt was served in ``seconds``. (Racing updates may lose one sample: harmless.)"""
        latency = self.latency
        self.latency = (
            seconds if latency is None else latency + _LATENCY_WEIGHT * (seconds - latency)
        )

    def expected_answer(self) -> float | None:
        """Seconds this provider is expected to take to answer a new call: its gate's hold plus
        its latency; None when unknown (it never served)."""
        if self.latency is None:
            return None
        return self.gate.wait_time() + self.latency


@dataclass(slots=True)
class _Call:
    """The state of one call, as it moves down the chain."""

    call_id: int
    deadline: Deadline
    chain: Sequence[tuple[str, Any]]
    attempt_timeout: float | None
    attempts: int = 0
    by_provider: dict[str, int] = field(default_factory=dict)
    index: int = 0  # the provider being tried
    has_fallback: bool = False
    previous_delay: float | None = None
    last_attempt: float = 0.0
    slept_clipped: bool = False
    out_of_time: bool = False


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
        return bool(self.events.handlers or GLOBAL_EVENTS.handlers)

    def _emit(self, kind: type[ResilienceEvent], **fields: Any) -> None:
        if not (self.events.handlers or GLOBAL_EVENTS.handlers):
            return
        event = kind(source=self.source, at=self.clock.now(), **fields)
        self.events.emit(event)
        GLOBAL_EVENTS.emit(event)

    def _finished(
        self,
        call: _Call,
        provider: str | None,
        elapsed: float,
        error: BaseException | None,
        fallback: bool,
    ) -> None:
        """Emit :class:`CallFinished`: served by ``provider``, or failed with ``error``."""
        self._emit(
            CallFinished,
            call_id=call.call_id,
            outcome="ok" if error is None else "error",
            provider=provider,
            attempts=call.attempts,
            elapsed=elapsed,
            error=None if error is None else type(error).__name__,
            fallback=fallback,
        )

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
            chain=chain,
            attempt_timeout=attempt_timeout,
        )
        errors: dict[str, BaseException] = {}
        error: Exception | None = None
        previous: str | None = None
        last = len(chain) - 1
        try:
            for index, (name, operation) in enumerate(chain):
                call.index, call.has_fallback = index, index < last
                if previous is not None:
                    self._emit(
                        FallbackUsed,
                        call_id=call.call_id,
                        from_provider=previous,
                        to_provider=name,
                        reason=type(errors[previous]).__name__,
                    )
                if call.deadline.remaining() <= self.policy.min_attempt_time:
                    call.out_of_time = True
                    break
                guard = self._guards.get(name) or self.guard(name)
                self._enter_provider(guard, call)
                try:
                    while True:  # the retry loop: attempt, then wait or give up on the provider
                        try:
                            value = await self._attempt(guard, operation, call)
                            break
                        except Exception as exc:
                            if not self.retry_if(exc):
                                raise
                            error = exc
                        # Outside the except block: a retry's error does not chain onto this one.
                        await self.clock.sleep(self._next_wait(error, guard, call))
                except (UpstreamError, CircuitOpen, RetryBudgetExhausted) as exc:
                    errors[name] = exc
                    if isinstance(exc, UpstreamError) and not exc.fallback:
                        raise
                    previous = name
                    continue
                served = Served(
                    value,
                    name,
                    call.attempts,
                    call.deadline.elapsed(),
                    index > 0,
                    call.by_provider,  # the call's own: nothing changes it any more
                )
                if self.events.handlers or GLOBAL_EVENTS.handlers:
                    self._finished(call, name, served.elapsed, None, served.fallback)
                return served
            if call.out_of_time or call.deadline.expired:
                raise DeadlineExceeded(budget_seconds or math.inf, errors=errors)
            raise AllProvidersFailed(errors)
        except BaseException as exc:
            if self.events.handlers or GLOBAL_EVENTS.handlers:
                self._finished(call, None, call.deadline.elapsed(), exc, len(errors) > 0)
            raise
        finally:
            # This frame is in the traceback of every error raised through it: holding them in
            # its locals would make reference cycles, left to the garbage collector (a storm of
            # failing calls would pile them up). The errors raised carry copies.
            errors.clear()
            error = None

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
        call.previous_delay = None
        call.slept_clipped = False
        call.out_of_time = False
        call.last_attempt = 0.0

    # -- one attempt -------------------------------------------------------------------------------

    async def _attempt(self, guard: Guard, operation: Operation[T], call: _Call) -> T:
        deadline = call.deadline
        clock = deadline.clock
        now = clock.now()
        if guard.gate.not_before > now:
            hold = guard.gate.release_delay()
            if hold > 0.0:
                await self._pass_gate(hold, guard, call)
                now = clock.now()
        remaining = deadline.expires - now
        if remaining <= 0.0:
            call.out_of_time = True
            raise Timeout("no time left for an attempt", provider=guard.name, should_retry=False)
        breaker = guard.breaker
        permit = breaker.try_acquire() if breaker is not None else None
        if breaker is not None and permit is None:
            raise CircuitOpen(guard.name)
        call.attempts += 1
        by_provider = call.by_provider
        by_provider[guard.name] = by_provider.get(guard.name, 0) + 1
        if self.events.handlers or GLOBAL_EVENTS.handlers:
            self._emit(
                AttemptStarted, call_id=call.call_id, provider=guard.name, attempt=call.attempts
            )
        started = now - deadline.started
        timeout = call.attempt_timeout
        limit = remaining if timeout is None or timeout >= remaining else timeout
        info = AttemptInfo(guard.name, call.attempts, limit)
        timer = start_attempt_timer(limit) if limit != math.inf else None
        try:
            try:
                result = await operation(info)
            finally:
                if timer is not None:
                    timer.cancel()
        except BaseException as exc:
            error = self._attempt_error(
                exc,
                guard=guard,
                call=call,
                timer=timer,
                limit=limit,
                started=started,
                permit=permit,
            )
            if error is None:
                raise
            try:
                raise error from exc
            finally:
                del error  # no reference cycle through this frame (see ``run``)
        if breaker is not None and permit is not None:
            breaker.record_success(permit)
        guard.observe(clock.now() - now)
        return result

    def _attempt_error(
        self,
        exc: BaseException,
        *,
        guard: Guard,
        call: _Call,
        timer: AttemptTimer | None,
        limit: float,
        started: float,
        permit: BreakerPermit | None,
    ) -> Timeout | None:
        """Account for an attempt that raised ``exc``: the error to raise in its place, or
        None to let ``exc`` through."""
        breaker = guard.breaker
        if isinstance(exc, UpstreamError):
            self._failed(guard, call, exc, started, permit)
            return None
        error: Timeout
        if isinstance(exc, asyncio.CancelledError):
            if timer is None or not timer.expired_here():  # cancelled from outside
                if breaker is not None and permit is not None:
                    breaker.release(permit)
                return None
            if cancelled_in_queue(exc):  # never sent: not the upstream's fault
                error = PoolTimeout(
                    f"no free connection within the attempt time limit ({limit:.3f}s)",
                    provider=guard.name,
                )
            else:
                error = Timeout(f"attempt time limit ({limit:.3f}s) reached", provider=guard.name)
        elif isinstance(exc, TimeoutError):  # raised by the operation itself (a tool's own)
            error = Timeout(f"timed out: {exc}" if str(exc) else "timed out", provider=guard.name)
        else:
            if breaker is not None and permit is not None:
                breaker.release(permit)
            return None
        self._failed(guard, call, error, started, permit)
        return error

    async def _pass_gate(self, hold: float, guard: Guard, call: _Call) -> None:
        """Wait while another caller's 429 holds the provider, or give up on it (fallback)."""
        policy = self.policy
        room = call.deadline.remaining() - policy.min_attempt_time
        limit = self._patience(call) if call.has_fallback else policy.max_retry_after
        if hold > limit or hold > room:
            raise RateLimited(
                f"rate-limit gate closed for {hold:.2f}s",
                provider=guard.name,
                retry_after=hold,
                should_retry=False,
            )
        await self.clock.sleep(hold)

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
        if self.events.handlers or GLOBAL_EVENTS.handlers:
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

    # -- retry decisions ---------------------------------------------------------------------------

    def _patience(self, call: _Call) -> float:
        """The longest wait worth taking on a provider that has a backup behind it.

        ``fallback_after``, or the time the backup is expected to take to answer when that is
        shorter. The backup is the first provider behind this one whose breaker is not open (the
        fallback skips an open one at no cost); one that never served says nothing.
        """
        policy = self.policy
        if not policy.fallback_when_faster:
            return policy.fallback_after
        for name, _ in call.chain[call.index + 1 :]:
            guard = self._guards.get(name)
            if guard is None:
                break
            if guard.breaker is not None and guard.breaker.state == "open":
                continue
            expected = guard.expected_answer()
            if expected is not None:
                return min(policy.fallback_after, expected)
            break
        return policy.fallback_after

    def _next_wait(self, error: Exception, guard: Guard, call: _Call) -> float:
        """After a retryable failure on ``guard``: the wait before its next attempt.

        Raises instead what ends this provider: ``error`` itself when its attempts are spent, the
        wait is longer than it may be, or time is short; :class:`CircuitOpen` when its breaker is
        open; :class:`RetryBudgetExhausted` when the budget refuses the retry (checked last, so
        that a token is spent only on a retry that happens).
        """
        try:
            if call.deadline.remaining() <= 0.0:  # no time at all: nothing to work out
                call.out_of_time = True
                raise error
            policy = self.policy
            tried = call.by_provider.get(guard.name, 0)
            retry_after = error.retry_after if isinstance(error, UpstreamError) else None
            # The next attempt will likely take as long as the last one did; with a backup left,
            # keep as much again for it, so retrying here cannot starve the fallback.
            estimate = max(policy.min_attempt_time, call.last_attempt)
            reserve = estimate if call.has_fallback else 0.0
            room = call.deadline.remaining() - estimate - reserve
            reason: RetryReason
            clipped = False
            if retry_after is not None and policy.respect_retry_after:
                delay, reason = retry_after, "retry_after"
            else:
                delay, reason = (
                    policy.backoff(max(tried, 1), self.rng, call.previous_delay),
                    "backoff",
                )
                if delay > room and not call.has_fallback:
                    # The last provider spends what is left on one final attempt.
                    delay, clipped = max(0.0, room), True
            if call.has_fallback:
                spent = tried >= policy.attempts_with_backup
                too_long = delay > self._patience(call)
            else:
                spent = tried >= policy.max_attempts
                too_long = reason == "retry_after" and delay > policy.max_retry_after
            if spent or too_long:
                raise error
            if call.slept_clipped or room <= _EPSILON or delay > room + _EPSILON:
                call.out_of_time = True
                raise error
            if guard.breaker is not None and guard.breaker.state == "open":
                raise CircuitOpen(guard.name, last_error=error) from error
            if guard.budget is not None and not guard.budget.try_spend():
                self._emit(BudgetExhausted, call_id=call.call_id, provider=guard.name)
                raise RetryBudgetExhausted(guard.name, last_error=error) from error
            call.previous_delay, call.slept_clipped = delay, clipped
            self._emit(
                RetryScheduled,
                call_id=call.call_id,
                provider=guard.name,
                attempt=call.attempts,
                delay=delay,
                reason=reason,
            )
            return delay
        finally:
            del error  # no reference cycle through this frame (see ``run``)


class Resilient:
    """A client with its own :class:`Resilience` (an LLM wrapper, a tool, a memory), whose
    events callers can receive."""

    resilience: Resilience

    def subscribe(self, handler: EventHandler) -> Callable[[], None]:
        """Receive this client's resilience events; returns the unsubscriber."""
        return self.resilience.events.subscribe(handler)
