"""The retry budget stops retry storms; the rate-limit gate stops thundering herds."""

from __future__ import annotations

import asyncio
import random

import pytest
import respx
from vendor_responses import (
    BACKUP_URL,
    PRIMARY_URL,
    anthropic_ok,
    make_llm,
    openai_error,
    openai_ok,
    taking,
)

from harness.core import (
    BudgetConfig,
    BudgetExhausted,
    RateLimitGate,
    RetryBudget,
    RetryBudgetExhausted,
    RetryPolicy,
    VirtualClock,
)

pytestmark = pytest.mark.anyio


def test_budget_starts_full_and_refills_from_calls_and_time() -> None:
    clock = VirtualClock()
    budget = RetryBudget(BudgetConfig(capacity=2, ratio=0.5, min_per_second=0.0), clock)
    assert budget.try_spend() and budget.try_spend()
    assert not budget.try_spend()
    budget.record_call()
    budget.record_call()
    assert budget.try_spend()
    assert not budget.try_spend()
    timed = RetryBudget(BudgetConfig(capacity=1, ratio=0.0, min_per_second=0.5), clock)
    assert timed.try_spend()
    assert not timed.try_spend()
    clock.advance(2)
    assert timed.try_spend()
    assert (timed.retries, timed.refused) == (2, 1)


async def test_a_spent_budget_sends_calls_to_the_backup_instead_of_retrying(
    mock: respx.MockRouter, clock: VirtualClock
) -> None:
    primary = mock.post(PRIMARY_URL).mock(return_value=openai_error(503))
    # The backup takes 0.5 s: the 10-80 ms waits are worth taking on the primary.
    mock.post(BACKUP_URL).side_effect = taking(clock, 0.5, anthropic_ok)
    events: list[object] = []
    llm = make_llm(
        backup=True,
        policy=RetryPolicy(jitter="none", max_attempts=5, initial_delay=0.01, fallback_after=1.0),
        budget=BudgetConfig(capacity=3, ratio=0.0, min_per_second=0.0),
    )
    llm.subscribe(events.append)
    answers = [await llm.complete("hi") for _ in range(5)]
    assert all(a.provider == "backup" for a in answers)
    # Without a budget: 5 calls x 5 attempts = 25 primary requests. With it: 5 + 3 retries.
    assert primary.call_count == 5 + 3
    exhausted = [e for e in events if isinstance(e, BudgetExhausted)]
    assert len(exhausted) == 5  # the first call spends all 3 tokens and is refused a 4th
    assert answers[-1].attempts == 2


async def test_budget_exhaustion_is_reported_per_provider(
    mock: respx.MockRouter, clock: VirtualClock
) -> None:
    from harness.core import AllProvidersFailed

    mock.post(PRIMARY_URL).mock(return_value=openai_error(503))
    llm = make_llm(budget=BudgetConfig(capacity=0, ratio=0, min_per_second=0))
    with pytest.raises(AllProvidersFailed) as info:
        await llm.complete("hi")
    error = info.value.errors["primary"]
    assert isinstance(error, RetryBudgetExhausted)
    assert error.last_error is not None and error.last_error.status == 503  # type: ignore[attr-defined]


def test_gate_holds_every_caller_and_releases_with_jitter() -> None:
    clock = VirtualClock()
    gate = RateLimitGate(clock, random.Random(1), spread=0.2)
    assert gate.release_delay() == 0.0
    gate.close_for(5.0)
    gate.close_for(1.0)  # a shorter hold never shortens a longer one
    delays = [gate.release_delay() for _ in range(50)]
    assert all(5.0 <= d <= 6.0 for d in delays)
    assert len(set(delays)) > 1
    clock.advance(5.0)
    assert gate.release_delay() == 0.0


async def test_concurrent_callers_wait_for_the_gate_instead_of_hammering(
    mock: respx.MockRouter, clock: VirtualClock
) -> None:
    sent_at: list[float] = []
    responses = iter([openai_error(429, headers={"retry-after": "2"})] + [openai_ok()] * 20)

    def vendor(request: object) -> object:
        sent_at.append(clock.now())
        return next(responses)

    mock.post(PRIMARY_URL).side_effect = vendor
    llm = make_llm(policy=RetryPolicy(jitter="none"))
    # Ten callers arrive together; the first request meets a 429 "retry after 2 s".
    answers = await asyncio.gather(*(llm.complete("hi") for _ in range(10)))
    assert len(answers) == 10
    # Only the requests already in flight went out at t=0: every later one waited for the gate.
    first_wave = [t for t in sent_at if t == 0.0]
    later = [t for t in sent_at if t > 0.0]
    assert len(sent_at) == 11
    assert all(t >= 2.0 for t in later)
    assert len(first_wave) >= 1
