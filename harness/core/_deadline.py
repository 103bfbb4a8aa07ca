"""One deadline for a whole call: attempts, sleeps and fallbacks all spend from it."""

from __future__ import annotations

import math

from harness.core._clock import Clock


class Deadline:
    """Time left for a call, measured on ``clock``; ``seconds=None`` means no deadline."""

    __slots__ = ("clock", "expires", "seconds", "started")

    def __init__(self, clock: Clock, seconds: float | None) -> None:
        self.clock = clock
        self.seconds = seconds
        self.started = clock.now()
        self.expires = math.inf if seconds is None else self.started + seconds
        """The clock's time at which the deadline passes."""

    def remaining(self) -> float:
        """Seconds left (``inf`` without a deadline, never negative)."""
        return max(0.0, self.expires - self.clock.now())

    def elapsed(self) -> float:
        """Seconds since the call started."""
        return self.clock.now() - self.started

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def __repr__(self) -> str:
        return f"Deadline(seconds={self.seconds!r}, remaining={self.remaining():.3f})"
