"""How a call retries: attempts, exponential backoff with jitter, ``Retry-After`` and deadline.

Jitter: **full jitter** by default (``uniform(0, step)``). AWS's "Exponential Backoff and
Jitter" analysis simulated contending clients and found that full jitter and decorrelated
jitter both do far less total work than no jitter or equal jitter, with full jitter finishing
slightly sooner and being stateless. A rate-limited LLM vendor is exactly that contended case:
many callers of one service hit the same 429 at the same moment, so spreading their retries over
the whole window matters more than keeping a minimum wait. The un-jittered steps (1, 2, 4, 8 s)
are therefore *upper bounds* of each wait, not lower bounds. ``equal`` (``[step/2, step]``),
``decorrelated`` and ``none`` are available.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Literal, TypeAlias

Jitter: TypeAlias = Literal["full", "equal", "decorrelated", "none"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Retry settings for one upstream call; immutable, share it freely.

    - ``max_attempts``: attempts per provider, first one included (5: four retries).
    - ``initial_delay``, ``multiplier``, ``max_delay``: the un-jittered step before retry *n* is
      ``min(max_delay, initial_delay * multiplier ** (n - 1))``: 1, 2, 4, 8 s by default.
    - ``jitter``: see the module docstring.
    - ``respect_retry_after``: wait what the vendor asked (``retry-after-ms``, ``retry-after``
      seconds or HTTP-date) instead of the backoff step.
    - ``max_retry_after``: a vendor asking for longer than this is not waited for: the call
      moves to the next provider instead.
    - ``fallback_after``: while a backup provider remains, a wait longer than this is not taken
      (a ``Retry-After``, the rate-limit gate another caller closed, a backoff step), and a
      provider gets only the attempts whose un-jittered step fits in it:
      :attr:`attempts_with_backup`, two with the defaults. The last provider in the chain runs
      the full schedule and waits up to ``max_retry_after``.
    - ``fallback_when_faster``: while a backup remains, a wait longer than the backup is
      expected to take to answer is not taken either (its gate's hold plus the moving average
      of its served attempts' latency; until it has served once, ``fallback_after`` alone).
      ``False``: only ``fallback_after`` (for a backup that costs more than the wait).
    - ``deadline``: seconds for the whole call (attempts, sleeps and fallbacks); ``None``: none.
    - ``min_attempt_time``: an attempt is not started (and a sleep not taken) unless at least
      this much time, or as long as the provider's last failed attempt took, would be left for
      it before the deadline (and as much again for the backup, while one remains).
    """

    max_attempts: int = 5
    initial_delay: float = 1.0
    multiplier: float = 2.0
    max_delay: float = 30.0
    jitter: Jitter = "full"
    respect_retry_after: bool = True
    max_retry_after: float = 60.0
    fallback_after: float = 1.0
    fallback_when_faster: bool = True
    deadline: float | None = 120.0
    min_attempt_time: float = 0.05

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts!r}")
        if self.initial_delay < 0 or self.max_delay < 0:
            raise ValueError(
                "RetryPolicy delays must be >= 0, got "
                f"initial_delay={self.initial_delay!r}, max_delay={self.max_delay!r}"
            )
        if self.multiplier < 1:
            raise ValueError(f"RetryPolicy.multiplier must be >= 1, got {self.multiplier!r}")
        if self.jitter not in ("full", "equal", "decorrelated", "none"):
            raise ValueError(
                "RetryPolicy.jitter must be 'full', 'equal', 'decorrelated' or 'none', "
                f"got {self.jitter!r}"
            )
        if self.fallback_after < 0 or self.max_retry_after < 0:
            raise ValueError(
                "RetryPolicy waits must be >= 0, got "
                f"fallback_after={self.fallback_after!r}, max_retry_after={self.max_retry_after!r}"
            )
        if self.deadline is not None and self.deadline <= 0:
            raise ValueError(f"RetryPolicy.deadline must be > 0 or None, got {self.deadline!r}")

    def step(self, retry_number: int) -> float:
        """The un-jittered wait before retry ``retry_number`` (1 = the first retry)."""
        if retry_number < 1:
            raise ValueError(f"retry_number counts from 1, got {retry_number!r}")
        exponent = min(retry_number - 1, 64)  # 2**64 s is already beyond any cap
        return min(self.max_delay, self.initial_delay * self.multiplier**exponent)

    @property
    def attempts_with_backup(self) -> int:
        """Attempts a provider gets while a backup remains behind it: the first, and one more for
        each backoff step up to ``fallback_after`` (1 s fits, 2 s does not: 2 by default)."""
        attempts = 1
        while attempts < self.max_attempts and self.step(attempts) <= self.fallback_after:
            attempts += 1
        return attempts

    def steps(self) -> list[float]:
        """Every un-jittered wait this policy can take: ``[1, 2, 4, 8]`` by default."""
        return [self.step(n) for n in range(1, self.max_attempts)]

    def backoff(
        self, retry_number: int, rng: random.Random, previous: float | None = None
    ) -> float:
        """A jittered wait before retry ``retry_number``.

        Bounds (what the property tests check): ``full`` in ``[0, step]``, ``equal`` in
        ``[step / 2, step]``, ``none`` exactly ``step``, ``decorrelated`` in
        ``[initial_delay, min(max_delay, 3 * previous)]``; never above ``max_delay``.
        ``previous`` is the last wait (only ``decorrelated`` uses it).
        """
        step = self.step(retry_number)
        if self.jitter == "none":
            return step
        if self.jitter == "full":
            return rng.uniform(0.0, step)
        if self.jitter == "equal":
            return step / 2 + rng.uniform(0.0, step / 2)
        low = min(self.initial_delay, self.max_delay)
        high = min(self.max_delay, 3.0 * (previous if previous is not None else low))
        return rng.uniform(low, max(low, high))

    def with_(self, **changes: object) -> RetryPolicy:
        """A copy with some fields changed (``policy.with_(max_attempts=1)``)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def no_retries(cls, *, deadline: float | None = None) -> RetryPolicy:
        """One attempt, no waiting: the behaviour of a client with no resilience at all."""
        return cls(max_attempts=1, respect_retry_after=False, deadline=deadline)
