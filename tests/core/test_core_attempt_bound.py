"""The attempt bound, for any fault sequence on a primary and its backup.

A provider with a backup behind it gets the first attempt plus one per backoff step that fits
in ``fallback_after`` (two by default) and waits no longer than ``fallback_after``; the last
provider runs the whole schedule. Both hold on every path: backoff, ``Retry-After``, waits at
the rate-limit gate another call closed, breaker and budget refusals, the deadline; for calls
made one after another or all at once, sharing the gate, breaker and budget, on virtual time.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable

from core_strategies import retry_policies
from hypothesis import given, note, settings
from hypothesis import strategies as st

from harness.core import (
    AllProvidersFailed,
    AttemptFailed,
    AttemptInfo,
    AttemptStarted,
    BreakerConfig,
    BudgetConfig,
    CallFinished,
    ConnectError,
    DeadlineExceeded,
    FallbackUsed,
    NotFound,
    Overloaded,
    QuotaExhausted,
    RateLimited,
    Resilience,
    ResilienceEvent,
    RetryPolicy,
    RetryScheduled,
    ServerError,
    Timeout,
    UpstreamError,
    VirtualClock,
)

EPSILON = 1e-9
ERRORS: dict[str, Callable[[float | None], UpstreamError]] = {
    "503": lambda ra: ServerError("down", status=503, retry_after=ra),
    "529": lambda ra: Overloaded("busy", status=529, retry_after=ra),
    "429": lambda ra: RateLimited("slow down", status=429, retry_after=ra),
    "timeout": lambda ra: Timeout("slow"),
    "reset": lambda ra: ConnectError("reset"),
    "quota": lambda ra: QuotaExhausted("quota", status=429),
    "404": lambda ra: NotFound("no such model", status=404),
}

# One answer of a vendor: its kind ("ok" or an error), its Retry-After and how long it took.
Answer = tuple[str, float | None, float]
answers = st.tuples(
    st.sampled_from(["ok", *ERRORS]),
    st.one_of(st.none(), st.floats(0.0, 3.0)),
    st.floats(0.0, 0.5),
)
policies = retry_policies(
    attempts=6,
    delay=2.0,
    multiplier=3.0,
    max_delay=10.0,
    fallback_after=st.floats(0.0, 3.0),
    fallback_when_faster=st.booleans(),
    max_retry_after=st.floats(0.0, 5.0),
    deadline=st.one_of(st.none(), st.floats(0.5, 60.0)),
)
breakers = st.none() | st.builds(
    BreakerConfig,
    consecutive_failures=st.integers(1, 4),
    min_throughput=st.integers(1, 5),
    first_break=st.floats(0.0, 2.0),
    break_duration=st.floats(0.0, 5.0),
)
budgets = st.none() | st.builds(
    BudgetConfig,
    ratio=st.floats(0.0, 1.0),
    min_per_second=st.floats(0.0, 2.0),
    capacity=st.floats(0.0, 5.0),
)


def bound_with_backup(policy: RetryPolicy) -> int:
    """The README's rule, computed here on its own: the first attempt, then one per step
    ``min(max_delay, initial_delay * multiplier ** (n - 1))`` that is at most fallback_after."""
    attempts = 1
    while attempts < policy.max_attempts:
        step = min(policy.max_delay, policy.initial_delay * policy.multiplier ** (attempts - 1))
        if step > policy.fallback_after:
            break
        attempts += 1
    return attempts


def vendor(clock: VirtualClock, script: list[Answer]) -> Callable[[AttemptInfo], Awaitable[str]]:
    """An operation that gives the scripted answers in turn (then succeeds), each taking its
    time on the virtual clock."""
    pending = deque(script)

    async def attempt(info: AttemptInfo) -> str:
        kind, retry_after, took = pending.popleft() if pending else ("ok", None, 0.01)
        clock.advance(took)
        await asyncio.sleep(0)  # let concurrent calls interleave here, as a real request would
        if kind == "ok":
            return f"answer from {info.provider}"
        raise ERRORS[kind](retry_after)

    return attempt


@settings(deadline=None)
@given(
    policy=policies,
    breaker=breakers,
    budget=budgets,
    primary_script=st.lists(answers, max_size=25),
    backup_script=st.lists(answers, max_size=25),
    calls=st.integers(1, 6),
    together=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_attempts_and_waits_stay_within_the_bound_for_any_faults(
    policy: RetryPolicy,
    breaker: BreakerConfig | None,
    budget: BudgetConfig | None,
    primary_script: list[Answer],
    backup_script: list[Answer],
    calls: int,
    together: bool,
    seed: int,
) -> None:
    clock = VirtualClock()
    resilience = Resilience(
        "llm",
        policy=policy,
        breaker=breaker,
        budget=budget,
        clock=clock,
        rng=random.Random(seed),
    )
    events: list[ResilienceEvent] = []
    resilience.events.subscribe(events.append)
    chain = [("primary", vendor(clock, primary_script)), ("backup", vendor(clock, backup_script))]

    async def one() -> None:
        with contextlib.suppress(AllProvidersFailed, DeadlineExceeded):
            await resilience.run(chain)

    async def scenario() -> None:
        if together:
            await asyncio.gather(*(one() for _ in range(calls)))
        else:
            for _ in range(calls):
                await one()

    asyncio.run(scenario())

    by_call: dict[int, list[ResilienceEvent]] = defaultdict(list)
    for event in events:
        if event.call_id:  # breaker changes belong to no call
            by_call[event.call_id].append(event)
    assert len(by_call) == calls
    limit = bound_with_backup(policy)
    note(f"attempts allowed on the primary: {limit}")
    for call_events in by_call.values():
        started = [e.provider for e in call_events if isinstance(e, AttemptStarted)]
        assert started.count("primary") <= limit
        assert started.count("backup") <= policy.max_attempts
        finished = call_events[-1]
        assert isinstance(finished, CallFinished)
        assert sum(isinstance(e, CallFinished) for e in call_events) == 1
        began = finished.at - finished.elapsed
        for event in call_events:
            if not isinstance(event, RetryScheduled):
                continue
            if event.provider == "primary":
                assert event.delay <= policy.fallback_after + EPSILON
            elif event.reason == "retry_after":
                assert event.delay <= policy.max_retry_after + EPSILON
            else:
                assert event.delay <= policy.max_delay + EPSILON
            if policy.deadline is not None:
                assert event.at + event.delay <= began + policy.deadline + EPSILON
        assert_well_formed(call_events)


def assert_well_formed(call_events: list[ResilienceEvent]) -> None:
    """One call's events: each attempt starts, maybe fails; a retry follows a failure on the
    same provider; the call moves from the primary to the backup at most once, never back."""
    provider = "primary"
    open_attempt: int | None = None
    last_failed = False
    for event in call_events:
        if isinstance(event, AttemptStarted):
            assert event.provider == provider
            open_attempt, last_failed = event.attempt, False
        elif isinstance(event, AttemptFailed):
            assert (event.provider, event.attempt) == (provider, open_attempt)
            last_failed = True
        elif isinstance(event, RetryScheduled):
            assert event.provider == provider and last_failed
            assert event.attempt == open_attempt
            last_failed = False
        elif isinstance(event, FallbackUsed):
            assert (event.from_provider, event.to_provider) == ("primary", "backup")
            assert provider == "primary"
            provider = "backup"
