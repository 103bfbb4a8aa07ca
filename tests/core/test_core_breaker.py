"""Circuit breaker: opens on consecutive failures or a failure ratio; one probe when half-open."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import respx
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from vendor_responses import (
    make_llm,
    openai_ok,
    primary_down,
)

from harness.core import (
    BreakerConfig,
    BreakerPermit,
    BreakerStateChanged,
    CircuitBreaker,
    CircuitOpen,
    RetryPolicy,
    VirtualClock,
)


def make_breaker(
    clock: VirtualClock, **overrides: float
) -> tuple[CircuitBreaker, list[tuple[str, str]]]:
    changes: list[tuple[str, str]] = []
    config = BreakerConfig(**{"consecutive_failures": 3, "break_duration": 10.0, **overrides})  # type: ignore[arg-type]
    breaker = CircuitBreaker(
        "p", config, clock, on_change=lambda old, new: changes.append((old, new))
    )
    return breaker, changes


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        permit = breaker.try_acquire()
        assert permit is not None
        breaker.record_failure(permit)


def succeed(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        permit = breaker.try_acquire()
        assert permit is not None
        breaker.record_success(permit)


def test_opens_after_consecutive_failures_then_probes_once() -> None:
    clock = VirtualClock()
    breaker, changes = make_breaker(clock)
    fail(breaker, 3)
    assert breaker.state == "open"
    assert breaker.try_acquire() is None
    clock.advance(10)
    assert breaker.state == "half_open"
    probe = breaker.try_acquire()
    assert probe is not None and probe.probe
    assert breaker.try_acquire() is None  # nobody else while it is in flight
    breaker.record_success(probe)
    assert breaker.state == "closed"
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def probing() -> tuple[CircuitBreaker, BreakerPermit]:
    """A breaker opened by three failures, its break over, and the probe it let through."""
    clock = VirtualClock()
    breaker, _ = make_breaker(clock)
    fail(breaker, 3)
    clock.advance(10)
    probe = breaker.try_acquire()
    assert probe is not None
    return breaker, probe


def test_failed_probe_reopens() -> None:
    breaker, probe = probing()
    breaker.record_failure(probe)
    assert breaker.state == "open"
    assert breaker.try_acquire() is None
    assert breaker.opened_count == 2


def test_released_probe_lets_the_next_caller_probe() -> None:
    breaker, probe = probing()
    breaker.release(probe)
    assert breaker.state == "half_open"
    assert breaker.try_acquire() is not None


def test_a_stale_outcome_cannot_move_a_probing_breaker() -> None:
    clock = VirtualClock()
    breaker, _ = make_breaker(clock)
    slow_call = breaker.try_acquire()  # started while closed, still running
    assert slow_call is not None
    fail(breaker, 3)
    clock.advance(10)
    probe = breaker.try_acquire()
    assert probe is not None
    breaker.record_failure(slow_call)  # finishes late: says nothing about the probe
    assert breaker.state == "half_open"
    assert breaker.try_acquire() is None
    breaker.record_success(slow_call)
    assert breaker.state == "half_open"
    breaker.record_success(probe)
    assert breaker.state == "closed"


def test_opens_on_failure_ratio_with_minimum_throughput() -> None:
    clock = VirtualClock()
    breaker, _ = make_breaker(
        clock, consecutive_failures=100, failure_ratio=0.5, min_throughput=10, window=30.0
    )
    for i in range(9):  # 9 outcomes, alternating: below the minimum throughput
        fail(breaker) if i % 2 == 0 else succeed(breaker)
    assert breaker.state == "closed"
    succeed(breaker)  # 10 outcomes, 5 failures: the next failure reaches the ratio
    assert breaker.state == "closed"
    fail(breaker)
    assert breaker.state == "open"


def test_old_outcomes_leave_the_window() -> None:
    clock = VirtualClock()
    breaker, _ = make_breaker(clock, consecutive_failures=100, min_throughput=4, window=10.0)
    fail(breaker, 2)
    clock.advance(11)
    succeed(breaker, 2)
    fail(breaker)
    succeed(breaker)
    # Counting the expired failures, 3 of 6 would have opened it; in the window it is 1 of 4.
    assert breaker.state == "closed"


def fail_probe_after(clock: VirtualClock, breaker: CircuitBreaker, seconds: float) -> None:
    """The breaker is still open just before ``seconds``, and its probe then fails."""
    clock.advance(seconds - 0.001)
    assert breaker.try_acquire() is None
    clock.advance(0.001)
    fail(breaker)


def test_the_break_doubles_while_probes_fail_and_resets_when_one_succeeds() -> None:
    clock = VirtualClock()
    breaker, _ = make_breaker(clock, first_break=0.25, break_duration=2.0)
    fail(breaker, 3)
    breaks = []
    for _ in range(5):
        breaks.append(breaker.current_break)
        fail_probe_after(clock, breaker, breaker.current_break)
    assert breaks == [0.25, 0.5, 1.0, 2.0, 2.0]
    clock.advance(2.0)
    succeed(breaker)  # the probe succeeds: closed, and the next break starts short again
    assert breaker.state == "closed"
    fail(breaker, 3)
    assert breaker.current_break == 0.25


def test_first_break_equal_to_break_duration_is_a_fixed_break() -> None:
    clock = VirtualClock()
    breaker, _ = make_breaker(clock, first_break=10.0, break_duration=10.0)
    fail(breaker, 3)
    for _ in range(3):
        assert breaker.current_break == 10.0
        fail_probe_after(clock, breaker, 10.0)


def test_breaker_config_names_the_bad_field() -> None:
    with pytest.raises(ValueError, match="first_break=-1"):
        BreakerConfig(first_break=-1)
    assert BreakerConfig(first_break=5, break_duration=2).break_after(1) == 2  # capped


@pytest.mark.anyio
async def test_after_a_long_outage_traffic_is_back_within_break_duration(
    mock: respx.MockRouter, clock: VirtualClock
) -> None:
    primary = primary_down(mock)
    llm = make_llm(backup=True, breaker=BreakerConfig())
    reopened: list[float] = []
    llm.subscribe(
        lambda e: (
            reopened.append(e.at)
            if isinstance(e, BreakerStateChanged) and e.old == "half_open"
            else None
        )
    )
    served: list[tuple[float, str]] = []

    async def call_every_100ms(until: Callable[[], bool]) -> None:
        while not until():
            started = clock.now()
            served.append((started, (await llm.complete("hi")).provider))
            clock.advance(max(0.0, started + 0.1 - clock.now()))

    # A minute-long outage, ended the worst way: just after a probe failed, with a full break
    # left to run.
    await call_every_100ms(lambda: clock.now() >= 60.0 and bool(reopened) and reopened[-1] >= 60)
    assert len(reopened) > 10
    primary.mock(return_value=openai_ok("back"))
    recovered = len(served), clock.now()
    await call_every_100ms(lambda: clock.now() >= recovered[1] + 5.0)
    after = served[recovered[0] :]
    on_backup = [started - recovered[1] for started, provider in after if provider == "backup"]
    assert max(on_backup, default=0.0) <= BreakerConfig().break_duration
    assert after[-1][1] == "primary"


@pytest.mark.anyio
async def test_open_breaker_sends_calls_straight_to_the_backup(
    mock: respx.MockRouter, clock: VirtualClock
) -> None:
    primary = primary_down(mock)
    events: list[object] = []
    llm = make_llm(
        backup=True,
        policy=RetryPolicy(jitter="none", max_attempts=2),
        breaker=BreakerConfig(consecutive_failures=2, break_duration=30.0),
    )
    llm.subscribe(events.append)
    first = await llm.complete("hi")
    assert first.provider == "backup"
    assert primary.call_count == 2
    second = await llm.complete("hi")
    assert second.provider == "backup"
    assert second.attempts == 1
    assert primary.call_count == 2  # skipped: the breaker is open
    assert [(e.old, e.new) for e in events if isinstance(e, BreakerStateChanged)] == [
        ("closed", "open")
    ]
    # After the break, one probe goes to the primary, which has recovered.
    primary.mock(return_value=openai_ok("primary is back"))
    clock.advance(30)
    third = await llm.complete("hi")
    assert third.provider == "primary"
    assert llm.resilience.guard("primary").breaker.state == "closed"  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_a_breaker_that_opens_mid_call_stops_its_retries(
    mock: respx.MockRouter, clock: VirtualClock
) -> None:
    primary = primary_down(mock)
    llm = make_llm(backup=True, breaker=BreakerConfig(consecutive_failures=2))
    answer = await llm.complete("hi")
    assert primary.call_count == 2
    assert answer.provider == "backup"
    with pytest.raises(CircuitOpen):
        raise CircuitOpen("primary")


class BreakerMachine(RuleBasedStateMachine):
    """Whatever the interleaving, at most one half-open probe is ever in flight, and an open
    breaker grants nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = VirtualClock()
        self.breaker = CircuitBreaker(
            "p",
            BreakerConfig(consecutive_failures=2, min_throughput=3, break_duration=5.0),
            self.clock,
        )
        self.outstanding: list[BreakerPermit] = []

    @rule()
    def acquire(self) -> None:
        state_before = self.breaker.state
        permit = self.breaker.try_acquire()
        if state_before == "open":
            assert permit is None
        if permit is not None:
            self.outstanding.append(permit)

    @precondition(lambda self: bool(self.outstanding))
    @rule(
        index=st.integers(min_value=0), outcome=st.sampled_from(["success", "failure", "release"])
    )
    def finish(self, index: int, outcome: str) -> None:
        permit = self.outstanding.pop(index % len(self.outstanding))
        if outcome == "success":
            self.breaker.record_success(permit)
        elif outcome == "failure":
            self.breaker.record_failure(permit)
        else:
            self.breaker.release(permit)

    @rule(seconds=st.floats(min_value=0, max_value=8))
    def wait(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @invariant()
    def never_two_probes(self) -> None:
        assert sum(p.probe for p in self.outstanding) <= 1

    @invariant()
    def a_probe_in_flight_blocks_everyone(self) -> None:
        if any(p.probe for p in self.outstanding) and self.breaker.state == "half_open":
            assert self.breaker.probe_in_flight


BreakerMachine.TestCase.settings = settings(stateful_step_count=50, deadline=None)
TestBreakerStateMachine = BreakerMachine.TestCase
