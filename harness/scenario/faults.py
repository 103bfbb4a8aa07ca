"""Fault specifications: what a scenario (or a test) asks a backend to inject.

A fault is a frozen pydantic model: the fields every fault shares (``kind``, ``target``, the
schedule) live on :class:`FaultSpec`; each kind adds its own parameters in a subclass. The kinds
are looked up in a registry so that a third-party plugin can declare new ones (see
``harness.plugin.hookspecs.harness_fault_kinds``). Which backend injects a fault is decided by its
``target``: an upstream (fake vendor or in-process respx) or a Toxiproxy proxy.

:class:`FaultSchedule` decides, request by request, whether a fault fires. It is deterministic for
a given seed, so a failing chaos run can be replayed exactly.
"""

from __future__ import annotations

import difflib
import math
import random
import threading
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.units import Duration, Rate

FaultLayer = Literal["http", "network", "service"]


class FaultSpec(BaseModel):
    """Fields shared by every fault kind.

    Schedule fields, applied to the stream of requests the fault matches (counted from 1):

    - ``after: N``  the first N matching requests pass untouched;
    - ``every: k``  of the rest, only every k-th is eligible (the k-th, 2k-th, ...);
    - ``rate``      an eligible request fires with this probability (seeded, reproducible);
    - ``first: N``  the fault fires at most N times, then lets everything pass.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    layer: ClassVar[FaultLayer] = "http"

    kind: str
    name: str | None = Field(default=None, description="id used in counters and reports")
    target: str | None = Field(
        default=None, description="upstream or proxy name; may be omitted when there is one"
    )
    optional: bool = Field(default=False, description="a fault that never fires fails the run")
    rate: Rate = 1.0
    seed: int | None = None
    first: int | None = Field(default=None, ge=1)
    every: int | None = Field(default=None, ge=1)
    after: int = Field(default=0, ge=0)

    def label(self) -> str:
        """The fault's name, or ``kind@target`` when it has none."""
        if self.name:
            return self.name
        return f"{self.kind}@{self.target}" if self.target else self.kind


class HttpFault(FaultSpec):
    """A fault applied to HTTP exchanges with a vendor (fake vendor server or respx)."""

    route: str | None = Field(default=None, description="only requests whose path contains this")
    model: str | None = Field(default=None, description="only requests for this model")


class HttpStatusFault(HttpFault):
    """Answer with an error status and the vendor's own error body and headers."""

    kind: Literal["http_status"] = "http_status"
    status: int = Field(ge=400, le=599)
    retry_after: Duration | None = None
    retry_after_format: Literal["seconds", "ms", "http-date"] = "seconds"
    error_code: str | None = Field(
        default=None, description="vendor error code, e.g. insufficient_quota"
    )
    message: str | None = None
    should_retry: bool | None = Field(default=None, description="sends x-should-retry")


class LatencyFault(HttpFault):
    """Delay the response (at the vendor) or every chunk (on a Toxiproxy proxy)."""

    kind: Literal["latency"] = "latency"
    latency: Duration
    jitter: Duration = 0.0
    distribution: Literal["fixed", "uniform", "lognormal"] = "uniform"
    sigma: float = Field(default=0.5, gt=0, description="lognormal shape, around latency as median")
    stream: Literal["upstream", "downstream"] = "downstream"

    def sample(self, rng: random.Random) -> float:
        """Draw one delay in seconds from the configured distribution."""
        if self.distribution == "lognormal":
            return rng.lognormvariate(math.log(max(self.latency, 1e-6)), self.sigma)
        if self.distribution == "fixed" or self.jitter == 0:
            return self.latency
        return max(0.0, rng.uniform(self.latency - self.jitter, self.latency + self.jitter))


class FirstTokenDelayFault(HttpFault):
    """Hold a streaming answer before its first event."""

    kind: Literal["first_token_delay"] = "first_token_delay"
    delay: Duration


class StreamCutFault(HttpFault):
    """Close a streaming answer after N events, without the terminator."""

    kind: Literal["stream_cut"] = "stream_cut"
    after_events: int = Field(default=2, ge=0)


class StreamStallFault(HttpFault):
    """Stop sending a streaming answer for ``stall`` after N events, then resume."""

    kind: Literal["stream_stall"] = "stream_stall"
    after_events: int = Field(default=2, ge=0)
    stall: Duration


class MalformedStreamFault(HttpFault):
    """Send a ``data:`` line that is not valid JSON after N events."""

    kind: Literal["malformed_stream"] = "malformed_stream"
    after_events: int = Field(default=1, ge=0)


class ConnectionResetFault(HttpFault):
    """Reset the TCP connection instead of answering."""

    kind: Literal["connection_reset"] = "connection_reset"


