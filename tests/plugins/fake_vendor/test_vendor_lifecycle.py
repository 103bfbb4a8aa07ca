"""Starting and stopping: threads, ports, signals, loopback only."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from fake_vendor_support import CHAT, KEY_HEADERS, chat_body

from harness.errors import InfrastructureError, InputError
from harness_fake_vendor import FakeVendor


def _connectable(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_urls_and_clean_stop() -> None:
    threads_before = threading.active_count()
    vendor = FakeVendor()
    with pytest.raises(InfrastructureError):
        _ = vendor.url
    vendor.start()
    port = vendor.port
    assert vendor.url == f"http://127.0.0.1:{port}"
    assert vendor.openai_base_url == f"{vendor.url}/v1"
    assert vendor.anthropic_base_url == vendor.url
    assert vendor.running
    with httpx.Client(headers=KEY_HEADERS, trust_env=False) as client:
        assert client.post(vendor.url + CHAT, json=chat_body()).status_code == 200
    started = time.perf_counter()
    vendor.stop()
    assert time.perf_counter() - started < 1.0
    assert not vendor.running
    assert not _connectable(port)
    assert threading.active_count() == threads_before
    vendor.stop()  # idempotent


def test_port_is_free_after_stop() -> None:
    with FakeVendor() as first:
        port = first.port
        with httpx.Client(headers=KEY_HEADERS, trust_env=False) as client:
            client.post(first.url + CHAT, json=chat_body())
    with FakeVendor(port=port) as second:
        assert second.port == port
        assert second.control.health()


def test_stop_cancels_a_stalled_stream() -> None:
    vendor = FakeVendor().start()
    vendor.control.add_fault({"kind": "stream_stall", "after_events": 1, "stall": "30s"})
    with (
        httpx.Client(headers=KEY_HEADERS, trust_env=False, timeout=10) as client,
        client.stream("POST", vendor.url + CHAT, json=chat_body(stream=True)) as response,
    ):
        assert response.status_code == 200
        started = time.perf_counter()
        vendor.stop()
        assert time.perf_counter() - started < 1.0
        with pytest.raises(httpx.RemoteProtocolError):
            response.read()


def test_restart_keeps_port_faults_and_counters() -> None:
    vendor = FakeVendor().start()
    try:
        port = vendor.port
        vendor.control.add_fault({"kind": "latency", "latency": "100ms", "distribution": "fixed"})
        vendor.stop()
        vendor.start()
        assert vendor.port == port
        with httpx.Client(headers=KEY_HEADERS, trust_env=False) as client:
            started = time.perf_counter()
            assert client.post(vendor.url + CHAT, json=chat_body()).status_code == 200
            assert time.perf_counter() - started >= 0.1  # the pause works again after a stop
        assert vendor.control.counters()["requests_total"] == 1
    finally:
        vendor.stop()


def test_busy_port_is_an_infrastructure_error() -> None:
    with (
        FakeVendor() as taken,
        pytest.raises(InfrastructureError, match="could not listen") as raised,
    ):
        FakeVendor(port=taken.port).start()
    assert raised.value.exit_code == 3


NOT_LOOPBACK = ["0.0.0.0", "192.168.1.10", "example.com"]  # allowed: hosts it must refuse


@pytest.mark.parametrize("host", NOT_LOOPBACK)
def test_only_loopback(host: str) -> None:
    with pytest.raises(InputError, match="loopback"):
        FakeVendor(host=host)


def test_cannot_start_twice() -> None:
    with FakeVendor() as vendor, pytest.raises(InfrastructureError, match="already started"):
        vendor.start()


SERVE_COMMANDS = {
    "python api": ["-c", "from harness_fake_vendor import serve; serve(seed=3)"],
    "cli": ["-m", "harness", "vendor", "serve", "--port", "0", "--seed", "3"],
}


def _serve_process(command: list[str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    return process, line


@pytest.mark.parametrize("how", sorted(SERVE_COMMANDS))
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_announces_itself_and_stops_on_signal(sig: signal.Signals, how: str) -> None:
    process, line = _serve_process(SERVE_COMMANDS[how])
    try:
        assert line.startswith("fake vendor listening on http://127.0.0.1:"), line
        url = line.rsplit(" ", 1)[1]
        with httpx.Client(headers=KEY_HEADERS, trust_env=False) as client:
            assert client.post(url + CHAT, json=chat_body()).status_code == 200
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=10)
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr
        assert not _connectable(int(url.rsplit(":", 1)[1]))
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
