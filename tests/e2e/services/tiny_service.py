"""A tiny HTTP service for the command-target tests (stdlib only, run as a real process).

    python tiny_service.py --port N [--pidfile F] [--child] [--never-ready] [--exit-early]

``/healthz`` answers 200 (503 with ``--never-ready``), ``POST /chat`` answers 200 and, when
``$OPENAI_BASE_URL`` is set, first calls the vendor's ``/chat/completions`` ``--retries`` + 1
times at most (a plain httpx-free client that retries every failure immediately, so the vendor
side sees exactly k + 1 calls per request while the vendor fails). ``--child`` starts a
sleeping grandchild in the same process group, to prove the whole group is stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = argparse.Namespace()


def call_vendor(message: str) -> bool:
    base = os.environ.get("OPENAI_BASE_URL")
    if not base:
        return True
    body = json.dumps(
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": message}]}
    ).encode()
    for _ in range(args.retries + 1):
        request = urllib.request.Request(
            base.rstrip("/") + "/chat/completions",
            data=body,
            headers={"content-type": "application/json", "authorization": "Bearer sk-test"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                response.read()
                return True
        except (urllib.error.URLError, OSError):
            continue
    return False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, status: int, payload: dict[str, object]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._answer(503 if args.never_ready else 200, {"ok": not args.never_ready})
        else:
            self._answer(404, {"error": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        ok = call_vendor(str(body.get("message", "")))
        self._answer(200 if ok else 502, {"answer": "ok" if ok else "vendor failed"})

    def log_message(self, format: str, *values: object) -> None:
        return


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pidfile")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--never-ready", action="store_true")
    parser.add_argument("--exit-early", action="store_true")
    parser.add_argument("--retries", type=int, default=0)
    parser.parse_args(namespace=args)
    print(f"tiny service pid {os.getpid()} starting on {args.port}", flush=True)
    if args.exit_early:
        print("tiny service: missing configuration, giving up", flush=True)
        sys.exit(3)
    if args.pidfile:
        with open(args.pidfile, "w") as handle:
            handle.write(str(os.getpid()))
    if args.child:
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("tiny service ready", flush=True)
    try:
        server.serve_forever()
    finally:
        time.sleep(0)


if __name__ == "__main__":
    main()
