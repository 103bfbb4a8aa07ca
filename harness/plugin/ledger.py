"""The vendor-side ledger every fake vendor and proxy keeps: what reached it, per phase.

Shared by the HTTP backends (the fake vendor server, the in-process respx vendor) and the
embedded Toxiproxy, as :class:`~harness.plugin.FaultBook` is: one :class:`VendorLedger` per
endpoint counts, into the :class:`~harness.measure.vendor.VendorStats` of the phase a call
arrived in, the calls, their outcomes, the faults that fired, new connections, aborted
requests, bytes (proxies), ``Retry-After`` answers and **Retry-After violations**: a call whose
body (hashed with its API key) equals one answered with ``Retry-After: R`` at time t, arriving
before t + R. Calls between phases (before the first mark, after the end) are not counted.

The engine marks each phase (:meth:`VendorLedger.mark`, through the backend's ``mark_phase``)
and reads the ledger at the end (:meth:`VendorLedger.snapshot`, through ``ledger``). A mark
after the end (``phase=None``), or for another run, starts a new ledger.

The hot path stays light: a call's body is hashed only while some ``Retry-After`` is pending
or when its own answer carries one.
"""

from __future__ import annotations

import email.utils
import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from harness.measure.vendor import VendorStats

__all__ = ["LedgerCall", "VendorLedger", "retry_after_seconds"]

MAX_PENDING = 100_000
"""Retry-After windows remembered at most (expired ones are dropped first, then the oldest)."""


def retry_after_seconds(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """How long an answer's headers ask the client to wait: ``retry-after-ms``, else
    ``retry-after`` in seconds or as an HTTP date (None: no such header, or unreadable).
    ``headers`` has lower-case names."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class LedgerCall:
    """One call as the ledger saw it arrive (what :meth:`VendorLedger.answered` needs)."""

    __slots__ = ("_fingerprint", "body", "key", "started", "stats")

    def __init__(self, stats: VendorStats | None, started: float, body: bytes, key: bytes) -> None:
        self.stats = stats
        self.started = started
        self.body = body
        self.key = key
        self._fingerprint: bytes | None = None

    def fingerprint(self) -> bytes:
        """The hash of the body with its API key: equal for retries of one logical request."""
        if self._fingerprint is None:
            digest = hashlib.blake2b(self.key, digest_size=16)
            digest.update(b"\0")
            digest.update(self.body)
            self._fingerprint = digest.digest()
        return self._fingerprint


_OUTSIDE = LedgerCall(None, 0.0, b"", b"")


class VendorLedger:
    """Per-phase stats of one endpoint (thread-safe). ``clock`` (monotonic seconds) times the
    calls, ``wall`` (epoch seconds) reads ``Retry-After`` HTTP dates: the core's virtual clock
    for an in-process vendor."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time
    ) -> None:
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self.run: str | None = None
        self.phase: str | None = None
        self._phases: dict[str, VendorStats] = {}
        self._starts: dict[str, float] = {}
        self._origin = 0.0
        self._live: VendorStats | None = None
        self._pending: dict[bytes, float] = {}

    # -- the engine's side ----------------------------------------------------------------------

    def mark(self, phase: str | None, run: str | None = None) -> None:
        """``phase`` starts now (None: the run ended). A mark after the end, or for another
        ``run``, starts a new ledger."""
        now = self._clock()
        with self._lock:
            if phase is None:
                self.phase = None
                self._live = None
                return
            if self.phase is None or run != self.run:
                self._phases = {}
                self._starts = {}
                self._pending = {}
                self._origin = now
                self.run = run
            self.phase = phase
            self._live = self._phases.setdefault(phase, VendorStats())
            self._starts[phase] = now

    def snapshot(self) -> dict[str, Any]:
        """``{"run", "phase", "phases": {name: VendorStats JSON}}`` (JSON-able)."""
        with self._lock:
            return {
                "run": self.run,
                "phase": self.phase,
                "phases": {name: stats.to_json() for name, stats in self._phases.items()},
            }

    def stats(self) -> dict[str, VendorStats]:
        """A copy of the stats per phase."""
        with self._lock:
            copies = {}
            for name, stats in self._phases.items():
                copy = VendorStats()
                copy.add(stats)
                copies[name] = copy
            return copies

    # -- the endpoint's side --------------------------------------------------------------------

    def arrived(self, body: bytes = b"", key: bytes = b"") -> LedgerCall:
        """A call arrived (``body`` and ``key``, the API key, identify its logical request)."""
        now = self._clock()
        with self._lock:
            stats = self._live
            if stats is None:
                return _OUTSIDE
            stats.calls += 1
            stats.calls_by_second[int(now - self._origin)] += 1
            call = LedgerCall(stats, self._starts[self.phase or ""], body, key)
            if self._pending:
                fingerprint = call.fingerprint()
                until = self._pending.get(fingerprint)
                if until is not None:
                    if now < until:
                        stats.retry_after_violations += 1
                    else:
                        del self._pending[fingerprint]
            return call

    def answered(
        self, call: LedgerCall, outcome: int | str, headers: Mapping[str, str] | None = None
    ) -> None:
        """``call`` was answered with ``outcome`` (a status, or e.g. ``"connection_reset"``);
        ``headers`` (lower-case names) are read for ``Retry-After``."""
        stats = call.stats
        if stats is None:
            return
        now = self._clock()
        wait = None
        if headers is not None and ("retry-after" in headers or "retry-after-ms" in headers):
            wait = retry_after_seconds(headers, now=self._wall())
        fingerprint = call.fingerprint() if wait is not None else b""
        with self._lock:
            stats.statuses[str(outcome)] += 1
            if isinstance(outcome, int) and 200 <= outcome < 300:
                stats.ok += 1
                if stats.first_ok_after is None:
                    stats.first_ok_after = max(0.0, now - call.started)
            if wait is not None:
                stats.retry_after_sent += 1
                pending = self._pending
                pending[fingerprint] = max(pending.get(fingerprint, 0.0), now + wait)
                if len(pending) > MAX_PENDING:
                    self._prune(now)

    def _prune(self, now: float) -> None:
        pending = self._pending
        for fingerprint in [f for f, until in pending.items() if until <= now]:
            del pending[fingerprint]
        while len(pending) > MAX_PENDING:
            del pending[next(iter(pending))]

    def aborted(self, call: LedgerCall) -> None:
        """The client left before ``call`` was answered."""
        stats = call.stats
        if stats is not None:
            with self._lock:
                stats.aborted += 1

    def fired(self, call: LedgerCall | None, labels: list[str]) -> None:
        """Faults fired on ``call`` (None: on the current phase, e.g. a proxy's toxic)."""
        with self._lock:
            stats = call.stats if call is not None else self._live
            if stats is not None:
                for label in labels:
                    stats.faults_fired[label] += 1

    def connection(self) -> None:
        """A new connection was accepted."""
        with self._lock:
            if self._live is not None:
                self._live.connections += 1

    # A proxy's data path calls these once per chunk, from its one event loop (as the marks
    # arrive): no lock, and a chunk racing a mark lands in one phase or the other.

    def moved_up(self, size: int) -> None:
        """``size`` bytes went from the client to the upstream (a proxy)."""
        stats = self._live
        if stats is not None:
            stats.bytes_up += size

    def moved_down(self, size: int) -> None:
        """``size`` bytes went from the upstream to the client (a proxy)."""
        stats = self._live
        if stats is not None:
            stats.bytes_down += size
