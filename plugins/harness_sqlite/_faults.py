"""The fault kinds this plugin declares."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from harness.plugin import Duration, FaultLayer, FaultSpec


class StoreLockFault(FaultSpec):
    """Hold an exclusive lock on the store for the whole phase: the store is down."""

    layer: ClassVar[FaultLayer] = "service"
    kind: Literal["store_lock"] = "store_lock"


class StoreContentionFault(FaultSpec):
    """Hold the lock ``hold`` out of every ``period``: operations wait, the store is slow."""

    layer: ClassVar[FaultLayer] = "service"
    kind: Literal["store_contention"] = "store_contention"
    hold: Duration = Field(gt=0)
    period: Duration = Field(gt=0)

    @model_validator(mode="after")
    def _hold_within_period(self) -> StoreContentionFault:
        if self.hold >= self.period:
            raise ValueError("hold must be shorter than period (else use store_lock)")
        return self
