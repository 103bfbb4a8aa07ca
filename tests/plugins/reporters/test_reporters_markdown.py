"""The Markdown reporter: a summary for ``$GITHUB_STEP_SUMMARY``, appended there when set."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from harness.report.model import Report
from harness_reporters import _markdown


def _write(report: Report, tmp_path: Path) -> str:
    path = tmp_path / f"{report.run_id}.md"
    _markdown.write(report, path)
    return path.read_text("utf-8")


def test_title_and_run_identity(
    tmp_path: Path, held_report: Report, breached_report: Report
) -> None:
    held = _write(held_report, tmp_path).splitlines()
    assert held[0] == "## ✅ Vendor outage @ 20 users: SLA held"
    info = next(line for line in held if line.startswith("run "))
    for part in (
        "run `vendor-outage-20250301T120000Z-1`",
        "target `core:llm`",
        "duration 9.0s",
        "seed `42`",
    ):
        assert part in info
    breached = _write(breached_report, tmp_path).splitlines()
    assert breached[0] == (
        "## ❌ Vendor outage @ 20 users: SLA breached (3 of 4 thresholds breached, 1 problem)"
    )


def test_sla_table(tmp_path: Path, breached_report: Report) -> None:
    text = _write(breached_report, tmp_path)
    assert "| threshold | scope | observed | verdict |" in text
    assert "| `p95 < 2s` | whole run | 559.6ms | ✅ held |" in text
    assert (
        "| `p95 < 250ms phase=outage` | phase=outage | 586.2ms | "
        "❌ breached: 586.2ms is not \\< 250ms (off by 336.2ms) |"
    ) in text
    assert "| `p95 < 1s phase=warmup` | phase=warmup | no data | ❌ no data: " in text


def test_phase_resilience_and_problem_sections(tmp_path: Path, breached_report: Report) -> None:
    text = _write(breached_report, tmp_path)
    lines = text.splitlines()
    outage = next(line for line in lines if line.startswith("| outage | 3.0"))
    assert "| 60 | 15 |" in outage
    assert "⚠️ `http_status 503 @25%` \u00d70" in outage
    assert "`latency 300ms` \u00d70 (optional)" in outage
    assert "| **all** | 9.0s | **180** | **15** |" in text
    assert (
        "| phase | calls | attempts | retries | fallbacks | calls saved by fallback "
        "| breaker opens | budget refusals | attempts per call |"
    ) in text
    assert "| outage | 60 | 135 | 75 | 15 | 0 | 0 | 0 | 2x45, 3x15 |" in text
    assert "| **all** | 180 | 255 | 75 | 15 | 0 | 0 | 0 | 1x120, 2x45, 3x15 |" in text
    assert "### Requests by name" in text and "| `chat` | 120 | 10 |" in text
    assert "### Problems" in text
    assert "never fired: the run did not test what it declares" in text


def test_empty_report(tmp_path: Path, empty: Report) -> None:
    text = _write(empty, tmp_path)
    assert text.startswith("## ✅ empty: SLA held\n")
    assert "_No SLA thresholds declared: nothing was gated._" in text
    assert "_No requests were recorded._" in text
    assert "_No calls of the resilient core were observed._" in text
    assert "### Problems" not in text


def test_cells_are_escaped(tmp_path: Path, held_report: Report) -> None:
    report = held_report.model_copy(
        update={
            "held": False,
            "problems": ["a | b\nc <script>"],
            "scenario": held_report.scenario.model_copy(update={"name": "x|y"}),
        }
    )
    text = _write(report, tmp_path)
    assert "## ❌ x\\|y: SLA breached (1 problem)" in text
    assert "- ⚠️ a \\| b c \\<script\\>" in text


def test_appends_to_github_step_summary(
    tmp_path: Path, held_report: Report, breached_report: Report, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "step_summary.md"
    summary.write_text("# earlier step output\n", "utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    reports = tmp_path / "reports"
    first = _write(held_report, reports)
    second = _write(breached_report, reports)
    assert summary.read_text("utf-8") == f"# earlier step output\n\n{first}\n{second}"
    assert sorted(p.name for p in reports.iterdir()) == [f"{held_report.run_id}.md"]


def test_step_summary_created_when_missing(
    tmp_path: Path, held_report: Report, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert _write(held_report, tmp_path / "out") == summary.read_text("utf-8")


def test_no_step_summary_without_the_variable(tmp_path: Path, held_report: Report) -> None:
    _write(held_report, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [f"{held_report.run_id}.md"]


def test_unwritable_step_summary_is_logged_not_raised(
    tmp_path: Path,
    held_report: Report,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "missing-dir" / "summary.md"))
    with caplog.at_level(logging.WARNING, logger="harness.reporters"):
        text = _write(held_report, tmp_path)
    assert text.startswith("## ✅")
    assert "could not append the summary to $GITHUB_STEP_SUMMARY" in caplog.text
