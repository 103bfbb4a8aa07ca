"""The toxic types: their JSON attributes (Go field names and types) and what they do to data.

Each behaviour works on one :class:`~._link.Stage` (one toxic in one direction of one
connection) and reads its attributes *live*, so an update applies to the next chunk. What
Toxiproxy 2.x does, and therefore what happens here:

* ``latency``: every chunk is held until ``latency ± jitter`` ms after it arrived; chunks keep
  their order and pipeline (a stream of chunks is delayed, not serialised), and two latency
  toxics add up.
* ``bandwidth``: ``rate`` is KB/s with K = 1000. Chunks larger than ``rate * 100`` bytes go out
  in 100 ms slices. A ``rate`` of 0 or less stalls the link completely (Go loops forever
  sending empty slices; a negative rate crashes it).
* ``slow_close``: the close is delayed by ``delay`` ms; data is not.
* ``timeout``: drops all data and closes the link after ``timeout`` ms *without data*: every
  dropped chunk restarts the timer. ``0`` never closes. Removing a timeout toxic closes every
  connection in its direction, even those where toxicity rolled it off (Go's ``Cleanup``).
* ``reset_peer``: waits for the first chunk (or EOF), drops it, waits ``timeout`` ms (not
  interruptible), then closes both sockets with ``SO_LINGER`` 0 so the peers see a TCP RST.
  (Go only sets ``SO_LINGER`` if the toxic existed when the connection opened; here it is set
  when the toxic fires, so a reset_peer added to an open connection also resets.)
* ``slicer``: splits each chunk into slices of about ``average_size ± size_variation`` bytes
  (Go's recursive halving), waiting ``delay`` µs after each slice.
* ``limit_data``: passes ``bytes`` bytes in total (counted per connection and direction,
  across updates), then closes.
* ``noop``: passes everything through; Go registers it, so it is a valid type.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ._gojson import GoField, GoStruct

if TYPE_CHECKING:
    from ._link import Chunk, Stage

__all__ = [
    "DIRECTION_NAMES",
    "DOWNSTREAM",
    "TOXIC_TYPES",
    "TOXIC_TYPE_NAMES",
    "UPSTREAM",
    "Behavior",
    "ToxicType",
    "parse_direction",
]

UPSTREAM = 0
"""Client to server."""
DOWNSTREAM = 1
"""Server to client."""
DIRECTION_NAMES = ("upstream", "downstream")


def parse_direction(value: str) -> int | None:
    """Go's ``stream.ParseDirection``: case-insensitive ``upstream``/``downstream``."""
    lowered = value.lower()
    if lowered == "upstream":
        return UPSTREAM
    if lowered == "downstream":
        return DOWNSTREAM
    return None


class Behavior:
    """What a toxic does; the default passes chunks and the close through untouched."""

    closes_on_removal: ClassVar[bool] = False

    async def on_chunk(self, stage: Stage, chunk: Chunk) -> None:
        await stage.emit(chunk)

    async def on_eof(self, stage: Stage) -> None:
        await stage.close()

    def idle_timeout(self, stage: Stage) -> float | None:
        """Seconds without input after which :meth:`on_idle` runs (``None``: never)."""
        return None

    async def on_idle(self, stage: Stage) -> None:  # pragma: no cover - only timeout has one
        return None

    def restart(self, stage: Stage) -> None:
        """Forget per-run state when the toxic is updated (Go re-runs the stub)."""
        return


class _Latency(Behavior):
    async def on_chunk(self, stage: Stage, chunk: Chunk) -> None:
        attrs = stage.attrs
        delay = int(attrs["latency"])
        jitter = int(attrs["jitter"])
        if jitter > 0:
            delay += random.randrange(-jitter, jitter)
        due = chunk.ts + delay / 1000.0
        wait = due - stage.now()
        if wait > 0:
            await stage.sleep(wait)
        chunk.ts = due
        await stage.emit(chunk)


class _Bandwidth(Behavior):
    async def on_chunk(self, stage: Stage, chunk: Chunk) -> None:
        rate = int(stage.attrs["rate"])
        if rate <= 0:
            # Go never lets data through at rate <= 0; wait until updated or removed.
            while int(stage.attrs["rate"]) <= 0:
                if not await stage.sleep(3600.0):
                    continue
                if stage.removed:
                    await stage.emit(chunk)
                    return
            rate = int(stage.attrs["rate"])
        backlog: float = stage.state.get("bandwidth_sleep", 0.0)
        data = chunk.data
        backlog += len(data) / (rate * 1000.0)
        slice_size = rate * 100
        while len(data) > slice_size:
            if await stage.sleep(0.1):
                stage.state["bandwidth_sleep"] = 0.0
                chunk.data = data
                await stage.emit(chunk)
                return
            await stage.emit_data(data[:slice_size], chunk.ts)
            data = data[slice_size:]
            backlog -= 0.1
        start = stage.now()
        if backlog > 0 and await stage.sleep(backlog):
            stage.state["bandwidth_sleep"] = 0.0
        else:
            stage.state["bandwidth_sleep"] = backlog - (stage.now() - start)
        chunk.data = data
        await stage.emit(chunk)

    def restart(self, stage: Stage) -> None:
        stage.state["bandwidth_sleep"] = 0.0


