"""The safe client wrapper, and the raw ``toxiproxy-python`` library, against the server."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import toxiproxy as toxiproxy_lib
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists
from toxiproxy_support import Helpers, TcpServer

from harness.errors import FaultInjectionError, InfrastructureError, InputError
from harness_toxiproxy import (
    EmbeddedToxiproxy,
    ProxyInfo,
    ToxicInfo,
    ToxiproxyClient,
    resolve_toxiproxy,
)

Connect = Callable[..., socket.socket]


@pytest.fixture
def second_toxiproxy() -> Iterator[EmbeddedToxiproxy]:
    with EmbeddedToxiproxy() as server:  # started; stopped on exit
        yield server


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ----------------------------------------------------------------------------- happy paths
def test_every_method_round_trips(client: ToxiproxyClient, echo_server: TcpServer) -> None:
    assert client.version() == "2.12.0"
    assert client.is_reachable()
    assert client.proxies() == {}
    created = client.create_proxy("api", echo_server.address)
    assert isinstance(created, ProxyInfo)
    assert created.enabled
    assert created.listen_host == "127.0.0.1"
    assert created.listen_port > 0
    assert client.get_proxy("api") == created
    assert client.proxies() == {"api": created}

    toxic = client.add_toxic("api", "latency", attributes={"latency": 100})
    assert toxic == ToxicInfo(
        name="latency_downstream",
        type="latency",
        stream="downstream",
        toxicity=1.0,
        attributes={"latency": 100, "jitter": 0},
    )
    assert client.toxics("api") == [toxic]
    assert client.get_toxic("api", "latency_downstream") == toxic
    updated = client.update_toxic("api", "latency_downstream", toxicity=0.5)
    assert updated.toxicity == 0.5
    assert updated.attributes == {"latency": 100, "jitter": 0}
    assert client.get_proxy("api").toxics == (updated,)

    assert client.disable("api").enabled is False
    assert client.enable("api").enabled is True
    moved = client.update_proxy("api", upstream="127.0.0.1:9")
    assert moved.upstream == "127.0.0.1:9"

    client.remove_toxic("api", "latency_downstream")
    assert client.toxics("api") == []
    client.add_toxic("api", "timeout", stream="upstream", name="t", attributes={"timeout": 5})
    client.disable("api")
    client.reset()
    assert client.get_proxy("api").enabled is True
    assert client.toxics("api") == []

    populated = client.populate(
        [
            {"name": "api", "upstream": "127.0.0.1:9", "listen": moved.listen},
            {"name": "db", "upstream": "127.0.0.1:8"},
        ]
    )
    assert [p.name for p in populated] == ["api", "db"]
    client.delete_proxy("api")
    client.delete_proxy("api", missing_ok=True)
    client.remove_toxic("db", "nope", missing_ok=True)
    assert list(client.proxies()) == ["db"]


def test_added_toxic_really_applies(
    client: ToxiproxyClient, echo_server: TcpServer, connect: Connect, helpers: type[Helpers]
) -> None:
    listen = client.create_proxy("api", echo_server.address).listen
    client.add_toxic("api", "latency", attributes={"latency": 100})
    assert helpers.round_trip(connect(listen)) >= 0.09


def test_urls_accepted(toxiproxy: EmbeddedToxiproxy) -> None:
    for url in (
        toxiproxy.url,
        f"127.0.0.1:{toxiproxy.port}",
        f"http://127.0.0.1:{toxiproxy.port}/",
    ):
        assert ToxiproxyClient(url).version() == "2.12.0"
    assert ToxiproxyClient("http://127.0.0.1").port == 8474
    for bad in ("https://127.0.0.1:8474", "http://:80", "http://127.0.0.1:8474/api", "http://h:x"):
        with pytest.raises(InputError, match="invalid Toxiproxy URL"):
            ToxiproxyClient(bad)


# ----------------------------------------------------------------------------- failures
def test_failures_name_the_proxy_and_the_toxic(client: ToxiproxyClient) -> None:
    client.create_proxy("api", "127.0.0.1:9")
    client.add_toxic("api", "latency", name="slow")
    cases: list[tuple[Callable[[], object], str]] = [
        (
            lambda: client.add_toxic("api", "latency", name="slow"),
            "could not add toxic 'slow' (latency, downstream) to proxy 'api': "
            "HTTP 409: toxic already exists",
        ),
        (
            lambda: client.add_toxic("api", "nope", name="x"),
            "could not add toxic 'x' (nope, downstream) to proxy 'api': "
            "HTTP 400: invalid toxic type",
        ),
        (
            lambda: client.add_toxic("missing", "latency"),
            "could not add toxic 'latency_downstream' (latency, downstream) to proxy 'missing': "
            "HTTP 404: proxy not found",
        ),
        (
            lambda: client.update_toxic("api", "gone", attributes={"latency": 1}),
            "could not update toxic 'gone' of proxy 'api': HTTP 404: toxic not found",
        ),
        (
            lambda: client.remove_toxic("api", "gone"),
            "could not remove toxic 'gone' from proxy 'api': HTTP 404: toxic not found",
        ),
        (
            lambda: client.create_proxy("api", "127.0.0.1:9"),
            "could not create proxy 'api' (127.0.0.1:0 -> 127.0.0.1:9): "
            "HTTP 409: proxy already exists",
        ),
        (
            lambda: client.get_proxy("nope"),
            "could not read proxy 'nope': HTTP 404: proxy not found",
        ),
        (
            lambda: client.delete_proxy("nope"),
            "could not delete proxy 'nope': HTTP 404: proxy not found",
        ),
        (
            lambda: client.toxics("nope"),
            "could not list the toxics of proxy 'nope': HTTP 404: proxy not found",
        ),
    ]
    for call, message in cases:
        with pytest.raises(FaultInjectionError) as info:
            call()
        assert str(info.value) == message


def test_a_500_is_a_fault_error_not_a_key_error(client: ToxiproxyClient) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(FaultInjectionError) as info:
            client.create_proxy("api", "127.0.0.1:9", listen=f"127.0.0.1:{port}")
    assert str(info.value) == (
        f"could not create proxy 'api' (127.0.0.1:{port} -> 127.0.0.1:9): "
        f"HTTP 500: listen tcp 127.0.0.1:{port}: bind: address already in use"
    )
    with pytest.raises(FaultInjectionError, match="HTTP 500: address nocolon: missing port"):
        client.create_proxy("db", "127.0.0.1:9")
        client.update_proxy("db", listen="nocolon")


def test_unreachable_server_is_an_infrastructure_error(closed_port: int) -> None:
    client = ToxiproxyClient(f"http://127.0.0.1:{closed_port}", timeout=1.0)
    with pytest.raises(InfrastructureError) as info:
        client.add_toxic("api", "latency")
    assert "could not add toxic 'latency_downstream' (latency, downstream) to proxy 'api'" in str(
        info.value
    )
    assert "cannot be reached" in str(info.value)
    assert "TOXIPROXY_URL" in info.value.fix
    assert "EmbeddedToxiproxy" in info.value.fix
    assert not client.is_reachable()


def test_every_call_times_out(tcp_server: Callable[..., TcpServer]) -> None:
    def silent_handler(conn: socket.socket) -> None:
        while conn.recv(65536):  # reads the request, never answers
            pass

    silent = tcp_server(silent_handler)
    client = ToxiproxyClient(f"http://{silent.address}", timeout=0.3)
    start = time.perf_counter()
    with pytest.raises(InfrastructureError, match=r"did not answer within 0.3 s"):
        client.proxies()
    assert time.perf_counter() - start < 2.0


# ----------------------------------------------------------------------------- isolation
def test_two_clients_never_share_a_host(
    toxiproxy: EmbeddedToxiproxy, second_toxiproxy: EmbeddedToxiproxy
) -> None:
    global_before = (APIConsumer.host, APIConsumer.port)
    first = ToxiproxyClient(toxiproxy.url)
    second = ToxiproxyClient(second_toxiproxy.url)
    for i in range(5):
        first.create_proxy(f"a{i}", "127.0.0.1:9", enabled=False)
        second.create_proxy(f"b{i}", "127.0.0.1:9", enabled=False)
    assert sorted(first.proxies()) == [f"a{i}" for i in range(5)]
    assert sorted(second.proxies()) == [f"b{i}" for i in range(5)]
    # The library's process-wide default is neither read nor written.
    assert (APIConsumer.host, APIConsumer.port) == global_before


def test_clients_are_thread_safe(
    toxiproxy: EmbeddedToxiproxy, second_toxiproxy: EmbeddedToxiproxy
) -> None:
    clients = {"a": ToxiproxyClient(toxiproxy.url), "b": ToxiproxyClient(second_toxiproxy.url)}
    errors: list[BaseException] = []

    def work(prefix: str, worker: int) -> None:
        try:
            for i in range(10):
                clients[prefix].create_proxy(f"{prefix}{worker}-{i}", "127.0.0.1:9", enabled=False)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(p, w)) for p in "ab" for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(name.startswith("a") for name in clients["a"].proxies())
    assert all(name.startswith("b") for name in clients["b"].proxies())
    assert len(clients["a"].proxies()) == len(clients["b"].proxies()) == 40


def test_a_bogus_library_global_does_not_matter(client: ToxiproxyClient) -> None:
    saved = (APIConsumer.host, APIConsumer.port)
    APIConsumer.host, APIConsumer.port = "127.0.0.1", 1
    try:
        assert client.version() == "2.12.0"
    finally:
        APIConsumer.host, APIConsumer.port = saved


# ----------------------------------------------------------------------------- resolution
def scenario(handle_client: ToxiproxyClient, upstream: str) -> None:
    """The same harness code path, whatever server the client talks to."""
    proxy = handle_client.create_proxy("svc", upstream)
    handle_client.add_toxic("svc", "latency", attributes={"latency": 10})
    assert [t.name for t in handle_client.toxics("svc")] == ["latency_downstream"]
    handle_client.reset()
    handle_client.delete_proxy(proxy.name)
    assert handle_client.proxies() == {}


def test_resolve_uses_toxiproxy_url_when_set(
    second_toxiproxy: EmbeddedToxiproxy, echo_server: TcpServer
) -> None:
    with resolve_toxiproxy({"TOXIPROXY_URL": second_toxiproxy.url}) as handle:
        assert handle.embedded is None
        assert handle.url == second_toxiproxy.url
        handle.client.create_proxy("seen", "127.0.0.1:9", enabled=False)
        assert "seen" in ToxiproxyClient(second_toxiproxy.url).proxies()
        handle.client.delete_proxy("seen")
        scenario(handle.client, echo_server.address)
    # Closing the handle leaves an external server running.
    assert ToxiproxyClient(second_toxiproxy.url).is_reachable()


def test_resolve_starts_and_stops_an_embedded_server(echo_server: TcpServer) -> None:
    with resolve_toxiproxy({}) as handle:
        assert handle.embedded is not None
        assert handle.embedded.running
        url = handle.url
        scenario(handle.client, echo_server.address)
    assert not ToxiproxyClient(url, timeout=1.0).is_reachable()


def test_resolve_reports_a_dead_toxiproxy_url(closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    with pytest.raises(InfrastructureError) as info:
        resolve_toxiproxy({"TOXIPROXY_URL": url}, timeout=1.0)
    assert f"TOXIPROXY_URL={url} is set but" in str(info.value)
    assert "unset it to use the embedded server" in info.value.fix


def test_resolve_reads_the_real_environment(
    monkeypatch: pytest.MonkeyPatch, second_toxiproxy: EmbeddedToxiproxy
) -> None:
    monkeypatch.setenv("TOXIPROXY_URL", second_toxiproxy.url)
    with resolve_toxiproxy() as handle:
        assert handle.embedded is None
        assert handle.client.version() == "2.12.0"


# ----------------------------------------------------------------------------- raw library
@pytest.fixture
def library(
    toxiproxy: EmbeddedToxiproxy, monkeypatch: pytest.MonkeyPatch
) -> Iterator[toxiproxy_lib.Toxiproxy]:
    """toxiproxy-python as its README uses it (global host), restored afterwards."""
    for variable in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)  # the library has no way around them
    saved = (APIConsumer.host, APIConsumer.port)
    server = toxiproxy_lib.Toxiproxy()
    server.update_api_consumer(toxiproxy.host, toxiproxy.port)
    try:
        yield server
    finally:
        APIConsumer.host, APIConsumer.port = saved


def test_raw_library_against_the_embedded_server(
    library: toxiproxy_lib.Toxiproxy,
    echo_server: TcpServer,
    connect: Connect,
    helpers: type[Helpers],
) -> None:
    assert library.running()
    assert library.version() == b'{"version": "2.12.0"}\n'
    proxy = library.create(upstream=echo_server.address, name="lib")
    assert proxy.enabled is True
    assert proxy.listen.startswith("127.0.0.1:")
    assert list(library.proxies()) == ["lib"]
    with pytest.raises(ProxyExists):
        library.create(upstream=echo_server.address, name="lib")

    proxy.add_toxic(type="latency", attributes={"latency": 120})
    toxics = proxy.toxics()
    assert list(toxics) == ["latency_downstream"]
    assert toxics["latency_downstream"].attributes == {"latency": 120, "jitter": 0}
    sock = connect(proxy.listen)
    assert helpers.round_trip(sock) >= 0.108
    assert proxy.destroy_toxic("latency_downstream") is True
    assert helpers.round_trip(sock) < 0.120  # never early: 120 ms or more is the toxic

    with proxy.down():
        host, port = proxy.listen.rsplit(":", 1)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, int(port)), timeout=2).close()
        assert library.get_proxy("lib").enabled is False
    assert library.get_proxy("lib").enabled is True

    proxy.add_toxic(type="timeout", stream="upstream", attributes={"timeout": 100})
    assert library.reset() is True
    assert library.get_proxy("lib").toxics() == {}

    populated = library.populate(
        [{"name": "other", "upstream": echo_server.address, "listen": "127.0.0.1:0"}]
    )
    assert [p.name for p in populated] == ["other"]
    with pytest.raises(NotFound):
        toxiproxy_lib.Proxy(name="ghost", upstream="x", enabled=True, listen="x").toxics()
    assert library.destroy(proxy) is True
    library.destroy_all()
    assert library.proxies() == {}


def _go_error(message: str, status: int) -> bytes:
    return json.dumps({"error": message, "status": status}, separators=(",", ":")).encode() + b"\n"


def test_the_library_sees_go_bodies_byte_for_byte(
    library: toxiproxy_lib.Toxiproxy, echo_server: TcpServer
) -> None:
    """Every route toxiproxy-python can call, through its own HTTP layer (``APIConsumer``):
    the bodies it hands to its caller, and carries in its exceptions, are Toxiproxy's."""
    proxy = library.create(upstream=echo_server.address, name="p", listen="127.0.0.1:0")
    listen = proxy.listen
    shown = APIConsumer.get("/proxies/p").content
    assert shown == (
        b'{"name":"p","listen":"'
        + listen.encode()
        + b'","upstream":"'
        + echo_server.address.encode()
        + b'","enabled":true,"Logger":{},"toxics":[]}'
    )
    assert APIConsumer.get("/proxies").json() == {"p": json.loads(shown)}
    assert APIConsumer.get("/version").content == b'{"version": "2.12.0"}\n'

    created = APIConsumer.post(
        "/proxies/p/toxics", json={"type": "latency", "attributes": {"latency": 5}}
    )
    assert created.status_code == 200
    assert created.content == (
        b'{"attributes":{"latency":5,"jitter":0},"name":"latency_downstream",'
        b'"type":"latency","stream":"downstream","toxicity":1}'
    )
    assert APIConsumer.get("/proxies/p/toxics").json() == [json.loads(created.content)]

    errors: list[tuple[Callable[[], object], type[Exception], bytes]] = [
        (  # library.create checks its own listing first; the server's answer, raw:
            lambda: APIConsumer.post("/proxies", json={"name": "p", "upstream": "x:1"}),
            ProxyExists,
            _go_error("proxy already exists", 409),
        ),
        (
            lambda: APIConsumer.get("/proxies/ghost"),
            NotFound,
            _go_error("proxy not found", 404),
        ),
        (
            lambda: proxy.add_toxic(type="latency"),
            ProxyExists,
            _go_error("toxic already exists", 409),
        ),
        (
            lambda: proxy.add_toxic(type="earthquake"),
            InvalidToxic,
            _go_error("invalid toxic type", 400),
        ),
        (
            lambda: proxy.add_toxic(type="latency", name="x", stream="sideways"),
            InvalidToxic,
            _go_error("stream was invalid, can be either upstream or downstream", 400),
        ),
        (
            lambda: proxy.destroy_toxic("ghost"),
            NotFound,
            _go_error("toxic not found", 404),
        ),
        (
            lambda: APIConsumer.post("/populate", json=[{"name": "q"}]),
            InvalidToxic,  # the library maps every 400 to InvalidToxic
            b'{"error":"missing required field: upstream at proxy 1","status":400,'
            b'"proxies":null}',  # populate's own error shape, as Go writes it
        ),
    ]
    for call, kind, body in errors:
        with pytest.raises(kind) as info:
            call()
        assert info.value.args[0] == body

    assert APIConsumer.delete("/proxies/p/toxics/latency_downstream").status_code == 204
    assert APIConsumer.post("/reset").status_code == 204
    assert APIConsumer.delete("/proxies/p").status_code == 204
    assert APIConsumer.get("/proxies").content == b"{}"
