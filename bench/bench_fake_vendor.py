"""Fake vendor throughput against a bare uvicorn endpoint, side by side in one run.

What it measures: non-streaming ``POST /v1/chat/completions`` requests per second served by
ONE server process pinned to one CPU, over 50 keep-alive connections (the load test's 50 users),
for three servers measured in interleaved rounds:

- ``bare``: a minimal ASGI app on the same uvicorn stack (h11, asyncio, TCP_NODELAY) that
  reads the request and answers the same JSON body a chat completion has;
- ``vendor``: the fake vendor, no fault installed, its ledger counting (a phase is marked, as
  in every run);
- ``vendor+faults``: the fake vendor with two faults that never fire but make the matching path
  run on every request (an ``http_status`` with ``rate: 0`` that matches, so its schedule is
  asked, and a ``latency`` fault whose route does not match);
- ``starlette`` (for reference, not judged): the least a Starlette-built vendor would do, one
  route that parses the JSON body and answers with ``JSONResponse``. It shows what the
  framework alone costs, and so why the fake vendor is a bare ASGI app.

The load generator is a separate process pinned to the other CPU: raw asyncio sockets with a
pre-built request, so it costs far less per request than the server. The server's CPU
utilisation during each window is printed: close to 100 % means the server was the bottleneck
(what we want to measure); clearly lower means the client, or something else on the machine,
was. Two ratios are printed: requests/s, and requests per second of server CPU (user + system,
so including the kernel's loopback work). When every server is saturated they agree; when
another process steals the CPU from one window, the second one stays honest, so the verdict
uses it. On a 2-core machine both processes share caches, interrupts and the kernel, so
absolute numbers are only indicative; the ratios, measured in the same conditions, are the
result. Rounds interleave the servers so that drift hits them alike.

**Big prompts and the event loop** (``--big-prompts`` runs only this, about 20 s): while one
client sends 1 MiB prompts back to back (streaming and not, alternating), another asks
``GET /_harness/health`` every 20 ms; the health latency shows how long the event loop was
held. Side by side: the shipped vendor (a body over 16 KiB is parsed and answered in a worker
thread) and the same vendor with that threshold set out of reach (everything on the loop, as
before). Then a 50 MB prompt, over the 4 MiB ``max_body_bytes``: how long until its 413, and
the health latency meanwhile.

Run: ``.venv/bin/python bench/bench_fake_vendor.py`` (about 55 s). Exit status 1 when a ratio
falls below the 0.7 target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

TARGET_RATIO = 0.7
CONNECTIONS = 50
WINDOW_S = 2.0
WARMUP_S = 1.0
ROUNDS = 5
ROOT = Path(__file__).resolve().parent.parent

REQUEST_JSON = json.dumps(
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}
).encode()


def _request_bytes(port: int) -> bytes:
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
        "authorization: Bearer sk-bench\r\ncontent-type: application/json\r\n"
        f"content-length: {len(REQUEST_JSON)}\r\n\r\n"
    )
    return head.encode() + REQUEST_JSON


def _pin(cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


# --- server processes --------------------------------------------------------------------------


def _bare_body() -> bytes:
    from harness.plugin.wire import openai as wire
    from harness.plugin.wire.common import dumps

    return dumps(
        wire.chat_completion(
            completion_id="chatcmpl-bench",
            model="gpt-4o-mini",
            created=1_700_000_000,
            text="echo: hello there",
            prompt_tokens=2,
            completion_tokens=3,
        )
    )


def serve_bare(cpu: int | None) -> None:
    """A bare uvicorn endpoint: read the body, answer the same JSON. Prints its port."""
    import uvicorn

    _pin(cpu)
    body = _bare_body()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        message = await receive()
        while message.get("more_body"):
            message = await receive()
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    config = uvicorn.Config(
        app,
        http="auto",  # what the fake vendor's protocol class derives from (h11 without httptools)
        lifespan="off",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        ws="none",
        interface="asgi3",
    )
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    uvicorn.Server(config).run(sockets=[sock])


def serve_starlette(cpu: int | None) -> None:
    """The least a Starlette-built vendor would do (route, parse the JSON body, answer the same
    JSON with ``JSONResponse``): the reference for why the fake vendor is a bare ASGI app."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    _pin(cpu)
    answer = json.loads(_bare_body())

    async def chat(request: Request) -> JSONResponse:
        await request.json()
        return JSONResponse(answer)

    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    config = uvicorn.Config(
        app, http="auto", lifespan="off", log_config=None, access_log=False, ws="none"
    )
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    uvicorn.Server(config).run(sockets=[sock])


