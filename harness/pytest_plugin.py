"""The harness's pytest plugin (entry point ``pytest11``): chaos fixtures, SLA markers, scenarios.

Cheap to import: only pytest at module level; the engine, the servers and plotly load when a
fixture or a scenario item needs them. Never imports Locust (which gevent-patches the process)
and keeps clear of Locust's own pytest plugin (``--host``, fixtures ``session``/``fastsession``).

- Fixtures: ``chaos`` (inject faults, record, run scenarios, assert thresholds), ``fake_llm`` (a
  running fake OpenAI/Anthropic vendor, faults cleared after each test), ``toxiproxy`` (a client
  of the embedded server or of ``--toxiproxy-url``/``TOXIPROXY_URL``; proxies and toxics a test
  creates are removed after it), ``virtual_clock`` (the core sleeps on it).
- Markers: ``@pytest.mark.sla("p95 < 800ms", ...)`` checks thresholds over what the test
  recorded; ``@pytest.mark.chaos({"kind": ...}, at="fake_llm")`` applies faults for the test.
- ``pytest scenarios/`` collects each scenario YAML as one test item and runs it in-process.
- At the end: a terminal table of thresholds, observed values and verdicts, and one session
  report (JSON/JUnit/Markdown/HTML) merged exactly across pytest-xdist workers.

Property-based chaos: :mod:`harness.strategies` generates fault sequences (and whole scenarios)
for Hypothesis, played by the in-process respx vendor (``harness_respx.mock_vendor``) on a
virtual clock, so hundreds of examples take seconds. The pattern::

    @given(strategies.fault_sequences(strategies.TRANSIENT, max_size=4))
    def test_any_short_storm_is_absorbed(faults):
        note(strategies.scenario_snippet(faults))          # printed if the example fails
        with use_clock(VirtualClock()) as clock, mock_vendor(URL, strict=False) as vendor:
            for fault in strategies.in_order(faults):       # one fault per request, in order
                vendor.inject(fault)
            answer = llm.complete_sync("hi")                # fewer faults than attempts
        assert answer.text and clock.now() <= llm.policy.deadline

A failing example is printed as a scenario snippet to paste under ``scenarios/``.
``scenarios/test_chaos_properties.py`` holds the shipped properties.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from harness.core import VirtualClock
    from harness.plugin.manager import PluginManager
    from harness.report.model import Report
    from harness.run.chaos import ChaosSession
    from harness.run.session import RunOptions

PROPERTY = "harness"
DEFAULT_PATTERNS = ["scenarios/*.yaml", "scenarios/*.yml", "*/chaos_*.yaml"]


# -- options and markers ----------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "chaos engineering and SLA gates (harness)")
    group.addoption(
        "--chaos-report-dir",
        default=None,
        help="directory for chaos reports (default: ini chaos_report_dir, else reports/)",
    )
    group.addoption(
        "--toxiproxy-url",
        default=None,
        help="a running Toxiproxy to use (default: $TOXIPROXY_URL, else an embedded server)",
    )
    group.addoption(
        "--chaos-seed", type=int, default=None, help="seed for reproducible fault schedules"
    )
    group.addoption(
        "--sla-record-only",
        action="store_true",
        default=False,
        help="record SLA breaches in the reports without failing the tests",
    )
    group.addoption(
        "--chaos-allow-inconclusive",
        action="store_true",
        default=False,
        help="let a scenario pass whose measurement was inconclusive (load generator saturated, "
        "too few samples for a percentile); by default it fails, as `harness gate` does",
    )
    group.addoption(
        "--chaos-no-resilience",
        dest="chaos_resilience",
        action="store_false",
        default=True,
        help="run scenario targets with the resilient core off (the naive client)",
    )
    group.addoption(
        "--chaos-disable-plugin",
        action="append",
        default=[],
        metavar="NAME",
        help="disable a harness plugin by name (repeatable; also $HARNESS_DISABLE_PLUGINS)",
    )
    group.addoption(
        "--chaos-users", type=int, default=None, help="override the users of every scenario"
    )
    group.addoption(
        "--chaos-stack-file",
        default=None,
        metavar="FILE",
        help="run scenarios against the stack `harness stack up` started (its stack file)",
    )
    parser.addini("chaos_report_dir", "directory for chaos reports", default="reports")
    parser.addini(
        "chaos_scenario_patterns",
        "glob patterns, on '<directory>/<file>', of YAML files collected as chaos scenarios "
        "(default: files directly in a scenarios/ directory, and chaos_*.yaml)",
        type="linelist",
        default=DEFAULT_PATTERNS,
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sla(*thresholds): fail the test when a threshold (e.g. 'p95 < 800ms', "
        "'availability >= 99%') breaks over what it recorded through the chaos fixture",
    )
    config.addinivalue_line(
        "markers",
        "chaos(*faults, at='fake_llm', api='openai'): apply fault specs (mappings with a 'kind') "
        "for the test's duration at the fake_llm vendor, a URL (mocked with respx) or "
        "'toxiproxy:<proxy>'",
    )
    state = _State(config)
    config.stash[_STATE] = state
    config.pluginmanager.register(_Results(state), "harness-results")


class _State:
    """Per-session state, in ``config.stash`` (not a global)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._pm: PluginManager | None = None
        self.snapshots: list[dict[str, Any]] = []
        self.verdict_rows: list[dict[str, Any]] = []
        self.scenario_lines: list[tuple[str, list[str]]] = []
        self.session_report: Path | None = None

    @property
    def pm(self) -> PluginManager:
        if self._pm is None:
            from harness.plugin.manager import get_plugin_manager

            self._pm = get_plugin_manager(disable=self.config.getoption("chaos_disable_plugin"))
        return self._pm

    @property
    def is_worker(self) -> bool:
        return hasattr(self.config, "workerinput")

    def report_dir(self) -> Path:
        chosen = self.config.getoption("chaos_report_dir") or self.config.getini("chaos_report_dir")
        path = Path(chosen)
        return path if path.is_absolute() else self.config.rootpath / path

    def run_options(self, driver: str = "pytest") -> RunOptions:
        from harness.report.files import check_report_dir
        from harness.run.session import RunOptions

        return RunOptions(
            report_dir=check_report_dir(self.report_dir(), "--chaos-report-dir"),
            seed=self.config.getoption("chaos_seed"),
            resilience=self.config.getoption("chaos_resilience"),
            users=self.config.getoption("chaos_users"),
            driver=driver,
            toxiproxy_url=self.toxiproxy_url(),
            stack_file=_path_or_none(self.config.getoption("chaos_stack_file")),
        )

    def toxiproxy_url(self) -> str | None:
        import os

        return self.config.getoption("toxiproxy_url") or os.environ.get("TOXIPROXY_URL") or None


