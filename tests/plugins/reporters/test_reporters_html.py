"""The HTML reporter: one self-contained page drawn with plotly."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from harness.report.model import Report
from harness_reporters import _html


@pytest.fixture(scope="module")
def plotly_banner() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()[:200]


def _page(report: Report, tmp_path: Path) -> str:
    path = tmp_path / f"{report.run_id}.html"
    _html.write(report, path)
    return path.read_text("utf-8")


def _figure(page: str, div_id: str) -> dict[str, Any]:
    """The data and layout passed to ``Plotly.newPlot`` for the div ``div_id``."""
    start = page.index(f'Plotly.newPlot(                        "{div_id}",')
    decoder = json.JSONDecoder()
    rest = page[start:].split(",", 1)[1]
    data, end = decoder.raw_decode(rest.lstrip())
    rest = rest.lstrip()[end:].lstrip().removeprefix(",").lstrip()
    layout, _ = decoder.raw_decode(rest)
    return {"data": data, "layout": layout}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_self_contained(tmp_path: Path, breached_report: Report, plotly_banner: str) -> None:
    page = _page(breached_report, tmp_path)
    assert page.startswith("<!DOCTYPE html>")
    assert page.count(plotly_banner) == 1  # plotly.js inline, once
    parser = _Tags()
    parser.feed(page)
    scripts = [attrs for tag, attrs in parser.tags if tag == "script"]
    assert scripts and all("src" not in attrs for attrs in scripts)
    assert not [attrs for tag, attrs in parser.tags if tag == "link"]
    assert not [attrs for tag, attrs in parser.tags if tag in ("img", "iframe")]
    assert not re.search(r"<script[^>]*src=", page)
    assert not re.search(r"@import|url\(\s*['\"]?https?:", page.split("<script>")[0])
    assert '<meta charset="utf-8">' in page


def test_header_and_sla_table(tmp_path: Path, breached_report: Report) -> None:
    page = _page(breached_report, tmp_path)
    assert '<header class="breached">' in page
    assert "Vendor outage @ 20 users: SLA breached</h1>" in page
    assert "<dd>vendor-outage-20250301T120000Z-1</dd>" in page
    rows = re.findall(r'<tr class="(held|breached|nodata)"><td><code>([^<]*)</code>', page)
    assert rows == [
        ("held", "p95 &lt; 2s"),
        ("breached", "p95 &lt; 250ms phase=outage"),
        ("breached", "error_rate &lt; 1% phase=outage"),
        ("nodata", "p95 &lt; 1s phase=warmup"),
    ]
    assert "off by 336.2ms" in page
    assert '<ul class="problems"><li>fault &#x27;http_status 503 @25%&#x27;' in page


def test_fault_phases_are_shaded(tmp_path: Path, breached_report: Report) -> None:
    page = _page(breached_report, tmp_path)
    layout = _figure(page, "harness-latency")["layout"]
    rects = [s for s in layout["shapes"] if s["type"] == "rect"]
    assert {(s["x0"], s["x1"], s["xref"]) for s in rects} == {(3.0, 6.0, "x"), (3.0, 6.0, "x2")}
    labels = [a["text"] for a in layout["annotations"]]
    assert labels == [
        "\u003cb\u003eoutage\u003c/b\u003e\u003cbr\u003ehttp_status 503 @25% (fired 0)"
        "\u003cbr\u003elatency 300ms (fired 0)"
    ]
    # the figure itself, for the shapes plotly draws
    fig = _html.latency_figure(breached_report)
    assert [(s.x0, s.x1) for s in fig.layout.shapes] == [(3.0, 6.0), (3.0, 6.0)]


def test_latency_over_time_series(tmp_path: Path, held_report: Report) -> None:
    data = _figure(_page(held_report, tmp_path), "harness-latency")["data"]
    names = [t["name"] for t in data]
    assert names == ["p50 latency", "p95 latency", "max latency", "ok requests/s", "errors/s"]
    p95 = data[1]
    assert p95["x"] == [s.t + 0.5 for s in held_report.series]
    assert p95["y"] == pytest.approx([s.p95 * 1000 for s in held_report.series if s.p95])
    errors = data[4]
    assert sum(errors["y"]) == sum(s.errors for s in held_report.series) == 15
    assert {t["yaxis"] for t in data[3:]} == {"y2"}


def test_attempts_per_call_chart(tmp_path: Path, breached_report: Report) -> None:
    page = _page(breached_report, tmp_path)
    assert "<h3>Attempts per call</h3>" in page
    data = _figure(page, "harness-attempts")["data"]
    assert [(t["name"], t["type"]) for t in data] == [
        ("phase baseline", "bar"),
        ("phase outage", "bar"),
        ("phase recovery", "bar"),
    ]
    assert all(t["x"] == ["1", "2", "3"] for t in data)
    assert data[1]["y"] == [0, 45, 15]


def test_percentile_table(tmp_path: Path, breached_report: Report) -> None:
    page = _page(breached_report, tmp_path)
    assert "<th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>max</th>" in page
    outage = re.search(r"<tr><td>outage</td>.*?</tr>", page)
    assert outage is not None
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", outage.group(0))
    assert cells[:7] == [
        "outage",
        "3.0\u20136.0s",
        "http_status 503 @25% \u00d70, latency 300ms \u00d70",
        "60",
        "45",
        "15",
        "25%",
    ]
    assert "586.2ms" in cells
    assert "<td>http_503 15</td>" in outage.group(0)


def test_empty_report_still_renders(tmp_path: Path, empty: Report) -> None:
    page = _page(empty, tmp_path)
    assert '<header class="held">' in page
    assert "No SLA thresholds declared" in page
    assert "no requests were recorded" in page
    assert "No calls of the resilient core were observed." in page
    latency = _figure(page, "harness-latency")["layout"]
    assert [a["text"] for a in latency["annotations"]] == ["no data", "no data"]
    assert not latency.get("shapes")
    attempts = _figure(page, "harness-attempts")
    assert attempts["data"] == []
    assert [a["text"] for a in attempts["layout"]["annotations"]] == ["no data"]


def test_untrusted_text_is_escaped(tmp_path: Path, held_report: Report) -> None:
    evil = "<script>alert(1)</script>"
    report = held_report.model_copy(
        update={
            "problems": [evil],
            "scenario": held_report.scenario.model_copy(update={"name": evil}),
            "phases": [
                p.model_copy(update={"name": evil}) if p.faults else p for p in held_report.phases
            ],
        }
    )
    page = _page(report, tmp_path)
    assert evil not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
