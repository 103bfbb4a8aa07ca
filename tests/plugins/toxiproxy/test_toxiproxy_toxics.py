"""Every toxic's effect, measured on real sockets through the embedded server.

Timings use 50-250 ms settings; bounds are the setting +-10 % (15 % for bandwidth) plus a few
milliseconds of scheduling slack for a loaded 2-core CI machine.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from toxiproxy_support import Handler, Helpers, TcpServer

from harness_toxiproxy import EmbeddedToxiproxy, ToxiproxyClient

SLACK = 0.05  # seconds of scheduling noise allowed late (2 CI workers on 2 cores: 7 ms seen)
NO_TOXIC = 0.05  # a median round trip with no toxic: under the 60 ms the toxics here add
# never early: the lower bound stays exact; bench/bench_toxiproxy.py measures the accuracy

Connect = Callable[..., socket.socket]


def within(measured: float, expected: float, tolerance: float = 0.10) -> bool:
    return expected * (1 - tolerance) <= measured <= expected * (1 + tolerance) + SLACK


@pytest.fixture
def proxied(client: ToxiproxyClient, echo_server: TcpServer) -> str:
    """A proxy in front of an echo server; returns its listen address."""
    return client.create_proxy("echo", echo_server.address).listen


def sender(payload: bytes) -> Handler:
    """An upstream that answers any first chunk with ``payload`` and keeps the socket open."""

    def handle(conn: socket.socket) -> None:
        if conn.recv(65536):
            conn.sendall(payload)
        while conn.recv(65536):
            pass

    return handle


def median_rtt(helpers: type[Helpers], sock: socket.socket, samples: int = 3) -> float:
    return statistics.median(helpers.round_trip(sock) for _ in range(samples))


def time_until_eof(sock: socket.socket) -> tuple[float, bytes]:
    start = time.perf_counter()
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return time.perf_counter() - start, data


# ----------------------------------------------------------------------------- no toxics
def test_data_passes_intact_both_ways(
    proxied: str, connect: Connect, helpers: type[Helpers]
) -> None:
    sock = connect(proxied)
    payload = bytes(range(256)) * 8192  # 2 MiB
    sender_thread = threading.Thread(target=sock.sendall, args=(payload,))
    sender_thread.start()
    received = helpers.recv_exactly(sock, len(payload))
    sender_thread.join()
    assert received == payload
    assert median_rtt(helpers, sock) < NO_TOXIC


def test_client_close_reaches_upstream_and_server_close_reaches_client(
    client: ToxiproxyClient,
    tcp_server: Callable[[Handler], TcpServer],
    connect: Connect,
) -> None:
    seen_eof = threading.Event()

    def upstream(conn: socket.socket) -> None:
        if conn.recv(100) == b"bye":
            while conn.recv(100):
                pass
            seen_eof.set()

    server = tcp_server(upstream)
    listen = client.create_proxy("p", server.address).listen
    sock = connect(listen)
    sock.sendall(b"bye")
    sock.shutdown(socket.SHUT_WR)
    assert seen_eof.wait(2)
    # The whole connection closes: the client sees EOF too.
    assert sock.recv(100) == b""


def test_upstream_by_hostname(
    client: ToxiproxyClient, echo_server: TcpServer, connect: Connect, helpers: type[Helpers]
) -> None:
    listen = client.create_proxy("named", f"localhost:{echo_server.port}").listen
    assert helpers.round_trip(connect(listen)) < 0.5


def test_upstream_down_closes_the_client(client: ToxiproxyClient, connect: Connect) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{probe.getsockname()[1]}"
    listen = client.create_proxy("p", dead).listen
    sock = connect(listen)
    assert sock.recv(100) == b""


# ----------------------------------------------------------------------------- latency
@pytest.mark.parametrize("stream", ["downstream", "upstream"])
def test_latency(
    client: ToxiproxyClient, proxied: str, connect: Connect, helpers: type[Helpers], stream: str
) -> None:
    client.add_toxic("echo", "latency", stream=stream, attributes={"latency": 150})
    rtt = median_rtt(helpers, connect(proxied))
    assert within(rtt, 0.150), rtt


def test_stacked_latencies_add(
    client: ToxiproxyClient, proxied: str, connect: Connect, helpers: type[Helpers]
) -> None:
    client.add_toxic("echo", "latency", name="a", attributes={"latency": 60})
    client.add_toxic("echo", "latency", name="b", attributes={"latency": 50})
    client.add_toxic("echo", "latency", name="c", stream="upstream", attributes={"latency": 40})
    rtt = median_rtt(helpers, connect(proxied))
    assert within(rtt, 0.150), rtt


def test_latency_pipelines_chunks_in_order(
    client: ToxiproxyClient, proxied: str, connect: Connect, helpers: type[Helpers]
) -> None:
    client.add_toxic("echo", "latency", attributes={"latency": 200})
    sock = connect(proxied)
    start = time.perf_counter()
    for i in range(5):
        sock.sendall(b"%d" % i)
        time.sleep(0.02)
    assert helpers.recv_exactly(sock, 5) == b"01234"
    # Each chunk is delayed 200 ms from its own arrival: ~280 ms in all, not 5 x 200 ms.
    assert within(time.perf_counter() - start, 0.280), time.perf_counter() - start


def test_jitter_varies_within_bounds(
    client: ToxiproxyClient, proxied: str, connect: Connect, helpers: type[Helpers]
) -> None:
    client.add_toxic("echo", "latency", attributes={"latency": 100, "jitter": 40})
    sock = connect(proxied)
    samples = [helpers.round_trip(sock) for _ in range(10)]
    assert min(samples) >= 0.060 * 0.9
    assert max(samples) <= 0.140 * 1.1 + SLACK
    assert max(samples) - min(samples) >= 0.010


# ----------------------------------------------------------------------------- bandwidth
def test_bandwidth(
    client: ToxiproxyClient,
    tcp_server: Callable[[Handler], TcpServer],
    connect: Connect,
    helpers: type[Helpers],
) -> None:
    payload = b"b" * 60_000
    server = tcp_server(sender(payload))
    listen = client.create_proxy("p", server.address).listen
    client.add_toxic("p", "bandwidth", attributes={"rate": 100})  # 100 KB/s
    sock = connect(listen)
    start = time.perf_counter()
    sock.sendall(b"go")
    assert helpers.recv_exactly(sock, len(payload)) == payload
    elapsed = time.perf_counter() - start
    assert within(elapsed, 0.600, tolerance=0.15), elapsed


def test_bandwidth_upstream(
    client: ToxiproxyClient, proxied: str, connect: Connect, helpers: type[Helpers]
) -> None:
    client.add_toxic("echo", "bandwidth", stream="upstream", attributes={"rate": 200})
    sock = connect(proxied)
    payload = b"u" * 80_000
    start = time.perf_counter()
    sock.sendall(payload)
    assert helpers.recv_exactly(sock, len(payload)) == payload
    assert within(time.perf_counter() - start, 0.400, tolerance=0.15)


def unanswered_ping(connect: Connect, proxied: str) -> socket.socket:
    """A connection through ``proxied`` whose ping gets no answer within 0.3 s."""
    sock = connect(proxied, timeout=0.3)
    sock.sendall(b"ping")
    with pytest.raises(TimeoutError):
        sock.recv(100)
    return sock


def test_bandwidth_zero_stalls_until_updated(
    client: ToxiproxyClient, proxied: str, connect: Connect, helpers: type[Helpers]
) -> None:
    client.add_toxic("echo", "bandwidth", attributes={"rate": 0})
    sock = unanswered_ping(connect, proxied)
    client.update_toxic("echo", "bandwidth_downstream", attributes={"rate": 1000})
    sock.settimeout(2)
    assert helpers.recv_exactly(sock, 4) == b"ping"


# ----------------------------------------------------------------------------- timeout
def test_timeout_drops_data_and_closes_on_time(
    client: ToxiproxyClient, proxied: str, connect: Connect
) -> None:
    client.add_toxic("echo", "timeout", attributes={"timeout": 200})
    sock = connect(proxied)
    start = time.perf_counter()
    sock.sendall(b"ping")
    _, data = time_until_eof(sock)
    elapsed = time.perf_counter() - start
    assert data == b""
    assert within(elapsed, 0.200), elapsed


def test_timeout_upstream_never_reaches_the_server(
    client: ToxiproxyClient, tcp_server: Callable[[Handler], TcpServer], connect: Connect
) -> None:
    received: list[bytes] = []

    def upstream(conn: socket.socket) -> None:
        while data := conn.recv(100):
            received.append(data)

    server = tcp_server(upstream)
    listen = client.create_proxy("p", server.address).listen
    client.add_toxic("p", "timeout", stream="upstream", attributes={"timeout": 100})
    sock = connect(listen)
    sock.sendall(b"lost")
    elapsed, _ = time_until_eof(sock)
    assert elapsed < 0.5
    assert received == []


def test_timeout_zero_never_closes_until_removed(
    client: ToxiproxyClient, proxied: str, connect: Connect
) -> None:
    client.add_toxic("echo", "timeout", attributes={"timeout": 0})
    sock = unanswered_ping(connect, proxied)
    # Removing a timeout toxic closes the connections it applies to (Go's Cleanup).
    client.remove_toxic("echo", "timeout_downstream")
    sock.settimeout(2)
    assert sock.recv(100) == b""


# ----------------------------------------------------------------------------- reset_peer
@pytest.mark.parametrize(("stream", "delay"), [("downstream", 100), ("upstream", 0)])
def test_reset_peer(
    client: ToxiproxyClient, proxied: str, connect: Connect, stream: str, delay: int
) -> None:
    client.add_toxic("echo", "reset_peer", stream=stream, attributes={"timeout": delay})
    sock = connect(proxied)
    start = time.perf_counter()
    sock.sendall(b"ping")
    with pytest.raises(ConnectionResetError):
        while sock.recv(100):
            pass
    assert within(time.perf_counter() - start, delay / 1000), time.perf_counter() - start


# ----------------------------------------------------------------------------- limit_data
def test_limit_data_truncates_at_the_exact_byte(
    client: ToxiproxyClient, tcp_server: Callable[[Handler], TcpServer], connect: Connect
) -> None:
    payload = bytes(range(256)) * 20
    server = tcp_server(sender(payload))
    listen = client.create_proxy("p", server.address).listen
    client.add_toxic("p", "limit_data", attributes={"bytes": 1000})
    sock = connect(listen)
    sock.sendall(b"go")
    _, data = time_until_eof(sock)
    assert data == payload[:1000]


def test_limit_data_upstream(
    client: ToxiproxyClient, tcp_server: Callable[[Handler], TcpServer], connect: Connect
) -> None:
    received = bytearray()
    done = threading.Event()

    def upstream(conn: socket.socket) -> None:
        while data := conn.recv(65536):
            received.extend(data)
        done.set()

    server = tcp_server(upstream)
    listen = client.create_proxy("p", server.address).listen
    client.add_toxic("p", "limit_data", stream="upstream", attributes={"bytes": 10})
    sock = connect(listen)
    sock.sendall(b"0123456789abcdef")
    assert done.wait(2)
    assert bytes(received) == b"0123456789"


# ----------------------------------------------------------------------------- slicer
def test_slicer_splits_and_delays(
    client: ToxiproxyClient, tcp_server: Callable[[Handler], TcpServer], connect: Connect
) -> None:
    payload = bytes(range(100))
    server = tcp_server(sender(payload))
    listen = client.create_proxy("p", server.address).listen
    client.add_toxic(
        "p", "slicer", attributes={"average_size": 10, "size_variation": 0, "delay": 20_000}
    )
    sock = connect(listen)
    sock.sendall(b"go")
    start = time.perf_counter()
    pieces: list[bytes] = []
    while sum(map(len, pieces)) < len(payload):
        pieces.append(sock.recv(1000))
    elapsed = time.perf_counter() - start
    assert b"".join(pieces) == payload
    assert len(pieces) >= 10
    assert max(map(len, pieces)) <= 10
    assert elapsed >= 0.9 * 0.020 * (len(pieces) - 1)


# ----------------------------------------------------------------------------- slow_close
def test_slow_close_delays_only_the_close(
    client: ToxiproxyClient, tcp_server: Callable[[Handler], TcpServer], connect: Connect
) -> None:
    def upstream(conn: socket.socket) -> None:
        conn.recv(100)
        conn.sendall(b"bye")

    server = tcp_server(upstream)
    listen = client.create_proxy("p", server.address).listen
    client.add_toxic("p", "slow_close", attributes={"delay": 200})
    sock = connect(listen)
    start = time.perf_counter()
    sock.sendall(b"go")
    assert sock.recv(100) == b"bye"
    assert time.perf_counter() - start < 0.200  # the data is not held: only the close is
    assert sock.recv(100) == b""
    assert within(time.perf_counter() - start, 0.200), time.perf_counter() - start


# ----------------------------------------------------------------------------- toxicity
def test_toxicity_zero_never_applies(
    client: ToxiproxyClient, proxied: str, connect: Connect, helpers: type[Helpers]
) -> None:
    # A latency toxic is never early, so any round trip shorter than its setting proves it did
    # not apply, however slow the machine (a fixed 0.1 s bound failed once at 0.365 s).
    client.add_toxic("echo", "latency", toxicity=0.0, attributes={"latency": 2000})
    for _ in range(10):
        assert helpers.round_trip(connect(proxied)) < 2.0


def test_toxicity_is_rolled_per_connection(
    client: ToxiproxyClient, proxied: str, connect: Connect, helpers: type[Helpers]
) -> None:
    # Never early: a round trip of at least the setting is the toxic; one shorter is not.
    client.add_toxic("echo", "latency", toxicity=0.5, attributes={"latency": 150})
    sockets = [connect(proxied) for _ in range(20)]
    slow = [helpers.round_trip(sock) >= 0.150 for sock in sockets]
    assert any(slow)
    assert not all(slow)
    # The roll is per connection: the same connection keeps its fate.
    for sock, was_slow in zip(sockets[:4], slow[:4], strict=True):
        assert (helpers.round_trip(sock) >= 0.150) == was_slow


# ----------------------------------------------------------------------------- live changes
def test_toxics_apply_to_connections_already_open(
    client: ToxiproxyClient, proxied: str, connect: Connect, helpers: type[Helpers]
) -> None:
    sock = connect(proxied)
    assert median_rtt(helpers, sock) < NO_TOXIC
    client.add_toxic("echo", "latency", attributes={"latency": 150})
    assert within(median_rtt(helpers, sock), 0.150)
    client.update_toxic("echo", "latency_downstream", attributes={"latency": 60})
    assert within(median_rtt(helpers, sock), 0.060)
    client.remove_toxic("echo", "latency_downstream")
    assert median_rtt(helpers, sock) < NO_TOXIC
    client.add_toxic("echo", "latency", stream="upstream", attributes={"latency": 100})
    assert within(median_rtt(helpers, sock), 0.100)
    client.reset()
    assert median_rtt(helpers, sock) < NO_TOXIC


def test_removing_a_toxic_keeps_data_in_order(
    client: ToxiproxyClient, proxied: str, connect: Connect, helpers: type[Helpers]
) -> None:
    client.add_toxic("echo", "latency", attributes={"latency": 200})
    sock = connect(proxied)
    sock.sendall(b"first")
    time.sleep(0.05)
    client.remove_toxic("echo", "latency_downstream")
    sock.sendall(b"second")
    assert helpers.recv_exactly(sock, 11) == b"firstsecond"


def test_disable_cuts_open_connections_and_refuses_new_ones(
    client: ToxiproxyClient, proxied: str, connect: Connect, helpers: type[Helpers]
) -> None:
    sock = connect(proxied)
    helpers.round_trip(sock)
    client.disable("echo")
    helpers.assert_closed(sock)
    host, port = proxied.rsplit(":", 1)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=2).close()
    client.enable("echo")
    assert helpers.round_trip(connect(proxied)) < 1.0


def test_delete_cuts_open_connections(
    client: ToxiproxyClient, proxied: str, connect: Connect, helpers: type[Helpers]
) -> None:
    client.add_toxic("echo", "latency", attributes={"latency": 50})
    sock = connect(proxied)
    helpers.round_trip(sock)
    client.delete_proxy("echo")
    helpers.assert_closed(sock)


def test_many_concurrent_connections(
    client: ToxiproxyClient, proxied: str, connect: Connect, helpers: type[Helpers]
) -> None:
    client.add_toxic("echo", "latency", attributes={"latency": 100})
    sockets = [connect(proxied) for _ in range(30)]
    results: dict[int, Any] = {}

    def exchange(i: int, sock: socket.socket) -> None:
        results[i] = helpers.round_trip(sock, b"%03d" % i)

    threads = [threading.Thread(target=exchange, args=(i, s)) for i, s in enumerate(sockets)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 30
    assert time.perf_counter() - start < 1.5  # concurrent, not 30 x 100 ms = 3 s


def test_hit_counts_links_a_toxic_acted_on(
    client: ToxiproxyClient,
    toxiproxy: EmbeddedToxiproxy,
    proxied: str,
    connect: Connect,
    helpers: type[Helpers],
) -> None:
    def hits() -> dict[str, dict[str, int]]:
        return httpx.get(f"{toxiproxy.url}/_harness/hits", trust_env=False).json()

    client.add_toxic("echo", "latency", name="always", attributes={"latency": 1})
    client.add_toxic("echo", "latency", name="never", toxicity=0, attributes={"latency": 1})
    client.add_toxic("echo", "noop", name="idle", stream="upstream")
    assert hits() == {"echo": {"idle": 0, "always": 0, "never": 0}}
    for _ in range(3):
        helpers.round_trip(connect(proxied))
    connect(proxied)  # no traffic: nothing to act on yet
    assert hits() == {"echo": {"idle": 3, "always": 3, "never": 0}}
