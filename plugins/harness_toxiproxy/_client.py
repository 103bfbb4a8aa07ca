"""A safe client for a Toxiproxy API (embedded or real) built on ``toxiproxy-python``.

``toxiproxy-python`` keeps the server address in the class attributes
``APIConsumer.host``/``port`` (one global for the whole process), calls ``requests`` without
a timeout, and lets a 500 answer fall through to ``Proxy(**body)`` where it surfaces as a
``KeyError``. :class:`ToxiproxyClient` still makes every call through the library's
``APIConsumer`` (and so its ``validate_response`` and exception types), but:

* each client uses its *own* ``APIConsumer`` subclass carrying its host and port, so two
  clients for two servers never see each other's address and the library global is never
  read or written (thread-safe: nothing is shared);
* every call has a timeout;
* every failure becomes :class:`~harness.errors.FaultInjectionError` naming the proxy and
  the toxic plus the server's own message, or
  :class:`~harness.errors.InfrastructureError` (with a fix) when the server cannot be
  reached or does not answer in time.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import requests
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from harness.plugin import Closing, FaultInjectionError, InfrastructureError, InputError

from ._server import EmbeddedToxiproxy

__all__ = ["ProxyInfo", "ToxicInfo", "ToxiproxyClient", "ToxiproxyHandle", "resolve_toxiproxy"]

DEFAULT_URL = "http://127.0.0.1:8474"
_FIX = (
    "start the embedded server (EmbeddedToxiproxy, or `python -m harness toxiproxy serve`), "
    "or set TOXIPROXY_URL to the address of a running Toxiproxy (e.g. http://127.0.0.1:8474)"
)
_LIBRARY_STATUS = {ProxyExists: 409, NotFound: 404, InvalidToxic: 400}
T = TypeVar("T")


@dataclass(frozen=True)
class ToxicInfo:
    """A toxic as the server reports it."""

    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ToxicInfo:
        return cls(
            name=str(data["name"]),
            type=str(data["type"]),
            stream=str(data.get("stream", "downstream")),
            toxicity=float(data.get("toxicity", 1.0)),
            attributes=dict(data.get("attributes") or {}),
        )


@dataclass(frozen=True)
class ProxyInfo:
    """A proxy as the server reports it; ``listen`` is the bound address once enabled."""

    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[ToxicInfo, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProxyInfo:
        return cls(
            name=str(data["name"]),
            listen=str(data["listen"]),
            upstream=str(data["upstream"]),
            enabled=bool(data["enabled"]),
            toxics=tuple(ToxicInfo.from_json(t) for t in data.get("toxics") or ()),
        )

    @property
    def listen_host(self) -> str:
        host = self.listen.rsplit(":", 1)[0]
        return host[1:-1] if host.startswith("[") else host

    @property
    def listen_port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


def _parse_url(url: str) -> tuple[str, int]:
    text = url.strip()
    if "://" not in text:
        text = f"http://{text}"
    parts = urlsplit(text)
    try:
        port = parts.port or 8474
    except ValueError:
        port = -1
    if parts.scheme != "http" or not parts.hostname or port < 0 or parts.path not in ("", "/"):
        raise InputError(
            f"invalid Toxiproxy URL {url!r}: expected http://HOST:PORT, e.g. {DEFAULT_URL}"
        )
    return parts.hostname, port


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _server_message(content: bytes | str | None) -> str:
    """The ``error`` field of a Toxiproxy error body, or the body itself."""
    if content is None:
        return ""
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()
    if isinstance(data, dict) and "error" in data:
        return str(data["error"])
    return text.strip()


def _path(*segments: str) -> str:
    return "".join("/" + quote(segment, safe="") for segment in segments)


class ToxiproxyClient:
    """Drives one Toxiproxy server (``url``); every call times out after ``timeout`` s."""

    def __init__(self, url: str = DEFAULT_URL, timeout: float = 5.0) -> None:
        host, port = _parse_url(url)
        self.host = host
        self.port = port
        self.timeout = timeout
        url_host = f"[{host}]" if ":" in host else host
        self.url = f"http://{url_host}:{port}"
        self._options: dict[str, Any] = {"timeout": timeout}
        if _is_loopback(host):
            # An HTTP_PROXY in the environment must not capture calls to a local server.
            self._options["proxies"] = {"http": None, "https": None}
        # The library builds URLs from cls.host/cls.port: a subclass per client keeps them
        # out of the process-wide APIConsumer.
        self._api: type[APIConsumer] = type(
            "ScopedAPIConsumer", (APIConsumer,), {"host": url_host, "port": port}
        )

    def __repr__(self) -> str:
        return f"ToxiproxyClient({self.url!r}, timeout={self.timeout})"

    # ------------------------------------------------------------------ transport
    def _call(self, method: str, path: str, what: str, body: Any = None) -> requests.Response:
        api = self._api
        options = self._options
        response: requests.Response
        try:
            if method == "GET":
                response = api.get(path, **options)
            elif method == "DELETE":
                response = api.delete(path, **options)
            else:
                response = api.post(path, json=body, **options)
        except (ProxyExists, NotFound, InvalidToxic) as exc:
            status = _LIBRARY_STATUS[type(exc)]
            message = _server_message(exc.args[0] if exc.args else None)
            raise FaultInjectionError(f"{what}: HTTP {status}: {message}") from exc
        except requests.Timeout as exc:
            raise InfrastructureError(
                f"{what}: Toxiproxy at {self.url} did not answer within {self.timeout:g} s",
                fix=_FIX,
            ) from exc
        except requests.ConnectionError as exc:
            raise InfrastructureError(
                f"{what}: Toxiproxy at {self.url} cannot be reached ({exc.__class__.__name__})",
                fix=_FIX,
            ) from exc
        except requests.RequestException as exc:
            raise FaultInjectionError(f"{what}: {exc}") from exc
        if response.status_code >= 300:
            message = _server_message(response.content)
            raise FaultInjectionError(f"{what}: HTTP {response.status_code}: {message}")
        return response

    def _extension(
        self, method: str, path: str, what: str, body: Any = None
    ) -> requests.Response | None:
        """Call a harness extension of the embedded server (``/_harness/...``); None from a
        real Toxiproxy, which answers 404 to it."""
        try:
            return self._call(method, path, what, body)
        except FaultInjectionError as exc:
            if isinstance(exc.__cause__, NotFound):
                return None
            raise

    def _json(self, response: requests.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise FaultInjectionError(
                f"{what}: unexpected answer from {self.url}: {response.text[:200]!r}"
            ) from exc

    def _read(self, response: requests.Response, what: str, read: Callable[[Any], T]) -> T:
        """``read`` applied to the JSON answer; an answer of another shape is an error."""
        data = self._json(response, what)
        try:
            return read(data)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise FaultInjectionError(f"{what}: unexpected answer {data!r}") from exc

    # ------------------------------------------------------------------ server
    def version(self) -> str:
        """The server's version (``2.12.0`` for the embedded server)."""
        what = "could not read the Toxiproxy version"
        response = self._call("GET", "/version", what)
        try:
            data = response.json()
        except ValueError:
            return response.text.strip()
        return str(data.get("version", "")) if isinstance(data, dict) else str(data)

    def is_reachable(self) -> bool:
        """Whether the server answers ``/version`` (never raises)."""
        try:
            self.version()
        except (InfrastructureError, FaultInjectionError):
            return False
        return True

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._call("POST", "/reset", "could not reset Toxiproxy (enable all proxies, drop toxics)")

    # ------------------------------------------------------------------ proxies
    def proxies(self) -> dict[str, ProxyInfo]:
        what = "could not list the Toxiproxy proxies"
        return self._read(
            self._call("GET", "/proxies", what),
            what,
            lambda data: {str(name): ProxyInfo.from_json(p) for name, p in dict(data).items()},
        )

    def get_proxy(self, name: str) -> ProxyInfo:
        what = f"could not read proxy {name!r}"
        return self._read(
            self._call("GET", _path("proxies", name), what), what, ProxyInfo.from_json
        )

    def create_proxy(
        self, name: str, upstream: str, listen: str = "127.0.0.1:0", *, enabled: bool = True
    ) -> ProxyInfo:
        """Create a proxy; ``listen`` defaults to a free loopback port (see ``.listen``)."""
        what = f"could not create proxy {name!r} ({listen} -> {upstream})"
        body = {"name": name, "upstream": upstream, "listen": listen, "enabled": enabled}
        return self._read(self._call("POST", "/proxies", what, body), what, ProxyInfo.from_json)

    def update_proxy(
        self,
        name: str,
        *,
        listen: str | None = None,
        upstream: str | None = None,
        enabled: bool | None = None,
    ) -> ProxyInfo:
        """Change any of ``listen``, ``upstream``, ``enabled``; the rest keep their values."""
        body = {
            key: value
            for key, value in (("listen", listen), ("upstream", upstream), ("enabled", enabled))
            if value is not None
        }
        what = f"could not update proxy {name!r} ({body})"
        return self._read(
            self._call("POST", _path("proxies", name), what, body), what, ProxyInfo.from_json
        )

    def enable(self, name: str) -> ProxyInfo:
        """Enable a proxy: it listens again."""
        return self.update_proxy(name, enabled=True)

    def disable(self, name: str) -> ProxyInfo:
        """Disable a proxy ("down"): it stops listening and drops its open connections."""
        return self.update_proxy(name, enabled=False)

    def delete_proxy(self, name: str, *, missing_ok: bool = False) -> None:
        if missing_ok and name not in self.proxies():
            return
        self._call("DELETE", _path("proxies", name), f"could not delete proxy {name!r}")

    def populate(self, proxies: Iterable[Mapping[str, Any]]) -> list[ProxyInfo]:
        """``POST /populate``: create or replace proxies from ``{name, upstream, listen?,
        enabled?}`` mappings; unchanged proxies are kept as they are."""
        entries = [dict(p) for p in proxies]
        names = ", ".join(repr(e.get("name")) for e in entries)
        what = f"could not populate proxies [{names}]"
        return self._read(
            self._call("POST", "/populate", what, entries),
            what,
            lambda data: [ProxyInfo.from_json(p) for p in (data.get("proxies") or ())],
        )

    # ------------------------------------------------------------------ toxics
    def toxic_hits(self, proxy: str) -> dict[str, int] | None:
        """How many connection links each toxic of ``proxy`` acted on, by toxic name.

        A harness extension of the embedded server (``GET /_harness/hits``); ``None`` from a
        real Toxiproxy, which has no such count.
        """
        what = f"could not read the toxic hit counts of proxy {proxy!r}"
        response = self._extension("GET", "/_harness/hits", what)
        if response is None:
            return None
        return self._read(
            response,
            what,
            lambda data: {str(k): int(v) for k, v in dict(data.get(proxy) or {}).items()},
        )

    def mark_phase(self, proxy: str, phase: str | None, run: str | None = None) -> bool:
        """Mark ``phase``'s start (None: the run ended) in ``proxy``'s ledger; False from a
        real Toxiproxy, which keeps none (a harness extension: ``POST /_harness/phase``)."""
        what = f"could not mark phase {phase!r} on proxy {proxy!r}"
        body = {"proxy": proxy, "phase": phase, "run": run}
        return self._extension("POST", "/_harness/phase", what, body) is not None

    def ledger(self, proxy: str) -> dict[str, Any] | None:
        """``proxy``'s ledger (``{"run", "phase", "phases": {name: stats}}``), or None from a
        real Toxiproxy (a harness extension: ``GET /_harness/ledger``)."""
        what = f"could not read the ledger of proxy {proxy!r}"
        response = self._extension("GET", "/_harness/ledger", what)
        if response is None:
            return None
        data = self._json(response, what)
        entry = data.get(proxy) if isinstance(data, dict) else None
        if not isinstance(entry, dict):
            raise FaultInjectionError(f"{what}: no such proxy in {sorted(data or ())!r}")
        return entry

    def toxics(self, proxy: str) -> list[ToxicInfo]:
        what = f"could not list the toxics of proxy {proxy!r}"
        return self._read(
            self._call("GET", _path("proxies", proxy, "toxics"), what),
            what,
            lambda data: [ToxicInfo.from_json(t) for t in data],
        )

    def get_toxic(self, proxy: str, toxic: str) -> ToxicInfo:
        what = f"could not read toxic {toxic!r} of proxy {proxy!r}"
        path = _path("proxies", proxy, "toxics", toxic)
        return self._read(self._call("GET", path, what), what, ToxicInfo.from_json)

    def add_toxic(
        self,
        proxy: str,
        type: str,
        *,
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        attributes: Mapping[str, Any] | None = None,
    ) -> ToxicInfo:
        """Add a toxic; returns it as the server stored it (default name ``<type>_<stream>``)."""
        toxic_name = name or f"{type}_{stream}"
        what = f"could not add toxic {toxic_name!r} ({type}, {stream}) to proxy {proxy!r}"
        body = {
            "name": toxic_name,
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": dict(attributes or {}),
        }
        path = _path("proxies", proxy, "toxics")
        return self._read(self._call("POST", path, what, body), what, ToxicInfo.from_json)

    def update_toxic(
        self,
        proxy: str,
        toxic: str,
        *,
        attributes: Mapping[str, Any] | None = None,
        toxicity: float | None = None,
    ) -> ToxicInfo:
        """Change a toxic's attributes (those given) and/or toxicity on live connections."""
        body: dict[str, Any] = {"attributes": dict(attributes or {})}
        if toxicity is not None:
            body["toxicity"] = toxicity
        what = f"could not update toxic {toxic!r} of proxy {proxy!r}"
        path = _path("proxies", proxy, "toxics", toxic)
        return self._read(self._call("POST", path, what, body), what, ToxicInfo.from_json)

    def remove_toxic(self, proxy: str, toxic: str, *, missing_ok: bool = False) -> None:
        if missing_ok and all(t.name != toxic for t in self.toxics(proxy)):
            return
        what = f"could not remove toxic {toxic!r} from proxy {proxy!r}"
        self._call("DELETE", _path("proxies", proxy, "toxics", toxic), what)


