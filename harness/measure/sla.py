"""SLA thresholds, k6-like: ``p95 < 1500ms``, ``availability >= 99.5%``, with optional scope,
absolute or relative to the run's own baseline phase.

Grammar (whitespace-insensitive)::

    threshold := metric [ "{" scope ("," scope)* "}" ] op limit [ scope* ]
    metric    := p50 | p90 | p95 | p99 | p<N> | max | min | avg | error_rate | availability
               | rps | retries_per_call | fallback_rate | recovery_time
               | upstream_calls_per_request | backup_share | served_share | failover_time
               | back_to_primary_time | retry_after_violations          (the vendor side)
    op        := "<" | "<=" | ">" | ">=" | "=="     (== for counts: retry_after_violations == 0)
    limit     := value | "baseline" | "baseline" ("+" | "-") value | number "x" "baseline"
    scope     := ("phase" | "name" | "upstream" | "baseline") "=" word  (spaces or commas)

``upstream=`` scopes the vendor-side metrics only (:mod:`harness.measure.vendor`);
``served_share`` needs it.

Latency metrics and ``recovery_time`` need a unit (``ms``, ``s``, ``m``); rates take ``%`` or a
fraction; ``rps`` and ``retries_per_call`` are plain numbers. Values are kept in seconds and
fractions.

**Baseline-relative limits** travel between machines: ``p95 < baseline + 300ms``, ``p99 < 3x
baseline phase=recovery``, ``rps >= 0.8x baseline``. The baseline is the same metric (same
``name=`` scope) over the run's first fault-free phase, or the phase ``baseline=<name>`` names;
the report shows the baseline next to the limit it produced. A baseline without data makes the
threshold "no data" (a breach).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from harness.errors import InputError
from harness.measure.vendor import COUNT_METRICS, UPSTREAM_SCOPED, VENDOR_METRICS
from harness.units import parse_duration, parse_rate

Op = Literal["<", "<=", ">", ">=", "=="]
MetricKind = Literal["latency", "rate", "number", "duration"]
Relative = Literal["+", "-", "x"]

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}
SCOPE_KEYS = ("phase", "name", "upstream", "baseline")
_FIXED_METRICS: dict[str, MetricKind] = {
    "max": "latency",
    "min": "latency",
    "avg": "latency",
    "error_rate": "rate",
    "availability": "rate",
    "fallback_rate": "rate",
    "rps": "number",
    "retries_per_call": "number",
    "recovery_time": "duration",
    "upstream_calls_per_request": "number",
    "backup_share": "rate",
    "served_share": "rate",
    "failover_time": "duration",
    "back_to_primary_time": "duration",
    "retry_after_violations": "number",
}
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?)$")
_THRESHOLD = re.compile(
    r"""^\s*(?P<metric>[a-z_][a-z0-9_.]*)\s*
        (?:\{(?P<braces>[^}]*)\})?\s*
        (?P<op><=|>=|==|<|>|=)\s*
        (?P<rest>\S.*?)\s*$""",
    re.VERBOSE | re.DOTALL,
)
_SCOPE = re.compile(r"^(?P<key>[a-z_]+)=(?P<value>\S+)$")
_BASELINE_OFFSET = re.compile(r"^baseline(?:(?P<sign>[+-])(?P<value>.+))?$")
_NUMBER = r"\d+(?:\.\d*)?|\.\d+"
_BASELINE_FACTOR = re.compile(
    rf"^(?P<factor>{_NUMBER})[x*]baseline$|^baseline[x*](?P<after>{_NUMBER})$"
)
RELATIVE_KINDS = ("latency", "rate", "number")
"""Metric kinds a baseline-relative limit applies to (not ``recovery_time``: it is measured
against the baseline already)."""


class SLAError(InputError, ValueError):
    """A threshold string is malformed; the message quotes it and says what was expected.

    Also a ``ValueError``, so pydantic reports it at the field path of the threshold."""


@dataclass(frozen=True, slots=True)
class Threshold:
    """One parsed threshold. ``value`` is seconds (latency, duration), a fraction (rates) or a
    plain number: the limit itself, or with ``relative`` the offset (``+``/``-``) or factor
    (``x``) applied to the baseline; ``percentile`` is set for ``pNN`` metrics."""

    text: str
    metric: str
    op: Op
    value: float
    kind: MetricKind
    phase: str | None = None
    name: str | None = None
    percentile: float | None = None
    relative: Relative | None = None
    baseline_phase: str | None = None
    upstream: str | None = None

    def limit(self, baseline: float | None = None) -> float | None:
        """The limit this threshold sets: ``value``, or applied to ``baseline`` when relative
        (None: relative, and the baseline has no data)."""
        if self.relative is None:
            return self.value
        if baseline is None:
            return None
        if self.relative == "x":
            return baseline * self.value
        return baseline + self.value if self.relative == "+" else baseline - self.value

    def holds(self, observed: float, limit: float | None = None) -> bool:
        """``observed op limit`` (the absolute limit when none is given)."""
        return OPERATORS[self.op](observed, self.value if limit is None else limit)

    @property
    def scope(self) -> str:
        parts = [
            f"phase={self.phase}" if self.phase else "",
            f"name={self.name}" if self.name else "",
            f"baseline={self.baseline_phase}" if self.baseline_phase else "",
            f"upstream={self.upstream}" if self.upstream else "",
        ]
        return " ".join(p for p in parts if p)

    def describe_limit(self, baseline: float | None) -> str:
        """``412ms (baseline 112ms + 300ms)`` for a relative limit, ``300ms`` otherwise."""
        limit = self.limit(baseline)
        if self.relative is None or limit is None:
            return self.format_value(self.value) if limit is not None else "no baseline"
        how = (
            f"{self.value:g}x baseline {self.format_value(baseline or 0.0)}"
            if self.relative == "x"
            else f"baseline {self.format_value(baseline or 0.0)} {self.relative} "
            f"{self.format_value(self.value)}"
        )
        return f"{self.format_value(limit)} ({how})"

    def format_value(self, value: float) -> str:
        """Render a value of this threshold's metric the way the user wrote it."""
        return format_metric_value(self.kind, value)

    def __str__(self) -> str:
        return self.text


