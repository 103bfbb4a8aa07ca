"""Load benchmarks of the example service under Locust, each pair side by side in one run.

1. **Async versus blocking tool I/O** (the brief's throughput claim): the same service, the same
   Locust load (50 users), 100 ms of upstream latency on the tool's database and on the LLM
   vendors; once with the catalog lookup run by ``BaseTool.async_run`` (worker threads, the
   event loop stays free), once blocking inside the event loop. Target: >= 20x requests/s.
2. **The harness's own cost**: Locust against a bare endpoint, with a plain locustfile and with
   the harness's locustfile (HDR recorder on every request, the phase timeline). Target: >= 0.9.
3. **Resilience under load**: 50 users, 30 % of vendor calls answer 503 (both vendors); the
   availability the service keeps and the upstream amplification (vendor attempts per user
   request), with the retry budget on and off. The budget must cut the amplification.

    .venv/bin/python bench/bench_load.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness.plugin.process import ChildProcess, harness_command

ROOT = Path(__file__).parents[1]


def run_load(scenario: str, seconds: int, workdir: Path, tag: str) -> dict[str, Any]:
    """``harness load`` on ``scenario`` (YAML text); returns its report."""
    path = workdir / f"{tag}.yaml"
    path.write_text(scenario)
    out = workdir / tag
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "load",
            str(path),
            "--report-dir",
            str(out),
            "--duration",
            f"{seconds}s",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    reports = list(out.glob("*.json"))
    if not reports:
        sys.exit(f"{tag}: no report\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return json.loads(reports[0].read_text())


def totals(report: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in report["requests"] if r["name"] == "*" and r["phase"] == "*")


def service_scenario(env: dict[str, str], faults: str = "", users: int = 50) -> str:
    env_yaml = ", ".join(f"{k}: {json.dumps(v)}" for k, v in env.items())
    return f"""
name: bench
seed: 3
target: {{app: example, env: {{{env_yaml}}}}}
upstreams:
  - {{name: primary, api: openai}}
  - {{name: backup, api: anthropic}}
proxies:
  - {{name: primary_net, upstream: primary}}
  - {{name: backup_net, upstream: backup}}
load: {{users: {users}, spawn_rate: {users}}}
phases:
  - name: load
    duration: 10s
    faults:
      {faults or "[]"}
sla: [availability >= 0%]
"""


LATENCY = """
      - {kind: latency, target: primary_net, latency: 100ms}
      - {kind: latency, target: backup_net, latency: 100ms, optional: true}"""
ERRORS_30 = """
      - {kind: http_status, target: primary, status: 503, rate: 30%}
      - {kind: http_status, target: backup, status: 503, rate: 30%, optional: true}"""


def bench_async_vs_blocking(seconds: int, workdir: Path) -> None:
    print("1. async vs blocking tool I/O (50 users, 100 ms on the tool's database and the LLM)")
    rows = {}
    for tag, blocking in (("async", "0"), ("blocking", "1")):
        env = {"GENAI_TOOL_LATENCY": "0.1", "GENAI_BLOCKING_TOOL": blocking}
        report = run_load(service_scenario(env, LATENCY), seconds, workdir, f"io-{tag}")
        row = rows[tag] = totals(report)
        print(f"   {tag:<9} requests/s {row['rps']:8.1f}   p95 {row['p95'] * 1000:8.0f} ms")
    ratio = rows["async"]["rps"] / rows["blocking"]["rps"]
    print(
        f"   async / blocking requests/s: {ratio:.1f}x (target >= 20x): "
        f"{'OK' if ratio >= 20 else 'MISSED'}"
    )


PLAIN_LOCUSTFILE = """
from locust import FastHttpUser, constant, task

class Bare(FastHttpUser):
    wait_time = constant(0)

    @task
    def health(self):
        self.client.get("/_harness/health", name="/_harness/health")
