"""The open-loop timetable: when each request is *meant* to start, and which starts were missed.

Under an open-loop load (``load: {rate: 40/s}``) requests start on a timetable fixed before the
run, whatever the service does: a stalled service keeps receiving requests, each one's latency
counts from its intended start, so the stall shows in the percentiles (no coordinated
omission, as in wrk2 and k6's arrival-rate executors).

**Uniform spacing, not Poisson arrivals.** Starts are ``1 / rate`` apart within each phase.
Seeded Poisson arrivals would model independent clients better, but their bursts queue
requests by themselves, so the tail of every run would carry arrival noise that has nothing to
do with resilience, and two runs of one scenario would differ by more than their fault. A
uniform timetable offers exactly the declared load, and it splits exactly across processes:
process ``index`` of ``share`` takes every ``share``-th start.

A start is **missed** when it cannot happen within :data:`START_TOLERANCE` of its time: the
generator woke too late (behind), or ``max_in_flight`` requests were running (capped). Missed
starts are counted, never sent late in a bunch (a burst the scenario never declared) nor dropped
silently. A start within the tolerance is sent at once, its latency still counted from its
intended time. Both drivers use :class:`Pacer`: the in-process one from asyncio, the Locust one
from a greenlet; it never reads a clock itself, so it is tested on a fake one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

START_TOLERANCE = 0.500
"""Seconds a start may be late and still be sent; later, it is a missed start. A late start's
latency still counts from its intended time, so its lateness is in the percentiles either way;
the tolerance only decides when the generator is *behind*. Half a second: a busy shared machine
deschedules a process for a few hundred milliseconds now and then (a start sent that late is
measured honestly), while a generator that cannot keep up falls further behind than that."""


@dataclass(frozen=True, slots=True)
class Segment:
    """``rate`` starts per second from ``start`` (included) to ``end`` (excluded), seconds."""

    start: float
    end: float
    rate: float


def timetable(
    segments: Sequence[Segment], *, share: int = 1, index: int = 0, begin: float | None = None
) -> Iterator[float]:
    """Intended start times, ascending: ``rate`` per second, uniformly spaced in each segment
    (the grid restarts at each segment's start, so a phase's rate begins with the phase).

    ``share``/``index``: this process's part of the timetable when ``share`` processes split it
    (every ``share``-th start from the ``index``-th); the parts of all indexes are the whole
    timetable. ``begin``: starts before it are not this generator's (it was not up yet)."""
    if not 0 <= index < share:
        raise ValueError(f"index {index} is not in 0..{share - 1}")
    for segment in segments:
        spacing = 1.0 / segment.rate
        k = index
        if begin is not None and begin > segment.start:
            # jump close to the first of our starts at or after `begin`, then step exactly
            first = math.floor((begin - segment.start) / spacing) - 1
            k += max(0, (first - index) // share) * share
        while (at := segment.start + k * spacing) < segment.end:
            if begin is None or at >= begin:
                yield at
            k += share


@dataclass(slots=True)
class Due:
    """The starts that came due at one wake-up: those to send now, and the missed ones."""

    send: list[float] = field(default_factory=list)
    behind: int = 0
    """Missed: more than the tolerance late (the generator could not keep up)."""
    capped: int = 0
    """Missed: on time, but ``max_in_flight`` requests were running."""

    @property
    def scheduled(self) -> int:
        return len(self.send) + self.behind + self.capped

    @property
    def missed(self) -> int:
        return self.behind + self.capped


class Pacer:
    """Walks a :func:`timetable`: at each wake-up, :meth:`due` says what to send and what was
    missed. Every intended start is accounted for exactly once."""

    def __init__(self, starts: Iterator[float], *, tolerance: float = START_TOLERANCE) -> None:
        self._starts = starts
        self.tolerance = tolerance
        self._next: float | None = next(starts, None)

    def next_start(self) -> float | None:
        """The next intended start (None: the timetable is over)."""
        return self._next

    def due(self, now: float, free: int) -> Due:
        """The starts due at ``now`` with ``free`` in-flight slots left (sent in order)."""
        result = Due()
        while self._next is not None and self._next <= now:
            if now - self._next > self.tolerance:
                result.behind += 1
            elif len(result.send) < free:
                result.send.append(self._next)
            else:
                result.capped += 1
            self._next = next(self._starts, None)
        return result

    def abandon(self, now: float) -> int:
        """The generator stops at ``now`` (cancelled, killed): the starts due by then that it
        never got to are missed; the number of them (later ones were never due)."""
        missed = 0
        while self._next is not None and self._next <= now:
            missed += 1
            self._next = next(self._starts, None)
        return missed
