"""`harness load` with an open-loop load (``load.rate``): Locust offers the declared rate, on
one process or split across workers, and records its measurement health."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from cli_support import assert_exit, harness, only_report
from http_support import serving
from load_support import totals

from harness.measure.health import LAG_INTERVAL
from harness.run.pacing import START_TOLERANCE

pytestmark = pytest.mark.slow  # Locust processes for seconds: make test-fast skips it

DURATION = 3.0
SCENARIO = """
name: open loop {rate}
target: {{url: "{url}", request: {{method: GET, path: /, body: {{}}}}}}
load: {{rate: {rate}/s}}
phases:
  - {{name: steady, duration: {duration}s}}
sla:
  - availability >= 99%
"""


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real service
    disable_nagle_algorithm = True  # headers and body are two writes

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def fast_service() -> Iterator[str]:
    """A trivially fast HTTP service (a thread of this process)."""
    with serving(_Ok) as url:
        yield url


def run_open_loop(tmp_path: Path, url: str, rate: int, *extra: str) -> tuple[dict, str]:  # type: ignore[type-arg]
    """``harness load`` at ``rate`` per second: its report and its output."""
    scenario = tmp_path / "open.yaml"
    scenario.write_text(SCENARIO.format(url=url, rate=rate, duration=DURATION))
    out = tmp_path / "reports"
    result = harness("load", str(scenario), "--report-dir", str(out), *extra)
    assert_exit(result)
    assert "health: open loop, starts" in result.stdout
    return only_report(out), result.stdout + result.stderr


def assert_no_missed_start_unless_stalled(health: dict, *generators: dict) -> None:  # type: ignore[type-arg]
    """On a trivially fast service a start is missed only when the generator's process
    stalled for more than START_TOLERANCE (500 ms): then its loop-lag probe, which wakes every
    50 ms, woke at least 50 ms late. Without such a stall, no start may be missed."""
    stalled = any((g["loop_lag_max"] or 0) >= START_TOLERANCE - LAG_INTERVAL for g in generators)
    assert health["missed_starts"] == 0 or stalled, (health, generators)


def test_locust_offers_the_declared_rate_and_misses_no_start(
    tmp_path: Path, fast_service: str
) -> None:
    report, _ = run_open_loop(tmp_path, fast_service, 200)
    health = report["health"]
    wanted = 200 * DURATION
    assert health["load_model"] == "open"
    # the phases begin once the scheduler runs: 600 starts, but for the last few ms
    assert 0.97 * wanted <= health["scheduled_starts"] <= wanted
    (generator,) = health["generators"]
    assert generator["name"] == "locust" and generator["loop_lag_samples"] > 20
    assert health["in_flight_cap_hits"] == 0
    assert_no_missed_start_unless_stalled(health, generator)
    # every start sent was answered and recorded, or still in flight when Locust stopped
    sent = health["scheduled_starts"] - health["missed_starts"]
    assert totals(report)["count"] + health["unfinished_requests"] == sent
    assert health["unfinished_requests"] <= 10
    assert generator["cpu"] is not None and generator["wall_seconds"] >= DURATION - 0.5
    assert health["phases"] == [
        {
            "phase": "steady",
            "scheduled_starts": health["scheduled_starts"],
            "missed_starts": health["missed_starts"],
            "in_flight_cap_hits": 0,
            "unfinished_requests": health["unfinished_requests"],
        }
    ]


def test_workers_split_the_timetable_and_each_reports_its_cpu(
    tmp_path: Path, fast_service: str
) -> None:
    report, output = run_open_loop(tmp_path, fast_service, 100, "--processes", "2")
    # each worker's last recording came with its last report (the master told it to quit):
    # the master did not wait for flush answers that never come
    assert "no final recording" not in output
    health = report["health"]
    wanted = 100 * DURATION
    # two workers, each every other start: together the declared rate, not twice it
    assert 0.97 * wanted <= health["scheduled_starts"] <= wanted
    names = sorted(g["name"] for g in health["generators"])
    assert names == ["master", "worker 0", "worker 1"]
    for generator in health["generators"]:
        assert generator["cpu_seconds"] > 0 and generator["loop_lag_samples"] > 0
    workers = [g for g in health["generators"] if g["name"].startswith("worker")]
    assert_no_missed_start_unless_stalled(health, *workers)
    sent = health["scheduled_starts"] - health["missed_starts"]
    assert totals(report)["count"] + health["unfinished_requests"] == sent


ON_REQUEST = """
import json, time
from harness.load._state import INTENDED, STARTED_IN, LoadState

state = LoadState()
state.phase = "now"
intended = time.monotonic() - 0.5  # meant to start half a second ago
state.on_request(name="r", response_time=3.0, context={INTENDED: intended, STARTED_IN: "then"})
state.on_request(name="r", response_time=3.0, context={})  # closed loop: Locust's own time
print(json.dumps({p: state.recorder.stats(phase=p).max() for p in ("then", "now")}))
"""


def test_an_open_loop_request_is_timed_from_its_intended_start() -> None:
    # in a child process: importing Locust gevent-patches the interpreter
    result = subprocess.run(
        [sys.executable, "-c", ON_REQUEST], capture_output=True, text=True, check=True, timeout=60
    )
    latencies = json.loads(result.stdout.strip().splitlines()[-1])
    assert latencies["then"] >= 0.5  # from the intended start, in the phase it was due in
    assert latencies["now"] == pytest.approx(0.003, rel=0.01)  # Locust's response_time, 3 ms