"""


def locust_rps(argv: list[str], seconds: int) -> float:
    """Requests Locust counted (its final summary) over the run's duration."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT)
    counts = re.findall(
        r"^\s+Aggregated\s+(\d+)\s+\d+\(", result.stdout + result.stderr, re.MULTILINE
    )
    if result.returncode not in (0, 1) or not counts:
        sys.exit(result.stdout[-2000:] + result.stderr[-2000:])
    return int(counts[-1]) / seconds  # the last table is the final summary


def bench_harness_cost(seconds: int, workdir: Path, rounds: int = 2) -> None:
    print("2. the harness's own cost (Locust, 50 users, a bare endpoint, runs alternating)")
    vendor = ChildProcess("bare endpoint", harness_command("vendor", "serve", "--port", "0"))
    url = vendor.start()
    try:
        plain = workdir / "plain_locustfile.py"
        plain.write_text(PLAIN_LOCUSTFILE)
        common = ["--headless", "-u", "50", "-r", "50", "--host", url, "--loglevel", "WARNING"]
        scenario = workdir / "bare.yaml"
        scenario.write_text(
            "name: bare\n"
            f"target: {{url: '{url}', "
            "request: {method: GET, path: /_harness/health, body: {}}}\n"
            "load: {users: 50, spawn_rate: 50}\n"
            f"phases: [{{name: load, duration: {seconds}s}}]\n"
            "sla: [availability >= 0%]\n"
        )
        plain_runs, harness_runs = [], []
        for _ in range(rounds):
            plain_runs.append(
                locust_rps(
                    [
                        sys.executable,
                        "-m",
                        "locust",
                        "-f",
                        str(plain),
                        *common,
                        "-t",
                        f"{seconds}s",
                    ],
                    seconds,
                )
            )
            harness_runs.append(
                locust_rps(
                    [
                        sys.executable,
                        "-m",
                        "locust",
                        "-f",
                        "scenarios/locustfile.py",
                        *common,
                        "--chaos-scenario",
                        str(scenario),
                        "--chaos-report-dir",
                        str(workdir / "harness"),
                    ],
                    seconds,
                )
            )
    finally:
        vendor.stop()
    base, with_harness = max(plain_runs), max(harness_runs)  # best of each: least disturbed
    ratio = with_harness / base
    print(f"   plain locustfile     requests/s {base:8.1f}")
    print(f"   harness locustfile   requests/s {with_harness:8.1f}")
    print(
        f"   with / without the harness: {ratio:.3f} (target >= 0.9): "
        f"{'OK' if ratio >= 0.9 else 'MISSED'}"
    )


def bench_budget(seconds: int, workdir: Path) -> None:
    print("3. resilience under load (50 users, 30 % of vendor calls answer 503)")
    results = {}
    for tag, budget in (("budget on", "on"), ("budget off", "off")):
        report = run_load(
            service_scenario({"GENAI_RETRY_BUDGET": budget}, ERRORS_30),
            seconds,
            workdir,
            f"budget-{budget}",
        )
        total = totals(report)
        core = next(r for r in report["resilience"] if r["phase"] == "*")
        requests = max(total["count"], 1)
        amplification = core["attempts"] / requests
        primary = core["attempts_by_provider"].get("primary", 0) / requests
        availability = total["ok"] / requests
        results[tag] = primary
        print(
            f"   {tag:<11} availability {availability * 100:7.3f} %   vendor calls per request "
            f"{amplification:.3f} (primary {primary:.3f})   retries {core['retries']}, "
            f"fallbacks {core['fallbacks']}, budget refusals {core['budget_exhausted']}"
        )
    cut = results["budget off"] - results["budget on"]
    print(
        f"   the budget cuts the primary's amplification by {cut:.3f} calls per request: "
        f"{'OK' if cut > 0 else 'MISSED'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        bench_async_vs_blocking(args.seconds, workdir)
        bench_harness_cost(args.seconds, workdir)
        bench_budget(args.seconds, workdir)


if __name__ == "__main__":
    main()
