"""One direction of one proxied connection: source socket -> toxic stages -> destination socket.

With no toxic in its direction a link has no stages and costs nothing: the source
endpoint's ``data_received`` *is* the destination transport's ``write`` (no Python frame of
ours per chunk; asyncio's flow control pauses the source when the destination backs up).

A toxic turns into a :class:`Stage`: an asyncio task reading from its :class:`Inbox` and
writing to the next stage's inbox or to the :class:`Sink`. Chains change under live
connections the way Toxiproxy's do:

* adding a toxic appends a stage; data already written stays ahead of it;
* updating one wakes ("interrupts") its stage and rolls its toxicity again, like Go re-running
  the stub; a latency or bandwidth wait in progress ends early so nothing is held back;
* removing one lets its stage forward what it holds, in order, then splices it out (its inbox
  redirects to its output); a link whose last stage is gone returns to the free fast path.

EOF from the source travels down the chain as :data:`EOF` (so ``slow_close`` can hold it); the
sink then closes the destination after flushing, which ends the opposite link's source: an
EOF on either side closes the whole connection, as in Toxiproxy (no half-close).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import struct
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from ._toxics import TOXIC_TYPES, UPSTREAM, Behavior

if TYPE_CHECKING:
    from ._connection import Connection, Endpoint
    from ._toxic_collection import ToxicSpec

__all__ = ["EOF", "Chunk", "Inbox", "Link", "Sink", "Stage"]

log = logging.getLogger("harness_toxiproxy")

EOF: Final = "EOF"
"""The end-of-stream marker that flows through a chain after the last chunk."""

_INBOX_MAX_BYTES = 4 * 1024 * 1024
_NOOP = TOXIC_TYPES["noop"].behavior
_LINGER_RESET = struct.pack("ii", 1, 0)


class Chunk:
    """Bytes read from the source, stamped with the loop time they arrived (``ts``)."""

    __slots__ = ("data", "ts")

    def __init__(self, data: bytes, ts: float) -> None:
        self.data = data
        self.ts = ts


Item = Chunk | str


def _discard(data: bytes) -> None:
    return None


def _counted(
    count: Callable[[int], None], write: Callable[[bytes], None]
) -> Callable[[bytes], None]:
    """``write``, counting each chunk's bytes first (a link without toxics: one small frame per
    chunk, where asyncio would otherwise call ``write`` directly)."""

    def forward(data: bytes) -> None:
        count(len(data))
        write(data)

    return forward


def set_linger_zero(transport: asyncio.BaseTransport | None) -> None:
    """Make the next close of ``transport``'s socket send a TCP RST."""
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)


class Inbox:
    """The FIFO in front of a stage (Go's channel), bounded by items and bytes.

    ``put_nowait`` never blocks (the link pauses its source when the head inbox is
    :meth:`full`); ``put`` waits for room. Once ``redirect`` is set (the stage was spliced
    out) everything goes straight to the stage's former output; once ``discard`` is set (the
    stage closed the link) everything is dropped.
    """

    __slots__ = (
        "_bytes",
        "_getter",
        "_items",
        "_loop",
        "_max_items",
        "_space_waiters",
        "discard",
        "on_space",
        "redirect",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, max_items: int) -> None:
        self._loop = loop
        self._items: deque[Item] = deque()
        self._bytes = 0
        self._max_items = max(max_items, 1)
        self._getter: asyncio.Future[str] | None = None
        self._space_waiters: list[asyncio.Future[None]] = []
        self.redirect: Inbox | Sink | None = None
        self.discard = False
        self.on_space: Callable[[], None] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def full(self) -> bool:
        return len(self._items) >= self._max_items or self._bytes >= _INBOX_MAX_BYTES

    def put_nowait(self, item: Item) -> None:
        if self.redirect is not None:
            self.redirect.put_nowait(item)
            return
        if self.discard:
            return
        self._items.append(item)
        if isinstance(item, Chunk):
            self._bytes += len(item.data)
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result("item")

    async def put(self, item: Item) -> None:
        while self.redirect is None and not self.discard and self.full():
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._space_waiters.append(waiter)
            await waiter
        self.put_nowait(item)

    def get_nowait(self) -> Item:
        was_full = self.full()
        item = self._items.popleft()
        if isinstance(item, Chunk):
            self._bytes -= len(item.data)
        if was_full and not self.full():
            self._wake_putters()
        return item

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0
        self._wake_putters()

    def _wake_putters(self) -> None:
        waiters, self._space_waiters = self._space_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        if self.on_space is not None:
            self.on_space()


class Sink:
    """The end of a link: writes to the destination transport, closes it on :data:`EOF`."""

    __slots__ = ("_link",)

    def __init__(self, link: Link) -> None:
        self._link = link

    def put_nowait(self, item: Item) -> None:
        link = self._link
        if link.dest_closed:
            return
        if isinstance(item, Chunk):
            transport = link.dest.transport
            if transport is not None:
                transport.write(item.data)
        else:
            link.close_dest()

    async def put(self, item: Item) -> None:
        self.put_nowait(item)
        link = self._link
        while link.dest_paused and not link.dest_closed:
            waiter: asyncio.Future[None] = link.loop.create_future()
            link.drain_waiters.append(waiter)
            await waiter


