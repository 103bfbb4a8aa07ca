"""The fault timeline: a phase's faults go in at its start and come out at its end.

Faults are always reverted, on success, on error and on Ctrl-C (the revert runs with signals
deferred). After the run, every fault reports how many times it actually fired; a declared fault
that never fired fails the run unless it is ``optional``: a chaos test whose fault silently did
not apply must never pass (respx's ``assert_all_called`` is the model).

The timeline also tells every endpoint when each phase starts and when the run ends
(``FaultBackend.mark_phase``), and reads their ledgers once the run ended (:attr:`vendor`):
what reached each fake vendor and proxy per phase (:mod:`harness.measure.vendor`). An endpoint
whose backend cannot count, or whose mark or ledger failed, is listed as uncounted with the
reason, so the vendor thresholds say "no data" instead of passing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.errors import FaultInjectionError, HarnessError
from harness.measure.vendor import EndpointLedger, VendorLedgers
from harness.plugin.closing import Closing
from harness.plugin.types import AppliedFault, Endpoint, RunContext
from harness.report.model import FaultRecord
from harness.run.signals import deferred_signals, undo_all

if TYPE_CHECKING:
    from harness.plugin.manager import PluginManager
    from harness.scenario.faults import FaultSpec
    from harness.scenario.model import PhaseSpec, Scenario

logger = logging.getLogger("harness.timeline")


class Timeline(Closing):
    """Applies and reverts faults through the backend of each fault's endpoint."""

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
        self.vendor: VendorLedgers | None = None
        """The endpoints' ledgers, read when the run ends (:meth:`close`)."""
        self._marked = False
        self._ledger_errors: dict[str, str] = {}

    def enter(self, phase: PhaseSpec) -> None:
        """End the current phase (reverting its faults) and start ``phase``.

        Each endpoint is told the phase starts (its ledger's mark) as close as can be to the
        change of its faults, so that what it counts in a phase met that phase's faults: an
        endpoint whose faults come out is marked just before (what reaches it while they come
        out is counted in the new phase, still faulted: the old phase's figures stay clean);
        one that gets faults, right before its first one goes in; the others after.
        """
        if self.on_phase:
            self.on_phase(phase.name)
        marked: set[str] = set()
        for ending in self._endpoints():
            if any(a.endpoint == ending.name for a in self.active):
                marked.add(ending.name)
                self._mark_one(ending, phase.name)
        self.revert_active()
        self.phase = phase
        for fault in phase.faults:
            name = self.scenario.fault_target(fault)
            endpoint = self.run.endpoints.get(name)
            if endpoint is None:
                raise FaultInjectionError(
                    f"fault {fault.label()!r} in phase {phase.name!r}: endpoint {name!r} was not "
                    "started"
                )
            if name not in marked:
                marked.add(name)
                self._mark_one(endpoint, phase.name)
            self._apply(phase, fault, endpoint)
        for other in self._endpoints():
            if other.name not in marked:
                self._mark_one(other, phase.name)

    def _apply(self, phase: PhaseSpec, fault: FaultSpec, endpoint: Endpoint) -> None:
        # a fault the plugin applied is in ``active`` before a Ctrl-C can land
        with deferred_signals():
            applied = apply_fault(self.pm, fault, endpoint, self.run, phase.name)
            self.active.append(applied)
            self.applied.append(applied)
        logger.info("phase %s: applied %s at %s", phase.name, fault.label(), endpoint.name)

    def revert_active(self) -> None:
        """Revert every fault in force (latest first); raise if any could not be reverted."""
        failures = undo_all(self.active, lambda applied: revert_fault(self.pm, applied, self.run))
        if failures:
            raise FaultInjectionError(
                "could not revert: "
                + "; ".join(f"{a.label} at {a.endpoint}: {exc}" for a, exc in failures)
            )

    def close(self) -> None:
        """End the last phase and read the endpoints' ledgers. Idempotent."""
        try:
            self.revert_active()
        finally:
            self.phase = None
            if self.on_phase:
                self.on_phase(None)
            if self._marked:
                self._marked = False
                self._mark(None)
                self.vendor = self._collect()

    # -- the vendor-side ledger --------------------------------------------------------------

    def _endpoints(self) -> list[Endpoint]:
        """The run's endpoints: upstreams in fallback order, then proxies."""
        names = [u.name for u in self.scenario.upstreams] + [p.name for p in self.scenario.proxies]
        known = [self.run.endpoints[n] for n in names if n in self.run.endpoints]
        return known + [e for e in self.run.endpoints.values() if e.name not in names]

    def _mark(self, phase: str | None) -> None:
        """Tell every endpoint that ``phase`` starts (None: the run ended)."""
        for endpoint in self._endpoints():
            self._mark_one(endpoint, phase)

    def _mark_one(self, endpoint: Endpoint, phase: str | None) -> None:
        """Tell ``endpoint`` that ``phase`` starts. A failure leaves it uncounted, with the
        reason (its ledger would be wrong); the run goes on."""
        self._marked = True
        if endpoint.name in self._ledger_errors:
            return
        try:
            self.pm.backend(endpoint.backend).mark_phase(endpoint, phase, self.run)
        except Exception as exc:  # the vendor thresholds say "no data", naming this
            what = f"phase {phase!r}" if phase else "the end of the run"
            self._ledger_errors[endpoint.name] = f"could not mark {what}: {exc}"
            logger.warning("endpoint %s: %s", endpoint.name, self._ledger_errors[endpoint.name])

    def _collect(self) -> VendorLedgers:
        ledgers = VendorLedgers()
        for endpoint in self._endpoints():
            if endpoint.name in self._ledger_errors:
                ledgers.uncounted[endpoint.name] = self._ledger_errors[endpoint.name]
                continue
            try:
                phases = self.pm.backend(endpoint.backend).ledger(endpoint, self.run)
            except Exception as exc:
                ledgers.uncounted[endpoint.name] = f"could not read its ledger: {exc}"
                logger.warning("endpoint %s: could not read its ledger: %s", endpoint.name, exc)
                continue
            if phases is None:
                ledgers.uncounted[endpoint.name] = f"backend {endpoint.backend!r} does not count"
                continue
            ledgers.endpoints.append(EndpointLedger(endpoint.name, endpoint.role, dict(phases)))
        return ledgers

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


