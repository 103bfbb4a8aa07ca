"""Network chaos through the Toxiproxy HTTP API: an embedded server and a safe client.

* :class:`EmbeddedToxiproxy` runs a Toxiproxy-2.12-compatible server (same routes, JSON, status
  codes, error texts and toxic semantics) on 127.0.0.1 in a background thread;
  :class:`ToxiproxyServer` is the same on the caller's asyncio loop and :func:`serve` the
  blocking CLI entry point.
* :class:`ToxiproxyClient` drives the embedded server or a real Toxiproxy through the
  ``toxiproxy-python`` package, with a timeout on every call, no shared global host, and
  every failure turned into a harness error that names the proxy and the toxic.
* :func:`resolve_toxiproxy` picks ``TOXIPROXY_URL`` when set, else starts an embedded server.

Importing this package is cheap: the server and client modules load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.lazy import lazy_exports

if TYPE_CHECKING:
    from ._api import TOXIPROXY_VERSION
    from ._client import ProxyInfo, ToxicInfo, ToxiproxyClient, ToxiproxyHandle, resolve_toxiproxy
    from ._server import EmbeddedToxiproxy, ToxiproxyServer, serve
    from ._toxics import TOXIC_TYPE_NAMES

__all__ = [
    "TOXIC_TYPE_NAMES",
    "TOXIPROXY_VERSION",
    "EmbeddedToxiproxy",
    "ProxyInfo",
    "ToxicInfo",
    "ToxiproxyClient",
    "ToxiproxyHandle",
    "ToxiproxyServer",
    "resolve_toxiproxy",
    "serve",
]

_WHERE = {
    "TOXIC_TYPE_NAMES": "._toxics",
    "TOXIPROXY_VERSION": "._api",
    "EmbeddedToxiproxy": "._server",
    "ToxiproxyServer": "._server",
    "serve": "._server",
    "ProxyInfo": "._client",
    "ToxicInfo": "._client",
    "ToxiproxyClient": "._client",
    "ToxiproxyHandle": "._client",
    "resolve_toxiproxy": "._client",
}


__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