def format_metric_value(kind: MetricKind, value: float) -> str:
    if kind in ("latency", "duration"):
        return f"{value:.3g}s" if value >= 1 else f"{value * 1000:.4g}ms"
    if kind == "rate":
        return f"{value * 100:.4g}%"
    return f"{value:.4g}"


def metric_kind(metric: str) -> MetricKind | None:
    if metric in _FIXED_METRICS:
        return _FIXED_METRICS[metric]
    m = _PERCENTILE.match(metric)
    if m and 0 < float(m.group(1)) < 100:
        return "latency"
    return None


def parse_threshold(text: object) -> Threshold:
    """Parse one threshold string; raise :class:`SLAError` naming what was expected."""
    if not isinstance(text, str):
        raise SLAError(f"expected a threshold string such as 'p95 < 2s', got {text!r}")
    m = _THRESHOLD.match(text.strip())
    if not m:
        raise SLAError(
            f"cannot parse threshold {text!r}: expected '<metric> <op> <value>', "
            "e.g. 'p95 < 1500ms' or 'availability >= 99.5%'"
        )
    metric = m.group("metric")
    kind = metric_kind(metric)
    if kind is None:
        known = "p50, p90, p95, p99, pNN, " + ", ".join(_FIXED_METRICS)
        raise SLAError(f"unknown metric {metric!r} in {text!r}; expected one of: {known}")
    op = m.group("op")
    counts = metric in COUNT_METRICS
    if op not in OPERATORS or (op == "==" and not counts):
        ops = "<, <=, >, >= or ==" if counts else "<, <=, > or >="
        raise SLAError(f"unsupported operator {op!r} in {text!r}; use {ops}")
    scopes: dict[str, str] = {}
    braces = m.group("braces")
    tokens = [t.strip() for t in braces.split(",")] if braces else []
    limit_tokens: list[str] = []
    for token in re.split(r"[\s,]+", m.group("rest")):  # ``phase=a name=b`` or ``phase=a, ...``
        if "=" in token:
            tokens.append(token)
        elif token:
            limit_tokens.append(token)
    for token in tokens:
        if not token:
            continue
        sm = _SCOPE.match(token)
        if not sm or sm.group("key") not in SCOPE_KEYS:
            raise SLAError(
                f"unexpected {token!r} in {text!r}; a scope is 'phase=<name>', "
                "'name=<request>', 'upstream=<upstream>' or 'baseline=<phase>'"
            )
        if sm.group("key") in scopes:
            raise SLAError(f"{sm.group('key')} is scoped twice in {text!r}")
        scopes[sm.group("key")] = sm.group("value")
    if not limit_tokens:
        raise SLAError(f"no limit in {text!r}: expected e.g. 'p95 < 1500ms'")
    relative, value = _parse_limit(kind, limit_tokens, metric, text)
    if scopes.get("baseline") and relative is None:
        raise SLAError(
            f"baseline={scopes['baseline']} in {text!r} names the phase a relative limit is "
            "measured against; this limit is absolute (e.g. 'p95 < baseline + 300ms')"
        )
    _check_vendor_scope(metric, scopes, text)
    pm = _PERCENTILE.match(metric)
    return Threshold(
        text=" ".join(text.split()),
        metric=metric,
        op=op,  # type: ignore[arg-type]
        value=value,
        kind=kind,
        phase=scopes.get("phase"),
        name=scopes.get("name"),
        percentile=float(pm.group(1)) if pm else None,
        relative=relative,
        baseline_phase=scopes.get("baseline"),
        upstream=scopes.get("upstream"),
    )