def apply_fault(
    pm: PluginManager, fault: FaultSpec, endpoint: Endpoint, run: RunContext, phase: str | None
) -> AppliedFault:
    """Apply ``fault`` through ``endpoint``'s backend; a plugin's bug is reported as a fault
    that did not apply, naming the plugin."""
    backend = pm.backend(endpoint.backend)
    where = f" in phase {phase!r}" if phase else ""
    try:
        applied = backend.apply(fault, endpoint, run)
    except HarnessError:
        raise
    except Exception as exc:
        owner = pm.backend_owner.get(endpoint.backend, endpoint.backend)
        raise FaultInjectionError(
            f"fault {fault.label()!r} ({fault.kind}){where} could not be applied at "
            f"{endpoint.name!r}: plugin {owner!r} raised {exc!r}"
        ) from exc
    if not isinstance(applied, AppliedFault):
        owner = pm.backend_owner.get(endpoint.backend, endpoint.backend)
        raise FaultInjectionError(
            f"fault {fault.label()!r} ({fault.kind}){where} at {endpoint.name!r}: plugin "
            f"{owner!r} returned {applied!r} instead of the applied fault"
        )
    applied.phase = phase
    return applied


def revert_fault(pm: PluginManager, applied: AppliedFault, run: RunContext) -> None:
    """Revert ``applied`` through the backend that applied it."""
    pm.backend(applied.backend).revert(applied, run)
    applied.reverted = True
