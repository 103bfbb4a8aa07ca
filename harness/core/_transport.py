"""The connection pool behind every core client: aiohttp's pool, behind a queue.

A completion from the core's own providers goes straight to an ``aiohttp.ClientSession``: the core
owns both vendors' wire formats, so it writes the JSON body itself and reads the status, headers and
body bytes back, with no ``httpx.Request``/``httpx.Response`` in between. That layer costs about as
much CPU per call as aiohttp itself (``bench/bench_concurrency.py``: 2000 calls at once got 0.59 of
raw aiohttp's throughput through it, 0.99 to 1.11 without). Streams, :class:`~harness.core.HTTPTool`
and custom providers keep httpx's API (``httpx-sse``), over the same aiohttp session and queue
through ``httpx-aiohttp``'s transport. httpcore's own pool is not used: it rescans every queued
request against every connection whenever one finishes, and past about 600 calls at once none gets
through (httpx issue #3215).

httpx stays where the caller asks for it: a client passed in (``BaseLLMWrapper(client=...)``) is
used as it is, so respx, ``httpx.MockTransport`` or any transport sees every request; and
:func:`mount` sends the core's requests under a base URL through an httpx transport of your
choice, process-wide (the harness's in-process respx vendors are mounted this way).

In front of the pool, :class:`Admission` lets at most ``max_connections`` requests of a client
in at a time and queues the others first come, first served. A queued call costs one future:
it has not built its request yet, and when its deadline cancels it, it leaves the queue at once.
"""

from __future__ import annotations

import asyncio
import math
import ssl
import threading
import urllib.request
from collections import deque
from collections.abc import Callable, Coroutine, Mapping

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport, HttpxAiohttpClient

from harness.core._errors import PoolTimeout, Timeout
from harness.core._watchdog import start_attempt_timer

Answer = tuple[int, Mapping[str, str], bytes]
"""Status, headers and body of an exchange."""

DEFAULT_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=200)
"""200 connections per event loop; a call beyond that waits for one, within its deadline."""

DEFAULT_HTTP_TIMEOUT = httpx.Timeout(60.0)
"""A safety net only: every request of a provider sets its own limits."""


class Admission:
    """At most ``capacity`` requests in flight on one client; the others wait in FIFO order.

    ``enter`` (or :meth:`try_enter`) before sending, ``leave`` once the response is closed (its
    connection is back in the pool). Bound to the event loop of its client.

    A slot given back goes straight to the first waiter still waiting. A waiter whose deadline
    cancels it costs nothing more: its future stays in the queue, done, and is skipped there
    (when two thousand deadlines expire together, no waiter scans the queue).
    """

    __slots__ = ("_free", "_waiters", "capacity")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"Admission capacity must be >= 1, got {capacity!r}")
        self.capacity = capacity
        self._free = capacity  # > 0 only while nobody waits
        self._waiters: deque[asyncio.Future[None]] = deque()

    def try_enter(self) -> bool:
        """Take a free slot at once, if there is one (the hot path: no coroutine)."""
        if self._free:
            self._free -= 1
            return True
        return False

    async def enter(self, wait: float, *, provider: str) -> None:
        """Take a slot, waiting at most ``wait`` seconds (``inf``: as long as it takes).

        Raises :class:`PoolTimeout` when none is free in time. The attempt's own time limit
        (the call's deadline) cancels the wait as it cancels everything else in the attempt.
        An unbounded wait arms no loop timer of its own.
        """
        if self._free:
            self._free -= 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        try:
            if math.isinf(wait):
                await turn
            else:
                async with asyncio.timeout(wait):
                    await turn
        except BaseException as exc:
            if turn.done() and not turn.cancelled():
                self.leave()  # the slot came as the wait ended: pass it on
            else:
                turn.cancel()
            if isinstance(exc, TimeoutError):
                raise PoolTimeout(
                    f"no free connection within {wait:g}s (all {self.capacity} busy)",
                    provider=provider,
                ) from exc
            raise

    def leave(self) -> None:
        """Give the slot back (exactly once per successful :meth:`enter`)."""
        waiters = self._waiters
        while waiters:
            turn = waiters.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self._free += 1

    @property
    def waiting(self) -> bool:
        """True when every slot is taken."""
        return not self._free

    def __repr__(self) -> str:
        return f"Admission(capacity={self.capacity})"


