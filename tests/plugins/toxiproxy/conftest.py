"""Fixtures for the Toxiproxy plugin tests: an embedded server, upstream TCP servers, clients.

Everything a fixture starts it also stops: servers are stopped, sockets closed and threads
joined on teardown, so no test leaks a ResourceWarning (the suite runs with
``filterwarnings = error``). Helpers live in ``toxiproxy_support``.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import httpx
import pytest
from toxiproxy_support import Handler, Helpers, TcpServer, echo_handler

from harness_toxiproxy import EmbeddedToxiproxy, ToxiproxyClient


@pytest.fixture
def toxiproxy() -> Iterator[EmbeddedToxiproxy]:
    with EmbeddedToxiproxy() as server:  # started; stopped on exit
        yield server


@pytest.fixture
def api(toxiproxy: EmbeddedToxiproxy) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=toxiproxy.url, timeout=5.0, trust_env=False) as client:
        yield client


@pytest.fixture
def client(toxiproxy: EmbeddedToxiproxy) -> ToxiproxyClient:
    return ToxiproxyClient(toxiproxy.url, timeout=5.0)


@pytest.fixture
def tcp_server() -> Iterator[Callable[[Handler], TcpServer]]:
    servers: list[TcpServer] = []

    def start(handler: Handler) -> TcpServer:
        server = TcpServer(handler)
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.close()


@pytest.fixture
def echo_server(tcp_server: Callable[[Handler], TcpServer]) -> TcpServer:
    return tcp_server(echo_handler)


@pytest.fixture
def connect() -> Iterator[Callable[[str], socket.socket]]:
    """Open client sockets to ``host:port`` strings; all are closed at teardown."""
    sockets: list[socket.socket] = []

    def open_(listen: str, timeout: float = 5.0) -> socket.socket:
        host, port = listen.rsplit(":", 1)
        sock = socket.create_connection((host, int(port)), timeout=timeout)
        sockets.append(sock)
        return sock

    try:
        yield open_
    finally:
        for sock in sockets:
            sock.close()


@pytest.fixture
def helpers() -> type[Helpers]:
    return Helpers