class ToxiproxyHandle(Closing):
    """The Toxiproxy a run uses: a client, plus the embedded server if one was started."""

    def __init__(self, client: ToxiproxyClient, embedded: EmbeddedToxiproxy | None) -> None:
        self.client = client
        self.embedded = embedded

    @property
    def url(self) -> str:
        return self.client.url

    def close(self) -> None:
        """Stop the embedded server, if this handle started one (a real one is left alone)."""
        if self.embedded is not None:
            self.embedded.stop()
            self.embedded = None

    def __repr__(self) -> str:
        kind = "embedded" if self.embedded is not None else "external"
        return f"<ToxiproxyHandle {kind} {self.url}>"


def resolve_toxiproxy(
    environ: Mapping[str, str] | None = None, *, timeout: float = 5.0
) -> ToxiproxyHandle:
    """The Toxiproxy to use: ``TOXIPROXY_URL`` if set (checked with ``GET /version``),
    otherwise a freshly started :class:`EmbeddedToxiproxy` on a free loopback port.

    Close the handle (or use it as a context manager) to stop an embedded server.
    """
    env = os.environ if environ is None else environ
    url = env.get("TOXIPROXY_URL", "").strip()
    if url:
        client = ToxiproxyClient(url, timeout=timeout)
        try:
            client.version()
        except InfrastructureError as exc:
            raise InfrastructureError(
                f"TOXIPROXY_URL={url} is set but {exc.reason}",
                fix="start Toxiproxy there, correct TOXIPROXY_URL, or unset it to use the "
                "embedded server",
            ) from exc
        return ToxiproxyHandle(client, None)
    embedded = EmbeddedToxiproxy().start()
    return ToxiproxyHandle(ToxiproxyClient(embedded.url, timeout=timeout), embedded)
