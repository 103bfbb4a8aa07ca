"""The HTTP API of the embedded server, byte for byte against Toxiproxy 2.12 (raw httpx)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable

import httpx
import pytest
from toxiproxy_support import populate_three

from harness_toxiproxy import TOXIPROXY_VERSION, EmbeddedToxiproxy

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


def error_body(message: str, status: int) -> bytes:
    return json.dumps({"error": message, "status": status}, separators=(",", ":")).encode() + b"\n"


def assert_error(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status, response.content
    assert response.headers["content-type"] == TEXT
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == error_body(message, status)


def create(api: httpx.Client, name: str, upstream: str, **extra: object) -> httpx.Response:
    return api.post("/proxies", json={"name": name, "upstream": upstream, **extra})


@pytest.fixture
def free_port() -> Callable[[], int]:
    def pick() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    return pick


# ----------------------------------------------------------------------------- version, routing
def test_version_is_json_with_newline(api: httpx.Client) -> None:
    response = api.get("/version")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json;charset=utf-8"
    assert response.content == b'{"version": "2.12.0"}\n'
    assert TOXIPROXY_VERSION == "2.12.0"


def test_unknown_path_is_go_404(api: httpx.Client) -> None:
    for path in ("/nope", "/metrics", "/events", "/proxies/a/b/c/d", "/proxies/"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.content == b"404 page not found\n"
        assert response.headers["content-type"] == TEXT
        assert "x-toxiproxy-request-id" not in response.headers


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/proxies"),
        ("DELETE", "/proxies"),
        ("GET", "/reset"),
        ("GET", "/populate"),
        ("POST", "/version"),
        ("HEAD", "/version"),
        ("PUT", "/proxies/x"),
        ("DELETE", "/proxies/x/toxics"),
        ("PUT", "/proxies/x/toxics/y"),
    ],
)
def test_wrong_method_is_empty_405(api: httpx.Client, method: str, path: str) -> None:
    response = api.request(method, path)
    assert response.status_code == 405
    assert response.content == b""
    assert "content-type" not in response.headers


def raw_request(server: EmbeddedToxiproxy, request: bytes) -> bytes:
    """Send one raw HTTP request (httpx would normalise the path) and read to EOF."""
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_unclean_path_redirects_like_gorilla_mux(toxiproxy: EmbeddedToxiproxy) -> None:
    for target, location in ((b"//proxies", b"/proxies"), (b"/x/../version?a=1", b"/version?a=1")):
        answer = raw_request(
            toxiproxy, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        assert answer.startswith(b"HTTP/1.1 301 Moved Permanently\r\n")
        assert b"\r\nLocation: " + location + b"\r\n" in answer


def test_matched_routes_carry_a_request_id(api: httpx.Client) -> None:
    first = api.get("/proxies").headers["x-toxiproxy-request-id"]
    second = api.get("/proxies").headers["x-toxiproxy-request-id"]
    assert len(first) == 20
    assert first != second


def test_browsers_are_refused(api: httpx.Client) -> None:
    response = api.get("/proxies", headers={"User-Agent": "Mozilla/5.0 (X11)"})
    assert response.status_code == 403
    assert response.content == b"User agent not allowed\n"
    assert response.headers["content-type"] == TEXT


# ----------------------------------------------------------------------------- proxies
def test_create_proxy_returns_201_with_bound_listen(api: httpx.Client) -> None:
    response = create(api, "p1", "127.0.0.1:9", listen="127.0.0.1:0")
    assert response.status_code == 201
    assert response.headers["content-type"] == JSON
    assert not response.content.endswith(b"\n")
    body = response.json()
    assert list(body) == ["name", "listen", "upstream", "enabled", "Logger", "toxics"]
    assert body["name"] == "p1"
    assert body["upstream"] == "127.0.0.1:9"
    assert body["enabled"] is True
    assert body["Logger"] == {}
    assert body["toxics"] == []
    host, port = body["listen"].rsplit(":", 1)
    assert host == "127.0.0.1"
    assert int(port) > 0
    # The port really listens.
    socket.create_connection((host, int(port)), timeout=2).close()


def test_compact_json_exactly_as_go_writes_it(api: httpx.Client) -> None:
    body = create(api, "p", "127.0.0.1:9", listen="127.0.0.1:0", enabled=False).content
    assert body == (
        b'{"name":"p","listen":"127.0.0.1:0","upstream":"127.0.0.1:9",'
        b'"enabled":false,"Logger":{},"toxics":[]}'
    )


def test_listen_hostname_resolves_to_ipv4(api: httpx.Client) -> None:
    body = create(api, "p", "127.0.0.1:9", listen="localhost:0").json()
    assert body["listen"].startswith("127.0.0.1:")


def test_disabled_proxy_keeps_listen_as_given(api: httpx.Client) -> None:
    body = create(api, "p", "127.0.0.1:9", listen="localhost:0", enabled=False).json()
    assert body["listen"] == "localhost:0"
    assert body["enabled"] is False


def test_empty_listen_binds_loopback(api: httpx.Client) -> None:
    body = create(api, "p", "127.0.0.1:9").json()
    assert body["listen"].startswith("127.0.0.1:")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "bad request body: EOF"),
        (b"   ", "bad request body: EOF"),
        (b'{"name": "x"', "bad request body: unexpected EOF"),
        (
            b"{bad}",
            "bad request body: invalid character 'b' looking for beginning of object key string",
        ),
        (b"nope", "bad request body: invalid character 'o' in literal null (expecting 'u')"),
        (
            b"[1]",
            "bad request body: json: cannot unmarshal array into Go value of type toxiproxy.Proxy",
        ),
        (
            b'{"name": 5, "upstream": "u"}',
            "bad request body: json: cannot unmarshal number into Go struct field "
            "Proxy.name of type string",
        ),
        (
            b'{"name": "x", "upstream": "u", "enabled": "yes"}',
            "bad request body: json: cannot unmarshal string into Go struct field "
            "Proxy.enabled of type bool",
        ),
        (b"{}", "missing required field: name"),
        (b"null", "missing required field: name"),
        (b'{"name": "x"}', "missing required field: upstream"),
        (b'{"name": "x", "upstream": ""}', "missing required field: upstream"),
    ],
)
def test_create_proxy_rejects_a_bad_body(api: httpx.Client, body: bytes, message: str) -> None:
    assert_error(api.post("/proxies", content=body), 400, message)
    assert api.get("/proxies").json() == {}


@pytest.mark.parametrize(
    ("listen", "message"),
    [
        ("local373", "listen tcp: address local373: missing port in address"),
        ("127.0.0.1:99999", "listen tcp: address 99999: invalid port"),
    ],
)
def test_create_proxy_on_a_bad_listen_address_is_a_server_error(
    api: httpx.Client, listen: str, message: str
) -> None:
    # as Toxiproxy answers: the body is valid, binding the listener fails
    body = {"name": "x", "upstream": "u", "listen": listen}
    assert_error(api.post("/proxies", json=body), 500, message)
    assert api.get("/proxies").json() == {}


def test_create_proxy_fields_are_case_insensitive_and_unknown_ones_ignored(
    api: httpx.Client,
) -> None:
    response = api.post(
        "/proxies",
        json={"NAME": "p", "Upstream": "127.0.0.1:9", "whatever": [1], "toxics": None},
    )
    assert response.status_code == 201
    assert response.json()["name"] == "p"


def test_duplicate_proxy_is_409_checked_before_binding(api: httpx.Client) -> None:
    first = create(api, "p", "127.0.0.1:9", listen="127.0.0.1:0").json()
    # Same name *and* the same (taken) port: the name conflict wins.
    assert_error(
        create(api, "p", "127.0.0.1:9", listen=first["listen"]), 409, "proxy already exists"
    )


def test_port_taken_is_500_with_go_bind_error_and_proxy_not_added(api: httpx.Client) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        response = create(api, "p", "127.0.0.1:9", listen=f"127.0.0.1:{port}")
    assert_error(response, 500, f"listen tcp 127.0.0.1:{port}: bind: address already in use")
    assert api.get("/proxies").json() == {}


def test_index_show_and_delete(api: httpx.Client) -> None:
    create(api, "b", "127.0.0.1:9", enabled=False)
    create(api, "a", "127.0.0.1:8", enabled=False)
    index = api.get("/proxies")
    assert index.status_code == 200
    assert index.headers["content-type"] == JSON
    assert list(index.json()) == ["a", "b"]
    shown = api.get("/proxies/a")
    assert shown.status_code == 200
    assert shown.json() == index.json()["a"]
    deleted = api.delete("/proxies/a")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert list(api.get("/proxies").json()) == ["b"]
    for method in ("GET", "POST", "PATCH", "DELETE"):
        assert_error(api.request(method, "/proxies/a", json={}), 404, "proxy not found")


def test_delete_closes_the_listener(api: httpx.Client) -> None:
    listen = create(api, "p", "127.0.0.1:9").json()["listen"]
    host, port = listen.rsplit(":", 1)
    api.delete("/proxies/p")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=2).close()


def test_names_are_url_decoded(api: httpx.Client) -> None:
    create(api, "a b", "127.0.0.1:9", enabled=False)
    assert api.get("/proxies/a%20b").json()["name"] == "a b"


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_update_proxy_keeps_missing_fields(api: httpx.Client, method: str) -> None:
    listen = create(api, "p", "127.0.0.1:9").json()["listen"]
    response = api.request(method, "/proxies/p", json={"upstream": "127.0.0.1:10"})
    assert response.status_code == 200
    body = response.json()
    assert body["upstream"] == "127.0.0.1:10"
    # The upstream differs, so Go stops and restarts the proxy on the same address.
    assert body["listen"] == listen
    assert body["enabled"] is True


def test_update_disable_enable_and_listen(api: httpx.Client, free_port: Callable[[], int]) -> None:
    listen = create(api, "p", "127.0.0.1:9").json()["listen"]
    host, port = listen.rsplit(":", 1)
    disabled = api.post("/proxies/p", json={"enabled": False}).json()
    assert disabled["enabled"] is False
    assert disabled["listen"] == listen
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=2).close()
    enabled = api.patch("/proxies/p", json={"enabled": True}).json()
    assert enabled == {**disabled, "enabled": True}
    socket.create_connection((host, int(port)), timeout=2).close()
    new_port = free_port()
    moved = api.patch("/proxies/p", json={"listen": f"127.0.0.1:{new_port}"}).json()
    assert moved["listen"] == f"127.0.0.1:{new_port}"
    socket.create_connection(("127.0.0.1", new_port), timeout=2).close()


def test_update_proxy_errors(api: httpx.Client) -> None:
    create(api, "p", "127.0.0.1:9", enabled=False)
    assert_error(api.post("/proxies/p", content=b""), 400, "bad request body: EOF")
    assert_error(
        api.post("/proxies/p", content=b'{"enabled": 1}'),
        400,
        "bad request body: json: cannot unmarshal number into Go struct field "
        "Proxy.enabled of type bool",
    )
    assert_error(
        api.post("/proxies/p", json={"listen": "nocolon"}),
        500,
        "address nocolon: missing port in address",
    )
    assert api.post("/proxies/p", content=b"{}").json()["enabled"] is False


def test_update_to_a_taken_port_is_500_and_leaves_proxy_disabled(api: httpx.Client) -> None:
    create(api, "p", "127.0.0.1:9")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        response = api.post("/proxies/p", json={"listen": f"127.0.0.1:{port}"})
    assert_error(response, 500, f"listen tcp 127.0.0.1:{port}: bind: address already in use")
    body = api.get("/proxies/p").json()
    assert body["enabled"] is False
    assert body["listen"] == f"127.0.0.1:{port}"


# ----------------------------------------------------------------------------- populate
def test_populate_creates_and_answers_201(api: httpx.Client) -> None:
    response = api.post(
        "/populate",
        json=[
            {"name": "one", "upstream": "127.0.0.1:9", "listen": "127.0.0.1:0"},
            {"name": "two", "upstream": "127.0.0.1:9", "enabled": False},
            {"name": "three", "upstream": "127.0.0.1:9", "enabled": None},
        ],
    )
    assert response.status_code == 201
    assert response.headers["content-type"] == JSON
    proxies = response.json()["proxies"]
    assert [p["name"] for p in proxies] == ["one", "two", "three"]
    assert [p["enabled"] for p in proxies] == [True, False, True]
    assert list(response.json()) == ["proxies"]


def test_populate_empty_list_gives_null(api: httpx.Client) -> None:
    response = api.post("/populate", json=[])
    assert response.status_code == 201
    assert response.content == b'{"proxies":null}'


def test_populate_keeps_unchanged_proxy_untouched(api: httpx.Client) -> None:
    listen = create(api, "one", "127.0.0.1:9").json()["listen"]
    api.post("/proxies/one/toxics", json={"type": "latency"})
    create(api, "two", "127.0.0.1:9")
    api.post("/proxies/two/toxics", json={"type": "latency"})
    response = api.post(
        "/populate",
        json=[
            # Same resolved listen + upstream: kept, toxics and enabled state included, even
            # though the entry says disabled.
            {"name": "one", "upstream": "127.0.0.1:9", "listen": listen, "enabled": False},
            # Different upstream: replaced (toxics gone).
            {"name": "two", "upstream": "127.0.0.1:10", "listen": "127.0.0.1:0"},
        ],
    )
    assert response.status_code == 201
    one, two = response.json()["proxies"]
    assert one["enabled"] is True
    assert [t["type"] for t in one["toxics"]] == ["latency"]
    assert two["upstream"] == "127.0.0.1:10"
    assert two["toxics"] == []


def test_populate_localhost_listen_resolves_for_the_comparison(api: httpx.Client) -> None:
    port = create(api, "one", "127.0.0.1:9").json()["listen"].rsplit(":", 1)[1]
    api.post("/proxies/one/toxics", json={"type": "latency"})
    response = api.post(
        "/populate",
        json=[{"name": "one", "upstream": "127.0.0.1:9", "listen": f"localhost:{port}"}],
    )
    assert response.json()["proxies"][0]["toxics"] != []


def test_populate_validates_every_entry_first(api: httpx.Client) -> None:
    response = api.post(
        "/populate",
        json=[{"name": "one", "upstream": "127.0.0.1:9"}, {"name": "", "listen": ""}],
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == JSON
    assert response.content == (
        b'{"error":"missing required field: name at proxy 2","status":400,"proxies":null}'
    )
    response = api.post("/populate", json=[{"name": "one", "upstream": ""}])
    assert response.json()["error"] == "missing required field: upstream at proxy 1"
    assert api.get("/proxies").json() == {}


def test_populate_rejects_the_wrapped_form(api: httpx.Client) -> None:
    response = api.post("/populate", json={"proxies": [{"name": "a", "upstream": "b"}]})
    assert response.status_code == 400
    assert response.json() == {
        "error": "bad request body: json: cannot unmarshal object into Go value of type "
        '[]struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }',
        "status": 400,
        "proxies": None,
    }


def test_populate_type_error_names_the_anonymous_struct(api: httpx.Client) -> None:
    response = api.post("/populate", json=[{"name": 1, "upstream": "b"}])
    assert response.json()["error"] == (
        "bad request body: json: cannot unmarshal number into Go struct field .name of type string"
    )


def test_populate_stops_at_the_first_bind_error_and_returns_what_was_done(
    api: httpx.Client,
) -> None:
    response = populate_three(api, second_listen="local373")
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "listen tcp: address local373: missing port in address"
    assert body["status"] == 500
    assert [p["name"] for p in body["proxies"]] == ["one"]
    assert list(api.get("/proxies").json()) == ["one"]


# ----------------------------------------------------------------------------- toxics
def test_create_toxic_defaults(api: httpx.Client) -> None:
    create(api, "p", "127.0.0.1:9")
    response = api.post("/proxies/p/toxics", json={"type": "latency"})
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    assert response.content == (
        b'{"attributes":{"latency":0,"jitter":0},"name":"latency_downstream",'
        b'"type":"latency","stream":"downstream","toxicity":1}'
    )


@pytest.mark.parametrize(
    ("toxic_type", "attributes"),
    [
        ("latency", {"latency": 0, "jitter": 0}),
        ("bandwidth", {"rate": 0}),
        ("slow_close", {"delay": 0}),
        ("timeout", {"timeout": 0}),
        ("reset_peer", {"timeout": 0}),
        ("slicer", {"average_size": 0, "size_variation": 0, "delay": 0}),
        ("limit_data", {"bytes": 0}),
        ("noop", {}),
    ],
)
def test_every_type_and_its_zero_attributes(
    api: httpx.Client, toxic_type: str, attributes: dict[str, int]
) -> None:
    create(api, "p", "127.0.0.1:9")
    body = api.post("/proxies/p/toxics", json={"type": toxic_type, "stream": "upstream"}).json()
    assert body["attributes"] == attributes
    assert list(body["attributes"]) == list(attributes)
    assert body["name"] == f"{toxic_type}_upstream"


def test_toxic_attributes_toxicity_and_stream_as_given(api: httpx.Client) -> None:
    create(api, "p", "127.0.0.1:9")
    body = api.post(
        "/proxies/p/toxics",
        json={
            "type": "slicer",
            "stream": "UpStream",
            "toxicity": 0.3,
            "attributes": {"average_size": 10, "delay": 5, "unknown": "ignored"},
        },
    ).json()
    assert body == {
        "attributes": {"average_size": 10, "size_variation": 0, "delay": 5},
        "name": "slicer_UpStream",
        "type": "slicer",
        "stream": "UpStream",
        "toxicity": 0.3,
    }


def test_toxicity_is_not_range_checked_and_written_as_float32(api: httpx.Client) -> None:
    create(api, "p", "127.0.0.1:9")
    big = api.post("/proxies/p/toxics", json={"type": "noop", "name": "a", "toxicity": 2.5})
    neg = api.post("/proxies/p/toxics", json={"type": "noop", "name": "b", "toxicity": -1})
    tiny = api.post("/proxies/p/toxics", json={"type": "noop", "name": "c", "toxicity": 1e-7})
    assert b'"toxicity":2.5}' in big.content
    assert b'"toxicity":-1}' in neg.content
    assert b'"toxicity":1e-7}' in tiny.content


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"", 400, "bad request body: EOF"),
        (b'{"type": "latency",', 400, "bad request body: unexpected EOF"),
        (
            {"type": "latency", "stream": "sideways"},
            400,
            "stream was invalid, can be either upstream or downstream",
        ),
        (
            {"type": "nope", "stream": "sideways"},
            400,
            "stream was invalid, can be either upstream or downstream",
        ),
        (
            {"type": "latency", "stream": ""},
            400,
            "stream was invalid, can be either upstream or downstream",
        ),
        ({"type": "nope"}, 400, "invalid toxic type"),
        ({}, 400, "invalid toxic type"),
        (
            {"type": "latency", "attributes": {"latency": "x"}},
            400,
            "bad request body: json: cannot unmarshal string into Go struct field "
            "LatencyToxic.attributes.latency of type int64",
        ),
        (
            {"type": "latency", "attributes": {"latency": 1.5}},
            400,
            "bad request body: json: cannot unmarshal number 1.5 into Go struct field "
            "LatencyToxic.attributes.latency of type int64",
        ),
        (
            {"type": "slicer", "attributes": {"delay": True}},
            400,
            "bad request body: json: cannot unmarshal bool into Go struct field "
            "SlicerToxic.attributes.delay of type int",
        ),
        (
            {"type": "latency", "attributes": 5},
            400,
            "bad request body: json: cannot unmarshal number into Go struct field "
            "ToxicWrapper.attributes of type toxics.NoopToxic",
        ),
        (
            {"type": "latency", "toxicity": "1"},
            400,
            "bad request body: json: cannot unmarshal string into Go struct field "
            "ToxicWrapper.toxicity of type float32",
        ),
        (
            [],
            400,
            "bad request body: json: cannot unmarshal array into Go value of type "
            "toxics.ToxicWrapper",
        ),
    ],
)
def test_create_toxic_errors(
    api: httpx.Client, body: bytes | dict[str, object] | list[object], status: int, message: str
) -> None:
    create(api, "p", "127.0.0.1:9")
    if isinstance(body, bytes):
        response = api.post("/proxies/p/toxics", content=body)
    else:
        response = api.post("/proxies/p/toxics", json=body)
    assert_error(response, status, message)
    assert api.get("/proxies/p/toxics").json() == []


def test_toxic_on_missing_proxy_is_404(api: httpx.Client) -> None:
    assert_error(api.post("/proxies/none/toxics", json={"type": "latency"}), 404, "proxy not found")
    assert_error(api.get("/proxies/none/toxics"), 404, "proxy not found")
    assert_error(api.get("/proxies/none/toxics/t"), 404, "proxy not found")


def test_duplicate_toxic_name_is_409_across_streams(api: httpx.Client) -> None:
    create(api, "p", "127.0.0.1:9")
    api.post("/proxies/p/toxics", json={"type": "latency", "name": "t"})
    assert_error(
        api.post("/proxies/p/toxics", json={"type": "timeout", "name": "t", "stream": "upstream"}),
        409,
        "toxic already exists",
    )
    api.post("/proxies/p/toxics", json={"type": "latency"})
    assert_error(
        api.post("/proxies/p/toxics", json={"type": "latency"}), 409, "toxic already exists"
    )


def test_toxic_listing_shows_upstream_first(api: httpx.Client) -> None:
    create(api, "p", "127.0.0.1:9")
    for name, stream in (("d1", "downstream"), ("u1", "upstream"), ("d2", "downstream")):
        api.post("/proxies/p/toxics", json={"type": "noop", "name": name, "stream": stream})
    assert [t["name"] for t in api.get("/proxies/p/toxics").json()] == ["u1", "d1", "d2"]
    assert [t["name"] for t in api.get("/proxies/p").json()["toxics"]] == ["u1", "d1", "d2"]


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_toxic_show_update_delete(api: httpx.Client, method: str) -> None:
    create(api, "p", "127.0.0.1:9")
    api.post(
        "/proxies/p/toxics",
        json={"type": "latency", "name": "t", "attributes": {"latency": 10, "jitter": 2}},
    )
    shown = api.get("/proxies/p/toxics/t")
    assert shown.status_code == 200
    assert shown.json()["attributes"] == {"latency": 10, "jitter": 2}
    updated = api.request(
        method,
        "/proxies/p/toxics/t",
        json={
            "attributes": {"latency": 20},
            "toxicity": 0.5,
            "type": "timeout",
            "name": "renamed",
            "stream": "upstream",
        },
    )
    assert updated.status_code == 200
    # Only attributes (the ones given) and toxicity change.
    assert updated.json() == {
        "attributes": {"latency": 20, "jitter": 2},
        "name": "t",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 0.5,
    }
    deleted = api.delete("/proxies/p/toxics/t")
    assert deleted.status_code == 204
    assert deleted.content == b""
    for verb in ("GET", "POST", "PATCH", "DELETE"):
        assert_error(api.request(verb, "/proxies/p/toxics/t", json={}), 404, "toxic not found")


def test_toxic_update_errors_apply_the_fields_that_decoded(api: httpx.Client) -> None:
    create(api, "p", "127.0.0.1:9")
    api.post("/proxies/p/toxics", json={"type": "latency", "name": "t"})
    assert_error(api.post("/proxies/p/toxics/t", content=b""), 400, "bad request body: EOF")
    assert_error(
        api.post(
            "/proxies/p/toxics/t",
            json={"attributes": {"latency": "x", "jitter": 7}, "toxicity": 0.5},
        ),
        400,
        "bad request body: json: cannot unmarshal string into Go struct field "
        "LatencyToxic.attributes.latency of type int64",
    )
    # Like Go, which decodes straight into the live toxic: jitter applied, toxicity not.
    assert api.get("/proxies/p/toxics/t").json()["attributes"] == {"latency": 0, "jitter": 7}
    assert api.get("/proxies/p/toxics/t").json()["toxicity"] == 1
    assert_error(
        api.post("/proxies/p/toxics/t", json={"toxicity": "x"}),
        400,
        "bad request body: json: cannot unmarshal string into Go struct field "
        ".toxicity of type float32",
    )


def test_reset_enables_everything_and_drops_toxics(api: httpx.Client) -> None:
    create(api, "a", "127.0.0.1:9", enabled=False)
    create(api, "b", "127.0.0.1:9")
    api.post("/proxies/b/toxics", json={"type": "latency"})
    api.post("/proxies/b/toxics", json={"type": "timeout", "stream": "upstream"})
    response = api.post("/reset")
    assert response.status_code == 204
    assert response.content == b""
    proxies = api.get("/proxies").json()
    assert proxies["a"]["enabled"] is True
    assert proxies["a"]["listen"].startswith("127.0.0.1:")
    assert proxies["b"]["toxics"] == []
    assert set(proxies) == {"a", "b"}


def test_harness_hits_extension(api: httpx.Client) -> None:
    create(api, "p", "127.0.0.1:9")
    api.post("/proxies/p/toxics", json={"type": "latency"})
    response = api.get("/_harness/hits")
    assert response.status_code == 200
    assert response.content == b'{"p":{"latency_downstream":0}}'
    assert api.post("/_harness/hits").status_code == 405


def test_keep_alive_and_chunked_request_bodies(toxiproxy: EmbeddedToxiproxy) -> None:
    with socket.create_connection((toxiproxy.host, toxiproxy.port), timeout=5) as sock:
        body = b'{"name":"c","upstream":"127.0.0.1:9","enabled":false}'
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        sock.sendall(
            b"POST /proxies HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked
        )
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 201 Created\r\n")
    assert b'"name":"c"' in data
    assert b"HTTP/1.1 200 OK\r\n" in data
    assert data.endswith(b'{"version": "2.12.0"}\n')


def test_malformed_request_is_go_400(toxiproxy: EmbeddedToxiproxy) -> None:
    with socket.create_connection((toxiproxy.host, toxiproxy.port), timeout=5) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        data = sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert data.endswith(b"400 Bad Request")
