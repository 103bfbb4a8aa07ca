"""SLA threshold strings, k6-like (``harness.measure.sla``)."""

from __future__ import annotations

import math

import pytest
from engine_support import threshold_error
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import InputError
from harness.measure.sla import (
    SLAError,
    Threshold,
    format_metric_value,
    metric_kind,
    parse_threshold,
)

METRICS = (
    "p50, p90, p95, p99, pNN, max, min, avg, error_rate, availability, fallback_rate, rps, "
    "retries_per_call, recovery_time, upstream_calls_per_request, backup_share, served_share, "
    "failover_time, back_to_primary_time, retry_after_violations"
)


@pytest.mark.parametrize(
    ("text", "metric", "op", "value", "percentile"),
    [
        ("p95 < 1500ms", "p95", "<", 1.5, 95.0),
        ("p99 <= 3s", "p99", "<=", 3.0, 99.0),
        ("p50 < 200ms", "p50", "<", 0.2, 50.0),
        ("p90 < 1m", "p90", "<", 60.0, 90.0),
        ("p99.9 < 5s", "p99.9", "<", 5.0, 99.9),
        ("p75 < 1s", "p75", "<", 1.0, 75.0),
        ("avg < 300ms", "avg", "<", 0.3, None),
        ("max <= 10s", "max", "<=", 10.0, None),
        ("min > 1ms", "min", ">", 0.001, None),
    ],
)
def test_every_latency_metric_form(
    text: str, metric: str, op: str, value: float, percentile: float | None
) -> None:
    _assert_unscoped(parse_threshold(text), text, (metric, op, "latency", percentile), value)


@pytest.mark.parametrize(
    ("text", "metric", "op", "value", "kind"),
    [
        ("error_rate < 0.5%", "error_rate", "<", 0.005, "rate"),
        ("error_rate < 0.01", "error_rate", "<", 0.01, "rate"),
        ("availability >= 99.5%", "availability", ">=", 0.995, "rate"),
        ("rps >= 20", "rps", ">=", 20.0, "number"),
        ("rps > 2.5", "rps", ">", 2.5, "number"),
        ("retries_per_call <= 1.5", "retries_per_call", "<=", 1.5, "number"),
        ("fallback_rate < 10%", "fallback_rate", "<", 0.1, "rate"),
        ("recovery_time < 10s", "recovery_time", "<", 10.0, "duration"),
        ("recovery_time <= 1500ms", "recovery_time", "<=", 1.5, "duration"),
    ],
)
def test_every_other_metric_form(text: str, metric: str, op: str, value: float, kind: str) -> None:
    _assert_unscoped(parse_threshold(text), text, (metric, op, kind, None), value)


def _assert_unscoped(
    threshold: Threshold,
    text: str,
    expected: tuple[str, str, str, float | None],
    value: float,
) -> None:
    """``(metric, op, kind, percentile)`` and the value as expected, no scope, the text kept."""
    assert (threshold.metric, threshold.op, threshold.kind, threshold.percentile) == expected
    assert threshold.value == pytest.approx(value, rel=1e-12)
    assert (threshold.phase, threshold.name, threshold.scope) == (None, None, "")
    assert threshold.text == text == str(threshold)


@pytest.mark.parametrize(
    ("text", "phase", "name"),
    [
        ("p95{phase=outage} < 2s", "outage", None),
        ("p95 {phase=outage, name=chat} < 2s", "outage", "chat"),
        ("p95{name=/chat} < 2s", None, "/chat"),
        ("p95 < 2s phase=outage", "outage", None),
        ("p95 < 2s phase=outage name=chat", "outage", "chat"),
        ("p95 < 2s name=chat phase=outage", "outage", "chat"),
        ("p95 < 2s phase=outage, name=chat", "outage", "chat"),
        ("p95 < 2s phase=outage,name=chat", "outage", "chat"),
        ("p95{name=chat} < 2s phase=outage", "outage", "chat"),
        ("error_rate{} < 1%", None, None),
    ],
)
def test_scopes_in_braces_and_as_suffix(text: str, phase: str | None, name: str | None) -> None:
    threshold = parse_threshold(text)
    assert (threshold.phase, threshold.name) == (phase, name)
    assert threshold.scope == " ".join(
        p for p in (f"phase={phase}" if phase else "", f"name={name}" if name else "") if p
    )


