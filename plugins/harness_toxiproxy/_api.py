"""The Toxiproxy 2.x HTTP API: routes, handlers and Go's exact responses.

What a client sees, as ``api.go`` + gorilla/mux + ``net/http`` produce it:

* success bodies are compact JSON with ``Content-Type: application/json`` and no trailing
  newline; ``GET /version`` is the exception: ``{"version": "2.12.0"}`` plus a newline, as
  ``application/json;charset=utf-8``;
* errors go through Go's ``http.Error``: ``Content-Type: text/plain; charset=utf-8``,
  ``X-Content-Type-Options: nosniff`` and the JSON ``{"error":...,"status":...}`` plus a
  newline; ``POST /populate`` is the exception again (``application/json``, the error fields
  merged with ``"proxies"``, no newline);
* ``POST /proxies`` answers 201, ``POST /proxies/{p}/toxics`` 200, deletions and ``/reset``
  204 with no body; ``POST /populate`` 201 (an empty list gives ``{"proxies":null}``);
* unknown paths: 404 ``404 page not found``; a known path with another method: 405 with an
  empty body; an unclean path (``//proxies``, ``/a/../proxies``) a 301 to the clean one;
* matched routes carry an ``X-Toxiproxy-Request-Id`` header and refuse browsers (a
  ``User-Agent`` starting with ``Mozilla/``) with 403 ``User agent not allowed``;
* ``/metrics`` only exists when Toxiproxy runs with metrics flags, so it is a 404 here.

Harness extensions, absent from real Toxiproxy (where they are 404s):

* ``GET /_harness/hits`` answers ``{proxy: {toxic: links}}``, the number of connection links
  each toxic acted on (rolled active, and data or a close went through it), so a run can tell
  a fault that fired from one that never met traffic;
* ``POST /_harness/phase`` with ``{"proxy": name, "phase": name | null, "run": id}`` marks a
  phase's start in that proxy's ledger (null: the run ended);
* ``GET /_harness/ledger`` answers ``{proxy: {"run", "phase", "phases": {name: stats}}}``:
  per phase, the connections each proxy accepted, the bytes it moved each way
  (``bytes_up``: client to upstream) and the toxics that acted.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from ._apierrors import MISSING_FIELD, ApiError, as_api_error
from ._gojson import dumps, unmarshal
from ._http import Request, Response
from ._registry import ProxyCollection
from ._schema import PROXY
from ._toxic_collection import decode_body

__all__ = ["TOXIPROXY_VERSION", "ToxiproxyApi"]

TOXIPROXY_VERSION = "2.12.0"
"""The Toxiproxy release whose API this server mirrors."""

_JSON = {"Content-Type": "application/json"}
_TEXT = {"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"}

_Vars = dict[str, str]
_HandlerFn = Callable[["ToxiproxyApi", Request, _Vars], Awaitable[Response]]


def _json(status: int, value: Any) -> Response:
    return Response(status, dict(_JSON), dumps(value))


def _error(err: ApiError) -> Response:
    return Response(err.status, dict(_TEXT), dumps(err.to_json()) + b"\n")


def _text(status: int, text: str) -> Response:
    return Response(status, dict(_TEXT), text.encode() + b"\n")


def clean_path(path: str) -> str:
    """gorilla/mux ``cleanPath``: Go's ``path.Clean`` that keeps a trailing slash."""
    if path == "":
        return "/"
    if not path.startswith("/"):
        path = "/" + path
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    cleaned = "/" + "/".join(parts)
    if path.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned


_B32HEX = "0123456789abcdefghijklmnopqrstuv"


