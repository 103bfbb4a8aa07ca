"""The fake vendor's state: installed faults, counters and the rate-limit window.

Faults and counters are touched only from the server's event loop thread (the control API is
served by the same loop). The rate limiter has a lock: the answer to a large request is built
in a worker thread, and it spends its tokens from there. Which
faults apply to a request, and how they combine, is decided by the planner every HTTP backend
shares: :class:`harness.plugin.httpfaults.FaultBook`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, NamedTuple

from harness.plugin import (
    SUPPORTED_KINDS,
    FaultBook,
    FaultEntry,
    Plan,
    TerminalFault,
)

__all__ = [
    "SUPPORTED_KINDS",
    "Counters",
    "FaultBook",
    "FaultEntry",
    "Plan",
    "RateLimiter",
    "TerminalFault",
    "Window",
]


class Counters:
    """What the vendor answered: requests by route, answers by status, faults fired by label.

    A request whose client disconnected before it was answered (while its body was being read,
    during a fault's delay, or while its answer was being built) is counted in
    ``requests_aborted``, never under a status: ``requests_total`` is the sum of
    ``responses_by_status`` and ``requests_aborted`` (plus the requests being answered).
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests_total = 0
        self.requests_aborted = 0
        self.by_route: dict[str, int] = {}
        self.by_status: dict[int | str, int] = {}
        self.faults_fired: dict[str, int] = {}
        self.since = time.time()

    def request(self, route: str) -> None:
        self.requests_total += 1
        self.by_route[route] = self.by_route.get(route, 0) + 1

    def answered(self, outcome: int | str) -> None:
        self.by_status[outcome] = self.by_status.get(outcome, 0) + 1

    def aborted(self) -> None:
        self.requests_aborted += 1

    def fired(self, labels: list[str]) -> None:
        for label in labels:
            self.faults_fired[label] = self.faults_fired.get(label, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests_total": self.requests_total,
            "requests_aborted": self.requests_aborted,
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


@dataclass(eq=False)
class RateLimiter:
    """A fixed window of ``requests`` requests (and ``tokens`` tokens) per ``window`` seconds.

    Every vendor request takes one request from the window; answered completions spend their
    tokens (reported only when ``tokens`` is set). ``remaining`` never goes below 0; when
    ``enforce`` is on, a request that finds the window empty is ``exceeded`` (the app answers
    429 with ``retry-after`` = the time to reset).
    """

    requests: int
    tokens: int | None
    window: float
    _: KW_ONLY
    enforce: bool = False
    clock: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._restart(self.clock())

    def _restart(self, now: float) -> None:
        self._start = now
        self._used_requests = 0
        self._used_tokens = 0

    def _roll(self) -> float:
        now = self.clock()
        if now - self._start >= self.window:
            self._restart(now)
        return self._start + self.window - now

    def take(self) -> Window:
        with self._lock:
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
        with self._lock:
            self._used_tokens += tokens