_STATE = pytest.StashKey[_State]()


def _path_or_none(value: str | None) -> Path | None:
    return Path(value) if value else None


def _state(config: pytest.Config) -> _State:
    return config.stash[_STATE]


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def virtual_clock() -> Iterator[VirtualClock]:
    """A virtual clock the resilient core sleeps on: backoff schedules take no real time."""
    from harness.core import VirtualClock, use_clock

    clock = VirtualClock()
    with use_clock(clock):
        yield clock


@pytest.fixture
def chaos(request: pytest.FixtureRequest) -> Iterator[ChaosSession]:
    """Inject faults, record what the resilient core does, run scenarios, assert SLA."""
    from harness.plugin.types import RunContext
    from harness.report.files import new_run_id
    from harness.run.chaos import ChaosSession

    state = _state(request.config)
    options = state.run_options()
    marker_faults = list(request.node.iter_markers("chaos"))
    toxiproxy_url = options.toxiproxy_url
    if "toxiproxy" in request.fixturenames or any(
        str(m.kwargs.get("at", "")).startswith("toxiproxy:") for m in marker_faults
    ):
        toxiproxy_url = request.getfixturevalue("toxiproxy").url
    run = RunContext(
        run_id=new_run_id(request.node.name),
        seed=options.seed if options.seed is not None else 0,
        report_dir=options.report_dir,
        toxiproxy_url=toxiproxy_url,
    )
    session = ChaosSession(state.pm, run, options=options)
    try:
        for marker in marker_faults:
            at = marker.kwargs.get("at", "fake_llm")
            if at == "fake_llm":
                at = request.getfixturevalue("fake_llm")
            elif isinstance(at, str) and at.startswith("toxiproxy:"):
                at = at.split(":", 1)[1]
            for fault in marker.args:
                session.apply(fault, at=at, api=marker.kwargs.get("api", "openai"))
        yield session
    finally:
        try:
            session.close()
        finally:
            _attach(request.node, session)


