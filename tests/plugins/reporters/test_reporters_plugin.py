"""The reporters plugin: discovery through the entry point, the four formats, atomic writes."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from import_support import modules_after

import harness.report.files
from harness.plugin.manager import get_plugin_manager
from harness.plugin.types import Reporter
from harness.report.model import Report
from harness.run.session import write_reports

EXPECTED = {"json": ".json", "junit": ".junit.xml", "markdown": ".md", "html": ".html"}


@pytest.fixture(scope="module")
def reporters() -> dict[str, Reporter]:
    return dict(get_plugin_manager().reporters)


@pytest.fixture(params=sorted(EXPECTED))
def reporter(request: pytest.FixtureRequest, reporters: dict[str, Reporter]) -> Reporter:
    """Each reporter in turn (the test runs once per format)."""
    reporter = reporters[request.param]
    assert reporter.name == request.param
    return reporter


def test_discovered_through_the_entry_point(reporters: dict[str, Reporter]) -> None:
    pm = get_plugin_manager()
    assert {name: r.suffix for name, r in reporters.items()} == EXPECTED
    assert {pm.reporter_owner[name] for name in EXPECTED} == {"reporters"}
    row = next(r for r in pm.describe() if r["name"] == "reporters")
    assert row["module"] == "harness_reporters"
    assert row["reporters"] == sorted(EXPECTED)
    assert row["hooks"] == ["harness_reporters"]
    assert all(r.description for r in reporters.values())
    assert "GITHUB_STEP_SUMMARY" in reporters["markdown"].description


def test_disabling_the_plugin_removes_the_reporters() -> None:
    assert get_plugin_manager(disable=["reporters"]).reporters == {}


def test_importing_the_plugin_does_not_import_plotly() -> None:
    loaded = modules_after(
        "import harness_reporters\nassert len(harness_reporters.harness_reporters()) == 4"
    )
    assert "plotly" not in loaded, "plotly imported at load"


def test_write_reports_renders_every_format(
    tmp_path: Path, breached_report: Report, reporters: dict[str, Reporter]
) -> None:
    pm = get_plugin_manager()
    written = write_reports(breached_report, pm, tmp_path)
    run_id = breached_report.run_id
    assert sorted(p.name for p in written) == sorted(run_id + s for s in EXPECTED.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)
    assert all(p.stat().st_size > 0 for p in written)


def test_every_reporter_handles_every_report(
    reporter: Reporter, tmp_path: Path, all_reports: list[Report]
) -> None:
    for report in all_reports:
        path = tmp_path / f"{report.run_id}{reporter.suffix}"
        reporter.write(report, path)
        text = path.read_text("utf-8")
        assert report.run_id in text


def test_a_failing_render_leaves_the_target_untouched(
    reporter: Reporter, tmp_path: Path, breached_report: Report, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = sys.modules[f"harness_reporters._{reporter.name}"]

    def boom(report: Report) -> str:
        raise RuntimeError("serializer failed")

    monkeypatch.setattr(module, "render", boom)
    target = tmp_path / f"run{reporter.suffix}"
    target.write_text("previous report", "utf-8")
    with pytest.raises(RuntimeError, match="serializer failed"):
        reporter.write(breached_report, target)
    assert target.read_text("utf-8") == "previous report"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_failing_rename_leaves_no_partial_file(
    reporter: Reporter, tmp_path: Path, held_report: Report, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Path] = []

    def failing_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        seen.append(Path(src))
        assert Path(src).read_bytes(), "the whole document is written before the rename"
        raise OSError("disk full")

    monkeypatch.setattr(harness.report.files.os, "replace", failing_replace)
    target = tmp_path / "sub" / f"run{reporter.suffix}"
    target.parent.mkdir()
    target.write_text("previous report", "utf-8")
    with pytest.raises(OSError, match="disk full"):
        reporter.write(held_report, target)
    assert len(seen) == 1 and seen[0].parent == target.parent  # same directory: rename is atomic
    assert target.read_text("utf-8") == "previous report"
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_reporters_are_plain_reporter_objects(reporters: dict[str, Reporter]) -> None:
    for reporter in reporters.values():
        assert isinstance(reporter, Reporter)
        write: Callable[[Report, Path], None] = reporter.write
        assert callable(write)
