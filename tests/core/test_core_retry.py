"""Backoff schedule, Retry-After in every form, the cap, and the deadline, on virtual time."""

from __future__ import annotations

import email.utils

import pytest
import respx
from vendor_responses import (
    BACKUP_URL,
    PRIMARY_URL,
    anthropic_error,
    anthropic_ok,
    make_llm,
    openai_error,
    openai_ok,
    primary_down,
    taking,
)

from harness.core import (
    AllProvidersFailed,
    AttemptFailed,
    BadRequest,
    BreakerConfig,
    CallFinished,
    DeadlineExceeded,
    FallbackUsed,
    ResilienceEvent,
    RetryPolicy,
    ServerError,
    VirtualClock,
)

pytestmark = pytest.mark.anyio


async def test_full_schedule_is_1_2_4_8_seconds_and_takes_no_real_time(
    failing_primary: respx.Route, clock: VirtualClock
) -> None:
    with pytest.raises(AllProvidersFailed) as info:
        await make_llm().complete("hi")
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0]
    assert failing_primary.call_count == 5
    assert isinstance(info.value.errors["primary"], ServerError)


async def test_jittered_waits_stay_under_each_step(
    failing_primary: respx.Route, clock: VirtualClock
) -> None:
    with pytest.raises(AllProvidersFailed):
        await make_llm(policy=RetryPolicy(jitter="full")).complete("hi")
    assert len(clock.sleeps) == 4
    for slept, step in zip(clock.sleeps, [1, 2, 4, 8], strict=True):
        assert 0 <= slept <= step
    assert clock.sleeps != [1.0, 2.0, 4.0, 8.0]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1250"}, 1.25),
        ({"retry-after": "2.5"}, 2.5),
        ({"retry-after": "3"}, 3.0),
        ({"retry-after-ms": "400", "retry-after": "9"}, 0.4),
    ],
)
async def test_retry_after_forms_are_honoured(
    mock: respx.MockRouter, clock: VirtualClock, headers: dict[str, str], expected: float
) -> None:
    route = mock.post(PRIMARY_URL)
    route.side_effect = [openai_error(429, etype="requests", headers=headers), openai_ok()]
    events: list[object] = []
    llm = make_llm()
    llm.subscribe(events.append)
    await llm.complete("hi")
    assert clock.sleeps == [pytest.approx(expected)]
    scheduled = [e for e in events if type(e).__name__ == "RetryScheduled"]
    assert [(e.delay, e.reason) for e in scheduled] == [(pytest.approx(expected), "retry_after")]


async def test_retry_after_as_http_date(mock: respx.MockRouter, clock: VirtualClock) -> None:
    when = email.utils.formatdate(clock.wall() + 7, usegmt=True)
    route = mock.post(PRIMARY_URL)
    route.side_effect = [openai_error(429, headers={"retry-after": when}), openai_ok()]
    await make_llm().complete("hi")
    assert clock.sleeps == [pytest.approx(7.0, abs=1.0)]


async def test_retry_after_over_the_cap_falls_back_without_sleeping(
    mock: respx.MockRouter, clock: VirtualClock
) -> None:
    primary = mock.post(PRIMARY_URL).mock(
        return_value=openai_error(429, headers={"retry-after": "120"})
    )
    mock.post(BACKUP_URL).mock(return_value=anthropic_ok("from backup"))
    answer = await make_llm(backup=True).complete("hi")
    assert answer.provider == "backup"
    assert answer.fallback is True
    assert primary.call_count == 1
    assert clock.sleeps == []


async def test_retry_after_longer_than_the_time_left_falls_back(
    mock: respx.MockRouter, clock: VirtualClock
) -> None:
    mock.post(PRIMARY_URL).mock(return_value=openai_error(429, headers={"retry-after": "20"}))
    mock.post(BACKUP_URL).mock(return_value=anthropic_ok("from backup"))
    llm = make_llm(backup=True, policy=RetryPolicy(jitter="none", deadline=10.0))
    answer = await llm.complete("hi")
    assert answer.provider == "backup"
    assert clock.sleeps == []


