"""Resilience events: the one seam through which the harness (or your metrics) observes the core.

Every event is a frozen dataclass. ``source`` names the emitting object (an LLM wrapper, a tool,
a memory store), ``call_id`` groups the events of one call and ``at`` is the clock's monotonic
time. Subscribers are plain callables; one that raises is logged and never breaks a call.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeAlias

logger = logging.getLogger("harness.core")

BreakerState: TypeAlias = Literal["closed", "open", "half_open"]
RetryReason: TypeAlias = Literal["backoff", "retry_after"]
Outcome: TypeAlias = Literal["ok", "error"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ResilienceEvent:
    """Fields every event carries."""

    source: str
    call_id: int
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptStarted(ResilienceEvent):
    """An attempt is about to be sent to ``provider``; ``attempt`` counts from 1 over the call."""

    provider: str
    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptFailed(ResilienceEvent):
    """An attempt failed with ``error`` (the error class name) and ``status`` when HTTP."""

    provider: str
    attempt: int
    error: str
    status: int | None
    retryable: bool
    elapsed: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryScheduled(ResilienceEvent):
    """The call will sleep ``delay`` seconds before retrying ``provider``."""

    provider: str
    attempt: int
    delay: float
    reason: RetryReason


@dataclass(frozen=True, slots=True, kw_only=True)
class FallbackUsed(ResilienceEvent):
    """The call moved from ``from_provider`` to ``to_provider``; ``reason`` is an error name."""

    from_provider: str
    to_provider: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerStateChanged(ResilienceEvent):
    """``provider``'s circuit breaker moved from ``old`` to ``new``."""

    provider: str
    old: BreakerState
    new: BreakerState


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetExhausted(ResilienceEvent):
    """A retry was refused because ``provider``'s retry budget is spent."""

    provider: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallFinished(ResilienceEvent):
    """The call ended; ``provider`` served it when ``outcome`` is ``ok``."""

    outcome: Outcome
    provider: str | None
    attempts: int
    elapsed: float
    error: str | None
    fallback: bool


EventHandler: TypeAlias = Callable[[ResilienceEvent], None]


class EventBus:
    """A list of subscribers. ``subscribe`` returns the function that unsubscribes.

    ``handlers`` is the current subscribers (read it, never assign it): empty, the emitter
    skips building events at all."""

    def __init__(self) -> None:
        self.handlers: tuple[EventHandler, ...] = ()
        self._lock = threading.Lock()

    def subscribe(self, handler: EventHandler) -> Callable[[], None]:
        """Call ``handler`` with every event from now on."""
        with self._lock:
            self.handlers = (*self.handlers, handler)

        def unsubscribe() -> None:
            with self._lock:
                self.handlers = tuple(h for h in self.handlers if h is not handler)

        return unsubscribe

    def emit(self, event: ResilienceEvent) -> None:
        """Deliver ``event`` to every subscriber; a failing subscriber is logged, not raised."""
        for handler in self.handlers:
            try:
                handler(event)
            except Exception:
                logger.exception("resilience event subscriber %r failed on %r", handler, event)

    def __len__(self) -> int:
        return len(self.handlers)


GLOBAL_EVENTS = EventBus()
"""Receives the events of every core object in the process (the harness subscribes here)."""

_call_ids = itertools.count(1)


def next_call_id() -> int:
    """A process-unique id for a new call."""
    return next(_call_ids)


def subscribe(handler: EventHandler) -> Callable[[], None]:
    """Subscribe ``handler`` to the events of every core object; returns the unsubscriber."""
    return GLOBAL_EVENTS.subscribe(handler)
