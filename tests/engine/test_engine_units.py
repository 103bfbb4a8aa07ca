"""Durations and rates as scenario files and SLA strings write them (``harness.units``)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from harness.units import (
    MAX_DURATION,
    MAX_PHASE_DURATION,
    Duration,
    PhaseDuration,
    Rate,
    format_duration,
    parse_duration,
    parse_rate,
)

DURATIONS = [
    ("500ms", 0.5),
    ("2s", 2.0),
    ("1m", 60.0),
    ("1.5m", 90.0),
    ("1h", 3600.0),
    ("250us", 0.00025),
    ("250µs", 0.00025),
    ("1e3ms", 1.0),
    ("2.5E-1s", 0.25),
    (" 2 s ", 2.0),
    (".5s", 0.5),
    ("3.", 3.0),
    ("0", 0.0),
    ("7", 7.0),
    (3, 3.0),
    (0.25, 0.25),
]
DURATION_ERRORS = [
    ("2x", "expected a duration such as 500ms, 2s or 1m, got '2x'"),
    ("-1s", "expected a duration such as 500ms, 2s or 1m, got '-1s'"),
    ("1e", "expected a duration such as 500ms, 2s or 1m, got '1e'"),
    ("", "expected a duration such as 500ms, 2s or 1m, got ''"),
    ("s", "expected a duration such as 500ms, 2s or 1m, got 's'"),
    (True, "expected a duration such as 500ms, 2s or 1m, got True"),
    (None, "expected a duration such as 500ms, 2s or 1m, got None"),
    ([1], "expected a duration such as 500ms, 2s or 1m, got [1]"),
    (-1, "expected a finite, non-negative duration, got -1"),
    (math.nan, "expected a finite, non-negative duration, got nan"),
    (math.inf, "expected a finite, non-negative duration, got inf"),
    ("1" * 400 + "s", "expected a finite, non-negative duration, got '" + "1" * 400 + "s'"),
    # YAML reads a long run of digits as an int that no float can hold: a clear error,
    # not an OverflowError escaping the scenario loader
    (10**400, f"expected a finite, non-negative duration, got {10**400}"),
]
RATES = [
    ("0.3", 0.3),
    (0.3, 0.3),
    ("30%", 0.3),
    ("30 %", 0.3),
    ("100%", 1.0),
    ("0%", 0.0),
    ("0.5%", 0.005),
    (1, 1.0),
    (0, 0.0),
    (".25", 0.25),
    ("1e-3", 0.001),  # YAML 1.1 leaves 1e-3 (no dot) a string
    ("5e-1%", 0.005),
]
RATE_ERRORS = [
    ("30 percent", "expected a rate such as 0.3 or 30%, got '30 percent'"),
    ("-0.1", "expected a rate such as 0.3 or 30%, got '-0.1'"),
    (True, "expected a rate such as 0.3 or 30%, got True"),
    (None, "expected a rate such as 0.3 or 30%, got None"),
    ("150%", "expected a rate between 0 and 1 (or 0% and 100%), got '150%'"),
    (2, "expected a rate between 0 and 1 (or 0% and 100%), got 2"),
    (-0.5, "expected a rate between 0 and 1 (or 0% and 100%), got -0.5"),
    (math.nan, "expected a rate between 0 and 1 (or 0% and 100%), got nan"),
    (10**400, f"expected a rate between 0 and 1 (or 0% and 100%), got {10**400}"),
]


@pytest.mark.parametrize(
    ("parse", "text", "value"),
    [(parse_duration, *case) for case in DURATIONS] + [(parse_rate, *case) for case in RATES],
)
def test_values(parse: Callable[[object], float], text: object, value: float) -> None:
    assert parse(text) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(
    ("parse", "value", "message"),
    [(parse_duration, *case) for case in DURATION_ERRORS]
    + [(parse_rate, *case) for case in RATE_ERRORS],
)
def test_errors_say_what_was_expected(
    parse: Callable[[object], float], value: object, message: str
) -> None:
    with pytest.raises(ValueError) as info:
        parse(value)
    assert str(info.value) == message


class _Knobs(BaseModel):
    wait: Duration
    share: Rate


def test_pydantic_field_types_parse_and_report() -> None:
    knobs = _Knobs.model_validate({"wait": "250ms", "share": "5%"})
    assert (knobs.wait, knobs.share) == (0.25, 0.05)
    with pytest.raises(ValidationError) as info:
        _Knobs.model_validate({"wait": 10**400, "share": "x"})
    assert [(e["loc"], e["type"]) for e in info.value.errors()] == [
        (("wait",), "value_error"),
        (("share",), "value_error"),
    ]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0, "0s"), (0.25, "250ms"), (1.5, "1.5s"), (2.0, "2s"), (90.0, "90s"), (1e-8, "0.00001ms")],
)
def test_format_duration_reads_like_a_scenario(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


finite_seconds = st.floats(min_value=0.0, max_value=1e300, allow_nan=False, allow_infinity=False)


@given(finite_seconds)
def test_format_duration_round_trips_exactly(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(
    st.integers(min_value=0, max_value=10**9),
    st.sampled_from([("us", 1e-6), ("ms", 1e-3), ("s", 1.0), ("m", 60.0), ("h", 3600.0)]),
    st.sampled_from(["", " "]),
)
def test_written_durations_parse_to_their_value(
    amount: int, unit: tuple[str, float], space: str
) -> None:
    suffix, scale = unit
    assert parse_duration(f"{amount}{space}{suffix}") == amount * scale


@given(st.floats(min_value=0.0, max_value=1.0))
def test_rate_fraction_round_trips(rate: float) -> None:
    assert parse_rate(repr(rate)) == rate
    assert parse_rate(rate) == rate


@given(st.integers(min_value=0, max_value=10_000))
def test_rate_percent_is_a_hundredth(basis_points: int) -> None:
    percent = f"{basis_points / 100!r}%"
    assert parse_rate(percent) == pytest.approx(basis_points / 10_000, rel=1e-12, abs=1e-15)


@given(st.one_of(st.text(max_size=12), st.integers(), st.floats(), st.none(), st.booleans()))
def test_parsers_raise_only_value_error(value: object) -> None:
    for parse in (parse_duration, parse_rate):
        try:
            result = parse(value)
        except ValueError:
            continue
        assert math.isfinite(result) and result >= 0


class _Bounded(BaseModel):
    wait: Duration = 0.0
    phase: PhaseDuration = 0.0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("wait", "1e308s", "expected a duration of at most 72h, got '1e308s'"),
        ("wait", 1e308, "expected a duration of at most 72h, got 1e+308"),
        ("wait", "73h", "expected a duration of at most 72h, got '73h'"),
        ("phase", "24.5h", "expected a duration of at most 24h, got '24.5h'"),
        ("phase", "1441m", "expected a duration of at most 24h, got '1441m'"),
    ],
)
def test_durations_in_a_scenario_are_bounded(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        _Bounded.model_validate({field: value})
    (error,) = info.value.errors()
    assert error["loc"] == (field,)
    assert error["msg"] == f"Value error, {message}"


def test_the_bounds_themselves_are_allowed() -> None:
    knobs = _Bounded.model_validate({"wait": "72h", "phase": "24h"})
    assert (knobs.wait, knobs.phase) == (MAX_DURATION, MAX_PHASE_DURATION)
    assert parse_duration("1e308s") == 1e308  # unbounded unless asked: an SLA limit may be huge
    with pytest.raises(ValueError, match="at most 500ms, got '1s'"):
        parse_duration("1s", at_most=0.5)
