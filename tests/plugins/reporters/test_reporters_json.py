"""The JSON reporter: the report model, lossless, the input of ``harness load_report``."""

from __future__ import annotations

import json
from pathlib import Path

from harness.report.files import load_report
from harness.report.model import Report
from harness_reporters import _json


def test_round_trips_through_load_report(tmp_path: Path, all_reports: list[Report]) -> None:
    for report in all_reports:
        path = tmp_path / f"{report.run_id}.json"
        _json.write(report, path)
        loaded = load_report(path)
        assert loaded == report
        assert loaded.breaches == report.breaches
        assert loaded.recorder == report.recorder  # the mergeable HDR snapshot survives


def test_is_indented_versioned_json(tmp_path: Path, breached_report: Report) -> None:
    path = tmp_path / "r.json"
    _json.write(breached_report, path)
    text = path.read_text("utf-8")
    assert text.startswith('{\n  "version": 1,')
    data = json.loads(text)
    assert data["held"] is False
    assert [t["held"] for t in data["thresholds"]] == [True, False, False, False]
    assert data["thresholds"][3]["observed"] is None
