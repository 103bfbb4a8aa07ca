"""The ``respx`` backend: in-process upstreams (no server) and their HTTP faults."""

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
    VendorStats,
    hookimpl,
)
from harness_respx._router import ROUTER
from harness_respx._vendor import InProcessVendor


class RespxBackend(FaultBackend):
    name = "respx"
    kinds = frozenset(k.model_fields["kind"].default for k in SUPPORTED_KINDS)
    where = "upstream"
    description = "an in-process fake vendor: httpx calls answered through respx, no server"

    def start_upstream(self, upstream: UpstreamSpec, run: RunContext) -> Endpoint:
        if run.isolation == "process":
            raise InputError(
                f"upstream {upstream.name!r}: respx mocks live inside one process; a load test "
                "(Locust, separate processes) needs backend: fake_vendor"
            )
        if upstream.api == "sqlite":
            raise InputError(f"upstream {upstream.name!r}: respx mocks HTTP vendors, not sqlite")
        base_url = upstream.url or f"https://{upstream.name.lower()}.respx.invalid/v1"
        api = "anthropic" if upstream.api == "anthropic" else "openai"
        return self._mock(upstream.name, api, base_url, upstream.model, run)

    def adopt(self, target: object, run: RunContext, *, api: str = "openai") -> Endpoint | None:
        """A URL a test names (``chaos.inject(fault, at="https://api.openai.com/v1")``) is
        mocked in-process for as long as the fault is in force."""
        if not isinstance(target, str) or not target.startswith(("http://", "https://")):
            return None
        return self._mock("mocked", api, target, None, run)

    def _mock(
        self, name: str, api: str, base_url: str, model: str | None, run: RunContext
    ) -> Endpoint:
        vendor = InProcessVendor(name, api, base_url, model=model, seed=run.seed)  # type: ignore[arg-type]
        ROUTER.add(vendor)
        return Endpoint(
            name=name,
            role="upstream",
            backend=self.name,
            url=vendor.base_url,
            api=api,
            handle=vendor,
            close=lambda: ROUTER.remove(vendor),
        )

    def apply(self, fault: FaultSpec, endpoint: Endpoint, run: RunContext) -> AppliedFault:
        if not isinstance(fault, HttpFault):
            raise FaultInjectionError(
                f"respx upstream {endpoint.name!r} cannot inject {fault.kind!r}: "
                "put a proxy in front"
            )
        vendor: InProcessVendor = endpoint.handle
        return self.applied(fault, endpoint, (vendor, vendor.book.add(fault)))

    def revert(self, applied: AppliedFault, run: RunContext) -> None:
        vendor: InProcessVendor
        entry: FaultEntry
        vendor, entry = applied.handle
        vendor.book.remove(entry.id)
        if vendor.book.get(entry.id) is not None:  # verify, as for every backend
            raise FaultInjectionError(f"respx: fault {applied.label!r} is still installed")
        applied.fired = entry.schedule.fired

    def mark_phase(self, endpoint: Endpoint, phase: str | None, run: RunContext) -> None:
        vendor: InProcessVendor = endpoint.handle
        vendor.ledger.mark(phase, run.run_id)

    def ledger(self, endpoint: Endpoint, run: RunContext) -> dict[str, VendorStats] | None:
        vendor: InProcessVendor = endpoint.handle
        return vendor.ledger.stats()


@hookimpl
def harness_fault_backends() -> list[FaultBackend]:
    return [RespxBackend()]
