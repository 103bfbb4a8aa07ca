"""The fault timeline (``harness.run.timeline``): faults go in at a phase's start and come out at its
end in reverse order, always, even on error; revert failures are reported; a fault that never
fired is flagged unless optional or not countable."""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.errors import FaultInjectionError
from harness.plugin.hookspecs import hookimpl
from harness.plugin.manager import PluginManager
from harness.plugin.types import AppliedFault, Endpoint, FaultBackend, RunContext
from harness.report.model import FaultRecord
from harness.run.timeline import Timeline
from harness.scenario.faults import FaultSpec
from harness.scenario.loader import parse_scenario
from harness.scenario.model import Scenario

SCENARIO = """\
name: timeline
target: {core: llm}
upstreams:
  - {name: primary, backend: fake}
  - {name: backup, backend: fake}
phases:
  - {name: calm, duration: 1s}
  - name: storm
    duration: 1s
    faults:
      - {kind: http_status, target: primary, status: 503, name: first}
      - {kind: latency, target: backup, latency: 1s, name: second}
      - {kind: connection_reset, target: primary, name: third, optional: true}
  - name: drizzle
    duration: 1s
    faults:
      - {kind: empty_response, target: backup, name: fourth}
"""


@dataclass
class FakeBackend:
    """Applies and reverts faults in memory; ``fail_*`` make it misbehave on a label."""

    events: list[str] = field(default_factory=list)
    fired: dict[str, int | None] = field(default_factory=dict)
    fail_apply: dict[str, BaseException] = field(default_factory=dict)
    fail_revert: dict[str, BaseException] = field(default_factory=dict)
    decline: set[str] = field(default_factory=set)
    on_revert: Any = None

    @hookimpl
    def harness_fault_backends(self) -> list[FaultBackend]:
        return [_Backend(self)]


class _Backend(FaultBackend):
    name = "fake"
    kinds = frozenset({"http_status", "latency", "connection_reset", "empty_response"})
    where = "upstream"

    def __init__(self, state: FakeBackend) -> None:
        self.state = state

    def apply(self, fault: FaultSpec, endpoint: Endpoint, run: RunContext) -> AppliedFault:
        label = fault.label()
        if label in self.state.decline:
            return None  # type: ignore[return-value]  # a plugin bug the engine must catch
        if label in self.state.fail_apply:
            raise self.state.fail_apply[label]
        self.state.events.append(f"apply {label}@{endpoint.name}")
        return self.applied(fault, endpoint, label)

    def revert(self, applied: AppliedFault, run: RunContext) -> None:
        state = self.state
        label = applied.handle
        if state.on_revert is not None:
            state.on_revert(label)
        if label in state.fail_revert:
            raise state.fail_revert[label]
        state.events.append(f"revert {label}")
        applied.fired = state.fired.get(label, 1)


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def scenario() -> Scenario:
    return parse_scenario(SCENARIO)


@pytest.fixture
def pm(backend: FakeBackend) -> PluginManager:
    manager = PluginManager()
    manager.add(backend, "fake")
    manager.check()
    return manager


@pytest.fixture
def run(tmp_path: Any) -> RunContext:
    run = RunContext(run_id="r", seed=1, report_dir=tmp_path)
    for name in ("primary", "backup"):
        run.endpoints[name] = Endpoint(name=name, role="upstream", backend="fake")
    return run


def _phase(scenario: Scenario, name: str) -> Any:
    return next(p for p in scenario.phases if p.name == name)


def test_faults_go_in_at_phase_start_and_out_at_its_end_in_reverse(
    scenario: Scenario, pm: PluginManager, run: RunContext, backend: FakeBackend
) -> None:
    phases: list[str | None] = []
    with Timeline(scenario, pm, run, on_phase=phases.append) as timeline:
        timeline.enter(_phase(scenario, "calm"))
        assert backend.events == []
        timeline.enter(_phase(scenario, "storm"))
        assert backend.events == [
            "apply first@primary",
            "apply second@backup",
            "apply third@primary",
        ]
        assert [a.label for a in timeline.active] == ["first", "second", "third"]
        backend.events.clear()
        timeline.enter(_phase(scenario, "drizzle"))
        assert backend.events == [
            "revert third",
            "revert second",
            "revert first",
            "apply fourth@backup",
        ]
        backend.events.clear()
    assert backend.events == ["revert fourth"]
    assert phases == ["calm", "storm", "drizzle", None]
    assert timeline.active == [] and timeline.phase is None
    assert all(a.reverted for a in timeline.applied)
    timeline.close()  # idempotent
    assert backend.events == ["revert fourth"]


def test_records_say_what_happened_to_each_fault(
    scenario: Scenario, pm: PluginManager, run: RunContext, backend: FakeBackend
) -> None:
    backend.fired = {"first": 12, "second": 0, "third": 0, "fourth": None}
    with Timeline(scenario, pm, run) as timeline:
        timeline.enter(_phase(scenario, "storm"))
        timeline.enter(_phase(scenario, "drizzle"))
    assert timeline.records() == [
        FaultRecord("first", "http_status", "storm", "primary", optional=False, fired=12),
        FaultRecord("second", "latency", "storm", "backup", optional=False, fired=0),
        FaultRecord("third", "connection_reset", "storm", "primary", optional=True, fired=0),
        FaultRecord("fourth", "empty_response", "drizzle", "backup", optional=False, fired=None),
    ]
    # fired == 0 fails the run; optional faults and uncountable ones (None) do not
    assert [r.label for r in timeline.never_fired()] == ["second"]


