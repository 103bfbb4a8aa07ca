"""Verdicts move only when resilience moves: on the 2-core machine with two CPU-burning
processes beside it, the shipped suite and the demo's scenario (shortened as the README's CI
recipe runs it) hold, where the naive client breaches every scenario under the same noise
(``test_e2e_naive_client.py``). ``bench/bench_noise.py`` repeats these runs and prints each
threshold's observed value, limit and baseline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.noise, pytest.mark.usefixtures("cpu_noise")]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], check=False, capture_output=True, text=True, cwd=ROOT, timeout=600
    )


def _verdicts(report_dir: Path) -> dict[str, str]:
    out = {}
    for path in report_dir.glob("*.json"):
        report = json.loads(path.read_text())
        if report["driver"] != "pytest" or report["scenario"]["source"]:
            out[report["scenario"]["name"]] = report["verdict"]
    return out


def test_the_shipped_suite_holds_under_cpu_noise(tmp_path: Path) -> None:
    result = _run(
        "-m",
        "pytest",
        "scenarios",
        "--chaos-report-dir",
        str(tmp_path),
        "-p",
        "no:cacheprovider",
        "-q",
    )
    verdicts = _verdicts(tmp_path)
    assert result.returncode == 0, (verdicts, result.stdout[-4000:])
    assert len(verdicts) >= len(list((ROOT / "scenarios").glob("*.yaml")))
    assert set(verdicts.values()) == {"held"}


def test_the_demo_holds_under_cpu_noise_when_shortened(tmp_path: Path) -> None:
    result = _run(
        "-m",
        "harness",
        "load",
        "scenarios/load/demo.yaml",
        "--duration",
        "30s",
        "--report-dir",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    (report,) = [json.loads(p.read_text()) for p in tmp_path.glob("*.json")]
    assert report["verdict"] == "held"
    assert not report["problems"]  # every declared fault fired, though the phases are shorter
