"""Verdicts under CPU noise: the shipped suite and the demo, with the resilient core and
with the naive client, each run beside two CPU-burning processes, several times.

Per run: ``pytest scenarios/`` (every shipped scenario, the own-service ones included), the
demo's scenario at full length (``harness load scenarios/load/demo.yaml``), and the same
scenarios against the naive client (``--chaos-no-resilience``). Then one table per threshold:
held count over the runs, observed value (min..max), the limit applied and, for a
baseline-relative limit, the baseline it came from, and how often the naive client breached
the same threshold. The ratio printed last is held runs with the core over held runs without
it (the suite is only worth something when the first is every run and the second none).

    .venv/bin/python bench/bench_noise.py [--runs 5] [--burners 2] [--skip-naive]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).parents[1]


@dataclass
class Seen:
    """One threshold's figures over the runs of one variant."""

    verdicts: list[str] = field(default_factory=list)
    observed: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)
    baselines: list[str] = field(default_factory=list)


Table = dict[tuple[str, str], Seen]


@contextmanager
def burners(count: int) -> Iterator[None]:
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def run(args: list[str], report_dir: Path) -> tuple[int, float]:
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if result.returncode not in (0, 1, 4):
        print(result.stdout[-2000:], result.stderr[-2000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"{' '.join(args)} exited {result.returncode} ({report_dir})")
    return result.returncode, time.monotonic() - began


def collect(report_dir: Path, table: Table) -> None:
    for path in sorted(report_dir.glob("*.json")):
        report = json.loads(path.read_text())
        if "thresholds" not in report or "scenario" not in report:
            continue  # pytest's own session report
        scenario = report["scenario"]["name"]
        for threshold in report["thresholds"]:
            seen = table.setdefault((scenario, threshold["text"]), Seen())
            seen.verdicts.append(threshold["verdict"])
            seen.observed.append(threshold["observed_text"])
            if threshold["observed"] is not None:
                seen.values.append(threshold["observed"])
            seen.limits.append(_limit_text(threshold))
            if threshold["baseline"] is not None:
                seen.baselines.append(f"{threshold['baseline']:.4g}")


def _limit_text(threshold: dict[str, object]) -> str:
    limit = threshold["limit"]
    return "-" if limit is None else f"{limit:.4g}"


def spread(texts: list[str], values: list[float]) -> str:
    if not values:
        return texts[0] if texts else "-"
    low, high = min(values), max(values)
    low_text = texts[values.index(low)] if len(texts) == len(values) else f"{low:.4g}"
    high_text = texts[values.index(high)] if len(texts) == len(values) else f"{high:.4g}"
    return low_text if low == high else f"{low_text}..{high_text}"


def span(texts: list[str]) -> str:
    unique = sorted(set(texts), key=lambda t: float(t) if t.replace(".", "").isdigit() else 0.0)
    if not unique:
        return "-"
    return unique[0] if len(unique) == 1 else f"{unique[0]}..{unique[-1]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--burners", type=int, default=2)
    parser.add_argument("--skip-naive", action="store_true")
    options = parser.parse_args()

    core: Table = {}
    naive: Table = {}
    exits: dict[str, list[int]] = defaultdict(list)
    pytest_args = ["-m", "pytest", "scenarios", "-p", "no:cacheprovider", "-q"]
    with tempfile.TemporaryDirectory(prefix="bench-noise-") as tmp, burners(options.burners):
        for number in range(1, options.runs + 1):
            base = Path(tmp) / f"run{number}"
            suite, demo, off = base / "suite", base / "demo", base / "naive"
            code, took = run([*pytest_args, "--chaos-report-dir", str(suite)], suite)
            exits["suite"].append(code)
            print(f"run {number}: pytest scenarios/ exit {code} ({took:.0f}s)", flush=True)
            code, took = run(
                ["-m", "harness", "load", "scenarios/load/demo.yaml", "--report-dir", str(demo)],
                demo,
            )
            exits["demo"].append(code)
            print(f"run {number}: demo exit {code} ({took:.0f}s)", flush=True)
            collect(suite, core)
            collect(demo, core)
            if not options.skip_naive:
                naive_args = [*pytest_args, "--chaos-no-resilience", "--chaos-report-dir"]
                code, took = run([*naive_args, str(off)], off)
                exits["naive"].append(code)
                print(f"run {number}: naive client exit {code} ({took:.0f}s)", flush=True)
                collect(off, naive)

    print(f"\n{options.runs} runs, {options.burners} CPU burners beside each\n")
    print("| scenario | threshold | held | observed | limit | baseline | naive breached |")
    print("|---|---|---|---|---|---|---|")
    for (scenario, text), seen in sorted(core.items()):
        held = seen.verdicts.count("held")
        other = naive.get((scenario, text))
        naive_text = f"{other.verdicts.count('breached')}/{len(other.verdicts)}" if other else "-"
        print(
            f"| {scenario} | `{text}` | {held}/{len(seen.verdicts)} "
            f"| {spread(seen.observed, seen.values)} | {span(seen.limits)} "
            f"| {span(seen.baselines)} | {naive_text} |"
        )
    held_runs = sum(code == 0 for key in ("suite", "demo") for code in exits[key])
    total_runs = sum(len(exits[key]) for key in ("suite", "demo"))
    codes = f"suite {exits['suite']}, demo {exits['demo']}"
    print(f"\ncore: {held_runs}/{total_runs} runs held ({codes})")
    if exits["naive"]:
        naive_held = sum(code == 0 for code in exits["naive"])
        print(f"naive client: {naive_held}/{len(exits['naive'])} suite runs held {exits['naive']}")
        ratio = (held_runs / total_runs) / max(naive_held / len(exits["naive"]), 1e-9)
        print(f"held share, core / naive: {ratio:.3g}" if naive_held else "naive never held")
    return 0 if held_runs == total_runs else 1


if __name__ == "__main__":
    sys.exit(main())
