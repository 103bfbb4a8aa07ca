"""Counter sets: one declaration per counter, from which everything else is derived.

A counter set is a dataclass whose fields are declared with :func:`counter` (a number) or
:func:`tally` (counts by key). Adding, serialising, the report row, the summary line, the
reporters' columns and the Prometheus names a service exports are all read off the fields, so
a new counter is one line::

    breaker_opens: int = counter("breaker opens", prom="genai_llm_breaker_opens_total")
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Self


@dataclass(frozen=True, slots=True)
class CounterInfo:
    """What a counter means: its label in tables and summaries (None: not shown), and the
    Prometheus counter it is read from (``prom``), optionally only the samples whose labels
    include ``prom_match``, or, for a tally, keyed by the label ``prom_key``."""

    label: str | None
    prom: str | None = None
    prom_match: tuple[tuple[str, str], ...] = ()
    prom_key: str | None = None
    tally: bool = False
    summary: bool = True


def counter(
    label: str | None,
    *,
    prom: str | None = None,
    prom_match: dict[str, str] | None = None,
    summary: bool = True,
) -> Any:
    """A number a counter set adds up (``summary=False``: in tables, not the summary line)."""
    info = CounterInfo(label, prom, tuple(sorted((prom_match or {}).items())), summary=summary)
    return field(default=0, metadata={"counter": info})


def tally(label: str | None, *, prom: str | None = None, prom_key: str | None = None) -> Any:
    """Counts by key (``Counter``): attempts per call, answers per status, ..."""
    info = CounterInfo(label, prom, prom_key=prom_key, tally=True, summary=False)
    return field(default_factory=Counter, metadata={"counter": info})


@dataclass(slots=True, kw_only=True)
class CounterSet:
    """Base class of counter sets (see the module docstring)."""

    SUMMARY_PREFIX: ClassVar[str] = ""
    """Words before the first counter in :meth:`summary` (``"core "``)."""

    @classmethod
    def counters(cls) -> list[tuple[str, CounterInfo]]:
        """``(field name, info)`` for every counter and tally, in declaration order."""
        return [(f.name, f.metadata["counter"]) for f in fields(cls) if "counter" in f.metadata]

    def add(self, other: CounterSet) -> None:
        for name, info in self.counters():
            if info.tally:
                getattr(self, name).update(getattr(other, name))
            else:
                setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_json(self) -> dict[str, Any]:
        """A JSON-able copy (tally keys become strings, as JSON wants)."""
        out: dict[str, Any] = {}
        for name, info in self.counters():
            value = getattr(self, name)
            out[name] = {str(k): v for k, v in sorted(value.items())} if info.tally else value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """The inverse of :meth:`to_json` (keys it does not know are ignored)."""
        stats = cls()
        for name, info in cls.counters():
            if name not in data:
                continue
            value = data[name]
            if info.tally:
                target: Counter[Any] = getattr(stats, name)
                for key, count in value.items():
                    target[int(key) if isinstance(key, str) and key.isdigit() else key] += count
            else:
                setattr(stats, name, value)
        return stats

    def summary(self) -> str:
        """``core calls 12, attempts 15, retries 3, ...``: the labelled counters, in order."""
        parts = [
            f"{info.label} {getattr(self, name)}"
            for name, info in self.counters()
            if info.label and info.summary
        ]
        return self.SUMMARY_PREFIX + ", ".join(parts)

    @classmethod
    def columns(cls) -> list[tuple[str, str]]:
        """``(field name, label)`` of the numbers a table shows, in order."""
        return [
            (name, info.label) for name, info in cls.counters() if info.label and not info.tally
        ]

    def is_empty(self) -> bool:
        return not any(getattr(self, name) for name, _ in self.counters())