async def test_rate_limited_provider_holds_back_the_next_caller(
    mock: respx.MockRouter, clock: VirtualClock
) -> None:
    route = mock.post(PRIMARY_URL)
    route.side_effect = [
        openai_error(429, headers={"retry-after": "30"}),
        openai_ok("second caller"),
    ]
    mock.post(BACKUP_URL).mock(return_value=anthropic_ok("backup"))
    llm = make_llm(backup=True, policy=RetryPolicy(jitter="none", max_retry_after=10))
    first = await llm.complete("hi")
    assert first.provider == "backup"
    # The gate is closed for 30 s: the next caller does not hit the primary at all...
    second = await llm.complete("hi")
    assert second.provider == "backup"
    assert route.call_count == 1
    # ... until the hold is over.
    clock.advance(31)
    third = await llm.complete("hi")
    assert third.provider == "primary"
    assert route.call_count == 2


async def test_deadline_bounds_the_whole_call(mock: respx.MockRouter, clock: VirtualClock) -> None:
    primary_down(mock)
    patient = RetryPolicy(jitter="none", deadline=5.0, fallback_after=10.0)
    llm = make_llm(backup=True, policy=patient)
    started = clock.now()
    answer = await llm.complete("hi")
    # 1 + 2 s of backoff fit; the 4 s step does not, so the backup serves at once.
    assert clock.now() - started <= 5.0
    assert clock.sleeps == [1.0, 2.0]
    assert answer.provider == "backup"


async def test_with_a_backup_a_backoff_step_over_fallback_after_goes_to_it(
    mock: respx.MockRouter, clock: VirtualClock
) -> None:
    primary = primary_down(mock)
    answer = await make_llm(backup=True).complete("hi")
    # step 1 s <= fallback_after (1 s): one retry; step 2 s is not worth waiting for.
    assert clock.sleeps == [1.0]
    assert primary.call_count == 2
    assert answer.provider == "backup"
    assert answer.attempts == 3


async def test_deadline_exceeded_when_no_provider_can_start(
    failing_primary: respx.Route, clock: VirtualClock
) -> None:
    llm = make_llm(policy=RetryPolicy(jitter="none", deadline=2.5, min_attempt_time=0.1))
    with pytest.raises(DeadlineExceeded) as info:
        await llm.complete("hi")
    assert clock.now() <= 2.5
    assert isinstance(info.value.errors["primary"], ServerError)


async def test_per_call_deadline_overrides_the_policy(
    failing_primary: respx.Route, clock: VirtualClock
) -> None:
    with pytest.raises(DeadlineExceeded):
        await make_llm().complete("hi", deadline=1.5)
    # The last provider spends what is left: 1 s, then the 2 s step clipped to fit.
    assert clock.sleeps == [1.0, pytest.approx(1.5 - 1.0 - 0.05)]
    assert clock.now() <= 1.5


async def test_no_retries_policy_is_a_single_attempt(
    failing_primary: respx.Route, clock: VirtualClock
) -> None:
    with pytest.raises(AllProvidersFailed):
        await make_llm(policy=RetryPolicy.no_retries()).complete("hi")
    assert failing_primary.call_count == 1


async def test_a_long_wait_goes_to_the_backup_but_the_last_provider_waits(
    mock: respx.MockRouter, clock: VirtualClock
) -> None:
    primary = mock.post(PRIMARY_URL)
    primary.side_effect = [openai_error(429, headers={"retry-after": "3"}), openai_ok("waited")]
    mock.post(BACKUP_URL).mock(return_value=anthropic_ok("from backup"))
    # With a backup left, 3 s (over fallback_after = 1 s) is not worth waiting for.
    answer = await make_llm(backup=True).complete("hi")
    assert answer.provider == "backup"
    assert clock.sleeps == []
    # Alone, the primary waits what the vendor asked (up to max_retry_after).
    primary.side_effect = [openai_error(429, headers={"retry-after": "3"}), openai_ok("waited")]
    clock.advance(5)
    answer = await make_llm().complete("hi")
    assert answer.text == "waited"
    assert clock.sleeps == [3.0]


