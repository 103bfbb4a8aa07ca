"""``harness gate`` over reports written by the JSON reporter."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.report.model import Report
from harness_reporters import _json


def _json_file(report: Report, directory: Path, name: str | None = None) -> Path:
    path = directory / (name or f"{report.run_id}.json")
    _json.write(report, path)
    return path


def test_all_held_exits_0(
    tmp_path: Path, held_report: Report, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _json_file(held_report, tmp_path)
    assert main(["gate", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}: held (4 thresholds)" in out


def test_a_breach_exits_1_naming_the_threshold_and_by_how_much(
    tmp_path: Path,
    held_report: Report,
    breached_report: Report,
    capsys: pytest.CaptureFixture[str],
) -> None:
    held = _json_file(held_report, tmp_path, "held.json")
    breached = _json_file(breached_report, tmp_path, "breached.json")
    assert main(["gate", str(held), str(breached)]) == 1
    err = capsys.readouterr().err
    assert f"{breached}: BREACHED (Vendor outage @ 20 users)" in err
    assert "p95 < 250ms phase=outage" in err
    assert "breached: 583.7ms is not < 250ms (off by 333.7ms)" in err
    assert "error_rate < 1% phase=outage" in err and "(off by 24%)" in err
    assert "no data is a breach" in err
    assert "problem: fault 'http_status 503 @25%'" in err
    assert "p95 < 2s:" not in err  # the held threshold is not listed


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such report"),
        ("{not json", "not a readable JSON report"),
        ('{"version": 99}', "expected a harness report with version 1, got 99"),
        ("[1, 2]", "expected a harness report with version 1"),
        ('{"version": 1, "run_id": "x"}', "malformed report at"),
    ],
)
def test_missing_or_malformed_report_exits_2(
    tmp_path: Path,
    held_report: Report,
    content: str | None,
    expected: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good = _json_file(held_report, tmp_path)
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content, "utf-8")
    assert main(["gate", str(good), str(bad)]) == 2
    assert expected in capsys.readouterr().err


def test_a_report_with_a_broken_row_exits_2(
    tmp_path: Path, held_report: Report, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _json_file(held_report, tmp_path)
    path.write_text(path.read_text("utf-8").replace('"held": true', '"held": "maybe"', 1))
    assert main(["gate", str(path)]) == 2
    assert "malformed report at held" in capsys.readouterr().err


def test_no_report_given_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gate"]) == 2
    capsys.readouterr()
