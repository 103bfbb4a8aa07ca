"""Every error the core raises, in one hierarchy.

::

    ResilienceError
    ├── UpstreamError                 a call to an LLM provider, tool or store failed
    │   ├── TransientError            worth retrying on the same upstream
    │   │   ├── RateLimited           429; carries ``retry_after``
    │   │   ├── Overloaded            Anthropic 529 ``overloaded_error``
    │   │   ├── ServerError           500, 502, 503, 504 (and other 5xx, 408/409-style conflicts)
    │   │   ├── Timeout               no answer in time (connect, read, first token, stall)
    │   │   │   └── PoolTimeout       no free pooled connection in time; the upstream was not asked
    │   │   ├── ConnectError          could not connect, or the connection dropped before an answer
    │   │   └── Locked                a store is busy ("database is locked"); nothing was written
    │   ├── PermanentError            never retried on the same upstream
    │   │   ├── QuotaExhausted        429 ``insufficient_quota``: retrying cannot help; fall back
    │   │   ├── AuthError             401/403
    │   │   ├── NotFound              404 (unknown model or route)
    │   │   ├── ContextWindowExceeded the prompt is too long for this model; a backup may fit it
    │   │   └── BadRequest            400/422: the request itself is wrong; no fallback either
    │   └── StreamInterrupted         a stream failed after its first chunk; carries the text so far
    ├── CircuitOpen                   the upstream's breaker is open; the call skipped it
    ├── RetryBudgetExhausted          the upstream's retry budget is spent; retries stopped
    ├── DeadlineExceeded              the whole call ran out of time
    └── AllProvidersFailed            every provider in the fallback chain failed

``retryable`` can be overridden per instance (the ``x-should-retry`` header does so).
Foreign errors (httpx, sqlite3) are translated at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar


class ResilienceError(Exception):
    """Base class of every error raised by ``harness.core``."""


class UpstreamError(ResilienceError):
    """A call to an upstream (LLM provider, tool, memory store) failed.

    ``provider`` names the upstream, ``status`` is the HTTP status when there was one,
    ``retry_after`` is the wait in seconds the upstream asked for (any ``Retry-After`` form), and
    ``should_retry`` overrides the class's default retryability when the upstream said so.
    """

    retryable_by_default: ClassVar[bool] = False
    fallback: ClassVar[bool] = True
    """Whether the next provider in a fallback chain may be tried after this error."""
    counts_for_breaker: ClassVar[bool] = True
    """Whether this error is evidence that the upstream is unhealthy."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        should_retry: bool | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status
        self.retry_after = retry_after
        self.should_retry = should_retry
        self.request_id = request_id

    @property
    def retryable(self) -> bool:
        """True when retrying on the same upstream may succeed."""
        if self.should_retry is not None:
            return self.should_retry
        return self.retryable_by_default

    def __str__(self) -> str:
        parts = [self.message]
        if self.provider:
            parts.insert(0, f"[{self.provider}]")
        if self.status is not None:
            parts.append(f"(HTTP {self.status})")
        return " ".join(parts)


class TransientError(UpstreamError):
    """An error that may go away if the same call is tried again."""

    retryable_by_default = True


class RateLimited(TransientError):
    """HTTP 429: too many requests. ``retry_after`` is seconds to wait, when the vendor said."""

    counts_for_breaker = (
        False  # the vendor is healthy, it is pacing us: the rate-limit gate handles it
    )


class Overloaded(TransientError):
    """Anthropic's 529 ``overloaded_error``: the vendor as a whole is saturated."""


class ServerError(TransientError):
    """HTTP 5xx from the upstream (500, 502, 503, 504, ...)."""


class Timeout(TransientError):
    """The upstream did not answer in time (connect, read, first token or stalled stream)."""


class PoolTimeout(Timeout):
    """Every connection of the client's pool stayed busy for ``Timeouts.pool`` seconds.

    The request was never sent, so this says nothing about the upstream's health.
    """

    counts_for_breaker = False


class ConnectError(TransientError):
    """Could not connect, or the connection was reset or closed before a complete answer."""


class Locked(TransientError):
    """A store is busy (SQLite's "database is locked"); the operation did not take effect."""


class PermanentError(UpstreamError):
    """An error that the same upstream will return again: never retried there."""


class QuotaExhausted(PermanentError):
    """HTTP 429 whose body says ``insufficient_quota``: the account is out of credit."""


class AuthError(PermanentError):
    """HTTP 401/403: the key is missing, wrong or not allowed."""


class NotFound(PermanentError):
    """HTTP 404: unknown model or route."""

    counts_for_breaker = False


class ContextWindowExceeded(PermanentError):
    """The prompt does not fit this model's context window (a backup model may be larger)."""

    counts_for_breaker = False


class BadRequest(PermanentError):
    """HTTP 400/422: the request is invalid; sending it to a backup would fail the same way."""

    fallback = False
    counts_for_breaker = False


class StreamInterrupted(UpstreamError):
    """A stream failed after its first chunk. ``partial_text`` is everything received so far.

    Never retried: re-sending would repeat tokens the caller already has.
    """

    counts_for_breaker = False
    fallback = False

    def __init__(self, message: str, *, partial_text: str, provider: str | None = None) -> None:
        super().__init__(message, provider=provider)
        self.partial_text = partial_text


class CircuitOpen(ResilienceError):
    """The provider's circuit breaker is open, so the call did not (or no longer) try it."""

    def __init__(self, provider: str, *, last_error: BaseException | None = None) -> None:
        super().__init__(f"circuit open for {provider}")
        self.provider = provider
        self.last_error = last_error


class RetryBudgetExhausted(ResilienceError):
    """The provider's retry budget is spent: retrying would multiply load on a failing upstream."""

    def __init__(self, provider: str, *, last_error: BaseException | None = None) -> None:
        detail = f" after {type(last_error).__name__}" if last_error else ""
        super().__init__(f"retry budget exhausted for {provider}{detail}")
        self.provider = provider
        self.last_error = last_error


class DeadlineExceeded(ResilienceError):
    """The call's deadline passed (attempts, sleeps and fallbacks all count against it)."""

    def __init__(
        self, deadline: float, *, errors: Mapping[str, BaseException] | None = None
    ) -> None:
        super().__init__(f"deadline of {deadline:g}s exceeded")
        self.deadline = deadline
        self.errors = dict(errors or {})


class AllProvidersFailed(ResilienceError):
    """Every provider of the fallback chain failed; ``errors`` maps each to its last error."""

    def __init__(self, errors: Mapping[str, BaseException]) -> None:
        self.errors = dict(errors)
        summary = "; ".join(f"{name}: {err}" for name, err in self.errors.items())
        super().__init__(f"all providers failed: {summary}")

    @property
    def last(self) -> BaseException | None:
        """The error of the last provider tried."""
        return next(reversed(self.errors.values()), None)


def is_retryable(error: BaseException) -> bool:
    """True when ``error`` is an upstream error worth retrying on the same upstream."""
    return isinstance(error, UpstreamError) and error.retryable


def error_status(error: BaseException) -> int | None:
    """The HTTP status carried by ``error``, if any."""
    return error.status if isinstance(error, UpstreamError) else None
