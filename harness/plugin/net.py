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

__all__ = ["LOOPBACK_HINT", "is_loopback_host", "loopback_problem"]

LOOPBACK_HINT = "127.0.0.1, ::1 or localhost"
"""The accepted hosts, as every message says them."""


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
