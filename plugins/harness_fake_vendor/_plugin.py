"""Hook implementations of the ``fake_vendor`` backend: a real local server per upstream.

Each scenario upstream with ``backend: fake_vendor`` (the default) gets its own
:class:`FakeVendor` on 127.0.0.1 (a free port), so an outage of the primary never touches the
backup. Faults go in and out through the vendor's control API, which also says how many times
each one fired. ``options`` of the upstream are passed to the server (``stream_chunk_delay``,
``rate_limit_requests``, ``enforce_rate_limit``, ...).
"""

from __future__ import annotations

from typing import Any

from harness._errors import FaultInjectionError, InputError
from harness._faults import FaultSpec, HttpFault
from harness._http_faults import SUPPORTED_KINDS
from harness._plugin_types import AppliedFault, Endpoint, FaultBackend, RunContext
from harness._scenario import UpstreamSpec
from harness.hookspecs import hookimpl

BACKEND = FaultBackend(
    name="fake_vendor",
    kinds=frozenset(k.model_fields["kind"].default for k in SUPPORTED_KINDS),
    where="upstream",
    description="a local OpenAI/Anthropic-compatible server that fails on cue",
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


@hookimpl
def harness_fault_backends() -> list[FaultBackend]:
    return [BACKEND]


@hookimpl
def harness_start_upstream(upstream: UpstreamSpec, run: RunContext) -> Endpoint | None:
    if upstream.backend != BACKEND.name:
        return None
    from harness_fake_vendor import FakeVendor

    unknown = sorted(set(upstream.options) - _OPTIONS)
    if unknown:
        raise InputError(
            f"upstream {upstream.name!r}: unknown fake_vendor option(s) {', '.join(unknown)}; "
            f"expected some of: {', '.join(sorted(_OPTIONS))}"
        )
    options: dict[str, Any] = dict(upstream.options)
    if run.options.get("isolation") == "process":
        return _start_process(upstream, run, options)
    vendor = FakeVendor(seed=run.seed, **options).start()
    return Endpoint(
        name=upstream.name,
        role="upstream",
        backend=BACKEND.name,
        url=f"{vendor.url}/v1",
        address=f"{vendor.host}:{vendor.port}",
        api=upstream.api,
        handle=vendor.control,
        close=vendor.stop,
        descriptor={"control_url": vendor.url},
    )


def _start_process(upstream: UpstreamSpec, run: RunContext, options: dict[str, Any]) -> Endpoint:
    """The vendor as a child process (``python -m harness vendor serve``), for load tests."""
    import json

    from harness._process import harness_command, start_server
    from harness_fake_vendor import VendorControl

    argv = harness_command("vendor", "serve", "--port", "0", "--seed", str(run.seed))
    if options:
        argv += ["--options-json", json.dumps(options)]
    child = start_server(f"fake vendor {upstream.name}", argv, run.options)
    url = child.url
    control = VendorControl(url)

    def close() -> None:
        control.close()
        child.stop()

    return Endpoint(
        name=upstream.name,
        role="upstream",
        backend=BACKEND.name,
        url=f"{url}/v1",
        address=url.removeprefix("http://"),
        api=upstream.api,
        handle=control,
        close=close,
        descriptor={"control_url": url, "pid": child.pid},
    )


@hookimpl
def harness_attach_endpoint(descriptor: dict[str, Any], run: RunContext) -> Endpoint | None:
    if descriptor.get("backend") != BACKEND.name:
        return None
    from harness_fake_vendor import VendorControl

    control = VendorControl(descriptor["control_url"])
    return Endpoint(
        name=descriptor["name"],
        role="upstream",
        backend=BACKEND.name,
        url=descriptor["url"],
        address=descriptor["address"],
        api=descriptor["api"],
        handle=control,
        close=control.close,
        descriptor={"control_url": descriptor["control_url"]},
    )


@hookimpl
def harness_apply_fault(
    fault: FaultSpec, endpoint: Endpoint, run: RunContext
) -> AppliedFault | None:
    if endpoint.backend != BACKEND.name:
        return None
    if not isinstance(fault, HttpFault):
        raise FaultInjectionError(
            f"the fake vendor {endpoint.name!r} cannot inject {fault.kind!r}: "
            "network faults need a proxy in front of it"
        )
    fault_id = endpoint.handle.add_fault(fault)
    return AppliedFault(
        fault=fault,
        backend=BACKEND.name,
        endpoint=endpoint.name,
        handle=(endpoint.handle, fault_id),
    )


@hookimpl
def harness_revert_fault(applied: AppliedFault, run: RunContext) -> None:
    if applied.backend != BACKEND.name:
        return
    control, fault_id = applied.handle
    applied.fired = int(control.fault(fault_id)["fired"])
    control.remove_fault(fault_id)
    if any(f["id"] == fault_id for f in control.faults()):
        raise FaultInjectionError(
            f"fake vendor {applied.endpoint!r} still lists fault {applied.label!r} after removal"
        )
