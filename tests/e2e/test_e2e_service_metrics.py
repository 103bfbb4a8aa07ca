"""A service on the core that the harness starts as a command runs in its own process: the
core's events never reach the harness, so its counters (``retries_per_call``,
``fallback_rate``, the "core calls" line) come from the service's ``/metrics``, read at each
phase boundary, under ``harness run`` as under ``harness load``. Real processes and sockets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # real processes for seconds: make test-fast skips it

ROOT = Path(__file__).parents[2]

SCENARIO = """\
name: the example service as a command
seed: 5
target:
  command: "{python} -m uvicorn examples.genai_service.app:create_app --factory --port {port} --log-level warning"
  cwd: %(root)s
  ready: /healthz
upstreams:
  - {name: primary, api: openai}
  - {name: backup, api: anthropic}
load: {rate: 20/s}
phases:
  - {name: baseline, duration: 1s}
  - name: outage
    duration: 2s
    faults: [{kind: http_status, target: primary, status: 503}]
sla:
  - availability >= 99%%
  - fallback_rate >= 80%% phase=outage
  - retries_per_call < 1 phase=baseline
"""


@pytest.mark.parametrize("driver", ["run", "load"])
def test_the_core_counters_of_a_command_target_come_from_its_metrics(
    tmp_path: Path, driver: str
) -> None:
    scenario = tmp_path / "service.yaml"
    scenario.write_text(SCENARIO % {"root": ROOT})
    out = tmp_path / "reports"
    result = subprocess.run(
        [sys.executable, "-m", "harness", driver, str(scenario), "--report-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (path,) = out.glob("*.json")
    report = json.loads(path.read_text())
    rows = {row["phase"]: row for row in report["resilience"]}
    (everything,) = [r for r in report["requests"] if r["name"] == "*" and r["phase"] == "*"]
    # every request was one call of the service's core, counted by the service itself (per
    # phase, a call still running at a boundary is counted in the next one)
    assert rows["*"]["calls"] == everything["count"] > 0
    assert rows["outage"]["fallbacks"] > 0
    assert rows["baseline"]["fallbacks"] == 0
    assert "core calls" in result.stdout
