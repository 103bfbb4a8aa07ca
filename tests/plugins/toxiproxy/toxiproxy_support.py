"""Shared helpers for the Toxiproxy plugin tests (a uniquely named module: ``conftest``
modules of different test directories clash when imported by name)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

Handler = Callable[[socket.socket], None]


class TcpServer:
    """A threaded TCP server on 127.0.0.1 running ``handler(conn)`` for each connection.

    The connection is shut down when the handler returns; sockets are closed by :meth:`close`.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False
        self.accepted = 0
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    def _accept_loop(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._closed:
                    conn.close()
                    return
                self.accepted += 1
                self._conns.append(conn)
                thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        """Run the handler; its return closes the connection (FIN)."""
        with contextlib.suppress(OSError):
            self._handler(conn)
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns = list(self._conns)
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._acceptor.join(5)
        for thread in list(self._threads):
            thread.join(5)
        for conn in conns:
            conn.close()


def echo_handler(conn: socket.socket) -> None:
    while data := conn.recv(65536):
        conn.sendall(data)


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def recv_until_eof(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def round_trip(sock: socket.socket, payload: bytes = b"ping") -> float:
    """Send ``payload`` to an echo upstream and return the seconds until it came back."""
    start = time.perf_counter()
    sock.sendall(payload)
    assert recv_exactly(sock, len(payload)) == payload
    return time.perf_counter() - start


def assert_closed(sock: socket.socket) -> None:
    """The peer closed the connection: EOF, or a reset if data was in flight."""
    try:
        data = sock.recv(100)
    except ConnectionResetError:
        return
    assert data == b"", data


def populate_three(api: httpx.Client, second_listen: str) -> httpx.Response:
    """``POST /populate`` of proxies one, two and three, the second listening on
    ``second_listen``."""
    proxies: list[dict[str, Any]] = [
        {"name": "one", "upstream": "127.0.0.1:9"},
        {"name": "two", "upstream": "127.0.0.1:9", "listen": second_listen},
        {"name": "three", "upstream": "127.0.0.1:9"},
    ]
    return api.post("/populate", json=proxies)


class Helpers:
    """Socket helpers, reachable from tests through the ``helpers`` fixture."""

    recv_exactly = staticmethod(recv_exactly)
    recv_until_eof = staticmethod(recv_until_eof)
    round_trip = staticmethod(round_trip)
    assert_closed = staticmethod(assert_closed)
