"""Open-loop load: the start timetable and missed-start accounting on a fake clock, and the
point of it all: a stall that closed-loop users hide from p99 shows under open-loop load."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import InputError
from harness.measure.health import is_saturated
from harness.measure.recorder import Recorder, merge_snapshots
from harness.run.driver import GENERATOR, drive
from harness.run.pacing import START_TOLERANCE, Pacer, Segment, timetable
from harness.run.targets import Outcome
from harness.scenario.loader import parse_scenario
from harness.scenario.model import PhaseSpec, Scenario

# -- the timetable --------------------------------------------------------------------------------


def test_starts_are_uniformly_spaced_and_each_phase_has_its_rate() -> None:
    starts = list(timetable([Segment(0.0, 1.0, 4.0), Segment(1.0, 1.5, 10.0)]))
    assert starts == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 1.1, 1.2, 1.3, 1.4])


@given(
    rates=st.lists(st.floats(0.5, 200.0), min_size=1, max_size=4),
    share=st.integers(1, 5),
    begin=st.none() | st.floats(0.0, 3.0),
)
def test_the_shares_of_every_process_make_up_the_whole_timetable(
    rates: list[float], share: int, begin: float | None
) -> None:
    segments = [Segment(float(i), i + 1.0, r) for i, r in enumerate(rates)]
    whole = [t for t in timetable(segments) if begin is None or t >= begin]
    parts = [list(timetable(segments, share=share, index=i, begin=begin)) for i in range(share)]
    assert sorted(itertools.chain(*parts)) == pytest.approx(whole)
    for part in parts:
        assert part == sorted(part)


def test_an_index_outside_the_share_is_refused() -> None:
    with pytest.raises(ValueError, match=r"index 2 is not in 0\.\.1"):
        next(timetable([Segment(0, 1, 1)], share=2, index=2))


# -- missed starts, on a fake clock -------------------------------------------------------------


def test_on_time_starts_are_sent_and_a_stalled_generator_misses_the_late_ones() -> None:
    pacer = Pacer(timetable([Segment(0.0, 2.0, 10.0)]), tolerance=0.1)
    sent: list[float] = []
    now = 0.0
    while now < 0.35:  # woken on time: everything is sent
        due = pacer.due(now, free=100)
        assert (due.behind, due.capped) == (0, 0)
        sent += due.send
        now = pacer.next_start() or 0.0
    assert sent == pytest.approx([0.0, 0.1, 0.2, 0.3])
    # the generator stalls until t=1.05: starts 0.4..0.9 are more than 0.1 s late: missed,
    # not sent in a burst; 1.0 is 50 ms late: sent, its latency counted from 1.0
    due = pacer.due(1.05, free=100)
    assert due.behind == 6
    assert due.send == pytest.approx([1.0])
    assert (due.scheduled, due.missed) == (7, 6)


def test_a_full_in_flight_cap_misses_starts_and_says_so() -> None:
    pacer = Pacer(timetable([Segment(0.0, 1.0, 20.0)]), tolerance=0.1)
    due = pacer.due(0.0, free=0)
    assert (due.send, due.behind, due.capped) == ([], 0, 1)
    due = pacer.due(0.12, free=1)  # 0.05 and 0.1 due, one slot free
    assert due.send == pytest.approx([0.05]) and (due.behind, due.capped) == (0, 1)


def test_a_generator_stopped_mid_timetable_misses_what_was_due_and_nothing_later() -> None:
    pacer = Pacer(timetable([Segment(0.0, 1.0, 10.0)]), tolerance=0.1)
    assert len(pacer.due(0.05, free=10).send) == 1
    # cancelled at 0.52 (its loop blocked since 0.05): 0.1 .. 0.5 were due, never handled
    assert pacer.abandon(0.52) == 5
    assert pacer.next_start() == pytest.approx(0.6)


@given(
    wakeups=st.lists(st.floats(0.0, 0.5), min_size=1, max_size=30),
    free=st.lists(st.integers(0, 3), min_size=30, max_size=30),
    rate=st.floats(1.0, 500.0),
)
def test_every_intended_start_is_sent_or_counted_missed_exactly_once(
    wakeups: list[float], free: list[int], rate: float
) -> None:
    intended = list(timetable([Segment(0.0, 3.0, rate)]))
    pacer = Pacer(iter(intended), tolerance=START_TOLERANCE)
    sent: list[float] = []
    missed = scheduled = 0
    now = 0.0
    for step, slots in zip(wakeups, free, strict=False):
        now += step
        due = pacer.due(now, slots)
        assert len(due.send) <= slots
        assert all(0.0 <= now - t <= START_TOLERANCE for t in due.send)
        sent += due.send
        missed += due.missed
        scheduled += due.scheduled
    due = pacer.due(10.0, 10**6)  # the rest: far too late
    assert due.send == [] and pacer.next_start() is None
    assert scheduled + due.scheduled == len(intended)
    assert len(sent) + missed + due.missed == len(intended)
    assert sent == sorted(sent) and len(set(sent)) == len(sent)


# -- the stall: open loop shows it, closed loop hides it -------------------------------------------

SCENARIO = """
name: {name}
target: {{core: llm}}
upstreams: [{{name: primary, backend: respx}}]
load: {load}
phases:
{phases}"""


def _scenario(name: str, load: str, *phases: str) -> str:
    """A scenario on one respx upstream: ``load`` (YAML), then ``phases`` (one YAML each)."""
    return SCENARIO.format(name=name, load=load, phases="".join(f"  - {p}\n" for p in phases))


def _stall(load: str, duration: str = "2.5s") -> Scenario:
    """The stall scenario: one phase, ``only``."""
    return parse_scenario(_scenario("stall", load, f"{{name: only, duration: {duration}}}"))


class StallingTarget:
    """Answers at once, except that every request starting during ``[stall_at, stall_at + 2 s)``
    takes 2 s (a service frozen by a GC pause, a lock, a dead upstream with a 2 s timeout)."""

    name = "stalling"

    def __init__(self, stall_at: float) -> None:
        self.stall_at = stall_at

    async def request(self, user: int, n: int) -> Outcome:
        if self.stall_at <= time.monotonic() < self.stall_at + 2.0:
            await asyncio.sleep(2.0)
        else:
            await asyncio.sleep(0)
        return Outcome(True)

    async def aclose(self) -> None:
        pass


class Phases:
    """A timeline with no faults (the driver only calls ``enter``)."""

    def enter(self, phase: PhaseSpec) -> None:
        pass


def test_a_stall_shows_in_p99_under_open_loop_and_hides_under_closed_loop() -> None:
    open_loop = _stall("{rate: 50/s}")
    closed_loop = _stall("{users: 2}")
    open_rec, closed_rec = Recorder(), Recorder()

    async def both() -> None:
        stall_at = time.monotonic() + 0.5
        await asyncio.gather(
            drive(open_loop, StallingTarget(stall_at), open_rec, Phases()),  # type: ignore[arg-type]
            drive(closed_loop, StallingTarget(stall_at), closed_rec, Phases()),  # type: ignore[arg-type]
        )

    asyncio.run(both())
    closed, opened = closed_rec.stats(), open_rec.stats()
    # both loads met the stall ...
    assert (closed.max() or 0) >= 2.0 and (opened.max() or 0) >= 2.0
    # ... closed-loop users sent 2 requests during it, and thousands around it: p99 is fast
    assert closed.count > 500
    assert (closed.percentile(99) or 0) < 0.5
    # open loop kept starting 50 a second: 100 of its ~125 requests waited 2 s
    assert (opened.percentile(99) or 0) >= 2.0
    assert (opened.percentile(50) or 0) >= 2.0
    health = open_rec.health()
    assert health.load_model == "open" and closed_rec.health().load_model == "closed"
    counters = health.counters
    assert counters.scheduled_starts == opened.count + counters.missed_starts
    assert 110 <= counters.scheduled_starts <= 126  # 2.5 s at 50/s, on the run's clock
    for rec in (open_rec, closed_rec):  # the generator's health is recorded by both loads
        (gen,) = rec.health().generators
        assert gen.name == GENERATOR and gen.wall_seconds > 2.0 and gen.cpu_seconds > 0
        assert gen.loop_lag.samples > 20


def test_a_user_count_for_an_open_loop_scenario_is_an_input_error() -> None:
    scenario = _stall("{rate: 50/s}")
    with pytest.raises(InputError, match=r"runs open loop \(load.rate 50/s"):
        asyncio.run(drive(scenario, StallingTarget(0.0), Recorder(), Phases(), users=3))  # type: ignore[arg-type]


def test_the_health_of_an_open_loop_run_merges_exactly() -> None:
    a, b = Recorder(), Recorder()
    for rec, lag in ((a, 0.004), (b, 0.3)):
        rec.set_load_model("open")
        rec.record_starts(scheduled=100, missed=3, capped=1, phase="outage")
        rec.record_start_delay(0.002)
        rec.record_loop_lag(f"worker {int(lag * 10)}", lag)
        rec.record_usage(f"worker {int(lag * 10)}", 0.5, 1.0)
    merged = merge_snapshots([a.snapshot(), b.drain()])
    health = merged.health()
    assert health.counters.scheduled_starts == 200 and health.counters.missed_starts == 6
    assert health.phases["outage"].in_flight_cap_hits == 2
    assert [g.name for g in health.generators] == ["worker 0", "worker 3"]
    assert health.loop_lag_p99 == pytest.approx(0.3, rel=1e-3)
    assert health.start_delay.samples == 2
    assert is_saturated(health)  # 300 ms of loop lag and 3 % missed starts
    assert b.health().counters.scheduled_starts == 0  # drained


class LoopBlockingTarget:
    """Does 80 ms of blocking work on the event loop per request: at 20 starts a second the
    generator (the same loop) cannot keep its timetable."""

    name = "blocking"

    async def request(self, user: int, n: int) -> Outcome:
        time.sleep(0.08)  # noqa: ASYNC251 - blocking the loop is the point
        return Outcome(True)

    async def aclose(self) -> None:
        pass


def test_a_generator_that_falls_behind_counts_missed_starts_and_reports_saturation() -> None:
    scenario = _stall("{rate: 20/s}", "1.5s")
    recorder = Recorder()
    asyncio.run(drive(scenario, LoopBlockingTarget(), recorder, Phases()))  # type: ignore[arg-type]
    health = recorder.health()
    counters = health.counters
    assert counters.missed_starts > 0 and counters.in_flight_cap_hits == 0
    assert counters.scheduled_starts == recorder.stats().count + counters.missed_starts
    # the starts that did happen were late, and their latency counts the wait
    assert (health.start_delay.max or 0) >= 0.02
    assert (recorder.stats().percentile(50) or 0) >= 0.08
    # the latest start's request took its 80 ms after starting that late: both are counted
    late = health.start_delay.max or 0
    assert (recorder.stats().max() or 0) >= (late + 0.08) * 0.999
    # the probe's 50 ms sleeps end inside back-to-back 80 ms blocks: it wakes >= 30 ms late
    assert (health.loop_lag_p99 or 0) >= 0.025
    assert is_saturated(health)


def test_an_in_flight_cap_bounds_concurrency_and_counts_its_hits() -> None:
    scenario = _stall("{rate: 50/s, max_in_flight: 3}", "1s")
    recorder = Recorder()
    # every request stalls 2 s: three start, the other ~47 find the cap full
    asyncio.run(drive(scenario, StallingTarget(time.monotonic()), recorder, Phases()))  # type: ignore[arg-type]
    counters = recorder.health().counters
    assert recorder.stats().count == 3
    assert counters.in_flight_cap_hits == counters.missed_starts
    assert counters.scheduled_starts == 3 + counters.missed_starts >= 45


# -- the scenario's load: validation --------------------------------------------------------------


def _two_phases(load: str, phase: str = "") -> str:
    """Two 1 s phases, ``a`` and ``b``; ``phase`` adds fields to ``b`` (``", rate: 5/s"``)."""
    return _scenario("t", load, "{name: a, duration: 1s}", f"{{name: b, duration: 1s{phase}}}")


@pytest.mark.parametrize(
    ("written", "per_second"),
    [
        ("40/s", 40.0),
        ("2400/m", 40.0),
        ("40", 40.0),
        ("0.5/s", 0.5),
        ("36/h", 0.01),
        ("1e3/s", 1000.0),
        ("12 / min", 0.2),
    ],
)
def test_a_rate_reads_as_requests_started_per_second(written: str, per_second: float) -> None:
    scenario = parse_scenario(_two_phases(f"{{rate: {written}}}"))
    assert scenario.load.open_loop
    assert scenario.load.rate == pytest.approx(per_second)
    assert scenario.load.rate_of(scenario.phases[1]) == pytest.approx(per_second)


def test_a_phase_rate_overrides_the_load_rate_and_old_scenarios_stay_closed_loop() -> None:
    scenario = parse_scenario(_two_phases("{rate: 10/s}", ", rate: 50/s"))
    assert [scenario.load.rate_of(p) for p in scenario.phases] == [10.0, 50.0]
    old = parse_scenario(_two_phases("{spawn_rate: 5}"))
    assert not old.load.open_loop and old.load.users == 10


def test_the_default_in_flight_cap_is_twice_rate_times_timeout_within_bounds() -> None:
    load = parse_scenario(_two_phases("{rate: 40/s}")).load
    assert load.in_flight_cap(40.0, 30.0) == 2400
    assert load.in_flight_cap(0.1, 1.0) == 10  # at least a few
    assert load.in_flight_cap(10_000.0, 30.0) == 10_000  # at most MAX_IN_FLIGHT
    capped = parse_scenario(_two_phases("{rate: 40/s, max_in_flight: 7}"))
    assert capped.load.in_flight_cap(40.0, 30.0) == 7


@pytest.mark.parametrize(
    ("load", "error"),
    [
        (
            "{rate: 0}",
            "s.yaml: load.rate (line 5): expected a request rate above 0 and at most 10000/s, got 0",
        ),
        ("{rate: -3/s}", "load.rate (line 5): expected a request rate such as 40/s"),
        ("{rate: 20000/s}", "got '20000/s'"),
        ("{rate: 1e400}", "load.rate (line 5): expected a request rate above 0"),
        ("{rate: 40/day}", "expected a request rate such as 40/s, 2400/m or 40"),
        ("{rate: true}", "got True"),
        (
            "{rate: 40/s, users: 5}",
            "s.yaml: load.users (line 5): both 'rate' (open loop: requests started per second) "
            "and 'users' (closed loop) are given: give exactly one of them",
        ),
        ("{rate: 40/s, think_time: 1s}", "load.think_time (line 5): 'think_time' applies"),
        ("{users: 5, max_in_flight: 10}", "load.max_in_flight (line 5): 'max_in_flight' caps"),
        ("{rate: 40/s, max_in_flight: 0}", "load.max_in_flight (line 5): Input should be"),
    ],
)
def test_a_bad_load_is_a_scenario_error_naming_the_field(load: str, error: str) -> None:
    with pytest.raises(InputError) as info:
        parse_scenario(_two_phases(load), "s.yaml")
    assert error in str(info.value)


@pytest.mark.parametrize(
    ("load", "phase", "error"),
    [
        (
            "{users: 5}",
            ", rate: 10/s",
            "s.yaml: phases[1].rate (line 8): a phase's 'rate' overrides 'load.rate', and this "
            "load is closed loop (users): give 'load.rate' to run open loop",
        ),
        ("{rate: 5/s}", ", rate: 0/s", "phases[1].rate (line 8): expected a request rate above 0"),
    ],
)
def test_a_bad_phase_rate_is_a_scenario_error_naming_the_field(
    load: str, phase: str, error: str
) -> None:
    with pytest.raises(InputError) as info:
        parse_scenario(_two_phases(load, phase), "s.yaml")
    assert error in str(info.value)


class HangingTarget:
    """Never answers within the test (a request stuck on a dead upstream)."""

    name = "hanging"

    async def request(self, user: int, n: int) -> Outcome:
        await asyncio.sleep(60)
        return Outcome(True)

    async def aclose(self) -> None:
        pass


@pytest.mark.parametrize("load", ["{rate: 20/s}", "{users: 3}"])
def test_requests_still_running_when_the_run_ends_are_counted_unfinished(load: str) -> None:
    scenario = _stall(load)
    recorder = Recorder()

    async def cut_short() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(
                drive(scenario, HangingTarget(), recorder, Phases()),  # type: ignore[arg-type]
                timeout=0.6,
            )

    asyncio.run(cut_short())
    counters = recorder.health().counters
    stats = recorder.stats()
    # nothing answered: no latency recorded, and every unfinished request is a failure, so a
    # stalled service loses availability ...
    assert stats.ok == 0 and stats.histogram.get_total_count() == 0
    assert stats.errors == {"Unfinished": counters.unfinished_requests}
    if scenario.load.open_loop:  # ... and every request sent is accounted for
        sent = counters.scheduled_starts - counters.missed_starts
        assert counters.unfinished_requests == stats.failed == sent >= 8
    else:
        assert counters.unfinished_requests == stats.failed == 3