class _RequestIds:
    """IDs shaped like rs/xid (20 base32hex characters), as hlog puts in the header."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counter = int.from_bytes(os.urandom(3), "big")
        self._machine = os.urandom(3)
        self._pid = (os.getpid() & 0xFFFF).to_bytes(2, "big")

    def next(self) -> str:
        with self._lock:
            self._counter = (self._counter + 1) & 0xFFFFFF
            counter = self._counter
        raw = (
            int(time.time()).to_bytes(4, "big")
            + self._machine
            + self._pid
            + counter.to_bytes(3, "big")
        )
        bits = int.from_bytes(raw, "big") << 4  # 96 bits -> 100 bits = 20 characters
        return "".join(_B32HEX[(bits >> (5 * (19 - i))) & 31] for i in range(20))


class ToxiproxyApi:
    """Routes requests to handlers over one :class:`~._registry.ProxyCollection`.

    Handlers run one at a time (a lock stands in for Go's collection mutexes), so a create
    that awaits its bind cannot interleave with another change.
    """

    def __init__(self, collection: ProxyCollection) -> None:
        self.collection = collection
        self._lock = asyncio.Lock()
        self._ids = _RequestIds()

    async def handle(self, request: Request) -> Response:
        target = request.target
        if target.startswith(("http://", "https://")):
            parts = urlsplit(target)
            raw_path, query = parts.path, parts.query
        else:
            raw_path, _, query = target.partition("?")
        path = unquote(raw_path)
        cleaned = clean_path(path)
        if cleaned != path:
            location = cleaned + (f"?{query}" if query else "")
            return Response(301, {"Location": location})
        match = self._route(request.method, path)
        if isinstance(match, Response):
            return match
        handler, path_vars = match
        headers = {"X-Toxiproxy-Request-Id": self._ids.next()}
        if request.headers.get("user-agent", "").startswith("Mozilla/"):
            response = _text(403, "User agent not allowed")
        else:
            async with self._lock:
                try:
                    response = await handler(self, request, path_vars)
                except Exception as exc:  # every error becomes an API answer
                    response = _error(as_api_error(exc))
        response.headers.update(headers)
        return response

    def _route(self, method: str, path: str) -> tuple[_HandlerFn, _Vars] | Response:
        method_mismatch = False
        for pattern, methods in _ROUTES:
            found = pattern.fullmatch(path)
            if found is None:
                continue
            handler = methods.get(method)
            if handler is None:
                method_mismatch = True
                continue
            return handler, found.groupdict()
        if method_mismatch:
            return Response(405)
        return _text(404, "404 page not found")

    # ------------------------------------------------------------------ handlers
    async def reset(self, request: Request, _: _Vars) -> Response:
        for proxy in list(self.collection.proxies.values()):
            if not proxy.enabled:
                await proxy.start()
            proxy.toxics.reset()
        return Response(204)

    async def proxy_index(self, request: Request, _: _Vars) -> Response:
        proxies = self.collection.proxies
        return _json(200, {name: proxies[name].to_json() for name in sorted(proxies)})

    async def proxy_create(self, request: Request, _: _Vars) -> Response:
        fields: dict[str, Any] = {"name": "", "listen": "", "upstream": "", "enabled": True}
        error = unmarshal(decode_body(request.body), PROXY, fields)
        if error is not None:
            raise ApiError(f"bad request body: {error}", 400)
        if not fields["name"]:
            raise MISSING_FIELD.join("name")
        if not fields["upstream"]:
            raise MISSING_FIELD.join("upstream")
        proxy = self.collection.new_proxy(fields["name"], fields["listen"], fields["upstream"])
        await self.collection.add(proxy, bool(fields["enabled"]))
        return _json(201, proxy.to_json())

    async def populate(self, request: Request, _: _Vars) -> Response:
        proxies, error = await self.collection.populate_json(request.body)
        listed = [proxy.to_json() for proxy in proxies] or None
        body: dict[str, Any] = error.to_json() if error is not None else {}
        body["proxies"] = listed
        return _json(error.status if error is not None else 201, body)

    async def proxy_show(self, request: Request, path_vars: _Vars) -> Response:
        return _json(200, self.collection.get(path_vars["proxy"]).to_json())

    async def proxy_update(self, request: Request, path_vars: _Vars) -> Response:
        proxy = self.collection.get(path_vars["proxy"])
        fields: dict[str, Any] = {
            "name": "",
            "listen": proxy.listen,
            "upstream": proxy.upstream,
            "enabled": proxy.enabled,
        }
        error = unmarshal(decode_body(request.body), PROXY, fields)
        if error is not None:
            raise ApiError(f"bad request body: {error}", 400)
        await proxy.update(fields["listen"], fields["upstream"], bool(fields["enabled"]))
        return _json(200, proxy.to_json())

    async def proxy_delete(self, request: Request, path_vars: _Vars) -> Response:
        self.collection.remove(path_vars["proxy"])
        return Response(204)

    async def toxic_index(self, request: Request, path_vars: _Vars) -> Response:
        proxy = self.collection.get(path_vars["proxy"])
        return _json(200, [toxic.to_json() for toxic in proxy.toxics.all()])

    async def toxic_create(self, request: Request, path_vars: _Vars) -> Response:
        proxy = self.collection.get(path_vars["proxy"])
        return _json(200, proxy.toxics.add_json(request.body).to_json())

    async def toxic_show(self, request: Request, path_vars: _Vars) -> Response:
        proxy = self.collection.get(path_vars["proxy"])
        return _json(200, proxy.toxics.get(path_vars["toxic"]).to_json())

    async def toxic_update(self, request: Request, path_vars: _Vars) -> Response:
        proxy = self.collection.get(path_vars["proxy"])
        return _json(200, proxy.toxics.update_json(path_vars["toxic"], request.body).to_json())

    async def toxic_delete(self, request: Request, path_vars: _Vars) -> Response:
        proxy = self.collection.get(path_vars["proxy"])
        proxy.toxics.remove(path_vars["toxic"])
        return Response(204)

    async def hits(self, request: Request, _: _Vars) -> Response:
        proxies = self.collection.proxies
        return _json(
            200,
            {
                name: {toxic.name: toxic.hits for toxic in proxies[name].toxics.all()}
                for name in sorted(proxies)
            },
        )

    async def mark_phase(self, request: Request, _: _Vars) -> Response:
        try:  # a harness extension: plain JSON, not Go's decoder
            value = json.loads(request.body or b"null")
        except (ValueError, RecursionError):
            value = None
        if not isinstance(value, dict) or not isinstance(value.get("proxy"), str):
            raise ApiError('expected {"proxy": name, "phase": name | null, "run": id}', 400)
        phase, run = value.get("phase"), value.get("run")
        if phase is not None and (not isinstance(phase, str) or not phase):
            raise ApiError("phase must be a name or null", 400)
        if run is not None and not isinstance(run, str):
            raise ApiError("run must be a string", 400)
        proxy = self.collection.get(value["proxy"])
        proxy.ledger.mark(phase, run)
        return _json(200, {"proxy": proxy.name, "phase": phase, "run": proxy.ledger.run})

    async def ledger(self, request: Request, _: _Vars) -> Response:
        proxies = self.collection.proxies
        return _json(200, {name: proxies[name].ledger.snapshot() for name in sorted(proxies)})

    async def version(self, request: Request, _: _Vars) -> Response:
        body = f'{{"version": "{TOXIPROXY_VERSION}"}}\n'.encode()
        return Response(200, {"Content-Type": "application/json;charset=utf-8"}, body)


_SEGMENT = r"[^/]+"
_ROUTES: list[tuple[re.Pattern[str], dict[str, _HandlerFn]]] = [
    (re.compile(r"/reset"), {"POST": ToxiproxyApi.reset}),
    (re.compile(r"/proxies"), {"GET": ToxiproxyApi.proxy_index, "POST": ToxiproxyApi.proxy_create}),
    (re.compile(r"/populate"), {"POST": ToxiproxyApi.populate}),
    (
        re.compile(rf"/proxies/(?P<proxy>{_SEGMENT})"),
        {
            "GET": ToxiproxyApi.proxy_show,
            "POST": ToxiproxyApi.proxy_update,
            "PATCH": ToxiproxyApi.proxy_update,
            "DELETE": ToxiproxyApi.proxy_delete,
        },
    ),
    (
        re.compile(rf"/proxies/(?P<proxy>{_SEGMENT})/toxics"),
        {"GET": ToxiproxyApi.toxic_index, "POST": ToxiproxyApi.toxic_create},
    ),
    (
        re.compile(rf"/proxies/(?P<proxy>{_SEGMENT})/toxics/(?P<toxic>{_SEGMENT})"),
        {
            "GET": ToxiproxyApi.toxic_show,
            "POST": ToxiproxyApi.toxic_update,
            "PATCH": ToxiproxyApi.toxic_update,
            "DELETE": ToxiproxyApi.toxic_delete,
        },
    ),
    (re.compile(r"/version"), {"GET": ToxiproxyApi.version}),
    (re.compile(r"/_harness/hits"), {"GET": ToxiproxyApi.hits}),
    (re.compile(r"/_harness/phase"), {"POST": ToxiproxyApi.mark_phase}),
    (re.compile(r"/_harness/ledger"), {"GET": ToxiproxyApi.ledger}),
]
