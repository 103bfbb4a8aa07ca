"""A suite that passes whatever the core does is worthless: run every shipped scenario against a
core with retries, fallback and async tool I/O switched off, and the gate must fail (exit 1),
naming the thresholds that protect against exactly those failures, on a machine two
CPU-burning processes keep busy (noise must not hide a breach any more than it may cause one).
(That the same scenarios hold with the resilient core is what ``pytest scenarios/`` proves in
the main suite, and ``test_e2e_noise.py`` under the same noise.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
EXPECTED_BREACHES = {
    "quota_exhausted.yaml": ["availability >= 99.5%", "fallback_rate >= 90% phase=quota"],
    "primary_outage.yaml": ["availability >= 99.5%", "fallback_rate >= 90% phase=outage"],
    "anthropic_overload.yaml": ["availability >= 99.5%"],
    "blocking_tool.yaml": ["p95 < 1s"],
    "stream_cut.yaml": ["availability >= 98% phase=cut_before_text"],
    "rate_limit_storm.yaml": ["availability >= 99.5%"],
    "flaky_network.yaml": ["availability >= 99.5%", "fallback_rate >= 80% phase=timeouts"],
    "latency_spike.yaml": ["availability >= 99.5%", "fallback_rate >= 50% phase=spike"],
    "memory_outage.yaml": ["availability >= 99.5%"],
}


def test_every_shipped_scenario_is_run_against_the_naive_client() -> None:
    shipped = {path.name for path in (ROOT / "scenarios").glob("*.yaml")}
    assert shipped == set(EXPECTED_BREACHES)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], check=False, capture_output=True, text=True, cwd=ROOT, timeout=300
    )


@pytest.mark.slow
@pytest.mark.noise
@pytest.mark.usefixtures("cpu_noise")
def test_the_gate_catches_a_client_without_resilience(tmp_path: Path) -> None:
    files = [f"scenarios/{name}" for name in EXPECTED_BREACHES]
    naive = run(
        "-m",
        "pytest",
        *files,
        "-n",
        "2",
        "--chaos-no-resilience",
        "--chaos-report-dir",
        str(tmp_path),
        "-p",
        "no:cacheprovider",
        "-q",
    )
    assert naive.returncode == 1, naive.stdout[-3000:]
    assert f"{len(files)} failed" in naive.stdout
    reports = sorted(str(p) for p in tmp_path.glob("*.json") if not p.name.startswith("pytest-"))
    assert len(reports) == len(files)
    gate = run("-m", "harness", "gate", *reports)
    assert gate.returncode == 1
    for name, thresholds in EXPECTED_BREACHES.items():
        for threshold in thresholds:
            assert threshold in gate.stderr, f"{name}: {threshold!r} not named:\n{gate.stderr}"