def test_whitespace_is_free_and_normalised_in_the_text() -> None:
    threshold = parse_threshold("  p95<1s   phase=a ")
    assert (threshold.metric, threshold.op, threshold.value, threshold.phase) == (
        "p95",
        "<",
        1.0,
        "a",
    )
    assert threshold.text == "p95<1s phase=a"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "p95",
            "cannot parse threshold 'p95': expected '<metric> <op> <value>', e.g. 'p95 < 1500ms' "
            "or 'availability >= 99.5%'",
        ),
        (
            "",
            "cannot parse threshold '': expected '<metric> <op> <value>', e.g. 'p95 < 1500ms' or "
            "'availability >= 99.5%'",
        ),
        (
            "P95 < 1s",
            "cannot parse threshold 'P95 < 1s': expected '<metric> <op> <value>', e.g. "
            "'p95 < 1500ms' or 'availability >= 99.5%'",
        ),
        ("latency < 1s", f"unknown metric 'latency' in 'latency < 1s'; expected one of: {METRICS}"),
        ("p100 < 1s", f"unknown metric 'p100' in 'p100 < 1s'; expected one of: {METRICS}"),
        ("p0 < 1s", f"unknown metric 'p0' in 'p0 < 1s'; expected one of: {METRICS}"),
        ("rps = 20", "unsupported operator '=' in 'rps = 20'; use <, <=, > or >="),
        ("p95 < 1500", "bad value '1500' in 'p95 < 1500': p95 needs a unit: write 1500ms or 1500s"),
        ("p95 < 1e3", "bad value '1e3' in 'p95 < 1e3': p95 needs a unit: write 1e3ms or 1e3s"),
        (
            "recovery_time < 10",
            "bad value '10' in 'recovery_time < 10': recovery_time needs a unit: write 10ms or 10s",
        ),
        (
            "p95 < 2 s",  # the unit must touch the number
            "bad value '2' in 'p95 < 2 s': p95 needs a unit: write 2ms or 2s",
        ),
        (
            "p95 < fast",
            "bad value 'fast' in 'p95 < fast': expected a duration such as 500ms, 2s or 1m, got "
            "'fast'",
        ),
        (
            "error_rate < 150%",
            "bad value '150%' in 'error_rate < 150%': expected a rate between 0 and 1 (or 0% and "
            "100%), got '150%'",
        ),
        (
            "availability >= most",
            "bad value 'most' in 'availability >= most': expected a rate such as 0.3 or 30%, got "
            "'most'",
        ),
        ("rps >= -1", "bad value '-1' in 'rps >= -1': expected a finite, non-negative number"),
        ("rps >= nan", "bad value 'nan' in 'rps >= nan': expected a finite, non-negative number"),
        ("rps >= inf", "bad value 'inf' in 'rps >= inf': expected a finite, non-negative number"),
        (
            "rps >= 1e999",
            "bad value '1e999' in 'rps >= 1e999': expected a finite, non-negative number",
        ),
        (
            "rps >= lots",
            "bad value 'lots' in 'rps >= lots': could not convert string to float: 'lots'",
        ),
        (
            "p95 < 1s phase=a phase=b",
            "phase is scoped twice in 'p95 < 1s phase=a phase=b'",
        ),
        ("p95{name=x} < 1s name=y", "name is scoped twice in 'p95{name=x} < 1s name=y'"),
        (
            "p95 < 1s region=eu",
            "unexpected 'region=eu' in 'p95 < 1s region=eu'; a scope is 'phase=<name>', "
            "'name=<request>', 'upstream=<upstream>' or 'baseline=<phase>'",
        ),
        (
            "p95 < 1s phase=",
            "unexpected 'phase=' in 'p95 < 1s phase='; a scope is 'phase=<name>', "
            "'name=<request>', 'upstream=<upstream>' or 'baseline=<phase>'",
        ),
        (
            "p95 < 1s {phase=a}",
            "unexpected '{phase=a}' in 'p95 < 1s {phase=a}'; a scope is 'phase=<name>', "
            "'name=<request>', 'upstream=<upstream>' or 'baseline=<phase>'",
        ),
        # the vendor metrics (test_engine_sla_vendor.py): what to write instead
        (
            "served_share >= 90%",
            "served_share needs the upstream it is about in 'served_share >= 90%', e.g. "
            "'served_share >= 90% upstream=backup'",
        ),
        (
            "failover_time < 2s name=chat",
            "failover_time is counted at the vendors, not per request name: drop name= in "
            "'failover_time < 2s name=chat'",
        ),
        (
            "failover_time < 2",
            "bad value '2' in 'failover_time < 2': failover_time needs a unit: write 2ms or 2s",
        ),
        (
            "retry_after_violations == -1",
            "bad value '-1' in 'retry_after_violations == -1': expected a finite, non-negative "
            "number",
        ),
        (
            "p95 < 1s upstream=primary",
            "p95 takes no upstream= scope in 'p95 < 1s upstream=primary'; only "
            "retry_after_violations, served_share, upstream_calls_per_request do",
        ),
    ],
)
def test_errors_quote_the_threshold_and_say_what_was_expected(text: str, message: str) -> None:
    assert threshold_error(text) == message


