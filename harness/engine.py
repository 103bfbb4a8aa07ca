"""The harness engine's public API: load scenarios, run them, evaluate SLA thresholds, read
reports. What the CLI, the pytest plugin and the Locust driver are built on.

    from harness.engine import get_plugin_manager, run_scenario, RunOptions

    pm = get_plugin_manager()
    scenario = pm.load_scenario("scenarios/primary_outage.yaml")
    report = run_scenario(scenario, pm, RunOptions(report_dir=Path("reports")))
    print(report.held)
"""

from harness.errors import (
    EXIT_BREACH,
    EXIT_INFRA,
    EXIT_INPUT,
    EXIT_OK,
    FaultInjectionError,
    HarnessError,
    InfrastructureError,
    InputError,
    PluginError,
    ScenarioError,
)
from harness.measure.recorder import Recorder
from harness.measure.sla import Threshold, parse_threshold
from harness.measure.verdicts import Verdict, evaluate
from harness.plugin.manager import PluginManager, get_plugin_manager
from harness.report.files import load_report
from harness.report.gate import gate
from harness.report.model import Report
from harness.report.summary import run_summary
from harness.run.chaos import ChaosSession, SLABreach
from harness.run.session import RunOptions, run_scenario, write_reports
from harness.scenario.faults import FaultSpec, parse_fault
from harness.scenario.loader import load_scenario, parse_scenario
from harness.scenario.model import Scenario

__all__ = [
    "EXIT_BREACH",
    "EXIT_INFRA",
    "EXIT_INPUT",
    "EXIT_OK",
    "ChaosSession",
    "FaultInjectionError",
    "FaultSpec",
    "HarnessError",
    "InfrastructureError",
    "InputError",
    "PluginError",
    "PluginManager",
    "Recorder",
    "Report",
    "RunOptions",
    "SLABreach",
    "Scenario",
    "ScenarioError",
    "Threshold",
    "Verdict",
    "evaluate",
    "gate",
    "get_plugin_manager",
    "load_report",
    "load_scenario",
    "parse_fault",
    "parse_scenario",
    "parse_threshold",
    "run_scenario",
    "run_summary",
    "write_reports",
]
