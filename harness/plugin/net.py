"""The one loopback rule of every server the harness starts (fake vendor, Toxiproxy, proxies).

The harness only ever listens on this machine: a host is accepted when it is ``localhost`` or
a loopback IP literal (``127.0.0.0/8``, ``::1``). Host names other than ``localhost`` are not
resolved (a name that happens to resolve to 127.0.0.1 today may not tomorrow, and a lookup
can block); an empty host means "the default", which every server here maps to 127.0.0.1.

Every server the harness starts follows it: the fake vendor, the embedded Toxiproxy and its
proxies, target apps (``harness app serve``) and child servers.
"""

from __future__ import annotations

import ipaddress

__all__ = ["IDLE_CONNECTION_EXPIRY", "LOOPBACK_HINT", "is_loopback_host", "loopback_problem"]

LOOPBACK_HINT = "127.0.0.1, ::1 or localhost"
"""The accepted hosts, as every message says them."""

IDLE_CONNECTION_EXPIRY = 1.0
"""Seconds a client of the harness keeps an idle keep-alive connection to a server it started.
uvicorn (the fake vendor, target apps, most users' services) closes a connection idle for 5 s,
and httpx keeps one for 5 s by default: a request sent at that moment reuses a connection the
server is closing and fails with a ReadError the service never caused (a phase of exactly 5 s
between two fake-vendor control calls lost a phase mark this way). Dropping idle connections
well before the server does removes the race."""


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (no port, no brackets) is ``localhost`` or a loopback IP literal."""
    if host.lower() == "localhost":
        return True
    try:
        # a zone (fe80::1%eth0) never makes an address loopback, but must not crash the parse
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def loopback_problem(what: str, host: str) -> str | None:
    """``None`` when ``host`` is loopback, else the message that refuses it.

    ``what`` names the setting (``"fake vendor host"``, ``"proxy listen address"``); every
    server says it the same way: ``<what> must be a loopback address (127.0.0.1, ::1 or
    localhost): the harness never listens outside this machine; got '0.0.0.0'``.
    """
    if is_loopback_host(host):
        return None
    return (
        f"{what} must be a loopback address ({LOOPBACK_HINT}): the harness never listens "
        f"outside this machine; got {host!r}"
    )
