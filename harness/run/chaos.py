"""``ChaosSession``: what the pytest ``chaos`` fixture gives a test.

It records (every call of the resilient core made during the test is a request, named after
its source, timed on the core's clock, so virtual time works), injects faults through the same
plugin hooks as scenarios do, runs whole scenarios, and checks SLA thresholds::

    def test_survives_a_503_storm(chaos, fake_llm):
        with chaos.inject({"kind": "http_status", "status": 503, "rate": 0.3}, at=fake_llm):
            for _ in range(50):
                llm.complete_sync("hi")
        chaos.assert_sla("availability >= 99%", "p95 < 2s")

Faults are reverted when the ``with`` block (or the test) ends, and a fault that never fired
fails the test unless it is ``optional``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.core import CallFinished, ResilienceEvent, get_clock, subscribe
from harness.errors import FaultInjectionError
from harness.measure.recorder import Recorder
from harness.measure.sla import Threshold, parse_threshold
from harness.measure.verdicts import Verdict, evaluate
from harness.plugin.types import AppliedFault, Endpoint, RunContext
from harness.run.session import RunOptions, run_scenario
from harness.run.timeline import apply_fault, revert_fault
from harness.scenario.faults import FaultSpec, parse_fault

if TYPE_CHECKING:
    from harness.plugin.manager import PluginManager
    from harness.report.model import Report


class SLABreach(AssertionError):
    """Raised by :meth:`ChaosSession.assert_sla`; the message is the verdict table."""

    def __init__(self, verdicts: list[Verdict]) -> None:
        self.verdicts = verdicts
        lines = ["SLA breached:"]
        for v in verdicts:
            mark = {"held": "held    ", "breached": "BREACHED"}.get(v.status, "INCONCLUSIVE")
            lines.append(f"  {mark} {v.threshold.text:<32} {v.detail}")
        super().__init__("\n".join(lines))


class ChaosSession:
    """One test's recorder, injected faults and scenario runs."""

    def __init__(
        self,
        pm: PluginManager,
        run: RunContext,
        *,
        options: RunOptions,
    ) -> None:
        self.pm = pm
        self.run = run
        self.options = options
        self.recorder = Recorder(now=lambda: get_clock().now())
        self.reports: list[Report] = []
        self.verdicts: list[Verdict] = []
        self._injected: list[AppliedFault] = []
        self._stack = contextlib.ExitStack()
        self._unsubscribe = subscribe(self._on_event)

    # -- recording ---------------------------------------------------------------------------------

    def _on_event(self, event: ResilienceEvent) -> None:
        self.recorder.on_event(event)
        if isinstance(event, CallFinished):
            self.recorder.record_request(
                event.source, event.elapsed, ok=event.outcome == "ok", error=event.error
            )

    def record(
        self, name: str, latency: float, *, ok: bool = True, error: str | None = None
    ) -> None:
        """Record one request made by the test itself."""
        self.recorder.record_request(name, latency, ok=ok, error=error)

    @contextlib.contextmanager
    def measure(self, name: str) -> Iterator[None]:
        """Time the block as one request named ``name``; an exception records a failure."""
        started = time.perf_counter()
        try:
            yield
        except Exception as exc:
            self.record(name, time.perf_counter() - started, ok=False, error=type(exc).__name__)
            raise
        self.record(name, time.perf_counter() - started)

    # -- faults ------------------------------------------------------------------------------------

    def endpoint(self, at: Any, *, api: str = "openai") -> Endpoint:
        """The endpoint a fault goes to: an :class:`Endpoint`, or whatever a backend adopts (a
        fake vendor or its control, a URL mocked in-process with respx, a Toxiproxy proxy name
        with the ``toxiproxy`` fixture); the first backend, in plugin order, that knows it."""
        if isinstance(at, Endpoint):
            return at
        for backend in self.pm.backends.values():
            endpoint = backend.adopt(at, self.run, api=api)
            if endpoint is not None:
                self._stack.callback(endpoint.close)
                return endpoint
        hint = (
            " (as a proxy name it needs the `toxiproxy` fixture, --toxiproxy-url or TOXIPROXY_URL)"
            if isinstance(at, str) and "://" not in at
            else ""
        )
        raise FaultInjectionError(
            f"cannot inject a fault at {at!r}: no loaded backend knows it "
            f"(backends: {', '.join(sorted(self.pm.backends))}){hint}"
        )

    def apply(
        self, fault: FaultSpec | dict[str, Any], *, at: Any, api: str = "openai"
    ) -> AppliedFault:
        """Apply ``fault`` at ``at`` until :meth:`revert` (or the end of the test)."""
        spec = parse_fault(fault, self.pm.fault_kinds)
        applied = apply_fault(self.pm, spec, self.endpoint(at, api=api), self.run, None)
        self._injected.append(applied)
        return applied

    def revert(self, applied: AppliedFault) -> None:
        """Revert one applied fault; fail if it never fired (unless it is optional)."""
        if applied.reverted:
            return
        revert_fault(self.pm, applied, self.run)
        if applied.fired == 0 and not applied.fault.optional:
            raise FaultInjectionError(
                f"fault {applied.label!r} ({applied.fault.kind}) never fired: the test did not "
                "exercise it (mark it optional if that is expected)"
            )

    @contextlib.contextmanager
    def inject(
        self, fault: FaultSpec | dict[str, Any], *, at: Any, api: str = "openai"
    ) -> Iterator[AppliedFault]:
        """Apply ``fault`` for the block; revert (and check it fired) on the way out."""
        applied = self.apply(fault, at=at, api=api)
        try:
            yield applied
        except BaseException:
            with contextlib.suppress(FaultInjectionError):
                self.revert(applied)
            raise
        self.revert(applied)

    # -- SLA --

    def check(self, *thresholds: str | Threshold) -> list[Verdict]:
        """Evaluate thresholds over what this test recorded."""
        parsed = [t if isinstance(t, Threshold) else parse_threshold(t) for t in thresholds]
        verdicts = evaluate(parsed, self.recorder)
        self.verdicts.extend(verdicts)
        return verdicts

    def assert_sla(self, *thresholds: str | Threshold) -> list[Verdict]:
        """Like :meth:`check`, raising :class:`SLABreach` when any threshold breaks."""
        verdicts = self.check(*thresholds)
        if not all(v.held for v in verdicts):
            raise SLABreach(verdicts)
        return verdicts

    # -- scenarios --

    def run_scenario(self, scenario: Any, **overrides: Any) -> Report:
        """Run a scenario (a path or a :class:`Scenario`) and return its report."""
        source = ""
        if isinstance(scenario, str | Path):
            source = str(scenario)
            scenario = self.pm.load_scenario(scenario)
        else:
            self.pm.check_scenario(scenario, scenario.name)
        report = run_scenario(scenario, self.pm, replace(self.options, **overrides), source=source)
        self.reports.append(report)
        return report

    # -- teardown --

    def close(self) -> None:
        """Revert what is still applied, stop what was started; raise the first problem."""
        problems: list[str] = []
        try:
            for applied in self._injected:
                try:
                    self.revert(applied)
                except FaultInjectionError as exc:
                    problems.append(str(exc))
        finally:
            self._unsubscribe()
            self._stack.close()
        if problems:
            raise FaultInjectionError("; ".join(problems))
