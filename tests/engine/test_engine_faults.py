"""Fault specs (``parse_fault``) and their schedules (``FaultSchedule``)."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from harness.scenario import faults

KNOWN = (
    "bandwidth, connection_reset, down, empty_response, first_token_delay, http_status, "
    "latency, limit_data, malformed_stream, reset_peer, slicer, slow_close, stream_cut, "
    "stream_stall, timeout"
)

# every built-in kind: a minimal mapping, its class, and what its parameters became
BUILTINS: list[tuple[dict[str, Any], type[faults.FaultSpec], dict[str, Any]]] = [
    (
        {"kind": "http_status", "status": 429, "retry_after": "1500ms"},
        faults.HttpStatusFault,
        {"status": 429, "retry_after": 1.5, "retry_after_format": "seconds", "error_code": None},
    ),
    (
        {"kind": "latency", "latency": "200ms", "jitter": "50ms"},
        faults.LatencyFault,
        {"latency": 0.2, "jitter": 0.05, "distribution": "uniform", "stream": "downstream"},
    ),
    ({"kind": "first_token_delay", "delay": "2s"}, faults.FirstTokenDelayFault, {"delay": 2.0}),
    ({"kind": "stream_cut"}, faults.StreamCutFault, {"after_events": 2}),
    (
        {"kind": "stream_stall", "stall": "1m"},
        faults.StreamStallFault,
        {"stall": 60.0, "after_events": 2},
    ),
    ({"kind": "malformed_stream"}, faults.MalformedStreamFault, {"after_events": 1}),
    ({"kind": "connection_reset"}, faults.ConnectionResetFault, {}),
    ({"kind": "empty_response", "route": "/chat"}, faults.EmptyResponseFault, {"route": "/chat"}),
    ({"kind": "timeout", "timeout": "5s"}, faults.TimeoutFault, {"timeout": 5.0}),
    ({"kind": "reset_peer"}, faults.ResetPeerFault, {"timeout": 0.0}),
    ({"kind": "bandwidth", "kbps": 8}, faults.BandwidthFault, {"kbps": 8}),
    ({"kind": "slow_close", "delay": "100ms"}, faults.SlowCloseFault, {"delay": 0.1}),
    (
        {"kind": "slicer", "average_size": 64, "size_variation": 8, "delay": "1ms"},
        faults.SlicerFault,
        {"average_size": 64, "size_variation": 8, "delay": 0.001},
    ),
    ({"kind": "limit_data", "bytes": 1024}, faults.LimitDataFault, {"bytes": 1024}),
    ({"kind": "down", "stream": "upstream"}, faults.DownFault, {"stream": "upstream"}),
]


def test_the_table_covers_every_builtin_kind() -> None:
    assert sorted(d["kind"] for d, _, _ in BUILTINS) == sorted(faults.BUILTIN_FAULT_KINDS)
    assert ", ".join(sorted(faults.BUILTIN_FAULT_KINDS)) == KNOWN


@pytest.mark.parametrize(
    ("data", "cls", "fields"), BUILTINS, ids=[d["kind"] for d, _, _ in BUILTINS]
)
def test_parse_fault_builds_the_kinds_model(
    data: dict[str, Any], cls: type[faults.FaultSpec], fields: dict[str, Any]
) -> None:
    fault = faults.parse_fault(data)
    assert type(fault) is cls
    assert fault.kind == data["kind"]
    for name, value in fields.items():
        assert getattr(fault, name) == value, name
    # the schedule defaults: every matching request, forever, mandatory
    assert (fault.rate, fault.after, fault.every, fault.first, fault.optional) == (
        1.0,
        0,
        None,
        None,
        False,
    )
    assert fault.layer == ("network" if issubclass(cls, faults.NetworkFault) else "http")
    assert issubclass(cls, faults.NetworkFault) != issubclass(cls, faults.HttpFault)
    assert faults.parse_fault(fault) is fault  # already a spec: returned as is


def test_schedule_fields_parse_units() -> None:
    fault = faults.parse_fault(
        {"kind": "connection_reset", "rate": "25%", "after": 3, "every": 2, "first": 5, "seed": 9}
    )
    assert (fault.rate, fault.after, fault.every, fault.first, fault.seed) == (0.25, 3, 2, 5, 9)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (
            "http_stat",
            "unknown fault kind 'http_stat' (did you mean 'http_status'?); expected one of: ",
        ),
        ("latenc", "unknown fault kind 'latenc' (did you mean 'latency'?); expected one of: "),
        ("explode", "unknown fault kind 'explode'; expected one of: "),
        (None, "unknown fault kind None; expected one of: "),
        (["x"], "unknown fault kind ['x']; expected one of: "),  # unhashable: no TypeError
        ({"a": 1}, "unknown fault kind {'a': 1}; expected one of: "),
    ],
)
def test_unknown_kind_names_the_known_ones(kind: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        faults.parse_fault({"kind": kind})
    assert str(info.value) == message + KNOWN


def test_a_fault_must_be_a_mapping() -> None:
    with pytest.raises(ValueError, match=r"^expected a mapping with a 'kind' key, got list$"):
        faults.parse_fault(["http_status"])


def test_custom_registry_replaces_the_builtins() -> None:
    with pytest.raises(ValueError) as info:
        faults.parse_fault(
            {"kind": "latency", "latency": 1}, {"http_status": faults.HttpStatusFault}
        )
    assert str(info.value) == ("unknown fault kind 'latency'; expected one of: http_status")


@pytest.mark.parametrize(
    ("data", "loc", "error_type"),
    [
        ({"kind": "http_status", "status": 200}, ("status",), "greater_than_equal"),
        ({"kind": "http_status", "status": 600}, ("status",), "less_than_equal"),
        ({"kind": "http_status"}, ("status",), "missing"),
        ({"kind": "http_status", "status": 500, "stauts": 1}, ("stauts",), "extra_forbidden"),
        ({"kind": "latency"}, ("latency",), "missing"),
        ({"kind": "latency", "latency": "fast"}, ("latency",), "value_error"),
        (
            {"kind": "latency", "latency": 1, "distribution": "pareto"},
            ("distribution",),
            "literal_error",
        ),
        ({"kind": "connection_reset", "rate": "120%"}, ("rate",), "value_error"),
        ({"kind": "connection_reset", "first": 0}, ("first",), "greater_than_equal"),
        ({"kind": "connection_reset", "every": 0}, ("every",), "greater_than_equal"),
        ({"kind": "connection_reset", "after": -1}, ("after",), "greater_than_equal"),
        ({"kind": "bandwidth", "kbps": -1}, ("kbps",), "greater_than_equal"),
        ({"kind": "slicer", "average_size": 8, "size_variation": 8}, (), "value_error"),
    ],
)
def test_bad_parameters_are_validation_errors(
    data: dict[str, Any], loc: tuple[str, ...], error_type: str
) -> None:
    with pytest.raises(ValidationError) as info:
        faults.parse_fault(data)
    assert [(e["loc"], e["type"]) for e in info.value.errors()] == [(loc, error_type)]


def test_slicer_variation_message() -> None:
    with pytest.raises(ValidationError, match="size_variation must be smaller than average_size"):
        faults.parse_fault({"kind": "slicer", "average_size": 8, "size_variation": 9})
    slicer = faults.parse_fault({"kind": "slicer", "average_size": 1})
    assert isinstance(slicer, faults.SlicerFault) and slicer.size_variation == 0


def test_faults_are_frozen() -> None:
    fault = faults.parse_fault({"kind": "down"})
    with pytest.raises(ValidationError):
        fault.rate = 0.5


def test_labels() -> None:
    assert faults.parse_fault({"kind": "down", "name": "cut", "target": "p"}).label() == "cut"
    assert faults.parse_fault({"kind": "down", "target": "p"}).label() == "down@p"
    assert faults.parse_fault({"kind": "down"}).label() == "down"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"latency": 2, "distribution": "fixed", "jitter": 1}, {2.0}),
        ({"latency": 2, "jitter": 0}, {2.0}),
    ],
)
def test_latency_sample_fixed(spec: dict[str, Any], expected: set[float]) -> None:
    fault = faults.LatencyFault(**spec)
    assert {fault.sample(random.Random(i)) for i in range(20)} == expected


def test_latency_sample_uniform_stays_in_its_band_and_never_negative() -> None:
    rng = random.Random(3)
    band = faults.LatencyFault(latency=1.0, jitter=0.25)
    draws = [band.sample(rng) for _ in range(500)]
    assert min(draws) >= 0.75 and max(draws) <= 1.25 and len(set(draws)) > 400
    wide = faults.LatencyFault(latency=0.1, jitter=1.0)
    assert min(wide.sample(rng) for _ in range(500)) == 0.0


def test_latency_sample_lognormal_has_latency_as_median() -> None:
    rng = random.Random(4)
    fault = faults.LatencyFault(latency=0.5, distribution="lognormal", sigma=0.3)
    draws = sorted(fault.sample(rng) for _ in range(2001))
    assert draws[1000] == pytest.approx(0.5, rel=0.1)
    assert draws[0] > 0


# -- schedules -------------------------------------------------------------------------------


def _decisions(schedule: faults.FaultSchedule, n: int) -> list[bool]:
    return [schedule.should_fire() for _ in range(n)]


def _fault(**schedule: Any) -> faults.FaultSpec:
    return faults.parse_fault({"kind": "connection_reset", **schedule})


def test_after_lets_the_first_requests_pass() -> None:
    schedule = faults.FaultSchedule(_fault(after=3))
    assert _decisions(schedule, 6) == [False, False, False, True, True, True]
    assert (schedule.seen, schedule.fired) == (6, 3)


def test_every_counts_after_the_skipped_ones() -> None:
    schedule = faults.FaultSchedule(_fault(after=2, every=3))
    # requests 3.. are counted 1, 2, 3, ...: the 3rd, 6th of those fire (requests 5 and 8)
    assert [i + 1 for i, d in enumerate(_decisions(schedule, 9)) if d] == [5, 8]


def test_first_caps_the_number_of_firings() -> None:
    schedule = faults.FaultSchedule(_fault(first=2, every=2))
    assert [i + 1 for i, d in enumerate(_decisions(schedule, 10)) if d] == [2, 4]
    assert (schedule.seen, schedule.fired) == (10, 2)


def test_rate_zero_never_fires_and_rate_one_always() -> None:
    assert not any(_decisions(faults.FaultSchedule(_fault(rate=0), default_seed=1), 200))
    assert all(_decisions(faults.FaultSchedule(_fault(rate=1)), 200))


def test_rate_is_reproducible_for_a_seed() -> None:
    fault = _fault(rate="30%", name="flaky")
    first = _decisions(faults.FaultSchedule(fault, default_seed=42), 300)
    again = _decisions(faults.FaultSchedule(fault, default_seed=42), 300)
    other_seed = _decisions(faults.FaultSchedule(fault, default_seed=43), 300)
    assert first == again
    assert first != other_seed
    assert 60 < sum(first) < 120  # about 30 %


def test_the_faults_own_seed_wins_over_the_default() -> None:
    fault = _fault(rate=0.5, seed=7)
    assert _decisions(faults.FaultSchedule(fault, default_seed=1), 100) == _decisions(
        faults.FaultSchedule(fault, default_seed=2), 100
    )


def test_two_faults_with_one_seed_still_differ() -> None:
    a = _decisions(faults.FaultSchedule(_fault(rate=0.5, name="a"), default_seed=5), 200)
    b = _decisions(faults.FaultSchedule(_fault(rate=0.5, name="b"), default_seed=5), 200)
    assert a != b


def test_the_seeded_generator_is_the_schedules() -> None:
    fault = faults.LatencyFault(latency=1, jitter=0.5, name="slow")
    one = faults.FaultSchedule(fault, default_seed=3)
    two = faults.FaultSchedule(fault, default_seed=3)
    assert [fault.sample(one.random()) for _ in range(5)] == [
        fault.sample(two.random()) for _ in range(5)
    ]


def test_schedule_counts_exactly_under_threads() -> None:
    schedule = faults.FaultSchedule(_fault(first=500))
    barrier = threading.Barrier(4)

    def hammer() -> None:
        barrier.wait()
        for _ in range(1000):
            schedule.should_fire()

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (schedule.seen, schedule.fired) == (4000, 500)


schedules = st.fixed_dictionaries(
    {},
    optional={
        "after": st.integers(0, 20),
        "every": st.integers(1, 6),
        "first": st.integers(1, 30),
        "rate": st.floats(0, 1),
        "seed": st.integers(0, 2**32),
    },
)


@given(schedules, st.integers(0, 120))
def test_schedule_properties(schedule: dict[str, Any], requests: int) -> None:
    fault = _fault(**schedule)
    decisions = _decisions(faults.FaultSchedule(fault, default_seed=0), requests)
    fired = [i + 1 for i, d in enumerate(decisions) if d]
    after, every, first = fault.after, fault.every, fault.first
    assert len(fired) == sum(decisions)
    # never before ``after``, only on every k-th eligible request, never more than ``first``
    assert all(n > after for n in fired)
    if every is not None:
        assert all((n - after) % every == 0 for n in fired)
    if first is not None:
        assert len(fired) <= first
    eligible = max(0, requests - after) // (every or 1)
    if fault.rate == 1.0:
        assert len(fired) == (eligible if first is None else min(first, eligible))
    if fault.rate == 0.0:
        assert fired == []
    # reproducible
    assert _decisions(faults.FaultSchedule(fault, default_seed=0), requests) == decisions


@given(st.integers(0, 50), st.integers(0, 200))
def test_rate_one_without_every_fires_on_all_but_after(after: int, requests: int) -> None:
    schedule = faults.FaultSchedule(_fault(after=after))
    _decisions(schedule, requests)
    assert schedule.fired == max(0, schedule.seen - after)