class Stage:
    """One toxic applied to one link: an asyncio task between two inboxes."""

    __slots__ = (
        "_interrupted",
        "_wake",
        "active",
        "closed",
        "counted",
        "inbox",
        "link",
        "out",
        "persistent",
        "removed",
        "spec",
        "state",
        "task",
    )

    def __init__(self, link: Link, spec: ToxicSpec, out: Inbox | Sink) -> None:
        self.link = link
        self.spec = spec
        self.out = out
        self.inbox = Inbox(link.loop, spec.type.buffer_size)
        self.inbox.on_space = link.sync_reading
        self.active = random.random() < spec.toxicity
        self.state: dict[str, Any] = {}
        self.persistent: dict[str, Any] = {}
        self.removed = False
        self.closed = False
        self.counted = False
        self._interrupted = False
        self._wake: asyncio.Future[str] | None = None
        self.task = link.loop.create_task(self._run(), name=f"toxic {spec.name}")
        self.task.add_done_callback(self._task_done)

    # ------------------------------------------------------------------ helpers for toxics
    @property
    def attrs(self) -> dict[str, Any]:
        return self.spec.attrs

    def now(self) -> float:
        return self.link.loop.time()

    async def emit(self, chunk: Chunk) -> None:
        await self.out.put(chunk)

    async def emit_data(self, data: bytes, ts: float) -> None:
        await self.out.put(Chunk(data, ts))

    async def close(self) -> None:
        """Close the link from here on: pass :data:`EOF` down and drop all further input."""
        if self.closed:
            return
        self.closed = True
        self.inbox.discard = True
        self.inbox.clear()
        await self.out.put(EOF)

    def arm_reset(self) -> None:
        """Make the coming close a TCP reset on both sockets of the connection."""
        self.link.conn.arm_reset()

    async def sleep(self, seconds: float) -> bool:
        """Sleep; return ``True`` if cut short by an update or removal of the toxic."""
        if self._interrupted:
            self._interrupted = False
            return True
        if seconds <= 0:
            return False
        loop = self.link.loop
        wake: asyncio.Future[str] = loop.create_future()
        handle = loop.call_later(seconds, _resolve, wake, "timeout")
        self._wake = wake
        try:
            reason = await wake
        finally:
            handle.cancel()
            self._wake = None
        if reason == "interrupt":
            self._interrupted = False
            return True
        return False

    # ------------------------------------------------------------------ control
    def interrupt(self) -> None:
        self._interrupted = True
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result("interrupt")

    def restart(self) -> None:
        """The toxic was updated: roll toxicity again and reset per-run state (like Go)."""
        self.active = random.random() < self.spec.toxicity
        self.spec.type.behavior.restart(self)
        self.interrupt()

    def remove(self) -> None:
        self.removed = True
        self.interrupt()

    # ------------------------------------------------------------------ task
    @property
    def _behavior(self) -> Behavior:
        return self.spec.type.behavior if self.active else _NOOP

    async def _next(self, idle: float | None) -> str:
        """Wait for input: ``item``, ``timeout`` or ``interrupt``."""
        if len(self.inbox):
            return "item"
        if self._interrupted:
            self._interrupted = False
            return "interrupt"
        loop = self.link.loop
        wake: asyncio.Future[str] = loop.create_future()
        handle = loop.call_later(idle, _resolve, wake, "timeout") if idle else None
        self._wake = wake
        self.inbox._getter = wake
        try:
            reason = await wake
        finally:
            if handle is not None:
                handle.cancel()
            self._wake = None
            self.inbox._getter = None
        if reason == "interrupt":
            self._interrupted = False
        return reason

    async def _run(self) -> None:
        inbox = self.inbox
        while not self.closed:
            # An interrupt that arrived while busy is consumed by coming back here, as Go's
            # toxics return to their select loop; it must not shorten the next chunk's wait.
            self._interrupted = False
            if self.removed:
                if self.spec.type.behavior.closes_on_removal:
                    await self.close()
                    return
                while len(inbox):
                    item = inbox.get_nowait()
                    await self.out.put(item)
                self.link.unlink(self)
                return
            behavior = self._behavior
            reason = await self._next(behavior.idle_timeout(self) if self.active else None)
            if reason == "interrupt":
                continue
            if self.active and not self.counted:
                self.counted = True
                self.spec.hits += 1
                self.link.conn.proxy.ledger.fired(None, [self.spec.name])
            if reason == "timeout":
                await behavior.on_idle(self)
                continue
            item = inbox.get_nowait()
            if isinstance(item, Chunk):
                await behavior.on_chunk(self, item)
            else:
                await behavior.on_eof(self)
                self.closed = True

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("toxic %r failed; closing its connection", self.spec.name, exc_info=exc)
            self.link.conn.abort()


