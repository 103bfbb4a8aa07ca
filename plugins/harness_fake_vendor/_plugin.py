"""The ``fake_vendor`` backend: a real local server per upstream, faults through its control API.

Each scenario upstream with ``backend: fake_vendor`` (the default) gets its own
:class:`FakeVendor` on 127.0.0.1 (a free port), so an outage of the primary never touches the
backup. Faults go in and out through the vendor's control API, which also says how many times
each one fired; phases are marked and the vendor's ledger read through it too (in-thread,
child-process and attached vendors alike). ``options`` of the upstream are passed to the
server (``stream_chunk_delay``, ``rate_limit_requests``, ``enforce_rate_limit``, ...).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from harness.plugin import (
    SUPPORTED_KINDS,
    AppliedFault,
    Endpoint,
    FaultBackend,
    FaultInjectionError,
    FaultSpec,
    HttpFault,
    InputError,
    RunContext,
    UpstreamSpec,
    VendorStats,
    hookimpl,
    ledger_from_json,
    start_server,
)

_OPTIONS = {
    "stream_chunk_delay",
    "rate_limit_requests",
    "rate_limit_tokens",
    "rate_limit_window",
    "enforce_rate_limit",
    "require_api_key",
    "graceful_timeout",
    "max_body_bytes",
    "models",
}


class FakeVendorBackend(FaultBackend):
    name = "fake_vendor"
    kinds = frozenset(k.model_fields["kind"].default for k in SUPPORTED_KINDS)
    where = "upstream"
    description = "a local OpenAI/Anthropic-compatible server that fails on cue"

    def start_upstream(self, upstream: UpstreamSpec, run: RunContext) -> Endpoint:
        from harness_fake_vendor import FakeVendor, VendorControl

        unknown = sorted(set(upstream.options) - _OPTIONS)
        if unknown:
            raise InputError(
                f"upstream {upstream.name!r}: unknown fake_vendor option(s) "
                f"{', '.join(unknown)}; expected some of: {', '.join(sorted(_OPTIONS))}"
            )
        options: dict[str, Any] = dict(upstream.options)
        if run.isolation == "process":  # a child process another process can reach
            argv = [sys.executable, "-m", "harness_fake_vendor", "--port", "0"]
            argv += ["--seed", str(run.seed), "--options-json", json.dumps(options)]
            child = start_server(f"fake vendor {upstream.name}", argv, run)
            control = VendorControl(child.url)

            def close() -> None:
                control.close()
                child.stop()

            return self.endpoint(
                upstream,
                url=f"{child.url}/v1",
                address=child.url.removeprefix("http://"),
                handle=control,
                close=close,
                descriptor={"control_url": child.url, "pid": child.pid},
            )
        vendor = FakeVendor(seed=run.seed, **options).start()
        return self.endpoint(
            upstream,
            url=f"{vendor.url}/v1",
            address=f"{vendor.host}:{vendor.port}",
            handle=vendor.control,
            close=vendor.stop,
            descriptor={"control_url": vendor.url},
        )

    def attach(self, descriptor: dict[str, Any], run: RunContext) -> Endpoint:
        from harness_fake_vendor import VendorControl

        control = VendorControl(descriptor["control_url"])
        return self.attached(
            descriptor,
            handle=control,
            close=control.close,
            descriptor={"control_url": descriptor["control_url"]},
        )

    def adopt(self, target: object, run: RunContext, *, api: str = "openai") -> Endpoint | None:
        from harness_fake_vendor import FakeVendor, VendorControl

        control = target.control if isinstance(target, FakeVendor) else target
        if not isinstance(control, VendorControl):
            return None
        return Endpoint(
            name=f"fake_vendor@{control.url}",
            role="upstream",
            backend=self.name,
            url=f"{control.url}/v1",
            handle=control,
        )

    def apply(self, fault: FaultSpec, endpoint: Endpoint, run: RunContext) -> AppliedFault:
        if not isinstance(fault, HttpFault):
            raise FaultInjectionError(
                f"the fake vendor {endpoint.name!r} cannot inject {fault.kind!r}: "
                "network faults need a proxy in front of it"
            )
        return self.applied(fault, endpoint, (endpoint.handle, endpoint.handle.add_fault(fault)))

    def revert(self, applied: AppliedFault, run: RunContext) -> None:
        control, fault_id = applied.handle
        applied.fired = int(control.fault(fault_id)["fired"])
        control.remove_fault(fault_id)
        if any(f["id"] == fault_id for f in control.faults()):
            raise FaultInjectionError(
                f"fake vendor {applied.endpoint!r} still lists fault {applied.label!r} after "
                "removal"
            )

    def mark_phase(self, endpoint: Endpoint, phase: str | None, run: RunContext) -> None:
        endpoint.handle.mark_phase(phase, run.run_id)

    def ledger(self, endpoint: Endpoint, run: RunContext) -> dict[str, VendorStats] | None:
        return ledger_from_json(endpoint.handle.ledger())


@hookimpl
def harness_fault_backends() -> list[FaultBackend]:
    return [FakeVendorBackend()]


@hookimpl
def harness_add_commands(app: Any) -> None:
    from harness_fake_vendor._cli import vendor_app

    app.add_typer(vendor_app, name="vendor")
