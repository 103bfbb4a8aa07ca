"""Parsing of the human units used in scenario files and SLA strings: durations and rates."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator

# 2, 2.5, .5 or 1e-3: YAML 1.1 reads ``1e-3`` (no dot) as a string, so it must parse here too
_NUMBER = r"((?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
_DURATION_RE = re.compile(rf"^\s*{_NUMBER}\s*(us|µs|ms|s|m|h)?\s*$")
_DURATION_UNITS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_RATE_RE = re.compile(rf"^\s*{_NUMBER}\s*(%)?\s*$")


MAX_DURATION = 72 * 3600.0
"""The longest duration a scenario may give anything, a whole run included: 72h."""

MAX_PHASE_DURATION = 24 * 3600.0
"""The longest a phase may last: 24h."""


def parse_quantity(
    value: object,
    pattern: re.Pattern[str],
    convert: Callable[[float, str | None], float],
    forms: str,
) -> float:
    """A number as a float, or a string ``pattern`` matches (group 1 the number, group 2 its
    unit, or None) as ``convert(number, unit)``; a number too large for a float is ``inf``
    (the caller checks the range). Anything else, a boolean too, raises ``ValueError``:
    ``expected <forms>, got <value>``."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and (m := pattern.match(value)):
            return convert(float(m.group(1)), m.group(2))
    except OverflowError:  # an int too large for a float (YAML reads 1e400 digits as an int)
        return math.inf
    raise ValueError(f"expected {forms}, got {value!r}")


def parse_duration(value: object, *, at_most: float = math.inf) -> float:
    """Seconds for ``500ms``, ``2s``, ``1.5m``, ``1h``, ``250us`` or a bare number of seconds.

    Raises ``ValueError`` with the expected forms when ``value`` is none of them, or is more than
    ``at_most`` seconds.
    """
    seconds = parse_quantity(
        value,
        _DURATION_RE,
        lambda number, unit: number * _DURATION_UNITS[unit],
        "a duration such as 500ms, 2s or 1m",
    )
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"expected a finite, non-negative duration, got {value!r}")
    if seconds > at_most:
        raise ValueError(f"expected a duration of at most {_hours(at_most)}, got {value!r}")
    return seconds


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:g}h" if seconds >= 3600 else format_duration(seconds)


def parse_rate(value: object) -> float:
    """Return a fraction in [0, 1] for ``0.3``, ``30%`` or ``30 %``."""
    rate = parse_quantity(
        value,
        _RATE_RE,
        lambda number, percent: number / (100.0 if percent else 1.0),
        "a rate such as 0.3 or 30%",
    )
    if not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
        raise ValueError(f"expected a rate between 0 and 1 (or 0% and 100%), got {value!r}")
    return rate


def _plain(number: float) -> str:
    """The shortest decimal that reads back as ``number``, without an exponent (``1e-07`` is
    ``0.0000001``) and without a trailing ``.0``."""
    text = format(Decimal(repr(number)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_duration(seconds: float) -> str:
    """Render seconds the way a human writes them in a scenario (``1.5s``, ``250ms``).

    The text always parses back to exactly ``seconds`` (:func:`parse_duration`), whatever its
    magnitude: no exponent (which the scenario grammar does not accept), no rounding.
    """
    if 0.0 < seconds < 1.0:
        millis = f"{_plain(seconds * 1000)}ms"
        if parse_duration(millis) == seconds:
            return millis
    return f"{_plain(seconds)}s"


Duration = Annotated[
    float, BeforeValidator(functools.partial(parse_duration, at_most=MAX_DURATION))
]
"""A pydantic field type: seconds, written as ``500ms``, ``2s``, ``1m`` or a bare number; at most
:data:`MAX_DURATION`."""

PhaseDuration = Annotated[
    float, BeforeValidator(functools.partial(parse_duration, at_most=MAX_PHASE_DURATION))
]
""":data:`Duration` of a phase: at most :data:`MAX_PHASE_DURATION`."""

Rate = Annotated[float, BeforeValidator(parse_rate)]
"""A pydantic field type: a fraction in [0, 1], written as ``0.3`` or ``30%``."""
