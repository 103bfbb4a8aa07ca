"""Hook specifications: the one seam between the engine and its plugins.

The engine knows fault *kinds*, scenarios, timelines, metrics, SLA and reports; it knows no
backend by name. Everything that injects faults, starts fake upstreams or proxies, or writes a
report is a plugin, discovered through the ``harness`` entry-point group. The built-in plugins
(``harness_respx``, ``harness_fake_vendor``, ``harness_toxiproxy``, ``harness_sqlite``,
``harness_reporters``) register there exactly as a third-party plugin would.

Write a plugin as a module with functions named like the specs below, marked with
:data:`hookimpl`; a function whose name starts with ``harness_`` but matches no spec is an error
(a misspelled hook never silently does nothing). Fault backends are objects
(:class:`~harness.plugin.FaultBackend` subclasses) the declaration hook returns: the engine
calls the one backend an endpoint names to start it, attach to it, apply and revert its
faults, so no hook is broadcast to every backend.

Lifecycle, in the order the engine calls them:

1. *Declaration* (once, when the plugin manager loads): :func:`harness_fault_kinds`,
   :func:`harness_fault_backends`, :func:`harness_reporters`; the CLI also asks
   :func:`harness_add_commands`.
2. *Run start*: :func:`harness_run_start`; then the engine starts each upstream and proxy
   through its backend, and at each phase applies the phase's faults through the backend of
   their endpoint (reverting them at the phase's end, and always on error or Ctrl-C).
3. *Run end*: :func:`harness_run_end` with the report; reporters write their files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from harness.plugin.types import FaultBackend, Reporter, RunContext
    from harness.report.model import Report
    from harness.scenario.faults import FaultSpec

PROJECT = "harness"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -- 1. declaration ---------------------------------------------------------------------------


@hookspec
def harness_fault_kinds() -> list[type[FaultSpec]]:  # type: ignore[empty-body]
    """Return new fault kinds: :class:`~harness.plugin.FaultSpec` subclasses whose ``kind``
    field is a ``Literal`` with a default. Two plugins declaring one kind is an error naming
    both."""


@hookspec
def harness_fault_backends() -> list[FaultBackend]:  # type: ignore[empty-body]
    """Return the fault backends this plugin provides: :class:`~harness.plugin.FaultBackend`
    instances, each with a unique ``name`` and the fault ``kinds`` it can inject (every kind
    declared by the engine or a plugin)."""


@hookspec
def harness_reporters() -> list[Reporter]:  # type: ignore[empty-body]
    """Return the reporters this plugin provides (unique names): each renders a report file."""


@hookspec
def harness_add_commands(app: Any) -> None:
    """Add commands to the ``harness`` CLI: ``app`` is its ``typer.Typer`` (e.g.
    ``app.add_typer(my_app, name="vendor")``). Import typer inside the hook, not at module
    level, so that loading the plugin stays cheap. A command reports bad input by raising
    :class:`~harness.plugin.InputError` (exit 2), as the CLI's own commands do."""


# -- 2. runs -----------------------------------------------------------------------------------


@hookspec
def harness_run_start(run: RunContext) -> None:
    """A run (a scenario, a pytest test with the ``chaos`` fixture, a Locust test) begins,
    before its upstreams and proxies start."""


# -- 3. run end --------------------------------------------------------------------------------


@hookspec
def harness_run_end(run: RunContext, report: Report | None) -> None:
    """A run ended (``report`` is None when it failed before producing one)."""
