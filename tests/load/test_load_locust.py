"""`harness load`: Locust headless against the stack, exact HDR merge, exit codes, no orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_support import assert_exit, harness, only_report
from load_support import alive, answered, locust_aggregated, stack_pids, totals

from harness.cli.load import LOCUSTFILE
from harness.run.appserver import bind

pytestmark = pytest.mark.slow  # real processes for seconds: make test-fast skips it


def test_load_holds_writes_reports_and_stops_everything(
    scenario_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "reports"
    process = start_running_load(scenario_file, out)
    pids = stack_pids(out)  # while it runs: the run removes its scratch files when it ends
    rest, _ = process.communicate(timeout=120)
    output = "phase=" + rest
    assert process.returncode == 0, output[-3000:]
    assert "load outage: SLA HELD" in output
    assert "phase=outage" in output  # the live progress line
    report = only_report(out)
    assert report["driver"] == "locust"
    assert [p["name"] for p in report["phases"]] == ["baseline", "outage", "recovery"]
    assert report["phases"][1]["faults"][0]["fired"] > 0
    # the harness's HDR recorder saw exactly the requests Locust counted
    assert answered(report) == locust_aggregated(output)
    outage = next(r for r in report["resilience"] if r["phase"] == "outage")
    assert outage["fallback_calls"] > 0  # scraped from the service's /metrics
    assert {p.suffix for p in out.iterdir() if p.is_file()} == {".json", ".xml", ".md", ".html"}
    assert not (out / ".work").exists()
    assert len(pids) >= 4  # two vendors, toxiproxy, the app
    assert not [pid for pid in pids if alive(pid)]


def test_two_worker_processes_merge_exactly(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    result = harness("load", str(scenario_file), "--report-dir", str(out), "--processes", "2")
    assert_exit(result)
    report = only_report(out)
    assert answered(report) == locust_aggregated(result.stdout + result.stderr)
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


def start_running_load(scenario_file: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    """``harness load`` in the background, returned once its load is running."""
    process = subprocess.Popen(
        [
            *[sys.executable, "-m", "harness", "load", str(scenario_file)],
            *["--report-dir", str(out), *extra],
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "phase=" in line:
            break
    return process


def test_sigterm_stops_the_run_and_every_child(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    process = start_running_load(scenario_file, out)
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
    assert_exit(result)
    report = only_report(out)
    assert report["held"]
    assert report["duration"] < 8  # --chaos-duration scaled the phases


def test_master_and_a_separately_started_worker_as_across_machines(
    scenario_file: Path, tmp_path: Path
) -> None:
    """Plain Locust's own distributed mode: a master (which starts the stack) and a worker
    started on its own, as on a second machine (here on loopback, as everything is)."""
    out = tmp_path / "reports"
    with bind() as probe:
        port = str(probe.getsockname()[1])
    common = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--loglevel", "WARNING"]
    chaos = ["--chaos-scenario", str(scenario_file)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    master = subprocess.Popen(
        [
            *common,
            *chaos,
            "--headless",
            "--master",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            port,
            "--expect-workers",
            "1",
            "--chaos-report-dir",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    worker = subprocess.Popen(
        [*common, *chaos, "--worker", "--master-host", "127.0.0.1", "--master-port", port],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        output, _ = master.communicate(timeout=120)
        assert worker.wait(timeout=30) == 0
    finally:
        for process in (master, worker):
            if process.poll() is None:
                process.kill()
                process.wait()
    assert master.returncode == 0, output[-3000:]
    report = only_report(out)
    assert answered(report) == locust_aggregated(output)
    assert totals(report)["count"] > 100
    assert not [pid for pid in stack_pids(out) if alive(pid)]


def test_a_sigkilled_run_leaves_no_locust_and_no_stack_behind(
    scenario_file: Path, tmp_path: Path
) -> None:
    import psutil

    out = tmp_path / "reports"
    process = start_running_load(scenario_file, out, "--duration", "120s")  # outlives the test
    assert process.stdout is not None
    children = [p.pid for p in psutil.Process(process.pid).children(recursive=True)]
    assert any("locust" in " ".join(psutil.Process(pid).cmdline()) for pid in children)
    process.kill()  # no handler runs: only the kernel's parent-death signal can clean up
    process.wait(timeout=30)
    process.stdout.close()  # (the children share it: do not wait for its end)
    survivors = children
    try:
        deadline = time.monotonic() + 20
        while survivors and time.monotonic() < deadline:
            time.sleep(0.1)
            survivors = [pid for pid in children if alive(pid)]
    finally:
        for pid in survivors:  # never leak them into the rest of the suite
            os.kill(pid, signal.SIGKILL)
    assert not survivors
