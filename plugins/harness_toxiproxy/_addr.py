"""``host:port`` handling with Go's ``net`` package rules and error texts.

Toxiproxy reports resolution and bind failures with Go's own wording (``listen tcp
127.0.0.1:7070: bind: address already in use``, ``address local373: missing port in
address``), so clients that match on them see the same strings here.

One deliberate difference: Go listens on *every* interface when the host part is empty
(``""`` or ``":8080"``); this server binds 127.0.0.1 instead, because the harness only ever
exposes loopback. An explicit host is honoured, as real Toxiproxy does (the harness asks for
127.0.0.1 only).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from dataclasses import dataclass

__all__ = [
    "AddrError",
    "ResolvedAddr",
    "bind_listener",
    "join_host_port",
    "parse_port",
    "resolve_tcp_addr",
    "split_host_port",
]

DEFAULT_LISTEN_HOST = "127.0.0.1"
LISTEN_BACKLOG = 1024


class AddrError(OSError):
    """An address problem; ``str()`` is Go's error text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class ResolvedAddr:
    """A resolved TCP address; ``str()`` renders it like Go's ``TCPAddr.String()``."""

    host: str  # an IP literal, or "" for the wildcard
    port: int

    def __str__(self) -> str:
        return join_host_port(self.host, str(self.port))


def join_host_port(host: str, port: str) -> str:
    """Go's ``net.JoinHostPort``: IPv6 hosts go in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def split_host_port(hostport: str) -> tuple[str, str]:
    """Go's ``net.SplitHostPort``, with its error texts."""

    def fail(why: str) -> AddrError:
        return AddrError(f"address {hostport}: {why}")

    missing_port = "missing port in address"
    too_many_colons = "too many colons in address"
    i = hostport.rfind(":")
    if i < 0:
        raise fail(missing_port)
    j = k = 0
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise fail("missing ']' in address")
        if end + 1 == len(hostport):
            raise fail(missing_port)
        if end + 1 != i:
            raise fail(too_many_colons if hostport[end + 1] == ":" else missing_port)
        host = hostport[1:end]
        j, k = 1, end + 1
    else:
        host = hostport[:i]
        if ":" in host:
            raise fail(too_many_colons)
    if "[" in hostport[j:]:
        raise fail("unexpected '[' in address")
    if "]" in hostport[k:]:
        raise fail("unexpected ']' in address")
    return host, hostport[i + 1 :]


def parse_port(service: str) -> int:
    """Go's ``parsePort`` + ``LookupPort``: digits, an optional sign, or a service name."""
    if service == "":
        return 0
    text = service
    negative = False
    if text[0] in "+-":
        negative = text[0] == "-"
        text = text[1:]
    if text and text.isascii() and text.isdigit():
        port = -int(text) if negative else int(text)
    else:
        try:
            port = socket.getservbyname(service, "tcp")
        except OSError:
            raise AddrError(f"lookup tcp/{service}: unknown port") from None
    if port < 0 or port > 0xFFFF:
        raise AddrError(f"address {service}: invalid port")
    return port


def resolve_tcp_addr(address: str) -> ResolvedAddr:
    """Go's ``net.ResolveTCPAddr("tcp", address)``: IPv4 preferred unless the address has ``[``.

    An empty host stays empty (the wildcard), as in Go; :func:`bind_listener` maps it to
    127.0.0.1.
    """
    if address == "":
        return ResolvedAddr("", 0)  # Go skips splitting an empty address
    host, service = split_host_port(address)
    port = parse_port(service)
    if host == "":
        return ResolvedAddr("", port)
    literal = host.split("%", 1)[0]
    try:
        return ResolvedAddr(str(ipaddress.ip_address(literal)), port)
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        raise AddrError(f"lookup {host}: no such host") from None
    addresses = [str(info[4][0]) for info in infos]
    want_v6 = "[" in address
    for candidate in addresses:
        if (":" in candidate) == want_v6:
            return ResolvedAddr(candidate, port)
    return ResolvedAddr(addresses[0], port)


def _go_errno_text(err: OSError) -> str:
    """Go prints syscall errors in lower case (``address already in use``)."""
    if err.errno is None:
        return str(err)
    text = os.strerror(err.errno)
    return text[:1].lower() + text[1:]


def bind_listener(listen: str) -> tuple[socket.socket, str]:
    """Bind and listen like Go's ``net.Listen("tcp", listen)``.

    Returns the non-blocking listening socket and the bound address as Go prints it
    (``127.0.0.1:34567``). Failures raise :class:`AddrError` with Go's text, e.g.
    ``listen tcp 127.0.0.1:7070: bind: address already in use``.
    """
    try:
        addr = resolve_tcp_addr(listen)
    except AddrError as exc:
        raise AddrError(f"listen tcp: {exc}") from None
    host = addr.host or DEFAULT_LISTEN_HOST
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, addr.port))
        except OSError as exc:
            raise AddrError(
                f"listen tcp {join_host_port(host, str(addr.port))}: bind: {_go_errno_text(exc)}"
            ) from None
        try:
            sock.listen(LISTEN_BACKLOG)
        except OSError as exc:  # pragma: no cover - needs an exhausted kernel
            raise AddrError(
                f"listen tcp {join_host_port(host, str(addr.port))}: listen: {_go_errno_text(exc)}"
            ) from None
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    bound_host, bound_port = sock.getsockname()[:2]
    return sock, join_host_port(str(bound_host), str(bound_port))


def is_address_in_use(exc: BaseException) -> bool:
    """Whether ``exc`` (from :func:`bind_listener`) means the port is taken."""
    return isinstance(exc, AddrError) and os.strerror(errno.EADDRINUSE).lower() in str(exc).lower()
