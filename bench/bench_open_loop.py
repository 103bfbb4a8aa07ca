"""Open-loop load: does each driver offer the declared rate? Side by side in one run.

Both drivers (``harness run``: asyncio in-process; ``harness load``: Locust) run the same
open-loop scenario (``load: {rate: R}``) against a bare endpoint (the fake vendor's health
route, a child process), at each rate in turn. For each: requests sent over what the
timetable declared (rate x seconds; target: within a few %), missed starts, how late the
sent ones started (p99), the generator's CPU use and event-loop lag.

    .venv/bin/python bench/bench_open_loop.py [--seconds 10] [--rates 40,200]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness.plugin.process import ChildProcess, harness_command

ROOT = Path(__file__).parents[1]
SCENARIO = """
name: open loop {rate}
target: {{url: "{url}", request: {{method: GET, path: /_harness/health, body: {{}}}}}}
load: {{rate: {rate}/s}}
phases: [{{name: steady, duration: {seconds}s}}]
sla: [availability >= 0%]
"""


def run(command: str, scenario: str, workdir: Path, tag: str) -> dict[str, Any]:
    """``harness <command>`` on ``scenario`` (YAML text); returns its report."""
    path = workdir / f"{tag}.yaml"
    path.write_text(scenario)
    out = workdir / tag
    result = subprocess.run(
        [sys.executable, "-m", "harness", command, str(path), "--report-dir", str(out)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    reports = list(out.glob("*.json"))
    if result.returncode != 0 or not reports:
        sys.exit(
            f"{tag}: exit {result.returncode}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    return json.loads(reports[0].read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rates", default="40,200")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    endpoint = ChildProcess("bare endpoint", harness_command("vendor", "serve", "--port", "0"))
    url = endpoint.start()
    print(f"open-loop rate, {args.seconds} s per run, bare endpoint {url}")
    print(
        "  driver       rate/s  answered/declared  missed  unfinished  start delay p99  "
        "generator CPU  loop lag p99"
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            for rate in rates:
                scenario = SCENARIO.format(url=url, rate=rate, seconds=args.seconds)
                for command, driver in (("run", "in-process"), ("load", "locust")):
                    report = run(command, scenario, workdir, f"{driver}-{rate}")
                    health = report["health"]
                    total = next(r for r in report["requests"] if r["name"] == r["phase"] == "*")
                    declared = rate * args.seconds
                    delay = health["start_delay_p99"] or 0.0
                    lag = health["loop_lag_p99"] or 0.0
                    print(
                        f"  {driver:<11} {rate:>7}  {total['count'] / declared:>17.3f}  "
                        f"{health['missed_starts']:>6}  {health['unfinished_requests']:>10}  "
                        f"{delay * 1000:>13.2f}ms  {health['cpu_max'] or 0:>13.0%}  "
                        f"{lag * 1000:>10.2f}ms"
                    )
    finally:
        endpoint.stop()


if __name__ == "__main__":
    main()