def test_faults_are_reverted_when_the_run_fails(
    scenario: Scenario, pm: PluginManager, run: RunContext, backend: FakeBackend
) -> None:
    with pytest.raises(RuntimeError, match="load generator crashed"):  # noqa: SIM117
        with Timeline(scenario, pm, run) as timeline:
            timeline.enter(_phase(scenario, "storm"))
            raise RuntimeError("load generator crashed")
    assert backend.events[-3:] == ["revert third", "revert second", "revert first"]
    assert timeline.active == []


def test_faults_are_reverted_on_ctrl_c(
    scenario: Scenario, pm: PluginManager, run: RunContext, backend: FakeBackend
) -> None:
    with pytest.raises(KeyboardInterrupt):  # noqa: SIM117
        with Timeline(scenario, pm, run) as timeline:
            timeline.enter(_phase(scenario, "storm"))
            raise KeyboardInterrupt
    assert backend.events[-3:] == ["revert third", "revert second", "revert first"]


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            FaultInjectionError("the vendor's control API said 500"),
            "the vendor's control API said 500",
        ),
        (
            ValueError("bug in the plugin"),
            "fault 'second' (latency) in phase 'storm' could not be applied at 'backup': plugin "
            "'fake' raised ValueError('bug in the plugin')",
        ),
    ],
)
def test_a_failing_apply_still_reverts_what_was_applied(
    scenario: Scenario,
    pm: PluginManager,
    run: RunContext,
    backend: FakeBackend,
    error: Exception,
    message: str,
) -> None:
    backend.fail_apply["second"] = error
    with pytest.raises(FaultInjectionError) as info:  # noqa: SIM117
        with Timeline(scenario, pm, run) as timeline:
            timeline.enter(_phase(scenario, "storm"))
    assert str(info.value) == message
    assert backend.events == ["apply first@primary", "revert first"]
    assert [a.label for a in timeline.applied] == ["first"]
    assert info.value.exit_code == 3


def test_a_fault_no_plugin_applies_is_an_error(
    scenario: Scenario, pm: PluginManager, run: RunContext, backend: FakeBackend
) -> None:
    backend.decline.add("first")
    timeline = Timeline(scenario, pm, run)
    with pytest.raises(FaultInjectionError) as info:
        timeline.enter(_phase(scenario, "storm"))
    assert str(info.value) == (
        "fault 'first' (http_status) in phase 'storm' at 'primary': plugin 'fake' returned "
        "None instead of the applied fault"
    )


def test_a_fault_at_an_endpoint_that_did_not_start_is_an_error(
    scenario: Scenario, pm: PluginManager, run: RunContext
) -> None:
    del run.endpoints["backup"]
    with pytest.raises(FaultInjectionError) as info:  # noqa: SIM117
        with Timeline(scenario, pm, run) as timeline:
            timeline.enter(_phase(scenario, "storm"))
    assert str(info.value) == ("fault 'second' in phase 'storm': endpoint 'backup' was not started")


def test_revert_failures_are_reported_after_every_revert_was_tried(
    scenario: Scenario, pm: PluginManager, run: RunContext, backend: FakeBackend
) -> None:
    backend.fail_revert["second"] = FaultInjectionError("toxic still listed")
    backend.fail_revert["third"] = OSError("connection refused")
    timeline = Timeline(scenario, pm, run)
    timeline.enter(_phase(scenario, "storm"))
    with pytest.raises(FaultInjectionError) as info:
        timeline.close()
    assert str(info.value) == (
        "could not revert: third at primary: connection refused; second at backup: toxic still listed"
    )
    assert backend.events[-1] == "revert first"
    assert [(a.label, a.reverted) for a in timeline.applied] == [
        ("first", True),
        ("second", False),
        ("third", False),
    ]
    # a fault whose revert failed cannot say how often it fired: not flagged as never fired
    assert timeline.never_fired() == []


def test_a_revert_failure_after_an_error_is_logged_and_noted_on_that_error(
    scenario: Scenario,
    pm: PluginManager,
    run: RunContext,
    backend: FakeBackend,
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend.fail_revert["first"] = FaultInjectionError("proxy gone")
    with pytest.raises(RuntimeError) as info:  # noqa: SIM117
        with Timeline(scenario, pm, run) as timeline:
            timeline.enter(_phase(scenario, "storm"))
            raise RuntimeError("driver failed")
    assert info.value.__notes__ == ["could not revert: first at primary: proxy gone"]
    assert "cleaning up after RuntimeError('driver failed') failed" in caplog.text
    assert [r.levelno for r in caplog.records] == [logging.ERROR]
    assert backend.events[-2:] == ["revert third", "revert second"]


def test_ctrl_c_during_a_revert_waits_until_every_fault_is_out(
    scenario: Scenario, pm: PluginManager, run: RunContext, backend: FakeBackend
) -> None:
    interrupted: list[str] = []

    def press_ctrl_c(label: str) -> None:
        if not interrupted:
            interrupted.append(label)
            signal.raise_signal(signal.SIGINT)

    backend.on_revert = press_ctrl_c
    timeline = Timeline(scenario, pm, run)
    timeline.enter(_phase(scenario, "storm"))
    with pytest.raises(KeyboardInterrupt):
        timeline.close()
    assert interrupted == ["third"]
    assert backend.events[-3:] == ["revert third", "revert second", "revert first"]
    assert timeline.active == []
