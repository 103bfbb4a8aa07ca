"""The rate-limit gate: a 429 with ``Retry-After`` closes a provider for every concurrent caller.

Without it, each concurrent caller discovers the rate limit by hitting it (a thundering herd
of 429s). With it, the first 429 sets "not before T" and every other caller waits for T before
sending, released with a little jitter so they do not all fire at the same instant. A caller with
a backup waits only as long as its patience allows (see ``harness.core._executor``); past that it
goes to the backup without sending anything, so the hold costs it no attempt.
"""

from __future__ import annotations

import random
import threading

from harness.core._clock import Clock

_NEVER_CLOSED = float("-inf")


class RateLimitGate:
    """'Not before T' for one provider, shared by all calls to it."""

    def __init__(self, clock: Clock, rng: random.Random, *, spread: float = 0.1) -> None:
        self._clock = clock
        self._rng = rng
        self._spread = spread
        self.not_before = _NEVER_CLOSED
        """The clock's time before which nobody sends (read it; ``close_for`` sets it)."""
        self._lock = threading.Lock()

    def close_for(self, seconds: float) -> None:
        """Hold every caller back for ``seconds`` from now (never shortens an existing hold)."""
        with self._lock:
            self.not_before = max(self.not_before, self._clock.now() + max(0.0, seconds))

    def wait_time(self) -> float:
        """Seconds until the gate opens (0 when open), without jitter."""
        if self.not_before == _NEVER_CLOSED:  # the common case: no clock read
            return 0.0
        return max(0.0, self.not_before - self._clock.now())

    def release_delay(self) -> float:
        """How long this caller should wait: the hold plus up to ``spread`` of it as jitter."""
        wait = self.wait_time()
        if wait <= 0.0:
            return 0.0
        return wait + self._rng.uniform(0.0, self._spread * wait)
