"""Each embedded proxy's ledger (harness extensions ``POST /_harness/phase`` and ``GET
/_harness/ledger``): connections accepted and bytes moved each way per phase, exactly, on real
sockets, with and without toxics; the backend reads it through the client."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import httpx
from toxiproxy_support import TcpServer, recv_exactly

from harness.plugin import RunContext
from harness_toxiproxy import EmbeddedToxiproxy, ToxiproxyClient
from harness_toxiproxy._plugin import ToxiproxyBackend


def _echo(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(payload)
    assert recv_exactly(sock, len(payload)) == payload


def test_connections_and_bytes_per_phase(
    client: ToxiproxyClient,
    echo_server: TcpServer,
    connect: Callable[[str], socket.socket],
) -> None:
    info = client.create_proxy("db", echo_server.address, listen="127.0.0.1:0")
    assert client.mark_phase("db", "calm", "run-1")
    first = connect(info.listen)
    _echo(first, b"x" * 1000)
    assert client.mark_phase("db", "slow", "run-1")
    toxic = client.add_toxic("db", "latency", attributes={"latency": 20})
    second = connect(info.listen)
    _echo(second, b"y" * 300)  # through the toxic's stage
    _echo(first, b"z" * 50)  # an older connection: its bytes count where they flow now
    client.remove_toxic("db", toxic.name)
    assert client.mark_phase("db", None, "run-1")
    _echo(first, b"after the end")  # not counted
    ledger = client.ledger("db")
    assert ledger is not None and ledger["run"] == "run-1" and ledger["phase"] is None
    calm, slow = ledger["phases"]["calm"], ledger["phases"]["slow"]
    assert (calm["connections"], calm["bytes_up"], calm["bytes_down"]) == (1, 1000, 1000)
    assert (slow["connections"], slow["bytes_up"], slow["bytes_down"]) == (1, 350, 350)
    assert slow["faults_fired"] == {toxic.name: 2}  # both connections' downstream links


def test_bad_marks_and_unknown_proxies_are_refused(
    toxiproxy: EmbeddedToxiproxy, client: ToxiproxyClient, echo_server: TcpServer
) -> None:
    client.create_proxy("db", echo_server.address, listen="127.0.0.1:0")
    with httpx.Client(base_url=toxiproxy.url, trust_env=False) as api:
        assert api.post("/_harness/phase", json={"phase": "a"}).status_code == 400
        assert api.post("/_harness/phase", json={"proxy": "db", "phase": 1}).status_code == 400
        assert api.post("/_harness/phase", content=b"{nope").status_code == 400
        missing = api.post("/_harness/phase", json={"proxy": "nope", "phase": "a"})
        assert missing.status_code == 404
        assert api.get("/_harness/ledger").json()["db"]["phases"] == {}


def test_the_backend_reads_the_ledger_of_its_proxy(
    client: ToxiproxyClient,
    echo_server: TcpServer,
    connect: Callable[[str], socket.socket],
    tmp_path: Path,
) -> None:
    backend = ToxiproxyBackend()
    run = RunContext(run_id="r", seed=0, report_dir=tmp_path, toxiproxy_url=client.url)
    info = client.create_proxy("net", echo_server.address, listen="127.0.0.1:0")
    endpoint = backend.adopt("net", run)
    assert endpoint is not None
    backend.mark_phase(endpoint, "only", run)
    _echo(connect(info.listen), b"hello")
    backend.mark_phase(endpoint, None, run)
    ledger = backend.ledger(endpoint, run)
    assert ledger is not None
    only = ledger["only"]
    assert (only.connections, only.bytes_up, only.bytes_down, only.calls) == (1, 5, 5, 0)
