"""Hook implementations of the ``sqlite`` backend."""

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

BACKEND = FaultBackend(
    name="sqlite",
    kinds=frozenset({"store_lock", "store_contention"}),
    where="upstream",
    description="lock a SQLite file from outside: store outage or contention",
)


@hookimpl
def harness_fault_kinds() -> list[type[FaultSpec]]:
    return [StoreLockFault, StoreContentionFault]


@hookimpl
def harness_fault_backends() -> list[FaultBackend]:
    return [BACKEND]


@hookimpl
def harness_start_upstream(upstream: UpstreamSpec, run: RunContext) -> Endpoint | None:
    if upstream.backend != BACKEND.name:
        return None
    unknown = set(upstream.options) - {"path"}
    if unknown:
        raise InputError(f"upstream {upstream.name!r}: unknown sqlite option(s) {sorted(unknown)}")
    raw = upstream.options.get("path")
    path = Path(raw) if raw else run.report_dir / ".work" / run.run_id / f"{upstream.name}.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:  # create it, in WAL mode like the core's stores
        conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    return Endpoint(
        name=upstream.name,
        role="upstream",
        backend=BACKEND.name,
        url=f"sqlite:///{path.resolve()}",
        handle=path,
        descriptor={"path": str(path.resolve())},
    )


@hookimpl
def harness_attach_endpoint(descriptor: dict[str, Any], run: RunContext) -> Endpoint | None:
    if descriptor.get("backend") != BACKEND.name:
        return None
    return Endpoint(
        name=descriptor["name"],
        role="upstream",
        backend=BACKEND.name,
        url=descriptor["url"],
        handle=Path(descriptor["path"]),
        descriptor={"path": descriptor["path"]},
    )


@hookimpl
def harness_apply_fault(
    fault: FaultSpec, endpoint: Endpoint, run: RunContext
) -> AppliedFault | None:
    if endpoint.backend != BACKEND.name:
        return None
    if isinstance(fault, StoreLockFault):
        holder = LockHolder(endpoint.handle)
    elif isinstance(fault, StoreContentionFault):
        holder = LockHolder(endpoint.handle, hold=fault.hold, period=fault.period)
    else:
        raise FaultInjectionError(
            f"the sqlite store {endpoint.name!r} cannot inject {fault.kind!r}"
        )
    holder.start()
    return AppliedFault(fault=fault, backend=BACKEND.name, endpoint=endpoint.name, handle=holder)


@hookimpl
def harness_revert_fault(applied: AppliedFault, run: RunContext) -> None:
    if applied.backend != BACKEND.name:
        return
    holder: LockHolder = applied.handle
    holder.stop()
    applied.fired = None  # SQLite cannot tell how many operations met the lock
