"""Reading how long a vendor asks us to wait, in each form vendors send it.

OpenAI sends ``retry-after-ms`` (milliseconds, fractional) and ``retry-after`` (seconds);
RFC 9110 also allows ``retry-after`` as an HTTP-date. ``x-should-retry: true|false`` is the
vendors' explicit override of whether a retry can help.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from email.utils import parsedate_to_datetime


def parse_retry_after(headers: Mapping[str, str], *, now_wall: float) -> float | None:
    """Seconds to wait according to ``headers``, or ``None`` when they do not say.

    ``retry-after-ms`` wins over ``retry-after`` (it is more precise). An HTTP-date is turned
    into seconds from ``now_wall`` (Unix time); a date in the past means 0. Negative, non-finite
    or unparsable values are ignored.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = _number(lowered.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000.0
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    seconds = _number(raw)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now_wall)


def parse_should_retry(headers: Mapping[str, str]) -> bool | None:
    """The ``x-should-retry`` override: True, False, or None when absent or unrecognised."""
    for key, value in headers.items():
        if key.lower() == "x-should-retry":
            flag = value.strip().lower()
            if flag == "true":
                return True
            if flag == "false":
                return False
    return None


def _number(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return value
