"""Hook implementations of the ``respx`` backend: in-process upstreams and their HTTP faults."""

from __future__ import annotations

from harness.plugin import (
    SUPPORTED_KINDS,
    AppliedFault,
    Endpoint,
    FaultBackend,
    FaultEntry,
    FaultInjectionError,
    FaultSpec,
    HttpFault,
    InputError,
    RunContext,
    UpstreamSpec,
    hookimpl,
)
from harness_respx._router import ROUTER
from harness_respx._vendor import InProcessVendor

BACKEND = FaultBackend(
    name="respx",
    kinds=frozenset(k.model_fields["kind"].default for k in SUPPORTED_KINDS),
    where="upstream",
    description="an in-process fake vendor: httpx calls answered through respx, no server",
)


@hookimpl
def harness_fault_backends() -> list[FaultBackend]:
    return [BACKEND]


@hookimpl
def harness_start_upstream(upstream: UpstreamSpec, run: RunContext) -> Endpoint | None:
    if upstream.backend != BACKEND.name:
        return None
    if run.options.get("isolation") == "process":
        raise InputError(
            f"upstream {upstream.name!r}: respx mocks live inside one process; a load test "
            "(Locust, separate processes) needs backend: fake_vendor"
        )
    if upstream.api == "sqlite":
        raise InputError(f"upstream {upstream.name!r}: respx mocks HTTP vendors, not sqlite")
    base_url = upstream.url or f"https://{upstream.name.lower()}.respx.invalid/v1"
    vendor = InProcessVendor(
        upstream.name,
        "anthropic" if upstream.api == "anthropic" else "openai",
        base_url,
        model=upstream.model,
        seed=run.seed,
    )
    ROUTER.add(vendor)
    return Endpoint(
        name=upstream.name,
        role="upstream",
        backend=BACKEND.name,
        url=vendor.base_url,
        address=None,
        api=upstream.api,
        handle=vendor,
        close=lambda: ROUTER.remove(vendor),
    )


@hookimpl
def harness_apply_fault(
    fault: FaultSpec, endpoint: Endpoint, run: RunContext
) -> AppliedFault | None:
    if endpoint.backend != BACKEND.name:
        return None
    if not isinstance(fault, HttpFault):
        raise FaultInjectionError(
            f"respx upstream {endpoint.name!r} cannot inject {fault.kind!r}: put a proxy in front"
        )
    vendor: InProcessVendor = endpoint.handle
    entry = vendor.book.add(fault)
    return AppliedFault(
        fault=fault, backend=BACKEND.name, endpoint=endpoint.name, handle=(vendor, entry)
    )


@hookimpl
def harness_revert_fault(applied: AppliedFault, run: RunContext) -> None:
    if applied.backend != BACKEND.name:
        return
    vendor: InProcessVendor
    entry: FaultEntry
    vendor, entry = applied.handle
    vendor.book.remove(entry.id)
    if vendor.book.get(entry.id) is not None:  # verify, as for every backend
        raise FaultInjectionError(f"respx: fault {applied.label!r} is still installed")
    applied.fired = entry.schedule.fired
