"""The vendor-side ledger (``harness.plugin.VendorLedger``) and the figures read from it
(``harness.measure.vendor``): per-phase counts, Retry-After violations by the definition
(a retry of the same logical request, body and key, before ``t + R``), amplification, served
share, failover and back-to-primary times, and "no data" whenever a figure cannot be computed.
"""

from __future__ import annotations

import email.utils

import pytest
from engine_support import FakeNow
from hypothesis import given
from hypothesis import strategies as st

from harness.measure.recorder import Recorder
from harness.measure.sla import parse_threshold
from harness.measure.vendor import (
    NO_LEDGER,
    EndpointLedger,
    PhaseFacts,
    VendorLedgers,
    VendorStats,
    back_to_primary_time,
    calls_per_request,
    failover_time,
    figures,
    ledger_from_json,
    retry_after_violations,
    served_share,
)
from harness.measure.verdicts import PhaseWindow, evaluate
from harness.plugin import VendorLedger, retry_after_seconds

RA_1S = {"retry-after": "1"}


@pytest.fixture
def clock() -> FakeNow:
    return FakeNow(100.0)


@pytest.fixture
def ledger(clock: FakeNow) -> VendorLedger:
    return VendorLedger(clock=clock, wall=lambda: 1_700_000_000.0)


# -- the ledger ----------------------------------------------------------------------------------


def test_calls_are_counted_in_the_phase_they_arrived_in(
    ledger: VendorLedger, clock: FakeNow
) -> None:
    ledger.arrived(b"before any phase")  # not counted: no phase was marked
    ledger.mark("calm", "run-1")
    early = ledger.arrived(b"a")
    clock.t += 0.25
    ledger.answered(ledger.arrived(b"b"), 200)
    ledger.connection()
    ledger.mark("storm", "run-1")
    clock.t += 0.5
    ledger.answered(early, 200)  # arrived in calm, answered during the storm: calm's
    failed = ledger.arrived(b"c")
    ledger.fired(failed, ["http_status@primary"])
    ledger.answered(failed, 503)
    ledger.aborted(ledger.arrived(b"d"))
    ledger.mark(None)
    ledger.arrived(b"after the end")  # not counted either
    stats = ledger.stats()
    assert list(stats) == ["calm", "storm"]
    calm, storm = stats["calm"], stats["storm"]
    assert (calm.calls, calm.ok, calm.connections, dict(calm.statuses)) == (2, 2, 1, {"200": 2})
    assert calm.first_ok_after == pytest.approx(0.25)  # b, answered 0.25 s into calm
    assert (storm.calls, storm.ok, storm.aborted, storm.failed) == (2, 0, 1, 2)
    assert dict(storm.statuses) == {"503": 1}
    assert dict(storm.faults_fired) == {"http_status@primary": 1}
    assert storm.first_ok_after is None
    assert dict(calm.calls_by_second) == {0: 2}


def test_a_mark_after_the_end_or_for_another_run_starts_a_new_ledger(
    ledger: VendorLedger,
) -> None:
    ledger.mark("one", "run-1")
    ledger.arrived(b"x")
    ledger.mark("two", "run-1")
    assert set(ledger.stats()) == {"one", "two"}
    ledger.mark("three", "run-2")  # another run
    assert set(ledger.stats()) == {"three"}
    ledger.mark(None)
    assert set(ledger.stats()) == {"three"}  # the ended ledger is still there to read
    ledger.mark("three", "run-2")  # the same run again, after its end: a new ledger
    assert ledger.stats()["three"].calls == 0
    snapshot = ledger.snapshot()
    assert snapshot["run"] == "run-2" and snapshot["phase"] == "three"
    assert ledger_from_json(snapshot) == ledger.stats()


def _rate_limited(ledger: VendorLedger, body: bytes) -> None:
    """In a new phase ``storm``, ``body`` (with the key ``k``) is answered 429, Retry-After 1 s."""
    ledger.mark("storm", "r")
    ledger.answered(ledger.arrived(body, b"Bearer k"), 429, RA_1S)


def test_a_retry_before_retry_after_is_a_violation_and_after_it_is_not(
    ledger: VendorLedger, clock: FakeNow
) -> None:
    _rate_limited(ledger, b"question 1")
    clock.t += 0.4
    early = ledger.arrived(b"question 1", b"Bearer k")  # the same request, 0.4 s later
    ledger.answered(early, 429, RA_1S)  # a new window: until 0.4 + 1 s
    clock.t += 1.1
    ledger.arrived(b"question 1", b"Bearer k")  # 1.1 s after the last 429: honoured
    stats = ledger.stats()["storm"]
    assert (stats.retry_after_sent, stats.retry_after_violations) == (2, 1)


