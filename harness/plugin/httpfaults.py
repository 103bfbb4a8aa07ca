"""HTTP fault planning shared by every HTTP backend (the fake vendor, the in-process respx one).

Combination rules when several faults match one request (see :meth:`FaultBook.plan`):

1. **Terminal faults** decide the answer: ``http_status``, ``connection_reset``,
   ``empty_response`` and, for streaming requests, ``stream_cut``. They are asked in insertion
   order and the first that fires wins; the terminal faults after it do not see the request
   (their ``seen`` does not move).
2. **Modifiers** then apply on top of whatever answer was chosen, every one that fires:
   ``latency`` delays happen before anything is sent (latencies add up, then the error, reset or
   answer follows); ``first_token_delay`` holds the first event of a streamed answer (and acts as
   latency when the answer is not a stream); ``stream_stall`` and ``malformed_stream`` are asked
   only when the answer is a stream (a streaming request whose terminal fault is none or
   ``stream_cut``). Stalls at the same position add up.
3. Stream-only kinds (``stream_cut``, ``stream_stall``, ``malformed_stream``) never match a
   non-streaming request. ``route`` matches when it is a substring of the request path;
   ``model`` must equal the request body's ``model``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from harness.scenario.faults import (
    BUILTIN_FAULT_KINDS,
    ConnectionResetFault,
    EmptyResponseFault,
    FaultSchedule,
    FirstTokenDelayFault,
    HttpFault,
    HttpStatusFault,
    LatencyFault,
    MalformedStreamFault,
    StreamCutFault,
    StreamStallFault,
)

TerminalFault = HttpStatusFault | ConnectionResetFault | EmptyResponseFault | StreamCutFault
_TERMINAL = (HttpStatusFault, ConnectionResetFault, EmptyResponseFault, StreamCutFault)
_STREAM_ONLY = (StreamCutFault, StreamStallFault, MalformedStreamFault)

SUPPORTED_KINDS: tuple[type[HttpFault], ...] = tuple(
    kind for kind in BUILTIN_FAULT_KINDS.values() if issubclass(kind, HttpFault)
)
"""The HTTP fault kinds the fake vendor knows how to inject: every built-in HTTP kind."""


@dataclass(slots=True)
class FaultEntry:
    """One installed fault: its id, spec and schedule."""

    id: str
    spec: HttpFault
    schedule: FaultSchedule
    stream_only: bool

    def matches(self, path: str, model: str | None, streaming: bool) -> bool:
        spec = self.spec
        if self.stream_only and not streaming:
            return False
        if spec.route is not None and spec.route not in path:
            return False
        return spec.model is None or spec.model == model

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.spec.label(),
            "kind": self.spec.kind,
            "spec": self.spec.model_dump(mode="json", exclude_none=True),
            "seen": self.schedule.seen,
            "fired": self.schedule.fired,
        }


@dataclass(slots=True)
class Plan:
    """What the faults that fired do to one request."""

    terminal: TerminalFault | None = None
    delay: float = 0.0
    first_event_delay: float = 0.0
    stalls: dict[int, float] = field(default_factory=dict)
    malformed: set[int] = field(default_factory=set)
    fired: list[str] = field(default_factory=list)

    @property
    def cut_after(self) -> int | None:
        """Events to send before cutting the stream, if a ``stream_cut`` fired."""
        if isinstance(self.terminal, StreamCutFault):
            return self.terminal.after_events
        return None

    def placed(self, events: int) -> StreamPlacement:
        """Where the cut, the stalls and the malformed events land in a stream of ``events``
        events (a position past the end lands on the last one). Every backend streams by it."""
        last = events - 1
        cut = self.cut_after
        stalls: dict[int, float] = {}
        for position, seconds in self.stalls.items():
            stalls[min(position, last)] = stalls.get(min(position, last), 0.0) + seconds
        return StreamPlacement(
            cut_at=min(cut, last) if cut is not None else None,
            stalls=stalls,
            malformed=frozenset(min(position, last) for position in self.malformed),
        )


class StreamPlacement(NamedTuple):
    """A :class:`Plan` laid over one stream's events (see :meth:`Plan.placed`)."""

    cut_at: int | None
    stalls: dict[int, float]
    malformed: frozenset[int]


class FaultBook:
    """Installed faults in insertion order, and the per-request decision of which apply."""

    def __init__(self, default_seed: int | None = None) -> None:
        self.default_seed = default_seed
        self._entries: dict[str, FaultEntry] = {}
        self._ordered: tuple[FaultEntry, ...] = ()
        self._ids = itertools.count(1)

    def add(self, spec: HttpFault) -> FaultEntry:
        entry = FaultEntry(
            id=f"f{next(self._ids)}",
            spec=spec,
            schedule=FaultSchedule(spec, default_seed=self.default_seed),
            stream_only=isinstance(spec, _STREAM_ONLY),
        )
        self._entries[entry.id] = entry
        self._ordered = tuple(self._entries.values())
        return entry

    def get(self, fault_id: str) -> FaultEntry | None:
        return self._entries.get(fault_id)

    def remove(self, fault_id: str) -> FaultEntry | None:
        entry = self._entries.pop(fault_id, None)
        self._ordered = tuple(self._entries.values())
        return entry

    def clear(self) -> int:
        count = len(self._entries)
        self._entries.clear()
        self._ordered = ()
        return count

    def describe(self) -> list[dict[str, Any]]:
        return [entry.describe() for entry in self._ordered]

    def __len__(self) -> int:
        return len(self._ordered)

    def plan(self, path: str, model: str | None, streaming: bool) -> Plan | None:
        """Ask the matching faults' schedules; None when no fault fired (the common case)."""
        entries = self._ordered
        if not entries:
            return None
        plan: Plan | None = None
        for entry in entries:
            spec = entry.spec
            if (
                isinstance(spec, _TERMINAL)
                and entry.matches(path, model, streaming)
                and entry.schedule.should_fire()
            ):
                plan = Plan(terminal=spec, fired=[spec.label()])
                break
        terminal = plan.terminal if plan else None
        stream_answer = streaming and (terminal is None or isinstance(terminal, StreamCutFault))
        for entry in entries:
            spec = entry.spec
            if isinstance(spec, _TERMINAL) or not entry.matches(path, model, streaming):
                continue
            if isinstance(spec, StreamStallFault | MalformedStreamFault) and not stream_answer:
                continue
            if not entry.schedule.should_fire():
                continue
            if plan is None:
                plan = Plan()
            plan.fired.append(spec.label())
            if isinstance(spec, LatencyFault):
                plan.delay += spec.sample(entry.schedule.random())
            elif isinstance(spec, FirstTokenDelayFault):
                if stream_answer:
                    plan.first_event_delay += spec.delay
                else:
                    plan.delay += spec.delay
            elif isinstance(spec, StreamStallFault):
                plan.stalls[spec.after_events] = (
                    plan.stalls.get(spec.after_events, 0.0) + spec.stall
                )
            elif isinstance(spec, MalformedStreamFault):
                plan.malformed.add(spec.after_events)
        return plan
