"""Rules that hold for all inputs: backoff bounds, retry counts, permanence, budget bound."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Sequence

from core_strategies import retry_policies
from hypothesis import given
from hypothesis import strategies as st

from harness import core

policies = retry_policies(
    attempts=8,
    delay=5.0,
    multiplier=4.0,
    max_delay=60.0,
    deadline=st.one_of(st.none(), st.floats(0.5, 120.0)),
    max_retry_after=st.floats(0.0, 90.0),
)


@given(
    policy=policies,
    retry_number=st.integers(1, 200),
    seed=st.integers(),
    previous=st.one_of(st.none(), st.floats(0.0, 100.0)),
)
def test_every_backoff_lies_within_its_jitter_bounds(
    policy: core.RetryPolicy, retry_number: int, seed: int, previous: float | None
) -> None:
    delay = policy.backoff(retry_number, random.Random(seed), previous)
    step = policy.step(retry_number)
    assert 0.0 <= delay <= policy.max_delay + 1e-9
    if policy.jitter == "none":
        assert delay == step
    elif policy.jitter == "full":
        assert 0.0 <= delay <= step + 1e-9
    elif policy.jitter == "equal":
        assert step / 2 - 1e-9 <= delay <= step + 1e-9
    else:
        low = min(policy.initial_delay, policy.max_delay)
        assert low - 1e-9 <= delay <= max(low, min(policy.max_delay, 3 * (previous or low))) + 1e-9


transient_errors = st.sampled_from(
    [
        lambda: core.ServerError("down", status=503),
        lambda: core.ServerError("gateway", status=504),
        lambda: core.Overloaded("busy", status=529),
        lambda: core.Timeout("slow"),
        lambda: core.ConnectError("reset"),
        lambda: core.RateLimited("slow down", status=429),
    ]
)
retry_afters = st.one_of(st.none(), st.floats(0.0, 100.0))


def run(
    resilience: core.Resilience, chain: Sequence[tuple[str, object]], deadline: float | None = None
) -> object:
    return asyncio.run(resilience.run(chain, deadline=deadline))  # type: ignore[arg-type]


def scripted(outcomes: list[core.UpstreamError | None]):  # type: ignore[no-untyped-def]
    """An operation that fails with each scripted error, then succeeds."""
    calls = {"n": 0}

    async def op(info: core.AttemptInfo) -> str:
        index = calls["n"]
        calls["n"] += 1
        if index < len(outcomes) and outcomes[index] is not None:
            raise outcomes[index]  # type: ignore[misc]
        return "ok"

    return op, calls


@given(
    policy=policies,
    failures=st.lists(st.tuples(transient_errors, retry_afters), max_size=10),
    seed=st.integers(),
)
def test_sleeps_never_exceed_the_cap_or_the_time_left(
    policy: core.RetryPolicy, failures: list[tuple[object, float | None]], seed: int
) -> None:
    clock = core.VirtualClock()
    errors: list[core.UpstreamError | None] = []
    for make, retry_after in failures:
        error = make()  # type: ignore[operator]
        error.retry_after = retry_after
        errors.append(error)
    op, _ = scripted(errors)
    resilience = core.Resilience("p", policy=policy, clock=clock, rng=random.Random(seed))
    scheduled: list[core.RetryScheduled] = []
    resilience.events.subscribe(
        lambda e: scheduled.append(e) if isinstance(e, core.RetryScheduled) else None
    )
    with contextlib.suppress(core.AllProvidersFailed, core.DeadlineExceeded):
        run(resilience, [("only", op)])
    for event in scheduled:
        if event.reason == "backoff":
            assert event.delay <= policy.max_delay + 1e-9
        else:
            assert event.delay <= policy.max_retry_after + 1e-9
        if policy.deadline is not None:
            assert event.at + event.delay <= policy.deadline + 1e-9
    if policy.deadline is not None:
        assert clock.now() <= policy.deadline + 1e-9


@given(
    max_attempts=st.integers(1, 8),
    data=st.data(),
)
def test_fewer_failures_than_attempts_then_success_takes_failures_plus_one(
    max_attempts: int, data: st.DataObject
) -> None:
    count = data.draw(st.integers(0, max_attempts - 1))
    makers = data.draw(st.lists(transient_errors, min_size=count, max_size=count))
    op, calls = scripted([make() for make in makers])  # type: ignore[operator]
    policy = core.RetryPolicy(max_attempts=max_attempts, deadline=None)
    resilience = core.Resilience("p", policy=policy, clock=core.VirtualClock())
    served = run(resilience, [("only", op)])
    assert served.attempts == count + 1  # type: ignore[attr-defined]
    assert calls["n"] == count + 1


permanent_errors = st.sampled_from(
    [
        lambda: core.QuotaExhausted("quota", status=429),
        lambda: core.BadRequest("bad", status=400),
        lambda: core.ServerError("told not to", status=503, should_retry=False),
    ]
)


@given(make=permanent_errors, transient_before=st.integers(0, 3))
def test_permanent_errors_are_never_retried(make: object, transient_before: int) -> None:
    errors: list[core.UpstreamError | None] = [
        core.ServerError("x") for _ in range(transient_before)
    ]
    errors.append(make())  # type: ignore[operator]
    op, calls = scripted(errors)
    resilience = core.Resilience(
        "p", policy=core.RetryPolicy(max_attempts=10, deadline=None), clock=core.VirtualClock()
    )
    try:
        run(resilience, [("only", op)])
    except (core.AllProvidersFailed, core.BadRequest):
        pass
    else:  # pragma: no cover - the scripted permanent error must surface
        raise AssertionError("a permanent error was retried into a success")
    assert calls["n"] == transient_before + 1


@given(
    calls=st.integers(1, 40),
    capacity=st.floats(0.0, 20.0),
    ratio=st.floats(0.0, 1.0),
    per_second=st.floats(0.0, 2.0),
)
def test_retries_under_the_budget_never_exceed_its_bound(
    calls: int, capacity: float, ratio: float, per_second: float
) -> None:
    clock = core.VirtualClock()
    budget = core.BudgetConfig(capacity=capacity, ratio=ratio, min_per_second=per_second)
    resilience = core.Resilience(
        "p",
        policy=core.RetryPolicy(max_attempts=5, deadline=None, jitter="none", initial_delay=0.1),
        budget=budget,
        clock=clock,
    )

    async def always_down(info: core.AttemptInfo) -> str:
        raise core.ServerError("down", status=503)

    async def many() -> None:
        for _ in range(calls):
            with contextlib.suppress(core.AllProvidersFailed, core.RetryBudgetExhausted):
                await resilience.run([("only", always_down)])

    asyncio.run(many())
    spent = resilience.guard("only").budget
    assert spent is not None
    bound = capacity + ratio * calls + per_second * clock.now()
    assert spent.retries <= bound + 1e-9
    assert spent.calls == calls