def _parse_limit(
    kind: MetricKind, tokens: list[str], metric: str, text: str
) -> tuple[Relative | None, float]:
    """``(relative, value)`` of the limit tokens: an absolute value, or a baseline expression."""
    expression = "".join(tokens)
    if "baseline" not in expression:
        value = _parse_value(kind, tokens[0], metric, text)
        if len(tokens) > 1:
            raise SLAError(
                f"unexpected {tokens[1]!r} in {text!r}; a scope is 'phase=<name>', "
                "'name=<request>' or 'baseline=<phase>'"
            )
        return None, value
    if kind not in RELATIVE_KINDS:
        raise SLAError(
            f"{metric} cannot be relative to the baseline in {text!r}: it is measured against "
            "the baseline already"
        )
    offset = _BASELINE_OFFSET.match(expression)
    if offset is not None:
        if offset.group("sign") is None:
            return "x", 1.0
        return offset.group("sign"), _parse_value(kind, offset.group("value"), metric, text)  # type: ignore[return-value]
    factor = _BASELINE_FACTOR.match(expression)
    if factor is not None:
        number = float(factor.group("factor") or factor.group("after"))
        if not (math.isfinite(number) and number > 0):
            raise SLAError(f"bad factor {number!r} in {text!r}: expected a positive number")
        return "x", number
    raise SLAError(
        f"cannot read the limit {' '.join(tokens)!r} in {text!r}: expected a value, "
        "'baseline + 300ms', 'baseline - 5%' or '3x baseline'"
    )


def _check_vendor_scope(metric: str, scopes: dict[str, str], text: str) -> None:
    """``upstream=`` only on the vendor metrics that take it; ``name=`` never on those."""
    if "upstream" in scopes and metric not in UPSTREAM_SCOPED:
        takes = ", ".join(sorted(UPSTREAM_SCOPED))
        raise SLAError(f"{metric} takes no upstream= scope in {text!r}; only {takes} do")
    if "name" in scopes and metric in VENDOR_METRICS:
        raise SLAError(
            f"{metric} is counted at the vendors, not per request name: drop name= in {text!r}"
        )
    if metric == "served_share" and "upstream" not in scopes:
        raise SLAError(
            f"served_share needs the upstream it is about in {text!r}, "
            "e.g. 'served_share >= 90% upstream=backup'"
        )


def _parse_value(kind: MetricKind, raw: str, metric: str, text: str) -> float:
    try:
        if kind in ("latency", "duration"):
            if re.fullmatch(r"[\d.]+(?:[eE][+-]?\d+)?", raw):
                raise ValueError(f"{metric} needs a unit: write {raw}ms or {raw}s")
            return parse_duration(raw)
        if kind == "rate":
            return parse_rate(raw)
        number = float(raw)
        if not (math.isfinite(number) and number >= 0):
            raise ValueError("expected a finite, non-negative number")
        return number
    except ValueError as exc:
        raise SLAError(f"bad value {raw!r} in {text!r}: {exc}") from None


def parse_thresholds(texts: list[str]) -> list[Threshold]:
    return [parse_threshold(t) for t in texts]
