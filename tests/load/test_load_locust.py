"""`harness load`: Locust headless against the stack, exact HDR merge, exit codes, no orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from load_support import alive, harness, locust_aggregated, only_report, stack_pids, totals


def test_load_holds_writes_reports_and_stops_everything(
    scenario_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "reports"
    result = harness("load", str(scenario_file), "--report-dir", str(out))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "load outage: SLA HELD" in result.stdout
    assert "phase=outage" in result.stdout  # the live progress line
    report = only_report(out)
    assert report["driver"] == "locust"
    assert [p["name"] for p in report["phases"]] == ["baseline", "outage", "recovery"]
    assert report["phases"][1]["faults"][0]["fired"] > 0
    # the harness's HDR recorder saw exactly the requests Locust counted
    assert totals(report)["count"] == locust_aggregated(result.stdout + result.stderr)
    outage = next(r for r in report["resilience"] if r["phase"] == "outage")
    assert outage["fallback_calls"] > 0  # scraped from the service's /metrics
    assert {p.suffix for p in out.iterdir() if p.is_file()} == {".json", ".xml", ".md", ".html"}
    pids = stack_pids(out)
    assert len(pids) >= 4  # two vendors, toxiproxy, the app
    assert not [pid for pid in pids if alive(pid)]


def test_two_worker_processes_merge_exactly(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    result = harness("load", str(scenario_file), "--report-dir", str(out), "--processes", "2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = only_report(out)
    assert totals(report)["count"] == locust_aggregated(result.stdout + result.stderr)
    assert totals(report)["count"] > 100


def test_a_breach_exits_1_and_names_the_threshold(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    result = harness("load", str(scenario_file), "--report-dir", str(out), "--no-resilience")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "SLA BREACHED" in result.stdout
    assert "availability >= 99%" in result.stdout
    gate = harness("gate", *map(str, out.glob("*.json")))
    assert gate.returncode == 1
    assert "availability >= 99%" in gate.stderr


def test_sigterm_stops_the_run_and_every_child(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "load", str(scenario_file), "--report-dir", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    for line in process.stdout:  # wait until the load is running
        if "phase=" in line:
            break
    pids = stack_pids(out)
    assert pids
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    assert process.returncode != 0
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in pids if alive(pid)]


def test_plain_locust_with_the_shipped_locustfile(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            "scenarios/locustfile.py",
            "--headless",
            "--only-summary",
            "--chaos-scenario",
            str(scenario_file),
            "--chaos-report-dir",
            str(out),
            "--chaos-duration",
            "4s",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = only_report(out)
    assert report["held"]
    assert report["duration"] < 8  # --chaos-duration scaled the phases
