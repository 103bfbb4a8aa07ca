"""Settings of one fake vendor server."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.plugin import InputError
from harness.plugin.wire.text import Reply, echo_reply

DEFAULT_MODELS: tuple[str, ...] = (
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1-mini",
    "claude-haiku-4-5",
    "claude-sonnet-4-6",
)


@dataclass(frozen=True)
class VendorConfig:
    """Everything a :class:`~harness_fake_vendor.FakeVendor` can be told at construction.

    - ``seed``: default seed of every fault schedule that has none (reproducible runs);
    - ``models``: what ``GET /v1/models`` lists (any model name is accepted in requests);
    - ``rate_limit_*``: the window the ``x-ratelimit-*`` / ``anthropic-ratelimit-*`` headers
      report (the requests family always; the tokens family only when ``rate_limit_tokens`` is
      set, since each header costs throughput); with ``enforce_rate_limit`` an exhausted
      window answers 429 (requests only);
    - ``require_api_key``: answer 401 when the request carries no key;
    - ``stream_chunk_delay``: pause between two SSE events (seconds; 0 sends them back to back);
    - ``graceful_timeout``: on stop, how long in-flight answers may finish before being cancelled;
    - ``reply``: turns the last user message into the answer (default ``echo: <text>``).
    """

    host: str = "127.0.0.1"
    port: int = 0
    seed: int | None = None
    models: Sequence[str] = DEFAULT_MODELS
    rate_limit_requests: int = 10_000
    rate_limit_tokens: int | None = None
    rate_limit_window: float = 60.0
    enforce_rate_limit: bool = False
    require_api_key: bool = True
    stream_chunk_delay: float = 0.0
    graceful_timeout: float = 1.0
    reply: Reply = field(default=echo_reply)

    def __post_init__(self) -> None:
        check_loopback(self.host)
        if not 0 <= self.port <= 65535:
            raise InputError(f"fake vendor port must be between 0 and 65535, got {self.port}")
        if self.rate_limit_requests < 1 or (
            self.rate_limit_tokens is not None and self.rate_limit_tokens < 1
        ):
            raise InputError("fake vendor rate limits must be at least 1")
        if self.rate_limit_window <= 0:
            raise InputError("fake vendor rate_limit_window must be positive")
        if self.stream_chunk_delay < 0 or self.graceful_timeout < 0:
            raise InputError("fake vendor delays must not be negative")


def check_loopback(host: str) -> None:
    """Refuse any host that is not a loopback address: the harness never listens outside."""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise InputError(
            f"fake vendor host must be a loopback address such as 127.0.0.1, got {host!r}"
        )
