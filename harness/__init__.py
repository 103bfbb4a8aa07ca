"""Chaos and resilience harness for GenAI services.

``harness.core`` is the resilient core you ship. This package is the engine that proves it:
scenarios, fault timelines, metrics, SLA thresholds and reports, with fault backends and
reporters as plugins (``harness.hookspecs``). Public names load lazily, so importing
``harness`` (as the pytest plugin does) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness._chaos import ChaosSession, SLABreach
    from harness._errors import (
        FaultInjectionError,
        HarnessError,
        InfrastructureError,
        InputError,
        PluginError,
        ScenarioError,
    )
    from harness._faults import FaultSchedule, FaultSpec, HttpFault, NetworkFault, parse_fault
    from harness._loader import load_scenario, parse_scenario
    from harness._metrics import Recorder
    from harness._plugin_types import AppliedFault, Endpoint, FaultBackend, Reporter, RunContext
    from harness._plugins import PluginManager, get_plugin_manager
    from harness._report import Report, load_report, write_atomic
    from harness._scenario import Scenario
    from harness._session import RunOptions, run_scenario
    from harness._sla import Threshold, parse_threshold
    from harness._units import Duration, Rate, parse_duration, parse_rate
    from harness._verdicts import Verdict, evaluate
    from harness.hookspecs import hookimpl, hookspec

__all__ = [
    "AppliedFault",
    "ChaosSession",
    "Duration",
    "Endpoint",
    "FaultBackend",
    "FaultInjectionError",
    "FaultSchedule",
    "FaultSpec",
    "HarnessError",
    "HttpFault",
    "InfrastructureError",
    "InputError",
    "NetworkFault",
    "PluginError",
    "PluginManager",
    "Rate",
    "Recorder",
    "Report",
    "Reporter",
    "RunContext",
    "RunOptions",
    "SLABreach",
    "Scenario",
    "ScenarioError",
    "Threshold",
    "Verdict",
    "evaluate",
    "get_plugin_manager",
    "hookimpl",
    "hookspec",
    "load_report",
    "load_scenario",
    "parse_duration",
    "parse_fault",
    "parse_rate",
    "parse_scenario",
    "parse_threshold",
    "run_scenario",
    "write_atomic",
]

_WHERE = {
    "ChaosSession": "_chaos",
    "SLABreach": "_chaos",
    "FaultInjectionError": "_errors",
    "HarnessError": "_errors",
    "InfrastructureError": "_errors",
    "InputError": "_errors",
    "PluginError": "_errors",
    "ScenarioError": "_errors",
    "FaultSchedule": "_faults",
    "FaultSpec": "_faults",
    "HttpFault": "_faults",
    "NetworkFault": "_faults",
    "parse_fault": "_faults",
    "load_scenario": "_loader",
    "parse_scenario": "_loader",
    "Recorder": "_metrics",
    "AppliedFault": "_plugin_types",
    "Endpoint": "_plugin_types",
    "FaultBackend": "_plugin_types",
    "Reporter": "_plugin_types",
    "RunContext": "_plugin_types",
    "PluginManager": "_plugins",
    "get_plugin_manager": "_plugins",
    "Report": "_report",
    "load_report": "_report",
    "write_atomic": "_report",
    "Scenario": "_scenario",
    "RunOptions": "_session",
    "run_scenario": "_session",
    "Threshold": "_sla",
    "parse_threshold": "_sla",
    "Duration": "_units",
    "Rate": "_units",
    "parse_duration": "_units",
    "parse_rate": "_units",
    "Verdict": "_verdicts",
    "evaluate": "_verdicts",
    "hookimpl": "hookspecs",
    "hookspec": "hookspecs",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    # Not cached in globals(): a re-imported submodule (pytester's in-process runs restore
    # sys.modules) must not leave a stale class behind this name.
    return getattr(importlib.import_module(f"harness.{module}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
