"""The watchdog: attempt time limits of one loop behind a single loop timer."""

from __future__ import annotations

import asyncio
import time

import pytest

from harness.core._watchdog import Watchdog, start_attempt_timer

pytestmark = pytest.mark.anyio


async def _attempt(limit: float, work: float) -> str:
    """Sleep ``work`` seconds under a limit of ``limit``; say how it ended."""
    timer = start_attempt_timer(limit)
    try:
        try:
            await asyncio.sleep(work)
        finally:
            timer.cancel()
    except asyncio.CancelledError:
        if timer.expired_here():
            return "timed out"
        raise
    return "done"


async def test_each_attempt_stops_at_its_own_limit_whatever_the_order_they_started_in() -> None:
    # The long limit arms the loop timer first; the shorter ones started later must re-arm it,
    # so they end (in limit order) before the 0.2 s of work under the long limit is done.
    finished: list[str] = []

    async def labelled(label: str, limit: float, work: float) -> None:
        finished.append(f"{label} {await _attempt(limit, work)}")

    await asyncio.gather(
        labelled("long", limit=5.0, work=0.2),
        labelled("short", limit=0.02, work=5.0),
        labelled("medium", limit=0.05, work=5.0),
        labelled("instant", limit=5.0, work=0.0),
    )
    assert finished == ["instant done", "short timed out", "medium timed out", "long done"]


async def test_attempts_expiring_together_are_cancelled_earliest_deadline_first() -> None:
    # A busy loop lets many limits pass before the timer fires; the tasks then run their
    # error handling in the order they were cancelled, so that order must be the deadlines'.
    finished: list[float] = []

    async def attempt(limit: float) -> None:
        timer = start_attempt_timer(limit)
        try:
            await asyncio.sleep(5.0)
        except asyncio.CancelledError:
            assert timer.expired_here()
            finished.append(timer.when)

    limits = [0.01 + 0.001 * ((7 * n) % 40) for n in range(40)]  # shuffled, all distinct
    tasks = [asyncio.create_task(attempt(limit)) for limit in limits]
    await asyncio.sleep(0)  # every attempt has started its timer
    time.sleep(0.1)  # noqa: ASYNC251 - block the loop: every limit passes before the timer fires
    await asyncio.gather(*tasks)
    assert len(finished) == len(limits)
    assert finished == sorted(finished)


async def test_a_finished_attempt_never_cancels_its_task_later() -> None:
    assert await _attempt(limit=0.02, work=0.0) == "done"
    await asyncio.sleep(0.05)  # past the limit: the loop timer fires with nothing due
    assert await _attempt(limit=5.0, work=0.01) == "done"


async def test_a_cancel_from_outside_is_not_mistaken_for_the_time_limit() -> None:
    task = asyncio.create_task(_attempt(limit=5.0, work=5.0))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_outside_cancel_during_an_expiry_still_propagates() -> None:
    async def attempt_then_wait() -> None:
        assert await _attempt(limit=0.01, work=5.0) == "timed out"
        await asyncio.sleep(5.0)

    task = asyncio.create_task(attempt_then_wait())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_finished_attempts_leave_nothing_behind() -> None:
    loop = asyncio.get_running_loop()
    watchdog = Watchdog(loop)
    timers = [watchdog.start(limit) for limit in (0.5, 0.2, 0.3)]
    assert len(watchdog) == 3
    for timer in timers:
        timer.cancel()
    assert len(watchdog) == 0
    await asyncio.sleep(0.25)  # the armed loop timer fires, finds nothing due, disarms
    assert not any(timer.expired for timer in timers)


def test_a_timer_needs_a_task() -> None:
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(RuntimeError, match="inside an asyncio task"):
            Watchdog(loop).start(1.0)
    finally:
        loop.close()
