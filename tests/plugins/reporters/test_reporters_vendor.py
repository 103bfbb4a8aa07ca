"""The vendor side in every reporter: the report's ``vendor`` rows and ``vendor_phases``
figures survive the JSON round trip, and the summary, Markdown and HTML show them (a table,
one line per phase, vendor calls per second per upstream)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from harness.measure.vendor import EndpointLedger, VendorLedgers, VendorStats, phase_facts
from harness.measure.verdicts import PhaseWindow
from harness.report.build import vendor_rows
from harness.report.files import load_report
from harness.report.model import Report
from harness.report.summary import run_summary
from harness_reporters import _html, _json, _markdown

WINDOWS = [
    PhaseWindow("baseline", 0.0, 3.0, faulty=False),
    PhaseWindow("outage", 3.0, 6.0, faulty=True),
    PhaseWindow("recovery", 6.0, 9.0, faulty=False),
]


def _stats(calls: int, ok: int, first: float | None, **more: object) -> VendorStats:
    return VendorStats(calls=calls, ok=ok, first_ok_after=first, **more)  # type: ignore[arg-type]


@pytest.fixture
def report(held_report: Report) -> Report:
    """The reporters' three-phase run (60 requests a phase) with its vendors' ledgers: the
    primary failed every call of the outage three times, the backup took over after 0.4 s."""
    primary = EndpointLedger(
        "primary",
        "upstream",
        {
            "baseline": _stats(60, 60, 0.01, calls_by_second=Counter({0: 20, 1: 20, 2: 20})),
            "outage": _stats(
                180,
                0,
                None,
                statuses=Counter({"503": 180}),
                faults_fired=Counter({"http_status 503": 180}),
                retry_after_violations=2,
                calls_by_second=Counter({3: 60, 4: 60, 5: 60}),
            ),
            "recovery": _stats(60, 60, 0.2, calls_by_second=Counter({6: 20, 7: 20, 8: 20})),
        },
    )
    backup = EndpointLedger(
        "backup", "upstream", {"outage": _stats(60, 60, 0.4, calls_by_second=Counter({3: 60}))}
    )
    proxy = EndpointLedger(
        "backup_net", "proxy", {"outage": VendorStats(connections=4, bytes_up=900, bytes_down=800)}
    )
    ledgers = VendorLedgers([primary, backup, proxy], {"real": "backend 'url' does not count"})
    # the recorder's phases, shifted as a real run's are (the first phase starts a bit late)
    rows, figures = vendor_rows(ledgers, phase_facts(_Counts(), WINDOWS))
    return held_report.model_copy(
        update={"vendor": rows, "vendor_phases": figures, "vendor_uncounted": ledgers.uncounted}
    )


class _Counts:
    """60 requests started in each phase, as in the reporters' run."""

    def stats(self, *, name: str | None = None, phase: str | None = None) -> object:
        return type("S", (), {"count": 60})()

    def load_stats(self, *, phase: str | None = None) -> object:
        return type("L", (), {"unfinished_requests": 0})()


def test_the_vendor_rows_and_figures(report: Report) -> None:
    rows = {(r.endpoint, r.phase): r for r in report.vendor}
    assert rows[("primary", "outage")].calls_per_request == 3.0
    assert rows[("primary", "*")].calls == 300 and rows[("primary", "*")].first_ok_after is None
    assert rows[("backup_net", "outage")].calls_per_request is None  # a proxy: no calls
    outage = next(f for f in report.vendor_phases if f.phase == "outage")
    assert outage.calls_per_request == {"primary": 3.0, "backup": 1.0}
    assert (outage.backup_share, outage.failover_time, outage.back_to_primary_time) == (
        1.0,
        0.4,
        0.2,
    )
    assert outage.retry_after_violations == 2


def test_the_json_report_round_trips(report: Report, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    _json.write(report, path)
    again = load_report(path)
    assert again.vendor == report.vendor
    assert again.vendor_phases == report.vendor_phases
    assert again.vendor_uncounted == {"real": "backend 'url' does not count"}


def test_the_summary_has_one_vendor_line_per_phase(report: Report) -> None:
    lines = [line for line in run_summary(report) if line.startswith("  vendor ")]
    assert lines == [
        "  vendor baseline: primary 1.00 calls/request, backup 0.00 calls/request, "
        "backup served 0%, Retry-After violations 0",
        "  vendor outage: primary 3.00 calls/request, backup 1.00 calls/request, "
        "backup served 100%, failover 400ms, back to primary 200ms, Retry-After violations 2",
        "  vendor recovery: primary 1.00 calls/request, backup 0.00 calls/request, "
        "backup served 0%, Retry-After violations 0",
    ]


def test_markdown_tables(report: Report) -> None:
    text = _markdown.render(report)
    section = text[text.index("### Vendor side") :]
    assert (
        "| phase | requests | primary calls/request | backup calls/request | backup served "
        "| failover | back to primary | Retry-After violations |"
    ) in section
    assert "| outage | 60 | 3 | 1 | 100% | 400ms | 200ms | 2 |" in section
    assert "| **all** | 180 | 1.67 | 0.33 | 33.33% | - | - | 2 |" in section
    # the ledger's columns: calls and ok, then those some row has (no aborted, no Retry-After)
    assert (
        "| endpoint | phase | calls | ok | connections | Retry-After violations | bytes up "
        "| bytes down | answers | faults |"
    ) in section
    assert (
        "| `primary` | outage | 180 | 0 | 0 | 2 | 0 | 0 | 503 180 | http\\_status 503 180 |"
    ) in section
    assert "| `backup_net` | outage | 0 | 0 | 4 | 0 | 900 | 800 | - | - |" in section
    assert "- not counted: `real`: backend 'url' does not count" in section


def test_html_section_and_calls_per_second(report: Report, tmp_path: Path) -> None:
    path = tmp_path / "r.html"
    _html.write(report, path)
    page = path.read_text("utf-8")
    assert "<h2>Vendor side</h2>" in page
    assert "<td>backup_net</td><td>proxy</td><td>outage</td>" in page
    assert "backend &#x27;url&#x27; does not count" in page
    figure = _html.vendor_figure(report)
    traces = {trace.name: trace for trace in figure.data}
    assert set(traces) == {"primary calls/s", "backup calls/s"}
    primary = traces["primary calls/s"]
    assert list(primary.x) == [t + 0.5 for t in range(9)]  # seconds since the first phase
    assert list(primary.y) == [20, 20, 20, 60, 60, 60, 20, 20, 20]
    shaded = [shape for shape in figure.layout.shapes if shape.type == "rect"]
    assert [(s.x0, s.x1) for s in shaded] == [(3.0, 6.0)]


def test_a_report_without_ledgers_has_no_vendor_section(held_report: Report) -> None:
    plain = held_report
    assert plain.vendor == [] and plain.vendor_phases == []
    assert "Vendor side" not in _markdown.render(plain)
    assert "Vendor side" not in _html.render(plain)
    assert not [line for line in run_summary(plain) if line.startswith("  vendor ")]
