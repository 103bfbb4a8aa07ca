"""Helpers for the Locust driver's tests: they run real processes (Locust, vendors, the app)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

SCENARIO = """
name: {name}
seed: 11
target: {{app: example}}
upstreams:
  - {{name: primary, api: openai}}
  - {{name: backup, api: anthropic}}
proxies:
  - {{name: primary_net, upstream: primary}}
load: {{users: {users}, spawn_rate: {users}}}
phases:
  - {{name: baseline, duration: 2s}}
  - name: outage
    duration: 3s
    faults:
      - {{kind: http_status, target: primary, status: 503}}
  - {{name: recovery, duration: 1s}}
sla:
  - availability >= 99%
  - fallback_rate >= 50% phase=outage
"""


def locust_aggregated(output: str) -> int:
    """Locust's own request count from its summary table."""
    counts = re.findall(r"^\s+Aggregated\s+(\d+)\s+\d+\(", output, re.MULTILINE)
    assert counts, output[-3000:]
    return int(counts[-1])  # the last table is the final summary


def totals(report: dict) -> dict:  # type: ignore[type-arg]
    return next(r for r in report["requests"] if r["name"] == "*" and r["phase"] == "*")


def answered(report: dict) -> int:  # type: ignore[type-arg]
    """Requests that got an answer: what Locust counts (the harness also counts, as failed,
    the requests still running when the run ended)."""
    row = totals(report)
    return int(row["count"]) - int(row["errors"].get("Unfinished", 0))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child of ours is dead for our purposes
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split()[2] != "Z"
    except OSError:
        return False


def stack_pids(report_dir: Path) -> list[int]:
    pids: list[int] = []
    for stack_file in report_dir.glob(".work/*/stack.json"):
        pids += json.loads(stack_file.read_text())["pids"]
    return pids