@pytest.mark.parametrize("value", [42, None, ["p95 < 1s"], {"p95": "1s"}])
def test_a_threshold_must_be_a_string(value: object) -> None:
    assert (
        threshold_error(value) == f"expected a threshold string such as 'p95 < 2s', got {value!r}"
    )


def test_sla_errors_are_input_errors_and_value_errors() -> None:
    # exit code 2, and pydantic reports a ValueError at the threshold's field path
    assert issubclass(SLAError, InputError) and issubclass(SLAError, ValueError)
    assert SLAError("x").exit_code == 2


@pytest.mark.parametrize(
    ("text", "observed", "holds"),
    [
        ("p95 < 1s", 0.999, True),
        ("p95 < 1s", 1.0, False),
        ("p95 <= 1s", 1.0, True),
        ("availability >= 99%", 0.99, True),
        ("availability > 99%", 0.99, False),
        ("rps >= 20", 19.9, False),
    ],
)
def test_holds(text: str, observed: float, holds: bool) -> None:
    assert parse_threshold(text).holds(observed) is holds


@pytest.mark.parametrize(
    ("kind", "value", "text"),
    [
        ("latency", 0.25, "250ms"),
        ("latency", 1.5, "1.5s"),
        ("latency", 0.0123456, "12.35ms"),
        ("duration", 12.0, "12s"),
        ("rate", 0.995, "99.5%"),
        ("rate", 0.0, "0%"),
        ("number", 1.5, "1.5"),
    ],
)
def test_format_metric_value(kind: str, value: float, text: str) -> None:
    assert format_metric_value(kind, value) == text  # type: ignore[arg-type]


def test_metric_kind() -> None:
    assert [metric_kind(m) for m in ("p95", "p99.99", "p100", "error_rate", "rps", "nope")] == [
        "latency",
        "latency",
        None,
        "rate",
        "number",
        None,
    ]


# -- property: generated thresholds parse back -----------------------------------------------

OPS = st.sampled_from(["<", "<=", ">", ">="])
SCOPE_VALUE = st.from_regex(r"\A[A-Za-z][A-Za-z0-9_./-]{0,10}\Z")
UNITS = {"ms": 1e-3, "s": 1.0, "m": 60.0}


