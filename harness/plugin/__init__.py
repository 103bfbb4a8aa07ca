"""The public API for harness plugins: everything a fault backend or a reporter codes against.

A plugin is a module (or object) registered in the ``harness`` entry-point group whose
``harness_*`` functions implement the hooks of :mod:`harness.plugin.hookspecs`. The built-in
plugins (``harness_fake_vendor``, ``harness_respx``, ``harness_toxiproxy``, ``harness_sqlite``,
``harness_reporters``) import only this module and its submodules, as a third-party plugin
would; a ruff rule (``plugins/ruff.toml``) keeps it so.

What is here, by what a plugin does:

- declare fault kinds: :class:`FaultSpec` and its families :class:`HttpFault` and
  :class:`NetworkFault` (subclass one, with ``kind: Literal["x"] = "x"``), the built-in kinds,
  :class:`FaultSchedule` (decides per request whether a fault fires, seeded), the field types
  :data:`Duration` and :data:`Rate`;
- serve them: :class:`FaultBackend` (the base class of a backend: start, attach, apply, revert,
  and the vendor-side ledger: ``mark_phase``, ``ledger``),
  :class:`Endpoint`, :class:`AppliedFault`, :class:`RunContext`, :class:`UpstreamSpec`,
  :class:`ProxySpec`; HTTP backends share :class:`FaultBook` (which installed faults fire on a
  request, and how they combine) and the vendors' wire formats in :mod:`harness.plugin.wire`;
  every endpoint that can count keeps a :class:`VendorLedger` of :class:`VendorStats` per phase;
  servers started as child processes use :func:`start_server`; a server or client used as a
  ``with`` block subclasses :class:`Closing` (its exit runs ``close()``, and a failure to close
  after the block raised goes on as a note on that error, not in its place);
- report: :class:`Reporter`, the :class:`Report` model and its rows, :func:`write_atomic`,
  :func:`run_summary`, :func:`format_metric_value`;
- fail loudly: the error hierarchy (:class:`InputError` exit 2, :class:`InfrastructureError`
  and :class:`FaultInjectionError` exit 3, ...).
"""

from harness.errors import (
    FaultInjectionError,
    HarnessError,
    InfrastructureError,
    InputError,
    PluginError,
    ScenarioError,
)
from harness.measure.sla import format_metric_value, metric_kind
from harness.measure.vendor import VendorStats, ledger_from_json
from harness.plugin.closing import Closing
from harness.plugin.hookspecs import hookimpl, hookspec
from harness.plugin.httpfaults import (
    SUPPORTED_KINDS,
    FaultBook,
    FaultEntry,
    Plan,
    StreamPlacement,
    TerminalFault,
)
from harness.plugin.ledger import LedgerCall, VendorLedger, retry_after_seconds
from harness.plugin.net import IDLE_CONNECTION_EXPIRY, is_loopback_host, loopback_problem
from harness.plugin.process import ChildProcess, start_server
from harness.plugin.types import AppliedFault, Endpoint, FaultBackend, Reporter, RunContext
from harness.report.files import write_atomic
from harness.report.model import (
    REPORT_VERSION,
    FaultRow,
    PhaseRow,
    Report,
    RequestRow,
    ResilienceRow,
    ScenarioInfo,
    SecondRow,
    ThresholdRow,
    VendorPhaseRow,
    VendorRow,
)
from harness.report.summary import run_summary
from harness.scenario.faults import (
    BandwidthFault,
    ConnectionResetFault,
    DownFault,
    EmptyResponseFault,
    FaultLayer,
    FaultSchedule,
    FaultSpec,
    FirstTokenDelayFault,
    HttpFault,
    HttpStatusFault,
    LatencyFault,
    LimitDataFault,
    MalformedStreamFault,
    NetworkFault,
    ResetPeerFault,
    SlicerFault,
    SlowCloseFault,
    StreamCutFault,
    StreamStallFault,
    TimeoutFault,
    parse_fault,
)
from harness.scenario.model import ProxySpec, Scenario, UpstreamSpec
from harness.units import Duration, Rate, format_duration, parse_duration, parse_rate

__all__ = [
    "IDLE_CONNECTION_EXPIRY",
    "REPORT_VERSION",
    "SUPPORTED_KINDS",
    "AppliedFault",
    "BandwidthFault",
    "ChildProcess",
    "Closing",
    "ConnectionResetFault",
    "DownFault",
    "Duration",
    "EmptyResponseFault",
    "Endpoint",
    "FaultBackend",
    "FaultBook",
    "FaultEntry",
    "FaultInjectionError",
    "FaultLayer",
    "FaultRow",
    "FaultSchedule",
    "FaultSpec",
    "FirstTokenDelayFault",
    "HarnessError",
    "HttpFault",
    "HttpStatusFault",
    "InfrastructureError",
    "InputError",
    "LatencyFault",
    "LedgerCall",
    "LimitDataFault",
    "MalformedStreamFault",
    "NetworkFault",
    "PhaseRow",
    "Plan",
    "PluginError",
    "ProxySpec",
    "Rate",
    "Report",
    "Reporter",
    "RequestRow",
    "ResetPeerFault",
    "ResilienceRow",
    "RunContext",
    "Scenario",
    "ScenarioError",
    "ScenarioInfo",
    "SecondRow",
    "SlicerFault",
    "SlowCloseFault",
    "StreamCutFault",
    "StreamPlacement",
    "StreamStallFault",
    "TerminalFault",
    "ThresholdRow",
    "TimeoutFault",
    "UpstreamSpec",
    "VendorLedger",
    "VendorPhaseRow",
    "VendorRow",
    "VendorStats",
    "format_duration",
    "format_metric_value",
    "hookimpl",
    "hookspec",
    "is_loopback_host",
    "ledger_from_json",
    "loopback_problem",
    "metric_kind",
    "parse_duration",
    "parse_fault",
    "parse_rate",
    "retry_after_seconds",
    "run_summary",
    "start_server",
    "write_atomic",
]
