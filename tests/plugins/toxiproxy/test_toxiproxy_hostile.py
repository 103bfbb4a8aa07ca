"""The embedded Toxiproxy under bad options and hostile requests: clear errors, never a crash.

Each test here failed before its fix: ``serve(port=-1)`` raised OverflowError, a non-loopback
host or proxy listen address was accepted, nested JSON answered 500 with Python's
RecursionError text, and a body of any size was read into memory.
"""

from __future__ import annotations

import json
import socket

import httpx
import pytest
from toxiproxy_support import populate_three

from harness.cli import main
from harness.errors import InputError
from harness_toxiproxy import EmbeddedToxiproxy, ToxiproxyServer, serve
from harness_toxiproxy._http import MAX_BODY

TEXT = "text/plain; charset=utf-8"
LOOPBACK = "must be a loopback address (127.0.0.1, ::1 or localhost)"


def assert_go_error(response: httpx.Response, status: int, message: str) -> None:
    """Toxiproxy's error shape: ``http.Error`` with ``{"error": ..., "status": ...}``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == TEXT
    assert response.json() == {"error": message, "status": status}


# ----------------------------------------------------------------------------- options
@pytest.mark.parametrize("port", [-1, 65536, 10**30])
def test_port_out_of_range_is_an_input_error(port: int) -> None:
    with pytest.raises(InputError, match=r"port \(--port\) must be between 0 and 65535"):
        serve(port=port)
    with pytest.raises(InputError, match=str(port)):
        EmbeddedToxiproxy(port=port)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com"])
def test_non_loopback_host_is_refused_like_the_vendor(host: str) -> None:
    with pytest.raises(InputError) as caught:
        ToxiproxyServer(host, 0)
    assert f"embedded Toxiproxy host (--host) {LOOPBACK}" in str(caught.value)
    assert repr(host) in str(caught.value)


def test_cli_reports_bad_options_with_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: pytest.TempPathFactory
) -> None:
    assert main(["toxiproxy", "serve", "--port", "-1"]) == 2
    assert main(["toxiproxy", "serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    missing = f"{tmp_path}/nope.json"
    assert main(["toxiproxy", "serve", "--port", "0", "--config", missing]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "Invalid value for '--port'" in err
    assert f"error: embedded Toxiproxy host (--host) {LOOPBACK}" in err
    assert f"error: Toxiproxy config file {missing!r} (--config) cannot be read" in err


# ----------------------------------------------------------------------------- loopback
@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize("listen", ["0.0.0.0:0", "[::]:0", "10.1.2.3:0", "example.com:0"])
def test_creating_a_proxy_off_loopback_is_a_400(
    api: httpx.Client, listen: str, enabled: bool
) -> None:
    body = {"name": "p", "upstream": "127.0.0.1:9", "listen": listen, "enabled": enabled}
    response = api.post("/proxies", json=body)
    host = listen.rsplit(":", 1)[0].strip("[]")
    assert_go_error(
        response,
        400,
        f"listen tcp {listen}: proxy listen address {LOOPBACK}: the harness never listens "
        f"outside this machine; got {host!r}",
    )
    assert api.get("/proxies").json() == {}


@pytest.mark.parametrize("listen", ["", ":0", "127.0.0.1:0", "127.1.2.3:0", "localhost:0"])
def test_loopback_and_default_listen_addresses_are_accepted(api: httpx.Client, listen: str) -> None:
    response = api.post("/proxies", json={"name": "p", "upstream": "127.0.0.1:9", "listen": listen})
    assert response.status_code == 201, response.text
    assert response.json()["listen"].startswith("127.")


def test_moving_a_proxy_off_loopback_is_a_400_and_leaves_it_alone(api: httpx.Client) -> None:
    created = api.post("/proxies", json={"name": "p", "upstream": "127.0.0.1:9"}).json()
    response = api.post("/proxies/p", json={"listen": "0.0.0.0:0"})
    assert response.status_code == 400
    assert "proxy listen address must be a loopback address" in response.json()["error"]
    assert api.get("/proxies/p").json() == created


def test_populate_stops_at_a_non_loopback_listen(api: httpx.Client) -> None:
    response = populate_three(api, second_listen="0.0.0.0:0")
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400
    assert "proxy listen address must be a loopback address" in body["error"]
    assert [p["name"] for p in body["proxies"]] == ["one"]


# ----------------------------------------------------------------------------- hostile bodies
@pytest.mark.parametrize("path", ["/proxies", "/populate"])
def test_nesting_within_gos_limit_is_a_type_error_not_a_500(api: httpx.Client, path: str) -> None:
    deep = b"[" * 5000 + b"]" * 5000
    body = b'{"name":' + deep + b"}" if path == "/proxies" else b"[{" + b'"name":' + deep + b"}]"
    response = api.post(path, content=body)
    assert response.status_code == 400
    field = "Proxy.name" if path == "/proxies" else ".name"
    assert response.json()["error"] == (
        f"bad request body: json: cannot unmarshal array into Go struct field {field} "
        "of type string"
    )


def test_nesting_beyond_gos_limit_is_gos_syntax_error(api: httpx.Client) -> None:
    api.post("/proxies", json={"name": "p", "upstream": "127.0.0.1:9"})
    for path in ("/proxies", "/populate", "/proxies/p/toxics", "/proxies/p"):
        response = api.post(path, content=b"[" * 10_001 + b"]" * 10_001)
        message = "bad request body: invalid character '[' exceeded max depth"
        if path == "/populate":  # populate answers application/json, with "proxies"
            assert response.status_code == 400
            assert response.json() == {"error": message, "status": 400, "proxies": None}
        else:
            assert_go_error(response, 400, message)


def test_a_body_over_the_limit_is_a_413_and_the_server_goes_on(api: httpx.Client) -> None:
    response = api.post("/proxies", content=b" " * (MAX_BODY + 1))
    assert response.status_code == 413
    chunked = api.post("/proxies", content=iter([b"[" * 65536] * (MAX_BODY // 65536 + 1)))
    assert chunked.status_code == 413
    ok = api.post("/proxies", content=json.dumps({"name": "p", "upstream": "127.0.0.1:9"}))
    assert ok.status_code == 201


def test_a_body_at_the_limit_is_read(api: httpx.Client) -> None:
    body = json.dumps({"name": "p", "upstream": "127.0.0.1:9"}).encode()
    response = api.post("/proxies", content=body + b" " * (MAX_BODY - len(body)))
    assert response.status_code == 201


def test_an_unparsable_absolute_target_is_a_400(toxiproxy: EmbeddedToxiproxy) -> None:
    with socket.create_connection((toxiproxy.host, toxiproxy.port), timeout=5) as sock:
        sock.sendall(b"GET http://[/proxies HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 400 Bad Request")
