"""The fake vendor's state: installed faults, counters and the rate-limit window.

All of it is touched only from the server's event loop thread (the control API is served by
the same loop), so nothing here needs a lock beyond the one inside ``FaultSchedule``.

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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from harness._faults import (
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

SUPPORTED_KINDS: tuple[type[HttpFault], ...] = (
    HttpStatusFault,
    LatencyFault,
    FirstTokenDelayFault,
    StreamCutFault,
    StreamStallFault,
    MalformedStreamFault,
    ConnectionResetFault,
    EmptyResponseFault,
)
"""The HTTP fault kinds the fake vendor knows how to inject."""


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


class Counters:
    """What the vendor answered: requests by route, answers by status, faults fired by label."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests_total = 0
        self.by_route: dict[str, int] = {}
        self.by_status: dict[int | str, int] = {}
        self.faults_fired: dict[str, int] = {}
        self.since = time.time()

    def request(self, route: str) -> None:
        self.requests_total += 1
        self.by_route[route] = self.by_route.get(route, 0) + 1

    def answered(self, outcome: int | str) -> None:
        self.by_status[outcome] = self.by_status.get(outcome, 0) + 1

    def fired(self, labels: list[str]) -> None:
        for label in labels:
            self.faults_fired[label] = self.faults_fired.get(label, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests_total": self.requests_total,
            "requests_by_route": dict(self.by_route),
            "responses_by_status": {str(key): n for key, n in self.by_status.items()},
            "faults_fired": dict(self.faults_fired),
            "since": self.since,
        }


class Window(NamedTuple):
    """The rate-limit state one answer reports (a tuple: cheap to build on every request)."""

    limit_requests: int
    remaining_requests: int
    limit_tokens: int | None
    remaining_tokens: int
    reset_in: float
    exceeded: bool


class RateLimiter:
    """A fixed window of ``requests`` requests (and ``tokens`` tokens) per ``window`` seconds.

    Every vendor request takes one request from the window; answered completions spend their
    tokens (reported only when ``tokens`` is set). ``remaining`` never goes below 0; when
    ``enforce`` is on, a request that finds the window empty is ``exceeded`` (the app answers
    429 with ``retry-after`` = the time to reset).
    """

    def __init__(
        self,
        requests: int,
        tokens: int | None,
        window: float,
        *,
        enforce: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.requests = requests
        self.tokens = tokens
        self.window = window
        self.enforce = enforce
        self._clock = clock
        self.reset()

    def reset(self) -> None:
        self._start = self._clock()
        self._used_requests = 0
        self._used_tokens = 0

    def _roll(self) -> float:
        now = self._clock()
        if now - self._start >= self.window:
            self._start = now
            self._used_requests = 0
            self._used_tokens = 0
        return self._start + self.window - now

    def take(self) -> Window:
        reset_in = self._roll()
        exceeded = self.enforce and self._used_requests >= self.requests
        if not exceeded:
            self._used_requests += 1
        return Window(
            self.requests,
            self.requests - self._used_requests,
            self.tokens,
            (self.tokens or 0) - self._used_tokens,
            reset_in,
            exceeded,
        )

    def spend(self, tokens: int) -> None:
        self._used_tokens += tokens