def _attach(item: Any, session: ChaosSession) -> None:
    """Send what the test recorded to the controller (works across pytest-xdist workers)."""
    if not (session.recorder.requests or session.verdicts or session.recorder.resilience):
        return
    session.recorder.finish()
    payload = {
        "snapshot": session.recorder.snapshot(),
        "verdicts": [
            {
                "text": v.threshold.text,
                "observed": v.observed,
                "status": v.status,
                "detail": v.detail,
                "limit": v.limit,
                "baseline": v.baseline,
                "samples": v.samples,
            }
            for v in session.verdicts
        ],
    }
    item.user_properties.append((PROPERTY, json.dumps(payload)))


# -- markers ----------------------------------------------------------------------------------


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        marked = item.get_closest_marker("sla") or item.get_closest_marker("chaos")
        if marked and "chaos" not in item.fixturenames:
            item.fixturenames.append("chaos")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    result = yield
    marker = item.get_closest_marker("sla")
    if marker is None or not isinstance(item, pytest.Function):
        return result
    session = item.funcargs.get("chaos")
    if session is None:
        return result
    from harness.run.chaos import SLABreach

    verdicts = session.check(*marker.args)  # type: ignore[attr-defined]
    if not all(v.held for v in verdicts) and not item.config.getoption("sla_record_only"):
        pytest.fail(str(SLABreach(verdicts)), pytrace=False)
    return result


# -- scenario files ----------------------------------------------------------------------------


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    patterns = parent.config.getini("chaos_scenario_patterns")
    relative = f"{file_path.parent.name}/{file_path.name}"
    named = file_path in _named_files(parent.config)  # `pytest my_scenario.yaml`
    if not named and not any(fnmatch.fnmatch(relative, pattern) for pattern in patterns):
        return None
    return ScenarioFile.from_parent(parent, path=file_path)


def _named_files(config: pytest.Config) -> set[Path]:
    """The files named on the command line (a YAML file given by name is always a scenario)."""
    root = config.invocation_params.dir
    return {(root / arg.split("::")[0]).resolve() for arg in config.invocation_params.args}


class ScenarioFile(pytest.File):
    """A scenario YAML file: one test item."""

    def collect(self) -> Iterator[pytest.Item]:
        yield ScenarioItem.from_parent(self, name=self.path.stem)


class ScenarioFailed(Exception):
    """The scenario ran and breached its SLA (or a declared fault never fired)."""

    def __init__(self, report: Report) -> None:
        super().__init__(report.scenario.name)
        self.report = report


