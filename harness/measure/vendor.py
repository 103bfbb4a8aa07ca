"""Resilience measured from the vendor side: what reached each fake vendor and proxy, per phase.

Works for any client, on the core or not: every fake vendor (and the embedded Toxiproxy)
keeps a **ledger** (one :class:`VendorStats` per phase, see :mod:`harness.plugin.ledger`),
which the engine reads at the run's end. From the ledgers and the target requests:

- a vendor call belongs to the phase in which it arrived;
- **amplification** (``upstream_calls_per_request``) = vendor calls / target requests started
  in the phase (all upstreams, or one with ``upstream=``);
- **served share** (``backup_share``, ``served_share upstream=X``): of the successful vendor
  answers, the share the upstreams after the first (the backups) or the named one gave;
- a **Retry-After violation** is a call whose body (hashed, with its API key) equals one the
  vendor answered with ``Retry-After: R`` at time t, arriving before t + R: the same logical
  request retried too early (another caller's fresh request is not one);
- **failover time**: from a fault phase's start to the first successful answer of a backup in
  it; **back-to-primary time**: from the end of a block of fault phases to the primary's first
  successful answer after it.

Upstreams are in the scenario's order: the first is the primary, the others its backups.
Whatever cannot be computed is None with the reason: no data is a breach, never a pass.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, Self

from pydantic import BaseModel, ConfigDict

from harness.measure.stats import CounterSet, counter, tally

VENDOR_METRICS = frozenset(
    {
        "upstream_calls_per_request",
        "backup_share",
        "served_share",
        "failover_time",
        "back_to_primary_time",
        "retry_after_violations",
    }
)
"""Threshold metrics read from the vendors' ledgers."""
UPSTREAM_SCOPED = frozenset(
    {"upstream_calls_per_request", "served_share", "retry_after_violations"}
)
"""The vendor metrics an ``upstream=`` scope applies to."""
COUNT_METRICS = frozenset({"retry_after_violations"})
"""Metrics that count events: the only ones ``==`` compares (``retry_after_violations == 0``)."""

NO_LEDGER = "no vendor counts: no upstream of this run keeps a ledger"


@dataclass(slots=True, kw_only=True)
class VendorStats(CounterSet):
    """What reached one vendor (or proxy) in one phase. One line per counter: the report's
    columns, its JSON and the summary are derived from these declarations.

    ``first_ok_after`` is not a counter: seconds from the phase's start (on the vendor's own
    clock) to its first successful answer; adding two stats keeps the earlier one."""

    SUMMARY_PREFIX: ClassVar[str] = "vendor "

    calls: int = counter("calls")
    ok: int = counter("ok")
    aborted: int = counter("aborted")
    connections: int = counter("connections")
    retry_after_sent: int = counter("Retry-After sent")
    retry_after_violations: int = counter("Retry-After violations")
    bytes_up: int = counter("bytes up", summary=False)
    bytes_down: int = counter("bytes down", summary=False)
    statuses: Counter[str] = tally("statuses")
    faults_fired: Counter[str] = tally("faults fired")
    calls_by_second: Counter[int] = tally(None)
    first_ok_after: float | None = None

    @property
    def failed(self) -> int:
        """Calls answered with anything but success (aborted ones included)."""
        return max(0, self.calls - self.ok)

    def add(self, other: CounterSet) -> None:
        CounterSet.add(self, other)
        if isinstance(other, VendorStats) and other.first_ok_after is not None:
            mine = self.first_ok_after
            self.first_ok_after = (
                other.first_ok_after if mine is None else min(mine, other.first_ok_after)
            )

    def to_json(self) -> dict[str, Any]:
        out = CounterSet.to_json(self)
        out["first_ok_after"] = self.first_ok_after
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        stats: Self = CounterSet.from_json.__func__(cls, data)  # type: ignore[attr-defined]
        # status keys stay strings ("503", "connection_reset"), whatever JSON made of them
        stats.statuses = Counter({str(k): v for k, v in stats.statuses.items()})
        stats.faults_fired = Counter({str(k): v for k, v in stats.faults_fired.items()})
        first = data.get("first_ok_after")
        stats.first_ok_after = float(first) if isinstance(first, int | float) else None
        return stats