def cancelled_in_queue(exc: BaseException) -> bool:
    """True when ``exc`` (a cancellation) reached its attempt while it waited in an admission
    queue: the request was never sent, so its time running out says nothing of the upstream."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code is _ENTER_CODE


_ENTER_CODE = Admission.enter.__code__


class ConnectionPool:
    """aiohttp's session of one client, created on first use (on the client's event loop).

    ``direct`` is False when the environment names an HTTP proxy: then every request goes
    through httpx's API, which routes it to the proxy as httpx always did.
    """

    __slots__ = ("_background", "_session", "admission", "direct", "limits", "ssl_context")

    def __init__(self, limits: httpx.Limits, ssl_context: ssl.SSLContext) -> None:
        self.limits = limits
        self.ssl_context = ssl_context
        self._session: aiohttp.ClientSession | None = None
        self._background: set[asyncio.Task[Answer]] = set()
        self.admission = (
            Admission(limits.max_connections) if limits.max_connections is not None else None
        )
        proxies = urllib.request.getproxies()
        self.direct = not any(proxies.get(scheme) for scheme in ("http", "https", "all"))

    def session(self) -> aiohttp.ClientSession:
        """The session (one TCP connector, ``limits.max_connections`` connections)."""
        session = self._session
        if session is None:
            cap = self.limits.max_connections
            connector = aiohttp.TCPConnector(
                limit=cap if cap is not None else 100,
                keepalive_timeout=self.limits.keepalive_expiry,
                ssl=self.ssl_context,
            )
            # An API client keeps no cookies (parsing each answer's Set-Cookie costs a little).
            session = self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar()
            )
        return session

    async def exchange(
        self,
        url: str,
        payload: bytes,
        headers: Mapping[str, str],
        limits: aiohttp.ClientTimeout,
        *,
        read: float,
        provider: str,
    ) -> Answer:
        """POST ``payload`` and read the whole answer, on an admission slot already taken (given
        back when the exchange ends, however it ends).

        ``read`` bounds the exchange with a watchdog timer (a set entry; ``inf``: no bound), not
        with aiohttp's read timeout, which re-arms a loop timer on every chunk received. When it
        ends the exchange, :class:`Timeout` is raised; aiohttp's own errors pass through.
        """
        timer = start_attempt_timer(read) if read != math.inf else None
        try:
            response = await self.session().post(url, data=payload, headers=headers, timeout=limits)
            try:
                content = await response.read()
            except BaseException:
                response.close()
                raise
        except asyncio.CancelledError as exc:
            if timer is not None and timer.expired_here():
                raise Timeout(f"no answer within {read:g}s", provider=provider) from exc
            raise
        finally:
            if timer is not None:
                timer.cancel()
            if self.admission is not None:
                self.admission.leave()
        return response.status, response.headers, content

    async def detached(self, exchange: Coroutine[object, object, Answer]) -> Answer:
        """Run ``exchange`` in a task of its own, for a request that had to queue for its
        connection.

        When a burst of calls outruns the pool, their deadlines tend to pass while their requests
        are in flight; cancelling an aiohttp request closes its connection, and the next call in
        line opens a new one (a reconnect storm, at the worst moment). Here the caller waits on the
        exchange through a shield: its deadline (or any cancellation) returns it at once, and the
        exchange finishes in the background (within its ``read`` seconds), so its connection goes
        back to the pool. A call that found a free connection straight away awaits its exchange
        inline, at no extra cost.
        """
        task = asyncio.get_running_loop().create_task(exchange)
        self._background.add(task)
        task.add_done_callback(self._settled)
        return await asyncio.shield(task)

    def _settled(self, task: asyncio.Task[Answer]) -> None:
        self._background.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: its caller may have gone (no "never retrieved" log)

    async def aclose(self) -> None:
        """Cancel the exchanges still finishing in the background, then close the session."""
        background = list(self._background)
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class _PoolTransport(AiohttpTransport):
    """``httpx-aiohttp``'s transport on the pool's session; closing it closes the session."""

    def __init__(self, pool: ConnectionPool) -> None:
        super().__init__(verify=pool.ssl_context, limits=pool.limits, client=pool.session)
        self.pool = pool

    async def aclose(self) -> None:
        await self.pool.aclose()


class _PooledClient(HttpxAiohttpClient):
    """The core's client: an ``httpx.AsyncClient`` on aiohttp's pool that carries its queue."""

    pool: ConnectionPool | None = None

    @property
    def admission(self) -> Admission | None:
        return self.pool.admission if self.pool is not None else None


def admission(client: httpx.AsyncClient) -> Admission | None:
    """The admission queue of a client made by :func:`pooled_client` (None for any other)."""
    return client.admission if isinstance(client, _PooledClient) else None


def pooled_client(limits: httpx.Limits = DEFAULT_LIMITS) -> httpx.AsyncClient:
    """A new ``httpx.AsyncClient`` on aiohttp's pool, with an :class:`Admission` queue in front.

    ``limits.max_connections`` caps connections and requests in flight (``None``: no queue,
    and aiohttp's own default cap of 100 connections); idle connections are kept
    ``limits.keepalive_expiry`` seconds. Close it with ``aclose()`` (aiohttp reports a session
    left open when it is collected). The core's providers send completions through its aiohttp
    session directly (:func:`direct_pool`); everything sent through its httpx API uses the same
    session.
    """
    pool = ConnectionPool(limits, httpx.create_ssl_context())
    if pool.direct:
        client = _PooledClient(transport=_PoolTransport(pool), timeout=DEFAULT_HTTP_TIMEOUT)
    else:  # an HTTP proxy from the environment: httpx routes to it, as it always did
        client = _PooledClient(limits=limits, timeout=DEFAULT_HTTP_TIMEOUT)
    client.pool = pool
    return client


def direct_pool(client: httpx.AsyncClient) -> ConnectionPool | None:
    """The aiohttp pool to send on directly: that of a client made by :func:`pooled_client`,
    unless an HTTP proxy is configured (None for any other client: use its httpx API)."""
    if isinstance(client, _PooledClient):
        pool = client.pool
        if pool is not None and pool.direct:
            return pool
    return None


# -- mounts: httpx transports for the core's requests under a base URL, process-wide -------------


class _Mounts:
    """The mount table: normalised base URL -> client, longest base first. Replaced whole on
    every change (under the lock), so a reader needs no lock."""

    __slots__ = ("lock", "table")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.table: dict[str, httpx.AsyncClient] = {}


_MOUNTS = _Mounts()


def _normal(url: str) -> str:
    """``url`` as httpx renders it (lower-case host, no default port), without a trailing /."""
    return str(httpx.URL(url)).rstrip("/")


def mount(base_url: str, transport: httpx.AsyncBaseTransport) -> Callable[[], None]:
    """Send every request the core makes under ``base_url`` through ``transport``; returns the
    function that undoes it.

    Process-wide, for every wrapper and tool, whatever client it was given (like respx, but
    explicit): ``mount("https://api.openai.com/v1", httpx.MockTransport(handler))`` answers the
    core's OpenAI calls in-process, and a respx router plugs in with
    ``httpx.MockTransport(router.async_handler)``. A base matches whole path segments
    (``/v1`` is not ``/v10``); the longest matching base wins. The transport stays the caller's
    to close.
    """
    base = _normal(base_url)
    client = httpx.AsyncClient(transport=transport, trust_env=False, timeout=DEFAULT_HTTP_TIMEOUT)
    with _MOUNTS.lock:
        if base in _MOUNTS.table:
            raise ValueError(f"{base_url} is already mounted")
        table = {**_MOUNTS.table, base: client}
        _MOUNTS.table = dict(sorted(table.items(), key=lambda item: -len(item[0])))

    def unmount() -> None:
        with _MOUNTS.lock:
            if _MOUNTS.table.get(base) is client:
                _MOUNTS.table = {k: v for k, v in _MOUNTS.table.items() if k != base}

    return unmount


def mounted(url: str) -> httpx.AsyncClient | None:
    """The client of the mount ``url`` falls under, if any (one dict check when none is)."""
    mounts = _MOUNTS.table
    if not mounts:
        return None
    url = _normal(url)
    for base, client in mounts.items():
        if url.startswith(base) and url[len(base) : len(base) + 1] in ("", "/", "?", "#"):
            return client
    return None