class EmptyResponseFault(HttpFault):
    """Answer 200 with an empty body."""

    kind: Literal["empty_response"] = "empty_response"


class NetworkFault(FaultSpec):
    """A fault applied on the wire by a Toxiproxy proxy (``rate`` becomes the toxicity)."""

    layer: ClassVar[FaultLayer] = "network"
    stream: Literal["upstream", "downstream"] = "downstream"


class TimeoutFault(NetworkFault):
    """Stop all data and close the connection after ``timeout`` (0: hold it open forever)."""

    kind: Literal["timeout"] = "timeout"
    timeout: Duration = 0.0


class ResetPeerFault(NetworkFault):
    """Reset the connection (TCP RST) after ``timeout``."""

    kind: Literal["reset_peer"] = "reset_peer"
    timeout: Duration = 0.0


class BandwidthFault(NetworkFault):
    """Limit the throughput to ``kbps`` kilobytes per second."""

    kind: Literal["bandwidth"] = "bandwidth"
    kbps: int = Field(ge=0)


class SlowCloseFault(NetworkFault):
    """Delay the socket close by ``delay``."""

    kind: Literal["slow_close"] = "slow_close"
    delay: Duration


class SlicerFault(NetworkFault):
    """Slice data into small chunks with a delay between them."""

    kind: Literal["slicer"] = "slicer"
    average_size: int = Field(ge=1)
    size_variation: int = Field(default=0, ge=0)
    delay: Duration = 0.0

    @model_validator(mode="after")
    def _variation_below_average(self) -> SlicerFault:
        if self.size_variation >= self.average_size and self.size_variation:
            raise ValueError("size_variation must be smaller than average_size")
        return self


class LimitDataFault(NetworkFault):
    """Close the connection after ``bytes`` bytes went through."""

    kind: Literal["limit_data"] = "limit_data"
    bytes: int = Field(ge=0)


class DownFault(NetworkFault):
    """Take the proxy down: refuse new connections and cut open ones."""

    kind: Literal["down"] = "down"


BUILTIN_FAULT_KINDS: dict[str, type[FaultSpec]] = {
    cls.model_fields["kind"].default: cls
    for cls in (
        HttpStatusFault,
        LatencyFault,
        FirstTokenDelayFault,
        StreamCutFault,
        StreamStallFault,
        MalformedStreamFault,
        ConnectionResetFault,
        EmptyResponseFault,
        TimeoutFault,
        ResetPeerFault,
        BandwidthFault,
        SlowCloseFault,
        SlicerFault,
        LimitDataFault,
        DownFault,
    )
}
"""The fault kinds the engine defines; plugins add more with the ``harness_fault_kinds`` hook."""


def parse_fault(data: Any, kinds: dict[str, type[FaultSpec]] | None = None) -> FaultSpec:
    """Validate one fault mapping against the model of its ``kind``.

    Raises ``ValueError`` (naming the known kinds, and the closest one) for an unknown or missing
    kind and pydantic's ``ValidationError`` for bad parameters.
    """
    registry = BUILTIN_FAULT_KINDS if kinds is None else kinds
    if isinstance(data, FaultSpec):
        return data
    if not isinstance(data, dict):
        raise ValueError(f"expected a mapping with a 'kind' key, got {type(data).__name__}")
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in registry:  # a list or a mapping is unhashable
        known = ", ".join(sorted(registry))
        close = difflib.get_close_matches(str(kind), list(registry), n=1) if kind else []
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown fault kind {kind!r}{hint}; expected one of: {known}")
    return registry[kind].model_validate(data)


class FaultSchedule:
    """Decides whether a fault fires on each matching request; counts what it saw and did.

    Thread-safe (the respx backend can be hit from several threads). The random stream is
    seeded from ``(seed, fault label)`` so two faults with the same seed still differ.
    """

    def __init__(self, spec: FaultSpec, *, default_seed: int | None = None) -> None:
        self.spec = spec
        seed = spec.seed if spec.seed is not None else default_seed
        self._rng = random.Random(f"{seed}:{spec.label()}") if seed is not None else random.Random()
        self._lock = threading.Lock()
        self.seen = 0
        self.fired = 0

    def should_fire(self) -> bool:
        """Count one matching request and say whether the fault applies to it."""
        spec = self.spec
        with self._lock:
            self.seen += 1
            index = self.seen - spec.after
            if index <= 0:
                return False
            if spec.every is not None and index % spec.every != 0:
                return False
            if spec.first is not None and self.fired >= spec.first:
                return False
            if spec.rate < 1.0 and self._rng.random() >= spec.rate:
                return False
            self.fired += 1
            return True

    def random(self) -> random.Random:
        """The schedule's seeded generator, for kinds that draw parameters (latency)."""
        return self._rng
