"""Peers: ``harness.core`` beside the clients teams actually write, under one fault timeline.

Four clients run at the same time, each in its own process and against its own pair of fake
vendors (an OpenAI-compatible primary, an Anthropic-compatible backup), every one with its
library's defaults:

1. ``core``: ``BaseLLMWrapper([OpenAIProvider(primary), AnthropicProvider(backup)])``;
2. ``openai``: the official ``AsyncOpenAI`` alone (its default 2 retries);
3. ``openai+anthropic``: ``AsyncOpenAI``, and on any exception the official ``AsyncAnthropic``
   (how most teams write a fallback);
4. ``litellm``: LiteLLM's ``Router`` with the two deployments and ``fallbacks`` (the ``peers``
   extra; without it the row is skipped and the rest still runs).

**One timeline, driven by this process** through the fake vendors' control API, hits the four
primaries at the same moments with the same fault specs and the same seed: baseline 5 s; 30 %
of requests answer 503 for 15 s; 50 % answer 429 with ``Retry-After: 1`` for 15 s; the primary
resets every connection (``connection_reset``) for 15 s; recovery 20 s. The backups never fail.

**Open-loop load, the same for each client**: 50 users, each starting one request every 2 s on
a fixed timetable (user ``u`` at ``u * 40 ms + k * 2 s``: 25 requests/s per client, whatever the
answers do), at most ``--max-in-flight`` requests in flight (a request over the cap waits for a
slot). Latency is measured from the request's *scheduled* start, so a client that stalls, queues
or starts late pays for it (no coordinated omission). A request belongs to the phase in which it
was scheduled; one still unanswered ``--drain`` seconds after the last start counts as failed.

**What each column is** (per client and phase, then over the whole run):

- ``avail``: answered requests / scheduled requests (an answer from either vendor counts);
- ``p50``/``p95``: over every scheduled request, answered or failed, from its scheduled start to
  its outcome (a user waits for an error too);
- ``prim/req``, ``bkp/req``: calls the primary (backup) fake vendor counted itself
  (``GET /_harness/counters``, read at each phase boundary right after the faults switch, and
  once more after the clients finish), divided by the requests scheduled in the phase. A retry
  issued just after a boundary counts in the next phase;
- ``backup``: the share of the answered requests that the backup served;
- ``cpu/req``: the client process's own CPU time (``time.process_time()``: user + system, every
  thread of the process, read inside the client at each phase boundary) divided by the requests
  scheduled in the phase. Each client is alone in its process with nothing but its library, the
  asyncio loop and this script's scheduler (identical for all four), and the vendors run in the
  parent process, so no client pays for another's work or for the vendors'. CPU time is much
  less sensitive than wall time to the four sharing the cores; the last phase also carries the
  drain.

All four run in the same wall-clock window, so the machine's noise hits them alike. The vendors
(eight uvicorn servers on threads of this process) never saturate: the parent's CPU use is
printed with the run conditions. Each client warms up before the clock starts (a few calls to
its primary and, where it has one, its backup: imports, connection pools); the vendors' counters
are reset after that. LiteLLM is told not to fetch its model-price map from the network
(``LITELLM_OFFLINE_MODE``): nothing else is changed from any library's defaults, the core's
included.

    flock /work/helpers/bench.lock .venv/bin/python bench/bench_peers.py \
        [--duration-scale 0.3] [--clients core,openai,openai+anthropic,litellm]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLIENTS = ("core", "openai", "openai+anthropic", "litellm")
OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-3-5-haiku-latest"
MESSAGES = [{"role": "user", "content": "Where is my refund?"}]
MAX_TOKENS = 64
API_KEY = "sk-bench"
LITELLM_MISSING = "litellm not installed: pip install -e '.[peers]'; skipping its row"
# Keeps LiteLLM from fetching its price map and header catalogue over the network at import.
CHILD_ENV = {"LITELLM_OFFLINE_MODE": "true", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float
    fault: dict[str, Any] | None


def timeline(scale: float) -> list[Phase]:
    return [
        Phase("baseline", 5 * scale, None),
        Phase("503 30%", 15 * scale, {"kind": "http_status", "status": 503, "rate": "30%"}),
        Phase(
            "429 50%",
            15 * scale,
            {"kind": "http_status", "status": 429, "retry_after": "1s", "rate": "50%"},
        ),
        Phase("primary down", 15 * scale, {"kind": "connection_reset"}),
        Phase("recovery", 20 * scale, None),
    ]


# -- the clients (each runs in its own child process) -----------------------------------------

Call = Callable[[], Awaitable[str]]  # one request; returns "primary" or "backup"


@dataclass
class Client:
    call: Call
    warm: Callable[[], Awaitable[None]]
    aclose: Callable[[], Awaitable[None]]


async def _nothing() -> None:
    return None


def make_core(primary: str, backup: str) -> Client:
    from harness.core import AnthropicProvider, BaseLLMWrapper, OpenAIProvider

    llm = BaseLLMWrapper(
        [
            OpenAIProvider(name="primary", base_url=primary, api_key=API_KEY, model=OPENAI_MODEL),
            AnthropicProvider(
                name="backup", base_url=backup, api_key=API_KEY, model=ANTHROPIC_MODEL
            ),
        ]
    )

    async def call() -> str:
        answer = await llm.complete(MESSAGES, max_tokens=MAX_TOKENS)
        return answer.provider

    async def warm() -> None:
        for _ in range(3):
            await call()
        # The backup's connection, as the other clients warm theirs (Provider.complete is the
        # public one-attempt protocol; no breaker, budget or counter sees it).
        await llm.providers[1].complete(llm.client(), MESSAGES, {}, limit=10.0)

    return Client(call, warm, llm.aclose)


def make_openai(primary: str, backup: str) -> Client:
    del backup
    import openai

    client = openai.AsyncOpenAI(base_url=primary, api_key=API_KEY)

    async def call() -> str:
        await client.chat.completions.create(
            model=OPENAI_MODEL,
            messages=MESSAGES,  # type: ignore[arg-type]
            max_tokens=MAX_TOKENS,
        )
        return "primary"

    async def warm() -> None:
        for _ in range(3):
            await call()

    return Client(call, warm, client.close)


def make_openai_anthropic(primary: str, backup: str) -> Client:
    import anthropic
    import openai

    first = openai.AsyncOpenAI(base_url=primary, api_key=API_KEY)
    second = anthropic.AsyncAnthropic(base_url=backup, api_key=API_KEY)

    async def fallback() -> str:
        await second.messages.create(
            model=ANTHROPIC_MODEL,
            messages=MESSAGES,  # type: ignore[arg-type]
            max_tokens=MAX_TOKENS,
        )
        return "backup"

    async def call() -> str:
        try:
            await first.chat.completions.create(
                model=OPENAI_MODEL,
                messages=MESSAGES,  # type: ignore[arg-type]
                max_tokens=MAX_TOKENS,
            )
        except Exception:
            return await fallback()
        return "primary"

    async def warm() -> None:
        for _ in range(3):
            await call()
        await fallback()

    async def aclose() -> None:
        await first.close()
        await second.close()

    return Client(call, warm, aclose)


def make_litellm(primary: str, backup: str) -> Client:
    from litellm import Router

    router = Router(
        model_list=[
            {
                "model_name": "primary",
                "litellm_params": {
                    "model": f"openai/{OPENAI_MODEL}",
                    "api_base": primary,
                    "api_key": API_KEY,
                },
            },
            {
                "model_name": "backup",
                "litellm_params": {
                    "model": f"anthropic/{ANTHROPIC_MODEL}",
                    "api_base": backup,
                    "api_key": API_KEY,
                },
            },
        ],
        fallbacks=[{"primary": ["backup"]}],
    )

    async def ask(group: str) -> str:
        response = await router.acompletion(model=group, messages=MESSAGES, max_tokens=MAX_TOKENS)
        # The fake vendor answers with the model it was asked for: which deployment served.
        return "backup" if str(response.model).startswith("claude") else "primary"

    async def call() -> str:
        return await ask("primary")

    async def warm() -> None:
        for _ in range(3):
            await call()
        await ask("backup")

    return Client(call, warm, _nothing)


FACTORIES: dict[str, Callable[[str, str], Client]] = {
    "core": make_core,
    "openai": make_openai,
    "openai+anthropic": make_openai_anthropic,
    "litellm": make_litellm,
}


async def run_client(name: str, primary: str, backup: str, workdir: Path) -> None:
    """The child: warm up, say ready, wait for the plan, run the timetable, write results."""
    client = FACTORIES[name](primary, backup)
    await client.warm()
    (workdir / f"{name}.ready").touch()
    plan = json.loads(await asyncio.to_thread(sys.stdin.readline))
    t0: float = plan["t0"]
    bounds: list[float] = plan["bounds"]  # phase start offsets, then the end
    spacing = plan["interval"] / plan["users"]
    count = math.ceil(bounds[-1] / spacing - 1e-9)
    slots = asyncio.Semaphore(plan["max_in_flight"])
    records: list[tuple[float, float, str]] = []
    cpu: list[float] = []
    in_flight = peak = 0
    late = 0.0  # the scheduler's worst lag behind the timetable

    async def one(offset: float) -> None:
        nonlocal in_flight, peak
        try:
            async with slots:
                in_flight += 1
                peak = max(peak, in_flight)
                try:
                    outcome = await client.call()
                finally:
                    in_flight -= 1
        except Exception as exc:
            outcome = f"error:{type(exc).__name__}"
        records.append((offset, time.monotonic() - (t0 + offset), outcome))

    async def cpu_marks() -> None:
        for offset in bounds:
            await asyncio.sleep(max(0.0, t0 + offset - time.monotonic()))
            cpu.append(time.process_time())

    marks = asyncio.create_task(cpu_marks())
    pending: dict[asyncio.Task[None], float] = {}
    for i in range(count):
        offset = i * spacing
        await asyncio.sleep(max(0.0, t0 + offset - time.monotonic()))
        late = max(late, time.monotonic() - (t0 + offset))
        task = asyncio.create_task(one(offset))
        pending[task] = offset
        task.add_done_callback(lambda done: pending.pop(done, None))
    await marks
    if pending:
        await asyncio.wait(list(pending), timeout=plan["drain"])
    unfinished = list(pending.items())
    for task, offset in unfinished:
        task.cancel()
        records.append((offset, time.monotonic() - (t0 + offset), "error:unfinished"))
    await asyncio.gather(*(task for task, _ in unfinished), return_exceptions=True)
    cpu.append(time.process_time())  # after the drain: belongs to the last phase
    del cpu[-2]
    await client.aclose()
    result = {"records": records, "cpu": cpu, "peak_in_flight": peak, "late": late}
    (workdir / f"{name}.json").write_text(json.dumps(result))


# -- the parent: vendors, timeline, table -------------------------------------------------------


@dataclass
class Pair:
    name: str
    primary: Any  # FakeVendor
    backup: Any
    process: subprocess.Popen[bytes] | None = None


def counts(pair: Pair) -> tuple[int, int]:
    return (
        int(pair.primary.control.counters()["requests_total"]),
        int(pair.backup.control.counters()["requests_total"]),
    )


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def fmt_ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    ms = seconds * 1000
    return f"{ms / 1000:.2f}s" if ms >= 1000 else f"{ms:.0f}ms" if ms >= 10 else f"{ms:.1f}ms"


@dataclass
class Row:
    client: str
    phase: str
    requests: int
    answered: int
    by_backup: int
    p50: float
    p95: float
    primary_calls: int
    backup_calls: int
    cpu: float
    errors: Counter[str]

    @property
    def availability(self) -> float:
        return self.answered / self.requests if self.requests else math.nan

    def cells(self) -> list[str]:
        n = self.requests or 1
        share = self.by_backup / self.answered if self.answered else math.nan
        return [
            self.client,
            self.phase,
            str(self.requests),
            f"{100 * self.availability:.1f}%",
            fmt_ms(self.p50),
            fmt_ms(self.p95),
            f"{self.primary_calls / n:.2f}",
            f"{self.backup_calls / n:.2f}",
            "-" if math.isnan(share) else f"{100 * share:.0f}%",
            f"{1000 * self.cpu / n:.2f}ms",
        ]


HEADER = [
    *("client", "phase", "reqs", "avail", "p50", "p95"),
    *("prim/req", "bkp/req", "backup", "cpu/req"),
]


def build_rows(
    name: str,
    phases: list[Phase],
    bounds: list[float],
    result: dict[str, Any],
    snaps: list[tuple[int, int]],
) -> list[Row]:
    rows = []
    cpu = result["cpu"]
    for k, phase in enumerate([*phases, None]):
        lo, hi = (bounds[k], bounds[k + 1]) if phase else (bounds[0], bounds[-1])
        k_end = k + 1 if phase else len(phases)
        k_start = k if phase else 0
        records = [r for r in result["records"] if lo <= r[0] < hi]
        outcomes = [r[2] for r in records]
        answered = [o for o in outcomes if not o.startswith("error:")]
        errors = Counter(o.removeprefix("error:") for o in outcomes if o.startswith("error:"))
        rows.append(
            Row(
                client=name,
                phase=phase.name if phase else "whole run",
                requests=len(records),
                answered=len(answered),
                by_backup=sum(o == "backup" for o in answered),
                p50=percentile([r[1] for r in records], 0.50),
                p95=percentile([r[1] for r in records], 0.95),
                primary_calls=snaps[k_end][0] - snaps[k_start][0],
                backup_calls=snaps[k_end][1] - snaps[k_start][1],
                cpu=cpu[k_end] - cpu[k_start],
                errors=errors,
            )
        )
    return rows


def print_table(rows: list[Row]) -> None:
    table = [HEADER, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    for j, line in enumerate(table):
        if j and rows[j - 1].phase == "baseline" and j > 1:
            print()
        print(
            "  ".join(
                cell.ljust(w) if i < 2 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            )
        )


def importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


def run(args: argparse.Namespace) -> int:
    from harness_fake_vendor import FakeVendor

    names = [n.strip() for n in args.clients.split(",") if n.strip()]
    unknown = [n for n in names if n not in CLIENTS]
    if unknown:
        print(f"unknown client(s) {unknown}; choose from {', '.join(CLIENTS)}", file=sys.stderr)
        return 2
    if "litellm" in names and not importable("litellm"):
        print(LITELLM_MISSING)
        names.remove("litellm")
    phases = timeline(args.duration_scale)
    bounds = [0.0]
    for phase in phases:
        bounds.append(bounds[-1] + phase.seconds)

    pairs = [
        Pair(n, FakeVendor(seed=args.seed).start(), FakeVendor(seed=args.seed).start())
        for n in names
    ]
    workdir = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    logs: dict[str, Any] = {}
    try:
        for pair in pairs:
            logs[pair.name] = (workdir / f"{pair.name}.log").open("wb")
            pair.process = subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    pair.name,
                    "--primary-url",
                    pair.primary.openai_base_url,
                    "--backup-url",
                    pair.backup.anthropic_base_url,
                    "--workdir",
                    str(workdir),
                ],
                stdin=subprocess.PIPE,
                stdout=logs[pair.name],
                stderr=subprocess.STDOUT,
                env={**os.environ, **CHILD_ENV},
            )

        def all_ready() -> bool:
            for pair in pairs:
                assert pair.process is not None
                if pair.process.poll() is not None:
                    raise RuntimeError(f"{pair.name} exited during warm-up")
            return all((workdir / f"{p.name}.ready").exists() for p in pairs)

        wait_for(all_ready, 180.0, "the clients to warm up")
        for pair in pairs:
            pair.primary.control.reset(faults=True)
            pair.backup.control.reset(faults=True)
        t0 = time.monotonic() + 1.0
        plan = {
            "t0": t0,
            "bounds": bounds,
            "users": args.users,
            "interval": args.interval,
            "max_in_flight": args.max_in_flight,
            "drain": args.drain,
        }
        for pair in pairs:
            assert pair.process is not None and pair.process.stdin is not None
            pair.process.stdin.write((json.dumps(plan) + "\n").encode())
            pair.process.stdin.close()

        cpu_start, wall_start = time.process_time(), time.monotonic()
        snaps: dict[str, list[tuple[int, int]]] = {p.name: [] for p in pairs}
        fired: dict[str, list[int]] = {p.name: [] for p in pairs}
        for k, phase in enumerate(phases):
            time.sleep(max(0.0, t0 + bounds[k] - time.monotonic()))
            order = pairs[k % len(pairs) :] + pairs[: k % len(pairs)]  # no one is always first
            for pair in order:
                pair.primary.control.clear_faults()
                if phase.fault is not None:
                    pair.primary.control.add_fault(
                        {**phase.fault, "seed": args.seed, "name": phase.name}
                    )
            for pair in order:
                snaps[pair.name].append(counts(pair))
            print(f"  t={time.monotonic() - t0:5.1f}s  {phase.name}", flush=True)
        time.sleep(max(0.0, t0 + bounds[-1] - time.monotonic()))
        for pair in pairs:
            pair.primary.control.clear_faults()
        for pair in pairs:
            assert pair.process is not None
            pair.process.wait(timeout=args.drain + 120)
            if pair.process.returncode != 0:
                raise RuntimeError(f"{pair.name} exited with {pair.process.returncode}")
            snaps[pair.name].append(counts(pair))
            fired[pair.name] = [
                int(n) for n in pair.primary.control.counters()["faults_fired"].values()
            ]
        parent_cpu = (time.process_time() - cpu_start) / (time.monotonic() - wall_start)
        results = {p.name: json.loads((workdir / f"{p.name}.json").read_text()) for p in pairs}
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"bench_peers: {exc}", file=sys.stderr)
        for handle in logs.values():
            handle.flush()
        for name in logs:
            tail = (workdir / f"{name}.log").read_text(errors="replace")[-3000:]
            if tail:
                print(f"--- {name} log (tail)\n{tail}", file=sys.stderr)
        return 3
    finally:
        for pair in pairs:
            if pair.process is not None and pair.process.poll() is None:
                pair.process.kill()
                pair.process.wait()
            pair.primary.stop()
            pair.backup.stop()
        for handle in logs.values():
            handle.close()
        shutil.rmtree(workdir, ignore_errors=True)

    rows: list[Row] = []
    for pair in pairs:
        rows += build_rows(pair.name, phases, bounds, results[pair.name], snaps[pair.name])
    print()
    print(
        f"{len(pairs)} client(s) side by side, {args.users} users x 1 request / {args.interval:g}s "
        f"each ({args.users / args.interval:g} req/s per client, open loop, max "
        f"{args.max_in_flight} in flight), {bounds[-1]:g}s timeline (scale "
        f"{args.duration_scale:g}), seed {args.seed}; {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.2f}; vendors' process CPU {100 * parent_cpu:.0f}% of one core"
    )
    print(
        f"versions: openai {version('openai')}, anthropic {version('anthropic')}, "
        f"litellm {version('litellm')}, python {sys.version.split()[0]}"
    )
    print()
    print_table(rows)
    print()
    for pair in pairs:
        whole = [r for r in rows if r.client == pair.name][-1]
        errors = ", ".join(f"{kind} {n}" for kind, n in whole.errors.most_common(4)) or "none"
        print(
            f"{pair.name}: failures: {errors}; primary faults fired {sum(fired[pair.name])}; "
            f"peak in flight {results[pair.name]['peak_in_flight']}; scheduler's worst lag "
            f"{fmt_ms(results[pair.name]['late'])}"
        )
    core = {r.phase: r for r in rows if r.client == "core"}
    if core:
        print()
        for name in (p.name for p in pairs if p.name != "core"):
            peer = {r.phase: r for r in rows if r.client == name}
            a, b = core["whole run"], peer["whole run"]
            ratio = (a.primary_calls / a.requests) / max(b.primary_calls / b.requests, 1e-9)
            print(
                f"core vs {name}: availability {100 * a.availability:.1f}% vs "
                f"{100 * b.availability:.1f}%; primary calls/request x{ratio:.2f}; "
                f"CPU/request x{(a.cpu / a.requests) / max(b.cpu / b.requests, 1e-12):.2f}; "
                f"p95 under 429 {fmt_ms(core['429 50%'].p95)} vs {fmt_ms(peer['429 50%'].p95)}"
            )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description="harness.core vs the openai SDK, openai->anthropic and LiteLLM's Router "
        "under one fault timeline (see the module docstring)."
    )
    parser.add_argument("--duration-scale", type=float, default=1.0, help="0.3 for a quick run")
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated subset")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between a user's")
    parser.add_argument("--max-in-flight", type=int, default=200, help="per client")
    parser.add_argument("--drain", type=float, default=30.0, help="seconds after the last start")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--primary-url", help=argparse.SUPPRESS)
    parser.add_argument("--backup-url", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(run_client(args.child, args.primary_url, args.backup_url, Path(args.workdir)))
        return 0
    if args.duration_scale <= 0:
        parser.error("--duration-scale must be > 0")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
