"""Hook specifications: the one seam between the engine and its plugins.

The engine knows fault *kinds*, scenarios, timelines, metrics, SLA and reports; it knows no
backend by name. Everything that injects faults, starts fake upstreams or proxies, or writes a
report is a plugin implementing these hooks, discovered through the ``harness`` entry-point
group. The built-in plugins (``harness_respx``, ``harness_fake_vendor``, ``harness_toxiproxy``,
``harness_reporters``) register there exactly as a third-party plugin would.

Write a plugin as a module with functions named like the specs below, marked with
:data:`hookimpl`; a function whose name starts with ``harness_`` but matches no spec is an error
(a misspelled hook never silently does nothing).

Lifecycle, in the order the engine calls them:

1. *Declaration* (once, when the plugin manager loads): :func:`harness_fault_kinds`,
   :func:`harness_fault_backends`, :func:`harness_reporters`.
2. *Run start*: :func:`harness_run_start`, then for each upstream and proxy the scenario
   declares, :func:`harness_start_upstream` / :func:`harness_start_proxy` (first answer wins);
   with ``run.options["isolation"] == "process"`` servers run as child processes (load tests),
   and another process can :func:`harness_attach_endpoint` to them.
3. *Phases*: at each phase start :func:`harness_apply_fault` for each of its faults (first
   answer wins); at its end, and always on error or Ctrl-C, :func:`harness_revert_fault`.
4. *Run end*: :func:`harness_run_end` with the report; reporters write their files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from harness.plugin.types import (
        AppliedFault,
        Endpoint,
        FaultBackend,
        Reporter,
        RunContext,
    )
    from harness.report.model import Report
    from harness.scenario.faults import FaultSpec
    from harness.scenario.model import ProxySpec, UpstreamSpec

PROJECT = "harness"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -- 1. declaration ---------------------------------------------------------------------------


@hookspec
def harness_fault_kinds() -> list[type[FaultSpec]]:  # type: ignore[empty-body]
    """Return new fault kinds: :class:`~harness.FaultSpec` subclasses whose ``kind`` field is a
    ``Literal`` with a default. Two plugins declaring the same kind is an error naming both."""


@hookspec
def harness_fault_backends() -> list[FaultBackend]:  # type: ignore[empty-body]
    """Return the fault backends this plugin provides: each has a unique ``name`` and the set of
    fault ``kinds`` it can inject. Every kind must be declared (by the engine or a plugin)."""


@hookspec
def harness_reporters() -> list[Reporter]:  # type: ignore[empty-body]
    """Return the reporters this plugin provides (unique names): each renders a report file."""


# -- 2. run start ------------------------------------------------------------------------------


@hookspec
def harness_run_start(run: RunContext) -> None:
    """A run (a scenario, a pytest session, a Locust test) begins."""


@hookspec(firstresult=True)
def harness_start_upstream(upstream: UpstreamSpec, run: RunContext) -> Endpoint | None:
    """Start or connect the upstream (a fake vendor, an in-process mock, ...) when its
    ``backend`` is yours; return its :class:`Endpoint` (with a ``close`` callable), else None."""


@hookspec(firstresult=True)
def harness_start_proxy(proxy: ProxySpec, upstream: str, run: RunContext) -> Endpoint | None:
    """Create a network proxy in front of ``upstream`` (``host:port``) when its ``backend`` is
    yours; return its :class:`Endpoint`, else None."""


@hookspec(firstresult=True)
def harness_attach_endpoint(descriptor: dict[str, Any], run: RunContext) -> Endpoint | None:
    """Re-create, in another process, an endpoint started elsewhere (``harness stack up``, the
    Locust master attaching to the stack the CLI started): ``descriptor`` is what your
    ``Endpoint.descriptor`` held. Return None when ``descriptor["backend"]`` is not yours. The
    endpoint's ``close`` must release clients only, never stop the servers."""


# -- 3. phases ---------------------------------------------------------------------------------


@hookspec(firstresult=True)
def harness_apply_fault(
    fault: FaultSpec, endpoint: Endpoint, run: RunContext
) -> AppliedFault | None:
    """Inject ``fault`` at ``endpoint`` when ``endpoint.backend`` is yours; return the handle
    that :func:`harness_revert_fault` gets back. Raise ``FaultInjectionError`` when it cannot be
    applied: never return quietly without applying it."""


@hookspec
def harness_revert_fault(applied: AppliedFault, run: RunContext) -> None:
    """Remove a fault you applied (``applied.backend`` is yours), verify it is gone, and set
    ``applied.fired`` to how many times it actually took effect."""


# -- 4. run end --------------------------------------------------------------------------------


@hookspec
def harness_run_end(run: RunContext, report: Report | None) -> None:
    """A run ended (``report`` is None when it failed before producing one)."""
