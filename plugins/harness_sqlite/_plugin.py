"""The ``sqlite`` backend: store faults on a real SQLite file, from outside the target."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from harness.plugin import (
    AppliedFault,
    Endpoint,
    FaultBackend,
    FaultInjectionError,
    FaultSpec,
    InputError,
    RunContext,
    UpstreamSpec,
    hookimpl,
)
from harness_sqlite._faults import StoreContentionFault, StoreLockFault
from harness_sqlite._locker import LockHolder


class SQLiteBackend(FaultBackend):
    name = "sqlite"
    kinds = frozenset({"store_lock", "store_contention"})
    where = "upstream"
    description = "lock a SQLite file from outside: store outage or contention"

    def start_upstream(self, upstream: UpstreamSpec, run: RunContext) -> Endpoint:
        unknown = set(upstream.options) - {"path"}
        if unknown:
            raise InputError(
                f"upstream {upstream.name!r}: unknown sqlite option(s) {sorted(unknown)}; "
                "expected: path"
            )
        raw = upstream.options.get("path")
        path = Path(raw) if raw else run.workdir / f"{upstream.name}.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path) as conn:  # create it, in WAL mode like the core's stores
            conn.execute("PRAGMA journal_mode = WAL")
        conn.close()
        return self.endpoint(
            upstream,
            url=f"sqlite:///{path.resolve()}",
            handle=path,
            descriptor={"path": str(path.resolve())},
        )

    def attach(self, descriptor: dict[str, Any], run: RunContext) -> Endpoint:
        return self.attached(
            descriptor, handle=Path(descriptor["path"]), descriptor={"path": descriptor["path"]}
        )

    def apply(self, fault: FaultSpec, endpoint: Endpoint, run: RunContext) -> AppliedFault:
        if isinstance(fault, StoreLockFault):
            holder = LockHolder(endpoint.handle)
        elif isinstance(fault, StoreContentionFault):
            holder = LockHolder(endpoint.handle, hold=fault.hold, period=fault.period)
        else:
            raise FaultInjectionError(
                f"the sqlite store {endpoint.name!r} cannot inject {fault.kind!r}"
            )
        holder.start()
        return self.applied(fault, endpoint, holder)

    def revert(self, applied: AppliedFault, run: RunContext) -> None:
        holder: LockHolder = applied.handle
        holder.stop()
        applied.fired = None  # SQLite cannot tell how many operations met the lock


@hookimpl
def harness_fault_kinds() -> list[type[FaultSpec]]:
    return [StoreLockFault, StoreContentionFault]


@hookimpl
def harness_fault_backends() -> list[FaultBackend]:
    return [SQLiteBackend()]
