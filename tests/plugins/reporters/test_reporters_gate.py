"""``harness gate`` over reports written by the JSON reporter."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    assert "breached: 586.2ms is not < 250ms (off by 336.2ms)" in err
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
        (
            "breached_report",
            lambda d: d.update(held=True, verdict="held"),
            "verdict is held, but thresholds[1] breached",
        ),
        # ... and the breaching thresholds flipped too: their numbers still say breached
        (
            "breached_report",
            lambda d: (
                [t.update(held=True, verdict="held") for t in d["thresholds"]]
                and d.update(held=True, verdict="held")
            ),
            "thresholds[1].verdict is held, but observed 0.58",
        ),
        # no data cannot hold
        (
            "breached_report",
            lambda d: d["thresholds"][3].update(held=True, verdict="held"),
            "thresholds[3].verdict is held with no observed value (no data)",
        ),
        # a held report with a problem
        (
            "held_report",
            _set("problems", value=["fault 'x' never fired"]),
            "verdict is held, but problems lists 1",
        ),
        # a verdict flipped to breached where its numbers hold
        (
            "held_report",
            lambda d: d["thresholds"][0].update(held=False, verdict="breached"),
            "thresholds[0].verdict is breached, but observed",
        ),
        # held and verdict that disagree
        (
            "held_report",
            _set("thresholds", 0, "held", value=False),
            "thresholds[0].held is false for a held threshold",
        ),
        # a report that says breached although nothing breached
        (
            "held_report",
            lambda d: d.update(held=False, verdict="breached"),
            "verdict is breached, but everything held",
        ),
        # a percentile on too few samples stated as held: it is inconclusive
        (
            "held_report",
            lambda d: d["thresholds"][0].update(samples=5),
            "thresholds[0].verdict is held, but observed",
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
        data["verdict"] = "breached"

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
            _set("resilience", 0, "calls", value="180"),
            "malformed report at resilience.0.calls: Input should be a valid integer",
        ),
        (
            _set("resilience", 0, "retries", value=True),
            "malformed report at resilience.0.retries: Input should be a valid integer",
        ),
        (
            _set("thresholds", 0, "observed", value="0.5"),
            "malformed report at thresholds.0.observed",
        ),
        (
            _set("thresholds", 0, "op", value="="),
            "malformed report at thresholds.0.op: Input should be '<', '<=', '>', '>=' or '=='",
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


# -- fuzzing: whatever the file holds, exit 0/1/2 as its recomputed verdicts say -----------------

HOSTILE = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=8),
        st.sampled_from(["false", "true", "1", "<", "==", "NaN", "held", "*"]),
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _nodes(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    """Every container in ``node`` with its path (the recorder snapshot left out: it is big and
    free-form)."""
    found = [(path, node)] if isinstance(node, dict | list) else []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, child in items:
        if path == () and key == "recorder":
            continue
        found += _nodes(child, (*path, key))
    return found


@st.composite
def mutated_reports(draw: st.DrawFn, base: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """``base`` with 1-3 edits; True when every edit flipped a ``held`` and some flip stands (which
    must make the report inconsistent)."""
    data = copy.deepcopy(base)
    only_flips = True
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["flip", "flip", "replace", "delete", "add", "number", "op"]))
        if action == "flip":
            # an earlier edit may have replaced the list or a row with something else
            rows = data.get("thresholds")
            rows = [t for t in rows if isinstance(t, dict)] if isinstance(rows, list) else []
            targets: list[dict[str, Any]] = [data, *rows]
            target = draw(st.sampled_from(targets))
            if isinstance(target, dict) and isinstance(target.get("held"), bool):
                target["held"] = not target["held"]
            continue
        only_flips = False
        _, node = draw(st.sampled_from(_nodes(data)))
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if action == "add" or not keys:
            if isinstance(node, dict):
                node[draw(st.sampled_from(["extra", "held", "problems"]) | st.text(max_size=5))] = (
                    draw(HOSTILE)
                )
            else:
                node.append(draw(HOSTILE))
            continue
        key = draw(st.sampled_from(keys))
        if action == "delete":
            del node[key]
        elif action == "number":
            node[key] = draw(
                st.floats(allow_nan=False, allow_infinity=False) | st.integers(-5, 10**9)
            )
        elif action == "op":
            node[key] = draw(st.sampled_from(["<", "<=", ">", ">=", "==", "=", "!", ""]))
        else:
            node[key] = draw(HOSTILE)
    return data, only_flips and data != base


def _expected_code(data: dict[str, Any]) -> int:
    """What the gate must say of a report it accepted: the verdicts recomputed from the data
    (the fixtures' reports have no inconclusive threshold, and a mutation that makes one leaves
    the row inconsistent: the gate must have refused it)."""
    ops = {
        "<": float.__lt__,
        "<=": float.__le__,
        ">": float.__gt__,
        ">=": float.__ge__,
        "==": float.__eq__,
    }
    recomputed = [
        t["observed"] is not None
        and t["limit"] is not None
        and ops[t["op"]](float(t["observed"]), float(t["limit"]))
        for t in data["thresholds"]
    ]
    assert [t["held"] for t in data["thresholds"]] == recomputed
    assert [t.get("verdict", "held") == "held" for t in data["thresholds"]] == recomputed
    held = all(recomputed) and not data.get("problems", [])
    assert data["held"] is held
    return 0 if held else 1


# The gate fuzzers: no deadline, and the function-scoped ``tmp_path`` is shared by the examples
# of one test (each example overwrites its one file).
FUZZ_THE_GATE = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _run_gate(path: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["gate", str(path)])
    return code, out.getvalue(), err.getvalue()


@FUZZ_THE_GATE
@given(data=st.data())
def test_mutated_reports_exit_as_their_recomputed_verdicts_say(
    data: st.DataObject, tmp_path: Path, report_texts: Any
) -> None:
    base = json.loads(data.draw(st.sampled_from([report_texts.held, report_texts.breached])))
    mutated, only_flips = data.draw(mutated_reports(base))
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps(mutated), "utf-8")
    code, out, err = _run_gate(path)
    assert code in (0, 1, 2)
    if code == 2:
        assert err.startswith(f"error: {path}: "), err
    else:
        assert code == _expected_code(mutated)
        assert (out if code == 0 else err).startswith(f"{path}: ")
    if only_flips:
        assert code == 2 and "inconsistent report" in err


@FUZZ_THE_GATE
@given(data=st.data())
def test_mangled_report_text_is_exit_2_or_a_consistent_verdict(
    data: st.DataObject, tmp_path: Path, report_texts: Any
) -> None:
    text = report_texts.held
    edit = data.draw(st.sampled_from(["cut", "insert", "number", "bytes"]))
    at = data.draw(st.integers(0, len(text)))
    if edit == "cut":
        raw = text[:at].encode()
    elif edit == "insert":
        piece = data.draw(
            st.sampled_from(["[", "{", '"', "\\", ",", "NaN", "1e999", "-", "\x00", "é"])
        )
        raw = (text[:at] + piece * data.draw(st.integers(1, 3)) + text[at:]).encode()
    elif edit == "number":
        numbers = [m.span() for m in re.finditer(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", text)]
        start, end = data.draw(st.sampled_from(numbers))
        huge = data.draw(
            st.sampled_from(
                ["9" * 5000, "-" + "1" * 5000, "1e400", "0." + "0" * 5000 + "1", "1" * 5000 + ".5"]
            )
        )
        raw = (text[:start] + huge + text[end:]).encode()
    else:
        raw = text[:at].encode() + data.draw(st.binary(min_size=1, max_size=8)) + text[at:].encode()
    path = tmp_path / "fuzz.json"
    path.write_bytes(raw)
    code, _, err = _run_gate(path)
    assert code in (0, 1, 2)
    if code == 2:
        assert err.startswith(f"error: {path}: "), err
    else:
        assert code == _expected_code(json.loads(raw))


def test_an_inconclusive_report_is_exit_4_unless_allowed(
    tmp_path: Path,
    held_report: Report,
    breached_report: Report,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def edit(data: dict[str, Any]) -> None:  # p95 on 5 samples: it cannot be stated
        data["thresholds"][0].update(samples=5, verdict="inconclusive", held=False)
        data.update(verdict="inconclusive", held=False)

    path = _edited(held_report, tmp_path, edit)
    assert main(["gate", str(path)]) == 4
    err = capsys.readouterr().err
    assert f"{path}: INCONCLUSIVE (Vendor outage @ 20 users)" in err
    assert main(["gate", "--allow-inconclusive", str(path)]) == 0
    # a breach elsewhere still wins: exit 1
    breached = tmp_path / "breached.json"
    breached.write_text(_json.render(breached_report))
    assert main(["gate", "--allow-inconclusive", str(path), str(breached)]) == 1
