"""``harness gate`` over reports written by the JSON reporter."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.report.files import MAX_REPORT_BYTES
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


# -- a report that contradicts itself is inconsistent (exit 2), never a pass --------------------


def _edited(report: Report, directory: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """``report`` as the JSON reporter writes it, then edited by hand."""
    data = json.loads(_json.render(report))
    edit(data)
    path = directory / "edited.json"
    path.write_text(json.dumps(data), "utf-8")
    return path


def _set(*keys: str | int, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        node: Any = data
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return edit


@pytest.mark.parametrize(
    ("fixture", "edit", "field"),
    [
        # the top-level verdict flipped to pass while thresholds breached
        ("breached_report", _set("held", value=True), "held is true, but thresholds[1] breached"),
        # ... and the breaching thresholds flipped too: their numbers still say breached
        (
            "breached_report",
            lambda d: [t.update(held=True) for t in d["thresholds"]] and d.update(held=True),
            "thresholds[1].held is true, but observed 0.583679 < limit 0.25 does not hold",
        ),
        # no data cannot hold
        (
            "breached_report",
            lambda d: d["thresholds"][3].update(held=True),
            "thresholds[3].held is true with no observed value (no data is a breach)",
        ),
        # a held report with a problem
        (
            "held_report",
            _set("problems", value=["fault 'x' never fired"]),
            "held is true, but problems lists 1",
        ),
        # a verdict flipped to breached where its numbers hold
        (
            "held_report",
            _set("thresholds", 0, "held", value=False),
            "thresholds[0].held is false, but observed",
        ),
        # a report that says breached although nothing breached
        (
            "held_report",
            _set("held", value=False),
            "held is false, but every threshold held and there is no problem",
        ),
    ],
)
def test_a_report_that_contradicts_itself_is_inconsistent(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    fixture: str,
    edit: Callable[[dict[str, Any]], None],
    field: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _edited(request.getfixturevalue(fixture), tmp_path, edit)
    assert main(["gate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"error: {path}: inconsistent report: {field}" in err


def test_problems_alone_are_a_breach(
    tmp_path: Path, held_report: Report, capsys: pytest.CaptureFixture[str]
) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["problems"] = ["fault 'x' never fired"]
        data["held"] = False

    path = _edited(held_report, tmp_path, edit)
    assert main(["gate", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}: BREACHED (Vendor outage @ 20 users)" in err
    assert "  problem: fault 'x' never fired" in err


# -- hostile files: exit 2 naming the file and what was expected, never a traceback ------------


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_set("held", value="false"), "malformed report at held: Input should be a valid boolean"),
        (
            _set("thresholds", 0, "held", value="true"),
            "malformed report at thresholds.0.held: Input should be a valid boolean",
        ),
        (_set("held", value=1), "malformed report at held: Input should be a valid boolean"),
        (_set("seed", value=True), "malformed report at seed: Input should be a valid integer"),
        (
            _set("requests", 0, "count", value="60"),
            "malformed report at requests.0.count: Input should be a valid integer",
        ),
        (
            _set("thresholds", 0, "observed", value="0.5"),
            "malformed report at thresholds.0.observed",
        ),
        (
            _set("thresholds", 0, "op", value="=="),
            "malformed report at thresholds.0.op: Input should be '<', '<=', '>' or '>='",
        ),
        (_set("version", value=True), "expected a harness report with version 1, got True"),
        (_set("version", value=1.0), "expected a harness report with version 1, got 1.0"),
    ],
)
def test_wrong_json_types_are_malformed(
    tmp_path: Path,
    held_report: Report,
    edit: Callable[[dict[str, Any]], None],
    expected: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _edited(held_report, tmp_path, edit)
    assert main(["gate", str(path)]) == 2
    assert f"error: {path}: {expected}" in capsys.readouterr().err


def _replace_seed(held_report: Report, text: str) -> str:
    return _json.render(held_report).replace('"seed": 42', f'"seed": {text}', 1)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("5" * 5000, "not a readable JSON report (an integer of 5000 digits"),
        ("-" + "5" * 5000, "not a readable JSON report (an integer of 5000 digits"),
        ("1e400", "not a readable JSON report (the number 1e400 is out of range)"),
        ("9" * 5000 + ".5", "not a readable JSON report (the number 9999999999"),
        ("NaN", "not a readable JSON report (NaN is not a number a report holds"),
        ("-Infinity", "not a readable JSON report (-Infinity is not a number a report holds"),
    ],
)
def test_absurd_numbers_are_refused(
    tmp_path: Path,
    held_report: Report,
    content: str,
    expected: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "numbers.json"
    path.write_text(_replace_seed(held_report, content), "utf-8")
    assert main(["gate", str(path)]) == 2
    assert f"error: {path}: {expected}" in capsys.readouterr().err


def test_deep_nesting_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"version": 1, "recorder": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert main(["gate", str(path)]) == 2
    assert (
        f"error: {path}: not a readable JSON report (nested more deeply than a report is)"
        in capsys.readouterr().err
    )


def test_non_utf8_bytes_are_refused(
    tmp_path: Path, held_report: Report, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(_json.render(held_report).replace("Vendor", "V\xe9ndor").encode("latin-1"))
    assert main(["gate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"error: {path}: not a readable JSON report (not UTF-8: byte" in err
    assert "is b'\\xe9')" in err


def test_a_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gate", str(tmp_path)]) == 2
    assert (
        f"error: {tmp_path}: is a directory; expected a report file (reports/*.json)"
        in capsys.readouterr().err
    )


def test_a_fifo_is_refused_without_blocking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    assert main(["gate", str(fifo)]) == 2
    assert f"error: {fifo}: not a regular file" in capsys.readouterr().err


def test_a_huge_file_is_refused_unread(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:  # sparse: takes no disk, and is never read
        handle.truncate(MAX_REPORT_BYTES + 1)
    assert main(["gate", str(path)]) == 2
    assert f"error: {path}: larger than 256 MiB, more than any report" in capsys.readouterr().err