async def test_quota_exhausted_goes_to_the_backup_without_a_retry_and_says_so(
    mock: respx.MockRouter, clock: VirtualClock
) -> None:
    primary = mock.post(PRIMARY_URL).mock(
        return_value=openai_error(
            429, etype="insufficient_quota", code="insufficient_quota", message="quota"
        )
    )
    mock.post(BACKUP_URL).mock(return_value=anthropic_ok("from backup"))
    llm = make_llm(backup=True)
    events: list[ResilienceEvent] = []
    llm.subscribe(events.append)
    answer = await llm.complete("hi")
    assert (answer.provider, answer.fallback, answer.attempts) == ("backup", True, 2)
    assert answer.attempts_by_provider == {"primary": 1, "backup": 1}
    assert primary.call_count == 1
    assert clock.sleeps == []  # retrying cannot refill a quota: no wait, no second attempt
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "AttemptStarted",
        "AttemptFailed",
        "FallbackUsed",
        "AttemptStarted",
        "CallFinished",
    ]
    failed, fallback, finished = events[1], events[2], events[4]
    assert isinstance(failed, AttemptFailed)
    assert (failed.error, failed.status, failed.retryable) == ("QuotaExhausted", 429, False)
    assert isinstance(fallback, FallbackUsed)
    assert (fallback.from_provider, fallback.to_provider) == ("primary", "backup")
    assert fallback.reason == "QuotaExhausted"
    assert isinstance(finished, CallFinished)
    assert (finished.outcome, finished.provider, finished.attempts) == ("ok", "backup", 2)
    assert finished.fallback is True
    assert len({e.call_id for e in events}) == 1


async def test_a_failed_call_finishes_with_its_error(
    mock: respx.MockRouter, clock: VirtualClock
) -> None:
    mock.post(PRIMARY_URL).mock(return_value=openai_error(400, message="bad"))
    llm = make_llm(backup=True)
    events: list[ResilienceEvent] = []
    llm.subscribe(events.append)
    with pytest.raises(BadRequest):
        await llm.complete("hi")
    finished = events[-1]
    assert isinstance(finished, CallFinished)
    assert (finished.outcome, finished.provider, finished.error) == ("error", None, "BadRequest")
    assert not any(isinstance(e, FallbackUsed) for e in events)  # a bad request stays bad


async def test_a_repeated_short_retry_after_gets_two_attempts_then_the_backup(
    mock: respx.MockRouter, clock: VirtualClock
) -> None:
    # Retry-After: 1 is not over fallback_after, but it does not buy a third attempt either.
    primary = mock.post(PRIMARY_URL).mock(
        return_value=openai_error(429, etype="requests", headers={"retry-after": "1"})
    )
    mock.post(BACKUP_URL).mock(return_value=anthropic_ok("from backup"))
    answer = await make_llm(backup=True).complete("hi")
    assert answer.provider == "backup"
    assert answer.attempts_by_provider == {"primary": 2, "backup": 1}
    assert primary.call_count == 2
    assert clock.sleeps == [1.0]