class _SlowClose(Behavior):
    async def on_eof(self, stage: Stage) -> None:
        while await stage.sleep(int(stage.attrs["delay"]) / 1000.0):
            if stage.removed:
                break
        await stage.close()


class _Timeout(Behavior):
    closes_on_removal = True

    async def on_chunk(self, stage: Stage, chunk: Chunk) -> None:
        return None  # dropped on the floor

    def idle_timeout(self, stage: Stage) -> float | None:
        timeout = int(stage.attrs["timeout"])
        return timeout / 1000.0 if timeout > 0 else None

    async def on_idle(self, stage: Stage) -> None:
        await stage.close()


class _ResetPeer(Behavior):
    async def on_chunk(self, stage: Stage, chunk: Chunk) -> None:
        await self._reset(stage)

    async def on_eof(self, stage: Stage) -> None:
        await self._reset(stage)

    @staticmethod
    async def _reset(stage: Stage) -> None:
        timeout = int(stage.attrs["timeout"])
        if timeout > 0:
            await asyncio.sleep(timeout / 1000.0)
        stage.arm_reset()
        await stage.close()


def _slice_points(start: int, end: int, average: int, variation: int) -> list[int]:
    """Go's ``SlicerToxic.chunk``: offsets ``[a0, b0, a1, b1, ...]`` of the slices.

    Guarded where Go is not: an ``average_size`` below 1 or a negative variation would
    recurse forever or panic there.
    """
    points: list[int] = []
    pending = [(start, end)]
    while pending:
        lo, hi = pending.pop()
        if (hi - lo) - average <= variation or hi - lo <= 1:
            points += [lo, hi]
            continue
        mid = lo + (hi - lo) // 2
        if variation > 0:
            mid += random.randrange(-variation, variation)
        mid = min(max(mid, lo + 1), hi - 1)
        pending.append((mid, hi))
        pending.append((lo, mid))
    return points


class _Slicer(Behavior):
    async def on_chunk(self, stage: Stage, chunk: Chunk) -> None:
        attrs = stage.attrs
        average = max(int(attrs["average_size"]), 1)
        variation = max(int(attrs["size_variation"]), 0)
        delay = max(int(attrs["delay"]), 0) / 1_000_000.0
        data = chunk.data
        points = _slice_points(0, len(data), average, variation)
        for i in range(1, len(points), 2):
            await stage.emit_data(data[points[i - 1] : points[i]], chunk.ts)
            if await stage.sleep(delay) and points[i] < len(data):
                await stage.emit_data(data[points[i] :], chunk.ts)
                return


class _LimitData(Behavior):
    async def on_chunk(self, stage: Stage, chunk: Chunk) -> None:
        limit = int(stage.attrs["bytes"])
        sent: int = stage.persistent.get("limit_sent", 0)
        remaining = max(limit - sent, 0)
        data = chunk.data
        if remaining < len(data):
            data = data[:remaining]
        if data:
            await stage.emit_data(data, chunk.ts)
            sent += len(data)
            stage.persistent["limit_sent"] = sent
        if limit - sent <= 0:
            await stage.close()


@dataclass(frozen=True)
class ToxicType:
    """A registered toxic type: its name, attribute struct and behaviour."""

    name: str
    attributes: GoStruct
    behavior: Behavior
    buffer_size: int = 0
    """Go's channel buffer in front of the toxic (latency: 1024 chunks; others none)."""

    def default_attributes(self) -> dict[str, Any]:
        return {f.json_name: 0 for f in self.attributes.fields}


def _attrs(go_name: str, *fields: tuple[str, str]) -> GoStruct:
    return GoStruct(
        name=go_name,
        type_string=f"toxics.{go_name}",
        fields=tuple(GoField(name, kind) for name, kind in fields),
    )


TOXIC_TYPES: dict[str, ToxicType] = {
    t.name: t
    for t in (
        ToxicType(
            "latency",
            _attrs("LatencyToxic", ("latency", "int64"), ("jitter", "int64")),
            _Latency(),
            buffer_size=1024,
        ),
        ToxicType("bandwidth", _attrs("BandwidthToxic", ("rate", "int64")), _Bandwidth()),
        ToxicType("slow_close", _attrs("SlowCloseToxic", ("delay", "int64")), _SlowClose()),
        ToxicType("timeout", _attrs("TimeoutToxic", ("timeout", "int64")), _Timeout()),
        ToxicType("reset_peer", _attrs("ResetToxic", ("timeout", "int64")), _ResetPeer()),
        ToxicType(
            "slicer",
            _attrs(
                "SlicerToxic", ("average_size", "int"), ("size_variation", "int"), ("delay", "int")
            ),
            _Slicer(),
        ),
        ToxicType("limit_data", _attrs("LimitDataToxic", ("bytes", "int64")), _LimitData()),
        ToxicType("noop", _attrs("NoopToxic"), Behavior()),
    )
}
"""Every toxic type Toxiproxy 2.x registers, by name."""

TOXIC_TYPE_NAMES: frozenset[str] = frozenset(TOXIC_TYPES)
"""The valid values of a toxic's ``type``."""
