"""The fault timeline: a phase's faults go in at its start and come out at its end.

Faults are always reverted, on success, on error and on Ctrl-C (the revert runs with signals
deferred). After the run, every fault reports how many times it actually fired; a declared fault
that never fired fails the run unless it is ``optional``: a chaos test whose fault silently did
not apply must never pass (respx's ``assert_all_called`` is the model).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Self

from harness.errors import FaultInjectionError, HarnessError
from harness.plugin.types import AppliedFault, RunContext
from harness.report.model import FaultRecord
from harness.run.signals import deferred_signals

if TYPE_CHECKING:
    from harness.plugin.manager import PluginManager
    from harness.scenario.model import PhaseSpec, Scenario

logger = logging.getLogger("harness.timeline")


class Timeline:
    """Applies and reverts faults through the plugins' ``harness_apply/revert_fault`` hooks."""

    def __init__(
        self,
        scenario: Scenario,
        pm: PluginManager,
        run: RunContext,
        *,
        on_phase: Callable[[str | None], None] | None = None,
    ) -> None:
        self.scenario = scenario
        self.pm = pm
        self.run = run
        self.on_phase = on_phase
        self.phase: PhaseSpec | None = None
        self.active: list[AppliedFault] = []
        self.applied: list[AppliedFault] = []

    def enter(self, phase: PhaseSpec) -> None:
        """End the current phase (reverting its faults) and start ``phase``."""
        self.revert_active()
        self.phase = phase
        if self.on_phase:
            self.on_phase(phase.name)
        for fault in phase.faults:
            name = self.scenario.fault_target(fault)
            endpoint = self.run.endpoints.get(name)
            if endpoint is None:
                raise FaultInjectionError(
                    f"fault {fault.label()!r} in phase {phase.name!r}: endpoint {name!r} was not "
                    "started"
                )
            # a fault the plugin applied is in ``active`` before a Ctrl-C can land
            with deferred_signals():
                try:
                    applied = self.pm.hooks.harness_apply_fault(
                        fault=fault, endpoint=endpoint, run=self.run
                    )
                except HarnessError:
                    raise
                except Exception as exc:  # a plugin bug: say whose, as a fault that did not apply
                    owner = self.pm.backend_owner.get(endpoint.backend, endpoint.backend)
                    raise FaultInjectionError(
                        f"fault {fault.label()!r} ({fault.kind}) in phase {phase.name!r} could "
                        f"not be applied at {name!r}: plugin {owner!r} raised {exc!r}"
                    ) from exc
                if applied is None:
                    raise FaultInjectionError(
                        f"fault {fault.label()!r} ({fault.kind}) in phase {phase.name!r}: no "
                        f"plugin applied it at {name!r} (backend {endpoint.backend!r})"
                    )
                applied.phase = phase.name
                self.active.append(applied)
                self.applied.append(applied)
            logger.info("phase %s: applied %s at %s", phase.name, fault.label(), name)

    def revert_active(self) -> None:
        """Revert every fault in force (latest first); raise if any could not be reverted."""
        failures: list[str] = []
        with deferred_signals():
            while self.active:
                applied = self.active.pop()
                try:
                    self.pm.hooks.harness_revert_fault(applied=applied, run=self.run)
                    applied.reverted = True
                except Exception as exc:  # every fault gets its revert attempt
                    failures.append(f"{applied.label} at {applied.endpoint}: {exc}")
        if failures:
            raise FaultInjectionError("could not revert: " + "; ".join(failures))

    def close(self) -> None:
        """End the last phase. Idempotent."""
        try:
            self.revert_active()
        finally:
            self.phase = None
            if self.on_phase:
                self.on_phase(None)

    def records(self) -> list[FaultRecord]:
        return [
            FaultRecord(
                label=a.label,
                kind=a.fault.kind,
                phase=a.phase or "",
                endpoint=a.endpoint,
                optional=a.fault.optional,
                fired=a.fired,
            )
            for a in self.applied
        ]

    def never_fired(self) -> list[FaultRecord]:
        """Faults that were declared, not optional, and never took effect."""
        return [r for r in self.records() if r.never_fired]

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
            return
        try:
            self.close()
        except FaultInjectionError as failure:  # the original error goes on, carrying this one
            logger.exception("reverting faults after %r failed", exc)
            exc.add_note(str(failure))