class ScenarioItem(pytest.Item):
    """Runs one scenario in-process against its target; fails when its SLA breaks."""

    report: Report | None = None

    def runtest(self) -> None:
        from harness.run.session import run_scenario

        state = _state(self.config)
        scenario = state.pm.load_scenario(self.path)
        report = run_scenario(scenario, state.pm, state.run_options(), source=str(self.path))
        self.report = report
        self.user_properties.append(
            (
                f"{PROPERTY}-scenario",
                json.dumps(
                    {"name": report.scenario.name, "held": report.held, "lines": _summary(report)}
                ),
            )
        )
        for row in report.thresholds:
            self.user_properties.append(
                (f"sla: {row.text}", f"{row.observed_text} ({row.verdict})")
            )
        if report.verdict == "inconclusive" and self.config.getoption("chaos_allow_inconclusive"):
            return
        if not report.held and not self.config.getoption("sla_record_only"):
            raise ScenarioFailed(report)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        from harness.errors import HarnessError

        if isinstance(excinfo.value, ScenarioFailed):
            return "\n".join(_summary(excinfo.value.report))
        if isinstance(excinfo.value, HarnessError):
            return f"{type(excinfo.value).__name__}: {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"chaos scenario {self.name}"


def _summary(report: Report) -> list[str]:
    from harness.report.summary import run_summary

    return run_summary(report)


# -- collecting results and the session report ---------------------------------------------------


class _Results:
    """Collects what tests and scenarios recorded (arriving from xdist workers too) and writes
    the session report. Registered as a plugin object per session: no module-level state."""

    def __init__(self, state: _State) -> None:
        self.state = state
        self.logs: list[tuple[str, dict[str, Any]]] = []
        self.scenarios: list[tuple[str, dict[str, Any]]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == PROPERTY and report.when == "teardown":
                self.logs.append((report.nodeid, json.loads(str(value))))
            elif name == f"{PROPERTY}-scenario" and report.when == "call":
                self.scenarios.append((report.nodeid, json.loads(str(value))))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.state.is_worker or not self.logs:
            return
        self.state.session_report = self._write_session_report(session)

    def _write_session_report(self, session: pytest.Session) -> Path | None:
        from datetime import UTC, datetime

        from harness.measure.recorder import merge_snapshots
        from harness.measure.sla import parse_threshold
        from harness.measure.verdicts import Verdict
        from harness.report.build import build_report
        from harness.report.files import new_run_id
        from harness.report.model import ScenarioInfo
        from harness.run.session import write_reports

        recorder = merge_snapshots(payload["snapshot"] for _, payload in self.logs)
        verdicts = []
        scopes = []
        for nodeid, payload in self.logs:
            for row in payload["verdicts"]:
                threshold = parse_threshold(row["text"])
                verdicts.append(
                    Verdict(
                        threshold,
                        row["observed"],
                        row["status"],
                        row["detail"],
                        row["limit"],
                        row["baseline"],
                        row["samples"],
                    )
                )
                scopes.append(nodeid)
        name = f"pytest {session.config.rootpath.name}"
        report = build_report(
            run_id=new_run_id(name),
            driver="pytest",
            scenario=ScenarioInfo(name=name, description="SLA checks of the pytest session"),
            target="pytest",
            seed=self.state.config.getoption("chaos_seed") or 0,
            started_at=datetime.now(UTC),
            recorder=recorder,
            verdicts=verdicts,
            phases=[],
            faults=[],
        )
        for row, scope in zip(report.thresholds, scopes, strict=True):
            row.scope = f"{scope} {row.scope}".strip()
        paths = write_reports(report, self.state.pm, self.state.report_dir())
        return paths[0] if paths else None

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.state.is_worker:
            return
        verdict_logs = [(nodeid, p) for nodeid, p in self.logs if p["verdicts"]]
        if not (self.scenarios or verdict_logs):
            return
        terminalreporter.section("chaos SLA summary")
        for nodeid, payload in self.scenarios:
            terminalreporter.write_line(f"{nodeid}:")
            for line in payload["lines"]:
                terminalreporter.write_line(f"  {line}")
        for nodeid, payload in verdict_logs:
            terminalreporter.write_line(f"{nodeid}:")
            for row in payload["verdicts"]:
                mark = {"held": "held    ", "breached": "BREACHED"}.get(
                    row["status"], "INCONCLUSIVE"
                )
                terminalreporter.write_line(f"  {mark} {row['text']:<32} {row['detail']}")
        if self.state.session_report is not None:
            terminalreporter.write_line(f"session report: {self.state.session_report}")