@st.composite
def thresholds(draw: st.DrawFn) -> tuple[str, str, str, float, str | None, str | None]:
    """``(text, metric, op, value, phase, name)`` of a valid threshold."""
    family = draw(st.sampled_from(["percentile", "latency", "rate", "number", "duration"]))
    number = draw(st.decimals(min_value=0, max_value=10_000, places=3, allow_nan=False))
    amount = format(number, "f")
    if family in ("percentile", "latency", "duration"):
        metric = {
            "percentile": draw(st.sampled_from(["p50", "p90", "p95", "p99", "p99.9", "p1"])),
            "latency": draw(st.sampled_from(["avg", "max", "min"])),
            "duration": "recovery_time",
        }[family]
        unit = draw(st.sampled_from(sorted(UNITS)))
        written, value = f"{amount}{unit}", float(amount) * UNITS[unit]
    elif family == "rate":
        metric = draw(st.sampled_from(["error_rate", "availability", "fallback_rate"]))
        percent = draw(st.decimals(min_value=0, max_value=100, places=2, allow_nan=False))
        if draw(st.booleans()):
            written, value = f"{format(percent, 'f')}%", float(format(percent, "f")) / 100
        else:
            fraction = format(percent / 100, "f")
            written, value = fraction, float(fraction)
    else:
        metric = draw(st.sampled_from(["rps", "retries_per_call"]))
        written, value = amount, float(amount)
    phase = draw(st.none() | SCOPE_VALUE)
    name = draw(st.none() | SCOPE_VALUE)
    op = draw(OPS)
    scopes = [s for s in (f"phase={phase}" if phase else "", f"name={name}" if name else "") if s]
    braces: bool = draw(st.booleans())
    if scopes and braces:
        text = f"{metric}{{{', '.join(scopes)}}} {op} {written}"
    else:
        text = " ".join([metric, op, written, *scopes])
    return text, metric, op, value, phase, name


@given(thresholds())
def test_generated_thresholds_parse_back(
    case: tuple[str, str, str, float, str | None, str | None],
) -> None:
    text, metric, op, value, phase, name = case
    threshold = parse_threshold(text)
    assert (threshold.metric, threshold.op, threshold.phase, threshold.name) == (
        metric,
        op,
        phase,
        name,
    )
    assert threshold.value == pytest.approx(value, rel=1e-12, abs=1e-15)
    # the normalised text is itself a threshold, and the same one
    assert parse_threshold(threshold.text) == threshold
    assert isinstance(threshold, Threshold)


@given(st.text(max_size=40))
def test_any_text_parses_or_raises_sla_error(text: str) -> None:
    try:
        threshold = parse_threshold(text)
    except SLAError:
        return
    assert threshold.kind in ("latency", "rate", "number", "duration")


SLA_PIECES = st.sampled_from(
    [
        "p95",
        "p99.9",
        "p100",
        "p0",
        "p",
        "max",
        "recovery_time",
        "error_rate",
        "rps",
        "<",
        "<=",
        "=",
        "==",
        "=>",
        ">",
        "1",
        "0.5",
        "1e400",
        "9" * 400,
        "-1",
        "nan",
        "inf",
        "ms",
        "s",
        "h",
        "%",
        "{",
        "}",
        ",",
        " ",
        "\t",
        "\u00a0",
        "\u2003",
        "phase=",
        "name=",
        "phase=a",
        "٣",  # an Arabic-Indic digit: \\d matches it
        "½",
        "\n",
        ".",
        "e",
        "E+5",
    ]
)


def _mutated(text: str, data: st.DataObject) -> str:
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        edit = data.draw(st.sampled_from(["insert", "delete", "repeat"]))
        if edit == "insert":
            text = text[:at] + data.draw(SLA_PIECES | st.characters()) + text[at:]
        elif edit == "delete":
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + text[at:] * data.draw(st.integers(2, 50))
    return text


@settings(deadline=None)
@given(data=st.data())
def test_hostile_threshold_strings_raise_only_sla_error(data: st.DataObject) -> None:
    """Grammar pieces in any order, valid thresholds mutated, huge numbers, long repetitions:
    a Threshold or an SLAError quoting the text, nothing else."""
    text = data.draw(
        st.one_of(
            st.lists(SLA_PIECES, max_size=14).map("".join),
            thresholds().map(lambda case: case[0]),
            st.text(max_size=400),
        )
    )
    if data.draw(st.booleans()):
        text = _mutated(text, data)
    error: SLAError | None = None
    try:
        threshold = parse_threshold(text)
    except SLAError as exc:  # anything else fails the test
        error = exc
    if error is not None:
        assert str(error)
        return
    assert math.isfinite(threshold.value) and threshold.value >= 0
    assert parse_threshold(threshold.text) == threshold


@settings(deadline=None)
@given(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.binary(max_size=10),
        st.lists(st.text(max_size=5), max_size=3),
    )
)
def test_a_threshold_that_is_not_a_string_is_an_sla_error(value: object) -> None:
    with pytest.raises(SLAError, match="expected a threshold string"):
        parse_threshold(value)