def test_fresh_requests_of_other_callers_are_not_violations(
    ledger: VendorLedger, clock: FakeNow
) -> None:
    _rate_limited(ledger, b"user 1 question 1")
    clock.t += 0.1
    ledger.arrived(b"user 2 question 1", b"Bearer k")  # another body
    ledger.arrived(b"user 1 question 1", b"Bearer other-key")  # another caller's key
    ledger.answered(ledger.arrived(b"user 1 question 1", b"Bearer k"), 200)  # the retry: one
    assert ledger.stats()["storm"].retry_after_violations == 1


def test_an_answer_without_retry_after_opens_no_window(ledger: VendorLedger) -> None:
    ledger.mark("outage", "r")
    ledger.answered(ledger.arrived(b"q", b"k"), 503, {"content-type": "application/json"})
    ledger.arrived(b"q", b"k")  # an immediate retry of a 503 with no Retry-After: allowed
    stats = ledger.stats()["outage"]
    assert (stats.retry_after_sent, stats.retry_after_violations) == (0, 0)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),  # the SDKs prefer the ms form
        ({"retry-after": email.utils.formatdate(1_700_000_003.0, usegmt=True)}, 3.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after-ms": "x", "retry-after": "4"}, 4.0),
        ({}, None),
    ],
)
def test_retry_after_is_read_in_all_three_forms(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert retry_after_seconds(headers, now=1_700_000_000.0) == seconds


CALLS = st.lists(
    st.tuples(
        st.floats(0.0, 2.0),  # seconds since the previous call
        st.sampled_from([b"q1", b"q2", b"q3"]),  # body
        st.sampled_from([b"k1", b"k2"]),  # API key
        st.sampled_from([None, 0.5, 1.0, 3.0]),  # the answer's Retry-After, if any
    ),
    max_size=40,
)


@given(calls=CALLS)
def test_violations_are_exactly_what_the_definition_counts(
    calls: list[tuple[float, bytes, bytes, float | None]],
) -> None:
    """For any sequence of calls (answered at once): a call is a violation when its body and
    key were answered with Retry-After R at time t and it arrives before t + R, for the
    latest such answer."""
    clock = FakeNow(0.0)
    ledger = VendorLedger(clock=clock)
    ledger.mark("p", "r")
    window: dict[tuple[bytes, bytes], float] = {}
    expected = 0
    for gap, body, key, retry_after in calls:
        clock.t += gap
        until = window.get((body, key))
        expected += until is not None and clock.t < until
        call = ledger.arrived(body, key)
        if retry_after is None:
            ledger.answered(call, 200)
        else:
            ledger.answered(call, 429, {"retry-after": str(retry_after)})
            window[(body, key)] = max(window.get((body, key), 0.0), clock.t + retry_after)
    stats = ledger.stats().get("p", VendorStats())
    assert stats.retry_after_violations == expected
    assert stats.calls == len(calls)


# -- the figures ---------------------------------------------------------------------------------


def _stats(calls: int = 0, ok: int = 0, first_ok: float | None = None, **more: int) -> VendorStats:
    return VendorStats(calls=calls, ok=ok, first_ok_after=first_ok, **more)


PHASES = [
    PhaseFacts("baseline", 0.0, 2.0, faulty=False, requests=10),
    PhaseFacts("outage", 2.0, 5.0, faulty=True, requests=20),
    PhaseFacts("recovery", 5.0, 7.0, faulty=False, requests=10),
]


@pytest.fixture
def ledgers() -> VendorLedgers:
    """A primary that failed 3 calls per request during the outage, a backup that took over
    0.4 s into it, and the primary back 0.2 s into the recovery."""
    primary = EndpointLedger(
        "primary",
        "upstream",
        {
            "baseline": _stats(10, 10, 0.01),
            "outage": _stats(60, 0, retry_after_violations=2),
            "recovery": _stats(10, 10, 0.2),
        },
    )
    backup = EndpointLedger("backup", "upstream", {"outage": _stats(20, 20, 0.4)})
    proxy = EndpointLedger("backup_net", "proxy", {"outage": _stats(connections=3)})
    return VendorLedgers([primary, backup, proxy])


def test_the_figures_of_a_failover(ledgers: VendorLedgers) -> None:
    assert calls_per_request(ledgers, PHASES, phase="outage") == (4.0, "")  # 60 + 20 over 20
    assert calls_per_request(ledgers, PHASES, phase="outage", upstream="primary") == (3.0, "")
    assert calls_per_request(ledgers, PHASES) == (100 / 40, "")
    assert served_share(ledgers, phase="outage") == (1.0, "")
    assert served_share(ledgers) == (0.5, "")  # 20 of the run's 40 answers
    assert served_share(ledgers, upstream="primary") == (0.5, "")
    assert failover_time(ledgers, PHASES) == (0.4, "")
    assert failover_time(ledgers, PHASES, phase="outage") == (0.4, "")
    assert back_to_primary_time(ledgers, PHASES) == (0.2, "")
    assert retry_after_violations(ledgers) == (2.0, "")
    assert retry_after_violations(ledgers, upstream="backup") == (0.0, "")
    (baseline, outage, recovery, whole) = figures(ledgers, PHASES)
    assert outage.calls_per_request == {"primary": 3.0, "backup": 1.0}
    assert (outage.failover_time, outage.back_to_primary_time) == (0.4, 0.2)
    assert baseline.failover_time is None and recovery.back_to_primary_time is None
    assert (whole.phase, whole.requests, whole.retry_after_violations) == ("*", 40, 2)


def test_no_counts_is_no_data_with_the_reason(ledgers: VendorLedgers) -> None:
    assert calls_per_request(None, PHASES) == (None, NO_LEDGER)
    uncounted = VendorLedgers(uncounted={"primary": "backend 'url' does not count"})
    value, why = retry_after_violations(uncounted)
    assert value is None and "backend 'url' does not count" in why
    assert calls_per_request(ledgers, PHASES, upstream="nope")[0] is None
    assert "no upstream named 'nope'" in calls_per_request(ledgers, PHASES, upstream="nope")[1]
    idle = [PhaseFacts("outage", 0.0, 1.0, faulty=True, requests=0)]
    assert calls_per_request(ledgers, idle)[1] == "no target requests started"
    alone = VendorLedgers([ledgers.endpoints[0]])
    assert failover_time(alone, PHASES)[0] is None
    assert served_share(alone)[1] == "no backup: only one upstream keeps a ledger"


def test_a_failover_that_never_happened_or_a_primary_that_never_came_back_is_no_data(
    ledgers: VendorLedgers,
) -> None:
    ledgers.endpoints[1].phases.clear()  # the backup never answered
    value, why = failover_time(ledgers, PHASES)
    assert value is None and why == "no backup answered successfully in phase 'outage'"
    ledgers.endpoints[0].phases["recovery"] = _stats(10, 0)  # nor did the primary recover
    value, why = back_to_primary_time(ledgers, PHASES)
    assert value is None and why == "the primary answered no call successfully after 'outage'"


def test_a_fault_phase_that_left_the_primary_serving_needs_no_failover() -> None:
    calm = EndpointLedger("primary", "upstream", {"slow": _stats(5, 5, 0.3)})
    ledgers = VendorLedgers([calm, EndpointLedger("backup", "upstream")])
    slow = [PhaseFacts("slow", 0.0, 1.0, faulty=True, requests=5)]
    assert failover_time(ledgers, slow) == (
        None,
        "no fault phase sent traffic away from the primary",
    )


def test_vendor_thresholds_are_evaluated_from_the_ledgers(ledgers: VendorLedgers) -> None:
    now = FakeNow()
    recorder = Recorder(now=now)
    for phase in PHASES:
        now.t = phase.start
        recorder.set_phase(phase.name)
        for _ in range(phase.requests):
            recorder.record_request("chat", 0.01, ok=True)
    now.t = 7.0
    recorder.finish()
    windows = [PhaseWindow(p.name, p.start, p.end, p.faulty) for p in PHASES]
    texts = [
        "upstream_calls_per_request <= 3 phase=outage upstream=primary",
        "upstream_calls_per_request < 3 phase=outage",
        "backup_share >= 90% phase=outage",
        "served_share >= 90% upstream=primary phase=recovery",
        "failover_time < 500ms",
        "back_to_primary_time < 100ms",
        "retry_after_violations == 0",
        "retry_after_violations == 0 upstream=backup",
    ]
    verdicts = evaluate([parse_threshold(t) for t in texts], recorder, windows, vendor=ledgers)
    assert [v.held for v in verdicts] == [True, False, True, True, True, False, False, True]
    assert verdicts[6].observed == 2.0 and verdicts[6].margin == 2.0
    assert verdicts[6].detail == "breached: 2 is not == 0 (off by 2)"
    (no_ledger,) = evaluate([parse_threshold(texts[0])], recorder, windows)
    assert not no_ledger.held and no_ledger.observed is None
    assert NO_LEDGER in no_ledger.detail
