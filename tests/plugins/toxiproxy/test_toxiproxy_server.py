"""Starting and stopping the server: in a thread, on a loop, and as a CLI process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from toxiproxy_support import Helpers, TcpServer

from harness.errors import InfrastructureError, InputError
from harness_toxiproxy import EmbeddedToxiproxy, ToxiproxyClient, ToxiproxyServer

Connect = Callable[..., socket.socket]


def refused(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_stop_closes_every_listener_and_connection(
    echo_server: TcpServer, helpers: type[Helpers]
) -> None:
    server = EmbeddedToxiproxy().start()
    try:
        client = ToxiproxyClient(server.url)
        listen = client.create_proxy("echo", echo_server.address).listen
        client.add_toxic("echo", "latency", attributes={"latency": 20})
        host, port = listen.rsplit(":", 1)
        sock = socket.create_connection((host, int(port)), timeout=5)
        with sock:
            helpers.round_trip(sock)
            api_port = server.port
            server.stop()
            assert not server.running
            helpers.assert_closed(sock)
        assert refused("127.0.0.1", api_port)
        assert refused(host, int(port))
    finally:
        server.stop()
    server.stop()  # idempotent


def test_context_manager_and_repr() -> None:
    with EmbeddedToxiproxy() as server:
        assert server.running
        assert server.host == "127.0.0.1"
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert "running" in repr(server)
        assert ToxiproxyClient(server.url).version() == "2.12.0"
    assert "stopped" in repr(server)


def test_restart_after_stop() -> None:
    server = EmbeddedToxiproxy()
    try:
        server.start()
        ToxiproxyClient(server.url).create_proxy("p", "127.0.0.1:9", enabled=False)
        server.stop()
        server.start()
        assert ToxiproxyClient(server.url).proxies() == {}
    finally:
        server.stop()


def test_port_in_use_is_an_infrastructure_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(InfrastructureError) as info:
            EmbeddedToxiproxy(port=port).start()
    assert f"could not listen on http://127.0.0.1:{port}" in str(info.value)
    assert "port=0" in info.value.fix


def test_config_file_populates_like_dash_config(tmp_path: Path, echo_server: TcpServer) -> None:
    config = tmp_path / "proxies.json"
    config.write_text(
        json.dumps(
            [
                {"name": "a", "upstream": echo_server.address, "listen": "127.0.0.1:0"},
                {"name": "b", "upstream": echo_server.address, "enabled": False},
            ]
        )
    )
    with EmbeddedToxiproxy(config_path=config) as server:
        proxies = ToxiproxyClient(server.url).proxies()
    assert sorted(proxies) == ["a", "b"]
    assert proxies["a"].enabled
    assert not proxies["b"].enabled


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot be read: No such file or directory"),
        ("{not json", "bad request body: invalid character 'n' looking for beginning of object"),
        ('[{"name": "x"}]', "missing required field: upstream at proxy 1"),
        (
            '[{"name": "x", "upstream": "127.0.0.1:9", "listen": "0.0.0.0:0"}]',
            "proxy listen address must be a loopback address",
        ),
    ],
)
def test_bad_config_is_an_input_error_naming_the_file(
    tmp_path: Path, content: str | None, problem: str
) -> None:
    # Real Toxiproxy only logs a bad -config; a harness run would then go on without its
    # proxies and report a false "resilient". (Failed before: the server started empty.)
    config = tmp_path / "proxies.json"
    if content is not None:
        config.write_text(content)
    server = EmbeddedToxiproxy(config_path=config)
    with pytest.raises(InputError) as caught:
        server.start()
    message = str(caught.value)
    assert str(config) in message
    assert "--config" in message
    assert problem in message
    assert "expected a JSON array of proxies" in message
    assert not server.running


def test_a_config_that_fails_halfway_says_how_far_it_got(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        config = tmp_path / "proxies.json"
        config.write_text(
            json.dumps(
                [
                    {"name": "ok", "upstream": "127.0.0.1:9", "listen": "127.0.0.1:0"},
                    {"name": "taken", "upstream": "127.0.0.1:9", "listen": f"127.0.0.1:{port}"},
                ]
            )
        )
        with pytest.raises(InputError, match="after 1 of its proxies were created"):
            EmbeddedToxiproxy(config_path=config).start()


def test_two_servers_side_by_side() -> None:
    with EmbeddedToxiproxy() as one, EmbeddedToxiproxy() as two:
        assert one.port != two.port
        ToxiproxyClient(one.url).create_proxy("only-one", "127.0.0.1:9", enabled=False)
        assert ToxiproxyClient(two.url).proxies() == {}


@pytest.mark.anyio
async def test_async_server_on_the_running_loop(echo_server: TcpServer) -> None:
    async with (
        ToxiproxyServer("127.0.0.1", 0) as server,
        httpx.AsyncClient(base_url=server.url, timeout=5, trust_env=False) as api,
    ):
        created = await api.post("/proxies", json={"name": "e", "upstream": echo_server.address})
        assert created.status_code == 201
        assert list(server.collection.proxies) == ["e"]
        host, port = created.json()["listen"].rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"ping"
        writer.close()
        await writer.wait_closed()


def _serve_process(tmp_path: Path, echo_address: str) -> subprocess.Popen[str]:
    config = tmp_path / "proxies.json"
    config.write_text(json.dumps([{"name": "cfg", "upstream": echo_address}]))
    code = (
        "import sys; from harness_toxiproxy import serve; "
        f"serve(host='127.0.0.1', port=0, config_path={str(config)!r})"
    )
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_loads_config_and_stops_on_signal(
    tmp_path: Path, echo_server: TcpServer, signum: signal.Signals
) -> None:
    proc = _serve_process(tmp_path, echo_server.address)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        prefix = "toxiproxy listening on http://127.0.0.1:"
        assert line.startswith(prefix), (line, proc.stderr.read() if proc.stderr else "")
        client = ToxiproxyClient(line.removeprefix("toxiproxy listening on "))
        assert list(client.proxies()) == ["cfg"]
        proc.send_signal(signum)
        assert proc.wait(10) == 0
        assert proc.stderr is not None
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_serve_on_a_taken_port_raises(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code = f"from harness_toxiproxy import serve; serve(port={port})"
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
        )
    assert result.returncode != 0
    assert "InfrastructureError" in result.stderr
    assert f"could not listen on http://127.0.0.1:{port}" in result.stderr


def test_package_import_is_lazy_and_exports_resolve() -> None:
    code = (
        "import sys, harness_toxiproxy as h\n"
        "assert 'harness_toxiproxy._server' not in sys.modules, sorted(sys.modules)\n"
        "assert 'toxiproxy' not in sys.modules\n"
        "for name in h.__all__: getattr(h, name)\n"
        "assert sorted(h.TOXIC_TYPE_NAMES) == ['bandwidth', 'latency', 'limit_data', 'noop',"
        " 'reset_peer', 'slicer', 'slow_close', 'timeout']\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
