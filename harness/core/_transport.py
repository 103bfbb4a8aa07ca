"""The connection pool behind every core client: httpx's API over aiohttp's pool, behind a queue.

Providers speak ``httpx.AsyncClient`` (requests, streams, ``httpx-sse``, respx); the client the
core builds for itself sends them through ``httpx-aiohttp``'s transport, so the sockets and the
pool are aiohttp's. httpcore's own pool rescans every queued request against every connection
whenever one finishes, and probes each idle socket while doing so: with a few hundred calls in
flight the event loop spends its time there, calls overrun their deadline by seconds, and past
about 600 at once none gets through (httpx issue #3215). ``bench/bench_concurrency.py`` measures
both side by side.

In front of the pool, :class:`Admission` lets at most ``max_connections`` requests of a client
in at a time and queues the others first come, first served. A queued call costs one future:
it has not built its request yet, and when its deadline cancels it, it leaves the queue at once.
"""

from __future__ import annotations

import asyncio
import math

import httpx
from httpx_aiohttp import HttpxAiohttpClient

from harness.core._errors import PoolTimeout

DEFAULT_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=200)
"""200 connections per event loop; a call beyond that waits for one, within its deadline."""

DEFAULT_HTTP_TIMEOUT = httpx.Timeout(60.0)
"""A safety net only: every request of a provider sets its own limits."""


class Admission:
    """At most ``capacity`` requests in flight on one client; the others wait in FIFO order.

    ``enter`` before sending, ``leave`` once the response is closed (its connection is back in
    the pool). Bound to the event loop of its client.
    """

    __slots__ = ("_slots", "capacity")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"Admission capacity must be >= 1, got {capacity!r}")
        self.capacity = capacity
        self._slots = asyncio.Semaphore(capacity)

    async def enter(self, wait: float, *, provider: str) -> None:
        """Take a slot, waiting at most ``wait`` seconds (``inf``: as long as it takes).

        Raises :class:`PoolTimeout` when none is free in time. The attempt's own time limit
        (the call's deadline) cancels the wait as it cancels everything else in the attempt.
        """
        slots = self._slots
        if not slots.locked() or math.isinf(wait):
            # A free slot returns at once; an unbounded wait ends with the attempt's own time
            # limit. Neither arms a loop timer of its own.
            await slots.acquire()
            return
        try:
            async with asyncio.timeout(wait):
                await slots.acquire()
        except TimeoutError as exc:
            raise PoolTimeout(
                f"no free connection within {wait:g}s (all {self.capacity} busy)",
                provider=provider,
            ) from exc

    def leave(self) -> None:
        """Give the slot back (exactly once per successful :meth:`enter`)."""
        self._slots.release()

    @property
    def waiting(self) -> bool:
        """True when every slot is taken."""
        return self._slots.locked()

    def __repr__(self) -> str:
        return f"Admission(capacity={self.capacity})"


class _PooledClient(HttpxAiohttpClient):
    """The core's client: an ``httpx.AsyncClient`` on aiohttp's pool that carries its queue."""

    admission: Admission | None = None


def admission(client: httpx.AsyncClient) -> Admission | None:
    """The admission queue of a client made by :func:`pooled_client` (None for any other)."""
    return client.admission if isinstance(client, _PooledClient) else None


def pooled_client(limits: httpx.Limits = DEFAULT_LIMITS) -> httpx.AsyncClient:
    """A new ``httpx.AsyncClient`` on aiohttp's pool, with an :class:`Admission` queue in front.

    ``limits.max_connections`` caps connections and requests in flight (``None``: no queue,
    and aiohttp's own default cap of 100 connections); idle connections are kept
    ``limits.keepalive_expiry`` seconds. Close it with ``aclose()`` (aiohttp reports a session
    left open when it is collected). respx intercepts it with ``respx.mock(using="httpx")``:
    respx's default, ``using="httpcore"``, patches httpcore's pool, which this client does not
    use.
    """
    client = _PooledClient(limits=limits, timeout=DEFAULT_HTTP_TIMEOUT)
    if limits.max_connections is not None:
        client.admission = Admission(limits.max_connections)
    return client