def serve_vendor(cpu: int | None, *, inline: bool = False) -> None:
    from harness_fake_vendor import serve

    if inline:  # every answer built on the event loop, however large the request (before)
        import harness_fake_vendor._app as app

        app.OFFLOAD_BYTES = 1 << 62
    _pin(cpu)
    serve(port=0, seed=1)


# --- big prompts -------------------------------------------------------------------------------

BIG_PROMPT_WORDS = (1 << 20) // 5  # "word " x this: a 1 MiB prompt
PROBE_EVERY_S = 0.02
BIG_ROUND_S = 6.0


def _http_request(port: int, method: str, path: str, body: bytes = b"") -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
        "authorization: Bearer sk-bench\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body


class _Reader:
    """Buffered reads from a blocking socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("closed mid-answer")
        self.buf += chunk

    def until(self, marker: bytes) -> bytes:
        while (at := self.buf.find(marker)) < 0:
            self._fill()
        out = bytes(self.buf[: at + len(marker)])
        del self.buf[: at + len(marker)]
        return out

    def skip(self, size: int) -> None:
        while len(self.buf) < size:
            size -= len(self.buf)
            self.buf.clear()
            self._fill()
        del self.buf[:size]


def _read_answer(reader: _Reader) -> int:
    """Read one HTTP answer (content-length or chunked); return its status."""
    head = reader.until(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    lower = head.lower()
    if b"transfer-encoding: chunked" in lower:
        while (size := int(reader.until(b"\r\n").split(b";")[0], 16)) > 0:
            reader.skip(size + 2)
        reader.until(b"\r\n")  # no trailers: the empty line
        return status
    marker = lower.find(b"content-length:")
    reader.skip(int(head[marker + 15 : head.find(b"\r\n", marker)]) if marker >= 0 else 0)
    return status


def _probe_health(port: int, stop: Any, latencies: list[float]) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request = _http_request(port, "GET", "/_harness/health")
        reader = _Reader(sock)
        while not stop.is_set():
            started = time.perf_counter()
            sock.sendall(request)
            _read_answer(reader)
            latencies.append(time.perf_counter() - started)
            time.sleep(PROBE_EVERY_S)


def big_prompt_round(port: int) -> dict[str, Any]:
    """Health latency (ms) while 1 MiB prompts are answered back to back."""
    import threading

    prompt = "word " * BIG_PROMPT_WORDS
    bodies = [
        json.dumps(
            {
                "model": "gpt-4o-mini",
                "stream": stream,
                "messages": [{"role": "user", "content": prompt}],
            }
        ).encode()
        for stream in (False, True)
    ]
    stop = threading.Event()
    latencies: list[float] = []
    prober = threading.Thread(target=_probe_health, args=(port, stop, latencies))
    answered = 0
    started = time.perf_counter()
    prober.start()
    try:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            reader = _Reader(sock)
            while time.perf_counter() - started < BIG_ROUND_S:
                sock.sendall(
                    _http_request(port, "POST", "/v1/chat/completions", bodies[answered % 2])
                )
                if _read_answer(reader) != 200:
                    raise SystemExit("a big prompt was not answered 200")
                answered += 1
    finally:
        stop.set()
        prober.join()
    ms = sorted(x * 1000 for x in latencies)
    return {
        "prompts": answered,
        "probes": len(ms),
        "p50": statistics.median(ms),
        "p99": ms[min(len(ms) - 1, int(len(ms) * 0.99))],
        "max": ms[-1],
    }


def huge_prompt(port: int) -> dict[str, float]:
    """A 50 MB prompt: seconds to its answer, and the worst health latency meanwhile (ms)."""
    import threading

    body = json.dumps(
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "word " * 10_000_000}]}
    ).encode()
    stop = threading.Event()
    latencies: list[float] = []
    prober = threading.Thread(target=_probe_health, args=(port, stop, latencies))
    prober.start()
    try:
        started = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(_http_request(port, "POST", "/v1/chat/completions", body))
            status = _read_answer(_Reader(sock))
        seconds = time.perf_counter() - started
    finally:
        stop.set()
        prober.join()
    return {"status": status, "seconds": seconds, "health_max": max(latencies) * 1000}


def big_prompts_section() -> None:
    print(
        f"\nbig prompts: 1 MiB prompts back to back for {BIG_ROUND_S:g}s (streaming and not, "
        f"alternating) while GET /_harness/health is asked every {PROBE_EVERY_S * 1000:g} ms"
    )
    print(f"{'server':<34}{'prompts':>8}{'probes':>8}{'health p50':>12}{'p99':>10}{'max':>10}")
    servers = {
        "shipped (large bodies off the loop)": "vendor",
        "all on the loop (before)": "vendor-inline",
    }
    for label, mode in servers.items():
        server = Server(mode, None)
        try:
            row = big_prompt_round(server.port)
        finally:
            server.stop()
        print(
            f"{label:<34}{row['prompts']:>8}{row['probes']:>8}{row['p50']:>10.1f}ms"
            f"{row['p99']:>8.1f}ms{row['max']:>8.1f}ms"
        )
    server = Server("vendor", None)
    try:
        huge = huge_prompt(server.port)
    finally:
        server.stop()
    print(
        f"50 MB prompt (over the 4 MiB limit): HTTP {huge['status']:.0f} after "
        f"{huge['seconds'] * 1000:.0f} ms; worst health latency meanwhile "
        f"{huge['health_max']:.1f} ms"
    )


# --- load generator process --------------------------------------------------------------------


async def _worker(port: int, request: bytes, stop_at: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    done = errors = 0
    try:
        while time.perf_counter() < stop_at:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
                    break
            await reader.readexactly(length)
            if head.startswith(b"HTTP/1.1 200"):
                done += 1
            else:
                errors += 1
    finally:
        writer.close()
        await writer.wait_closed()
    counts[0] += done
    counts[1] += errors


async def _load(port: int, duration: float, connections: int) -> dict[str, float]:
    request = _request_bytes(port)
    counts = [0, 0]
    cpu0 = time.process_time()
    started = time.perf_counter()
    stop_at = started + duration
    await asyncio.gather(*(_worker(port, request, stop_at, counts) for _ in range(connections)))
    elapsed = time.perf_counter() - started
    return {
        "ok": counts[0],
        "errors": counts[1],
        "elapsed": elapsed,
        "client_cpu": (time.process_time() - cpu0) / elapsed,
    }


def run_load(port: int, duration: float, connections: int, cpu: int | None) -> None:
    _pin(cpu)
    print(json.dumps(asyncio.run(_load(port, duration, connections))), flush=True)


# --- orchestration -----------------------------------------------------------------------------


class Server:
    def __init__(self, mode: str, cpu: int | None) -> None:
        args = [sys.executable, __file__, "--serve", mode]
        if cpu is not None:
            args += ["--cpu", str(cpu)]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if "http://" not in line:
            raise SystemExit(f"{mode} server did not start: {line!r}")
        self.url = line.rsplit(" ", 1)[1]
        self.port = int(self.url.rsplit(":", 1)[1])

    def cpu_seconds(self) -> float:
        import psutil

        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def measure(server: Server, duration: float, cpu: int | None) -> dict[str, float]:
    args = [sys.executable, __file__, "--load", str(server.port), "--duration", str(duration)]
    if cpu is not None:
        args += ["--cpu", str(cpu)]
    before = server.cpu_seconds()
    out = subprocess.run(args, capture_output=True, text=True, check=True, cwd=ROOT)
    result: dict[str, float] = json.loads(out.stdout)
    result["server_cpu"] = (server.cpu_seconds() - before) / result["elapsed"]
    result["rps"] = result["ok"] / result["elapsed"]
    return result


def main() -> int:
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    server_cpu = cpus[0] if len(cpus) >= 2 else None
    client_cpu = cpus[1] if len(cpus) >= 2 else None
    print(
        f"fake vendor benchmark: {CONNECTIONS} keep-alive connections, {ROUNDS} rounds x "
        f"{WINDOW_S:g}s per server, server on CPU {server_cpu}, load generator on CPU {client_cpu} "
        f"({len(cpus) or '?'} CPUs)"
    )
    from harness_fake_vendor import VendorControl

    bare = Server("bare", server_cpu)
    vendor = Server("vendor", server_cpu)
    starlette = Server("starlette", server_cpu)
    results: dict[str, list[dict[str, float]]] = {
        "bare": [],
        "vendor": [],
        "vendor+faults": [],
        "starlette": [],
    }
    try:
        with VendorControl(vendor.url) as control:
            for server in (bare, vendor, starlette):
                measure(server, WARMUP_S, client_cpu)
            for _ in range(ROUNDS):
                results["bare"].append(measure(bare, WINDOW_S, client_cpu))
                results["starlette"].append(measure(starlette, WINDOW_S, client_cpu))
                control.reset(faults=True)
                control.mark_phase("bench", "bench")  # the ledger counts, as in every run
                results["vendor"].append(measure(vendor, WINDOW_S, client_cpu))
                control.add_fault({"kind": "http_status", "status": 503, "rate": 0})
                control.add_fault({"kind": "latency", "latency": "1s", "route": "/v1/nowhere"})
                results["vendor+faults"].append(measure(vendor, WINDOW_S, client_cpu))
                fired = sum(f["fired"] for f in control.faults())
                seen = control.faults()[0]["seen"]
                if fired or not seen:
                    raise SystemExit(f"the never-firing faults fired={fired} seen={seen}")
    finally:
        bare.stop()
        vendor.stop()
        starlette.stop()

    def per_cpu(run: dict[str, float]) -> float:
        return run["rps"] / max(run["server_cpu"], 1e-9)

    base_rps = statistics.median(r["rps"] for r in results["bare"])
    base_eff = statistics.median(per_cpu(r) for r in results["bare"])
    failed = False
    print(
        f"{'server':<15}{'req/s':>9}{'ratio':>7}{'req/CPU-s':>11}{'ratio':>7}"
        f"{'server CPU':>12}{'client CPU':>12}{'us/req':>8}"
    )
    for name, runs in results.items():
        rps = statistics.median(r["rps"] for r in runs)
        eff = statistics.median(per_cpu(r) for r in runs)
        errors = sum(r["errors"] for r in runs)
        server_util = statistics.median(r["server_cpu"] for r in runs)
        client_util = statistics.median(r["client_cpu"] for r in runs)
        print(
            f"{name:<15}{rps:>9,.0f}{rps / base_rps:>7.2f}{eff:>11,.0f}{eff / base_eff:>7.2f}"
            f"{server_util:>12.0%}{client_util:>12.0%}{1e6 / eff:>8.0f}"
            + (f"  ({errors} non-200 answers!)" if errors else "")
        )
        if name in ("vendor", "vendor+faults") and eff / base_eff < TARGET_RATIO:
            failed = True
        if server_util < 0.9:
            print(f"  note: {name} server not saturated (another process, or the load generator)")
    print(
        f"target: vendor >= {TARGET_RATIO} x bare (per server CPU-second) -> "
        f"{'FAIL' if failed else 'ok'}"
    )
    big_prompts_section()
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", choices=["bare", "vendor", "vendor-inline", "starlette"])
    parser.add_argument("--big-prompts", action="store_true", help="only the big-prompt section")
    parser.add_argument("--load", type=int, metavar="PORT")
    parser.add_argument("--duration", type=float, default=WINDOW_S)
    parser.add_argument("--cpu", type=int)
    options = parser.parse_args()
    if options.serve == "bare":
        serve_bare(options.cpu)
    elif options.serve == "vendor":
        serve_vendor(options.cpu)
    elif options.serve == "vendor-inline":
        serve_vendor(options.cpu, inline=True)
    elif options.serve == "starlette":
        serve_starlette(options.cpu)
    elif options.load:
        run_load(options.load, options.duration, CONNECTIONS, options.cpu)
    elif options.big_prompts:
        big_prompts_section()
    else:
        sys.exit(main())
