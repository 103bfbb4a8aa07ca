"""Retry budget: a token bucket per provider that caps how much retries can add to the load.

Retrying on a vendor that is down multiplies the load on it (and on us) by up to
``max_attempts``. Following gRPC's retry throttling and Finagle's ``RetryBudget``, every call
deposits ``ratio`` tokens, the bucket also refills at ``min_per_second``, and every retry must
withdraw a whole token. While the bucket is empty, calls stop retrying and go to the fallback at
once (no wait is taken first). So over any run:
``retries <= capacity + ratio * calls + min_per_second * elapsed``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from harness.core._clock import Clock


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetConfig:
    """``ratio``: retries allowed per call on average (0.2 = at most 20 % extra load);
    ``min_per_second``: retries always allowed per second, for low traffic;
    ``capacity``: the most tokens the bucket holds (and starts with): the allowed burst."""

    ratio: float = 0.2
    min_per_second: float = 1.0
    capacity: float = 10.0

    def __post_init__(self) -> None:
        for field in ("ratio", "min_per_second", "capacity"):
            if getattr(self, field) < 0:
                raise ValueError(f"BudgetConfig.{field} must be >= 0, got {getattr(self, field)!r}")


class RetryBudget:
    """The shared bucket of one provider. Thread-safe; all concurrent calls draw from it."""

    def __init__(self, config: BudgetConfig, clock: Clock) -> None:
        self.config = config
        self._clock = clock
        self._tokens = config.capacity
        self._last = clock.now()
        self._lock = threading.Lock()
        self.calls = 0
        self.retries = 0
        self.refused = 0

    def record_call(self) -> None:
        """A new call started on this provider: deposit ``ratio`` tokens."""
        config = self.config
        with self._lock:
            self.calls += 1
            if self._tokens >= config.capacity:
                # Full (the healthy case): nothing to add. ``_last`` may go stale meanwhile:
                # harmless, as every withdrawal refills first and a full bucket stays capped.
                return
            self._refill()
            self._tokens = min(config.capacity, self._tokens + config.ratio)

    def try_spend(self) -> bool:
        """Withdraw a token for one retry; False (nothing withdrawn) when the bucket is empty."""
        with self._lock:
            self._refill()
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                self.retries += 1
                return True
            self.refused += 1
            return False

    @property
    def tokens(self) -> float:
        with self._lock:
            self._refill()
            return self._tokens

    def _refill(self) -> None:
        now = self._clock.now()
        elapsed = max(0.0, now - self._last)
        self._last = now
        if elapsed and self.config.min_per_second:
            self._tokens = min(
                self.config.capacity, self._tokens + elapsed * self.config.min_per_second
            )

    def __repr__(self) -> str:
        return (
            f"RetryBudget(tokens={self.tokens:.2f}, retries={self.retries}, refused={self.refused})"
        )
