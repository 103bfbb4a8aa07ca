"""A third-party plugin, built in a temporary directory from the public API alone
(``harness.plugin``), installed through the ``harness`` entry-point group, adds a fault kind and
a backend; a scenario uses them under ``harness run`` and under ``pytest``, each a real process
that finds the plugin only through its entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from engine_support import DEMO_SCENARIO, install_demo_plugin


@pytest.fixture
def installed(tmp_path: Path) -> dict[str, str]:
    """The environment of a process that has the plugin installed (its dist-info on the path)."""
    site = install_demo_plugin(tmp_path)
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**os.environ, "PYTHONPATH": path}


def _run(env: dict[str, str], cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _fired(report: dict) -> list[tuple[str, int]]:  # type: ignore[type-arg]
    return [(f["kind"], f["fired"]) for p in report["phases"] for f in p["faults"]]


def test_harness_run_uses_the_plugin(installed: dict[str, str], tmp_path: Path) -> None:
    scenario = tmp_path / "third_party.yaml"
    scenario.write_text(DEMO_SCENARIO % {"options": ""})
    plugins = _run(installed, tmp_path, "-m", "harness", "plugins")
    assert "demo  (harness_demo_plugin)\n  backend demo: coin_flip\n" in plugins.stdout
    result = _run(installed, tmp_path, "-m", "harness", "run", str(scenario), "--report-dir", "out")
    assert result.returncode == 0, result.stdout + result.stderr
    (report_path,) = (tmp_path / "out").glob("*.json")
    report = json.loads(report_path.read_text())
    [(kind, fired)] = _fired(report)
    assert kind == "coin_flip" and fired > 0
    # without the plugin the same file is bad input naming the unknown kind
    bare = _run({**installed, "PYTHONPATH": ""}, tmp_path, "-m", "harness", "run", str(scenario))
    assert bare.returncode == 2
    assert "unknown fault kind 'coin_flip'" in bare.stderr


def test_pytest_collects_and_runs_a_scenario_that_uses_it(
    installed: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "chaos").mkdir()
    (tmp_path / "chaos" / "chaos_third_party.yaml").write_text(DEMO_SCENARIO % {"options": ""})
    result = _run(
        installed,
        tmp_path,
        "-m",
        "pytest",
        "chaos",
        "-p",
        "no:cacheprovider",
        "--chaos-report-dir",
        "out",
        "-q",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    reports = [json.loads(p.read_text()) for p in (tmp_path / "out").glob("*.json")]
    assert [_fired(r)[0][0] for r in reports if r["driver"] == "pytest" and _fired(r)] == [
        "coin_flip"
    ]
