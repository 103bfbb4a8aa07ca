"""``harness run`` exit codes, in-process: 0 held, 1 breached, 2 bad input, 3 infrastructure.
(``harness gate`` is tested with the reporters; ``validate`` and ``plugins`` with the loader and
the plugin manager.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_support import DEMO_SCENARIO

from harness.cli import main
from harness_respx import ROUTER

TINY = """\
name: tiny
seed: 11
target: {core: llm}
upstreams:
  - {name: primary, api: openai, backend: respx}
  - {name: backup, api: anthropic, backend: respx}
load: {users: 2, think_time: 5ms}
phases:
  - {name: calm, duration: 150ms}
  - name: quota
    duration: 200ms
    faults:
      - {kind: http_status, target: primary, status: 429, error_code: insufficient_quota}
sla:
  - availability >= 99%
  - fallback_rate >= 50% phase=quota
"""


@pytest.fixture(autouse=True)
def _router_released() -> Iterator[None]:
    yield
    assert not ROUTER.active  # every run stops what it started


def _run(tmp_path: Path, text: str, *options: str) -> int:
    path = tmp_path / "tiny.yaml"
    path.write_text(text)
    return main(["run", str(path), "--report-dir", str(tmp_path / "reports"), *options])


def _report(tmp_path: Path) -> dict[str, Any]:
    (path,) = (tmp_path / "reports").glob("*.json")
    report: dict[str, Any] = json.loads(path.read_text())
    return report


def test_held_exits_0_and_writes_every_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path, TINY) == 0
    out = capsys.readouterr().out
    assert out.startswith("tiny: SLA HELD (run tiny-")
    assert "availability >= 99%" in out and "BREACHED" not in out
    assert "http_status@primary=" in out
    suffixes = sorted(p.suffix for p in (tmp_path / "reports").iterdir() if p.is_file())
    assert suffixes == [".html", ".json", ".md", ".xml"]
    report = _report(tmp_path)
    assert report["held"] is True and report["problems"] == []
    quota = next(p for p in report["phases"] if p["name"] == "quota")
    assert quota["faults"][0]["fired"] > 0


def test_a_naive_client_breaches_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path, TINY, "--no-resilience") == 1
    out = capsys.readouterr().out
    assert out.startswith("tiny: SLA BREACHED")
    report = _report(tmp_path)
    breached = {t["text"] for t in report["thresholds"] if not t["held"]}
    assert breached == {"availability >= 99%", "fallback_rate >= 50% phase=quota"}


def test_no_fail_exits_0_even_when_breached(tmp_path: Path) -> None:
    assert _run(tmp_path, TINY, "--no-resilience", "--no-fail") == 0
    assert _report(tmp_path)["held"] is False


def test_an_impossible_threshold_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = TINY.replace("  - availability >= 99%\n", "  - rps >= 1000000\n")
    assert _run(tmp_path, text) == 1
    out = capsys.readouterr().out
    assert "rps >= 1000000" in out and "BREACHED" in out


def test_a_fault_that_never_fired_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = TINY.replace(
        "error_code: insufficient_quota}", "error_code: insufficient_quota, model: nope}"
    )
    assert _run(tmp_path, text) == 1
    out = capsys.readouterr().out
    assert "PROBLEM: fault 'http_status@primary' (http_status) in phase 'quota'" in out
    assert "never fired" in out


def test_a_bad_scenario_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(tmp_path, TINY.replace("duration: 200ms", "duration: 200 parsecs")) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: {tmp_path / 'tiny.yaml'}: phases[1].duration (line 11): expected a duration such "
        "as 500ms, 2s or 1m, got '200 parsecs'\n"
    )
    assert not (tmp_path / "reports").exists()


def test_a_backend_that_cannot_inject_the_kind_exits_2(tmp_path: Path) -> None:
    assert (
        _run(
            tmp_path,
            TINY.replace(
                "kind: http_status, target: primary, status: 429, error_code: insufficient_quota",
                "kind: bandwidth, target: primary, kbps: 1",
            ),
        )
        == 2
    )


def test_a_missing_scenario_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: cannot read file" in capsys.readouterr().err


@pytest.mark.usefixtures("demo_plugin")
def test_infrastructure_that_cannot_start_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path, DEMO_SCENARIO % {"options": ", options: {fail: true}"}) == 3
    err = capsys.readouterr().err
    assert err.endswith("error: the demo upstream refuses to start\n  fix: remove options.fail\n")


@pytest.mark.usefixtures("demo_plugin")
def test_the_third_party_scenario_runs_from_the_cli(tmp_path: Path) -> None:
    assert _run(tmp_path, DEMO_SCENARIO % {"options": ""}) == 0
    flipping = next(p for p in _report(tmp_path)["phases"] if p["name"] == "flipping")
    assert flipping["faults"][0]["kind"] == "coin_flip" and flipping["faults"][0]["fired"] > 0