async def test_a_wait_longer_than_the_backup_takes_goes_to_the_backup(
    mock: respx.MockRouter, clock: VirtualClock
) -> None:
    primary = mock.post(PRIMARY_URL)
    mock.post(BACKUP_URL).side_effect = taking(clock, 0.2, anthropic_ok)
    llm = make_llm(backup=True)
    # The backup has not served yet: the primary may wait up to fallback_after (1 s).
    primary.side_effect = [openai_error(429, headers={"retry-after": "0.5"}), openai_ok("waited")]
    assert (await llm.complete("hi")).text == "waited"
    assert clock.sleeps == [0.5]
    primary.side_effect = [openai_error(503), openai_error(503)]
    assert (await llm.complete("hi")).provider == "backup"  # after 1 s; 2 s is too long
    # Now the backup is known to answer in 0.2 s: a 0.5 s wait is not worth taking...
    primary.side_effect = [openai_error(429, headers={"retry-after": "0.5"}), openai_ok("waited")]
    answer = await llm.complete("hi")
    assert (answer.provider, answer.attempts_by_provider) == ("backup", {"primary": 1, "backup": 1})
    assert clock.sleeps == [0.5, 1.0]
    # ... nor is the gate that 429 closed for every other caller: no attempt, no wait.
    answer = await llm.complete("hi")
    assert (answer.provider, answer.attempts_by_provider) == ("backup", {"backup": 1})
    assert clock.sleeps == [0.5, 1.0]
    # A wait shorter than the backup takes is still taken.
    clock.advance(1)
    primary.side_effect = [openai_error(429, headers={"retry-after": "0.1"}), openai_ok("waited")]
    assert (await llm.complete("hi")).text == "waited"
    assert clock.sleeps == [0.5, 1.0, 0.1]


async def test_without_fallback_when_faster_the_primary_waits_up_to_fallback_after(
    mock: respx.MockRouter, clock: VirtualClock
) -> None:
    primary = mock.post(PRIMARY_URL)
    mock.post(BACKUP_URL).side_effect = taking(clock, 0.2, anthropic_ok)
    llm = make_llm(backup=True, policy=RetryPolicy(jitter="none", fallback_when_faster=False))
    primary.side_effect = [openai_error(503), openai_error(503)]
    assert (await llm.complete("hi")).provider == "backup"
    primary.side_effect = [openai_error(429, headers={"retry-after": "0.5"}), openai_ok("waited")]
    assert (await llm.complete("hi")).text == "waited"
    assert clock.sleeps == [1.0, 0.5]


async def test_a_backup_whose_breaker_is_open_does_not_hurry_the_primary(
    mock: respx.MockRouter, clock: VirtualClock
) -> None:
    primary = mock.post(PRIMARY_URL)
    backup = mock.post(BACKUP_URL)
    backup.side_effect = taking(clock, 0.2, anthropic_ok)
    breaker = BreakerConfig(consecutive_failures=1, first_break=30, break_duration=30)
    llm = make_llm(backup=True, breaker=breaker)
    primary.side_effect = [openai_error(503)]
    await llm.complete("hi")  # the primary's breaker opens for 30 s; the backup serves in 0.2 s
    clock.advance(20)
    backup.side_effect = [anthropic_error(529, "overloaded_error")]
    with pytest.raises(AllProvidersFailed):
        await llm.complete("hi")  # now the backup's breaker opens too, 20 s later
    clock.advance(10)
    # The primary's probe meets a short Retry-After; the backup is still open, so it cannot
    # answer sooner: the wait is taken.
    primary.side_effect = [openai_error(429, headers={"retry-after": "0.5"}), openai_ok("waited")]
    sleeps = len(clock.sleeps)
    assert (await llm.complete("hi")).text == "waited"
    assert clock.sleeps[sleeps:] == [0.5]


def test_attempts_with_backup_counts_the_steps_that_fit_in_fallback_after() -> None:
    assert RetryPolicy().attempts_with_backup == 2  # 1 s fits in 1 s, 2 s does not
    assert RetryPolicy(fallback_after=4.0).attempts_with_backup == 4  # 1, 2, 4
    assert RetryPolicy(fallback_after=0.5).attempts_with_backup == 1
    assert RetryPolicy(fallback_after=100.0, max_attempts=3).attempts_with_backup == 3
    with pytest.raises(ValueError, match="fallback_after=-1"):
        RetryPolicy(fallback_after=-1)