@dataclass(slots=True)
class EndpointLedger:
    """One endpoint's ledger: its stats per phase (in the order the phases ran)."""

    name: str
    role: Literal["upstream", "proxy"]
    phases: dict[str, VendorStats] = field(default_factory=dict)

    def stats(self, phase: str | None = None) -> VendorStats:
        """The stats of ``phase`` (None: the whole run, without a ``first_ok_after``)."""
        if phase is not None:
            return self.phases.get(phase) or VendorStats()
        total = VendorStats()
        for stats in self.phases.values():
            total.add(stats)
        total.first_ok_after = None  # an offset into one phase: meaningless over the run
        return total


@dataclass(slots=True)
class VendorLedgers:
    """The ledgers a run collected, upstreams in fallback order (the first is the primary),
    then proxies; ``uncounted`` names each endpoint whose backend could not count, and why."""

    endpoints: list[EndpointLedger] = field(default_factory=list)
    uncounted: dict[str, str] = field(default_factory=dict)

    @property
    def upstreams(self) -> list[EndpointLedger]:
        return [e for e in self.endpoints if e.role == "upstream"]

    def get(self, name: str) -> EndpointLedger | None:
        return next((e for e in self.endpoints if e.name == name), None)


class _Window(Protocol):
    """A phase as the run ran it (``harness.measure.verdicts.PhaseWindow``)."""

    @property
    def name(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def faulty(self) -> bool: ...


def fault_blocks(phases: Sequence[_Window], holding: str | None = None) -> list[list[int]]:
    """Runs of consecutive fault phases, as indexes: recovery and the way back to the primary
    are measured from the end of a run's last phase. With ``holding``, only the run that holds
    the phase of that name."""
    runs = itertools.groupby(range(len(phases)), key=lambda i: phases[i].faulty)
    blocks = [list(run) for faulty, run in runs if faulty]
    if holding is None:
        return blocks
    return [block for block in blocks if any(phases[i].name == holding for i in block)]


@dataclass(frozen=True, slots=True)
class PhaseFacts:
    """A phase as the vendor figures need it: when it ran, whether it had faults, and how many
    target requests started in it (answered, failed or still running at the end)."""

    name: str
    start: float
    end: float
    faulty: bool
    requests: int


class _Counts(Protocol):
    def stats(self, *, name: str | None = None, phase: str | None = None) -> Any: ...
    def load_stats(self, *, phase: str | None = None) -> Any: ...


def phase_facts(recorder: _Counts, windows: Iterable[_Window]) -> list[PhaseFacts]:
    """:class:`PhaseFacts` of each phase window, with the requests the recorder saw start."""
    return [
        PhaseFacts(
            w.name,
            w.start,
            w.end,
            w.faulty,
            recorder.stats(phase=w.name).count
            + recorder.load_stats(phase=w.name).unfinished_requests,
        )
        for w in windows
    ]


Figure = tuple[float | None, str]
"""A value (None when it cannot be computed) and why it may be None."""


def _in(phase: str | None) -> str:
    return f" in phase {phase!r}" if phase else ""


def _selected(
    ledgers: VendorLedgers | None, upstream: str | None
) -> tuple[list[EndpointLedger], str]:
    """The upstream ledgers a figure reads (all, or the named one), or why there are none."""
    if ledgers is None or not ledgers.upstreams:
        why = NO_LEDGER
        if ledgers is not None and ledgers.uncounted:
            why += " (" + "; ".join(f"{k}: {v}" for k, v in ledgers.uncounted.items()) + ")"
        return [], why
    if upstream is None:
        return ledgers.upstreams, ""
    found = [e for e in ledgers.upstreams if e.name == upstream]
    if found:
        return found, ""
    if upstream in ledgers.uncounted:
        return [], f"upstream {upstream!r} keeps no ledger ({ledgers.uncounted[upstream]})"
    names = ", ".join(e.name for e in ledgers.upstreams)
    return [], f"no upstream named {upstream!r} keeps a ledger (those that do: {names})"


def _phases(phases: Sequence[PhaseFacts], phase: str | None) -> list[PhaseFacts]:
    return [p for p in phases if phase is None or p.name == phase]


def calls_per_request(
    ledgers: VendorLedgers | None,
    phases: Sequence[PhaseFacts],
    *,
    phase: str | None = None,
    upstream: str | None = None,
) -> Figure:
    """Vendor calls (all upstreams, or ``upstream``) per target request started."""
    selected, why = _selected(ledgers, upstream)
    if not selected:
        return None, why
    chosen = _phases(phases, phase)
    requests = sum(p.requests for p in chosen)
    if requests == 0:
        return None, "no target requests started" + _in(phase)
    calls = sum(e.stats(p.name).calls for e in selected for p in chosen)
    return calls / requests, ""


def served_share(
    ledgers: VendorLedgers | None,
    *,
    phase: str | None = None,
    upstream: str | None = None,
) -> Figure:
    """Of the successful vendor answers, the share ``upstream`` gave (None: every upstream
    after the first, i.e. the backups)."""
    everyone, why = _selected(ledgers, None)
    if not everyone:
        return None, why
    if upstream is None:
        if len(everyone) < 2:
            return None, "no backup: only one upstream keeps a ledger"
        served = everyone[1:]
    else:
        served, why = _selected(ledgers, upstream)
        if not served:
            return None, why
    total = sum(e.stats(phase).ok for e in everyone)
    if total == 0:
        return None, "no vendor answered successfully" + _in(phase)
    return sum(e.stats(phase).ok for e in served) / total, ""


def retry_after_violations(
    ledgers: VendorLedgers | None, *, phase: str | None = None, upstream: str | None = None
) -> Figure:
    """Calls that retried a request answered with ``Retry-After`` before it allowed."""
    selected, why = _selected(ledgers, upstream)
    if not selected:
        return None, why
    return float(sum(e.stats(phase).retry_after_violations for e in selected)), ""


def _needs_failover(primary: EndpointLedger, phase: PhaseFacts) -> bool:
    """A fault phase in which the primary failed a call, or served fewer answers than there
    were target requests (it was slow, cut off behind a proxy, or skipped)."""
    stats = primary.stats(phase.name)
    return phase.faulty and phase.requests > 0 and (stats.failed > 0 or stats.ok < phase.requests)


def _chain(ledgers: VendorLedgers | None) -> tuple[list[EndpointLedger], str]:
    selected, why = _selected(ledgers, None)
    if not selected:
        return [], why
    if len(selected) < 2:
        return [], "no backup: failover needs a second upstream that keeps a ledger"
    return selected, ""


def failover_time(
    ledgers: VendorLedgers | None, phases: Sequence[PhaseFacts], *, phase: str | None = None
) -> Figure:
    """Seconds from a fault phase's start to a backup's first successful answer in it: the
    scoped phase, else the worst over the fault phases that sent traffic away from the
    primary (see :func:`_needs_failover`)."""
    chain, why = _chain(ledgers)
    if not chain:
        return None, why
    primary, backups = chain[0], chain[1:]
    if phase is not None:
        chosen = _phases(phases, phase)
        if not chosen:
            return None, f"no phase {phase!r} ran"
    else:
        chosen = [p for p in phases if _needs_failover(primary, p)]
        if not chosen:
            return None, "no fault phase sent traffic away from the primary"
    worst = 0.0
    for p in chosen:
        firsts = [
            b.stats(p.name).first_ok_after
            for b in backups
            if b.stats(p.name).first_ok_after is not None
        ]
        if not firsts:
            return None, f"no backup answered successfully in phase {p.name!r}"
        worst = max(worst, min(f for f in firsts if f is not None))
    return worst, ""


def back_to_primary_time(
    ledgers: VendorLedgers | None, phases: Sequence[PhaseFacts], *, phase: str | None = None
) -> Figure:
    """Seconds from the end of a block of consecutive fault phases to the primary's first
    successful answer after it: the block holding the scoped phase, else the worst over the
    blocks that sent traffic away from the primary."""
    chain, why = _chain(ledgers)
    if not chain:
        return None, why
    primary = chain[0]
    blocks = fault_blocks(phases, holding=phase)
    if phase is not None:
        if not blocks:
            return None, f"no fault phase named {phase!r} ran"
    else:
        blocks = [b for b in blocks if any(_needs_failover(primary, phases[i]) for i in b)]
        if not blocks:
            return None, "no fault phase sent traffic away from the primary"
    worst = 0.0
    for block in blocks:
        names = "+".join(phases[i].name for i in block)
        end = phases[block[-1]].end
        back = None
        for later in phases[block[-1] + 1 :]:
            first = primary.stats(later.name).first_ok_after
            if first is not None:
                back = max(0.0, later.start - end) + first
                break
        if back is None:
            return None, f"the primary answered no call successfully after {names!r}"
        worst = max(worst, back)
    return worst, ""


def observe_vendor(
    metric: str,
    ledgers: VendorLedgers | None,
    phases: Sequence[PhaseFacts],
    *,
    phase: str | None = None,
    upstream: str | None = None,
) -> Figure:
    """The observed value of a vendor threshold metric (see :data:`VENDOR_METRICS`)."""
    if metric == "upstream_calls_per_request":
        return calls_per_request(ledgers, phases, phase=phase, upstream=upstream)
    if metric == "backup_share":
        return served_share(ledgers, phase=phase)
    if metric == "served_share":
        return served_share(ledgers, phase=phase, upstream=upstream)
    if metric == "failover_time":
        return failover_time(ledgers, phases, phase=phase)
    if metric == "back_to_primary_time":
        return back_to_primary_time(ledgers, phases, phase=phase)
    if metric == "retry_after_violations":
        return retry_after_violations(ledgers, phase=phase, upstream=upstream)
    raise AssertionError(f"not a vendor metric: {metric!r}")  # pragma: no cover


class VendorFigures(BaseModel):
    """The vendor-side figures of one phase (``*``: the whole run), as the report shows them
    (a pydantic model: the report's row is this model, read back strictly)."""

    model_config = ConfigDict(frozen=True)

    phase: str
    requests: int
    calls_per_request: dict[str, float | None]
    backup_share: float | None
    failover_time: float | None
    back_to_primary_time: float | None
    retry_after_violations: int


def figures(ledgers: VendorLedgers, phases: Sequence[PhaseFacts]) -> list[VendorFigures]:
    """Per phase, then the whole run (``*``): calls per request of each upstream, the backup
    share, failover and back-to-primary times (fault phases only) and Retry-After violations."""
    out = []
    for scope in [*(p.name for p in phases), None]:
        chosen = _phases(phases, scope)
        per_upstream = {
            e.name: calls_per_request(ledgers, phases, phase=scope, upstream=e.name)[0]
            for e in ledgers.upstreams
        }
        faulty = scope is not None and any(p.faulty for p in chosen)
        out.append(
            VendorFigures(
                phase=scope or "*",
                requests=sum(p.requests for p in chosen),
                calls_per_request=per_upstream,
                backup_share=served_share(ledgers, phase=scope)[0],
                failover_time=failover_time(ledgers, phases, phase=scope)[0] if faulty else None,
                back_to_primary_time=(
                    back_to_primary_time(ledgers, phases, phase=scope)[0] if faulty else None
                ),
                retry_after_violations=sum(
                    e.stats(scope).retry_after_violations for e in ledgers.upstreams
                ),
            )
        )
    return out


def ledger_from_json(data: Mapping[str, Any]) -> dict[str, VendorStats]:
    """A ledger as the control APIs answer it (``{"phases": {name: stats}}``) as stats."""
    phases = data.get("phases")
    if not isinstance(phases, Mapping):
        raise ValueError(f"expected a 'phases' mapping in a ledger, got {phases!r}")
    return {str(name): VendorStats.from_json(dict(stats)) for name, stats in phases.items()}