def _resolve(fut: asyncio.Future[str], value: str) -> None:
    if not fut.done():
        fut.set_result(value)


class Link:
    """Data from ``source`` to ``dest`` through the toxics of one direction."""

    __slots__ = (
        "conn",
        "count",
        "dest",
        "dest_closed",
        "dest_paused",
        "direction",
        "drain_waiters",
        "loop",
        "reading_paused",
        "sink",
        "source",
        "source_done",
        "stages",
    )

    def __init__(
        self,
        conn: Connection,
        direction: int,
        source: Endpoint,
        dest: Endpoint,
        chain: Sequence[ToxicSpec],
    ) -> None:
        self.conn = conn
        self.loop: asyncio.AbstractEventLoop = conn.loop
        self.direction = direction
        self.source = source
        self.dest = dest
        self.sink = Sink(self)
        self.stages: list[Stage] = []
        self.dest_paused = False
        self.dest_closed = False
        self.source_done = False
        self.reading_paused = False
        self.drain_waiters: list[asyncio.Future[None]] = []
        ledger = conn.proxy.ledger
        self.count = ledger.moved_up if direction == UPSTREAM else ledger.moved_down
        source.reader = self
        dest.writer = self
        for spec in chain:
            self.add_toxic(spec)
        self._apply_mode()

    # ------------------------------------------------------------------ data path
    def _apply_mode(self) -> None:
        source = self.source
        if self.dest_closed or self.source_done or self.dest.transport is None:
            source.data_received = _discard
        elif self.stages:
            source.data_received = self._feed
        else:
            source.data_received = _counted(self.count, self.dest.transport.write)

    def _feed(self, data: bytes) -> None:
        self.count(len(data))
        inbox = self.stages[0].inbox
        inbox.put_nowait(Chunk(data, self.loop.time()))
        if inbox.full():
            self.sync_reading()

    def sync_reading(self) -> None:
        """Pause the source while the destination or the first inbox is full."""
        pause = self.dest_paused or bool(self.stages and self.stages[0].inbox.full())
        if pause == self.reading_paused:
            return
        transport = self.source.transport
        if transport is None or transport.is_closing():
            return
        self.reading_paused = pause
        if pause:
            transport.pause_reading()
        else:
            transport.resume_reading()

    def source_eof(self) -> None:
        """The source sent FIN or went away: flush what the chain holds, then close."""
        if self.source_done:
            return
        self.source_done = True
        self.source.data_received = _discard
        if self.stages:
            self.stages[0].inbox.put_nowait(EOF)
        else:
            self.close_dest()

    def close_dest(self) -> None:
        if self.dest_closed:
            return
        self.dest_closed = True
        self.source.data_received = _discard
        self._wake_drain()
        transport = self.dest.transport
        if transport is None:
            return
        if self.conn.reset_armed:
            set_linger_zero(transport)
            transport.abort()
        else:
            transport.close()

    def dest_lost(self) -> None:
        """The destination socket is gone: nothing more can be delivered."""
        self.dest_closed = True
        self.source.data_received = _discard
        self._wake_drain()
        self.cancel()

    def set_dest_paused(self, paused: bool) -> None:
        self.dest_paused = paused
        if not paused:
            self._wake_drain()
        self.sync_reading()

    def _wake_drain(self) -> None:
        waiters, self.drain_waiters = self.drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # ------------------------------------------------------------------ chain changes
    def add_toxic(self, spec: ToxicSpec) -> None:
        stage = Stage(self, spec, self.sink)
        if self.stages:
            self.stages[-1].out = stage.inbox
        self.stages.append(stage)
        if len(self.stages) == 1:
            self._apply_mode()

    def _stage_for(self, spec: ToxicSpec) -> Stage | None:
        for stage in self.stages:
            if stage.spec is spec and not stage.removed:
                return stage
        return None

    def update_toxic(self, spec: ToxicSpec) -> None:
        stage = self._stage_for(spec)
        if stage is not None and not stage.closed:
            stage.restart()

    def remove_toxic(self, spec: ToxicSpec) -> None:
        stage = self._stage_for(spec)
        if stage is not None and not stage.closed:
            stage.remove()

    def unlink(self, stage: Stage) -> None:
        """Splice a drained, removed stage out of the chain."""
        index = self.stages.index(stage)
        if index > 0:
            self.stages[index - 1].out = stage.out
        del self.stages[index]
        stage.inbox.redirect = stage.out
        stage.inbox.clear()
        if not self.stages:
            self._apply_mode()
        self.sync_reading()

    def cancel(self) -> None:
        for stage in self.stages:
            stage.task.cancel()

    def tasks(self) -> list[asyncio.Task[None]]:
        return [stage.task for stage in self.stages]
