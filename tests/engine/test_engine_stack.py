"""Starting a scenario's upstreams and proxies (``harness.run.stack``): in order, closed in
reverse whatever happens, proxies rewriting the URL clients use."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.errors import InfrastructureError, InputError, PluginError
from harness.plugin import urlbackend
from harness.plugin.hookspecs import hookimpl
from harness.plugin.manager import PluginManager
from harness.plugin.types import Endpoint, FaultBackend, RunContext
from harness.run.stack import Stack, _through
from harness.scenario.loader import parse_scenario
from harness.scenario.model import ProxySpec, UpstreamSpec


@dataclass
class FakeServers:
    """Starts fake upstreams (``box``) and proxies (``tcp``); records starts and closes."""

    events: list[str] = field(default_factory=list)
    fail_start: dict[str, BaseException] = field(default_factory=dict)
    fail_close: dict[str, BaseException] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=lambda: {"primary": 7001, "backup": 7002})

    @hookimpl
    def harness_fault_backends(self) -> list[FaultBackend]:
        return [Box(self), Tcp(self), Silent()]

    def starting(self, name: str, event: str) -> None:
        """``name`` starts (``event`` in the log), unless the test made it fail."""
        if name in self.fail_start:
            raise self.fail_start[name]
        self.events.append(event)

    def closer(self, name: str) -> Any:
        def close() -> None:
            self.events.append(f"close {name}")
            if name in self.fail_close:
                raise self.fail_close[name]

        return close


class _Backend(FaultBackend):
    """A backend of the :class:`FakeServers` plugin: its starts and closes go to their log."""

    def __init__(self, servers: FakeServers) -> None:
        self.servers = servers


class Box(_Backend):
    name = "box"
    kinds = frozenset({"http_status"})
    where = "upstream"

    def start_upstream(self, upstream: UpstreamSpec, run: RunContext) -> Endpoint:
        self.servers.starting(upstream.name, f"start {upstream.name}")
        port = self.servers.ports[upstream.name]
        return self.endpoint(
            upstream,
            url=f"http://127.0.0.1:{port}/v1",
            address=f"127.0.0.1:{port}",
            close=self.servers.closer(upstream.name),
        )


class Tcp(_Backend):
    name = "tcp"
    kinds = frozenset({"down"})
    where = "proxy"

    def start_proxy(self, proxy: ProxySpec, upstream: str, run: RunContext) -> Endpoint:
        self.servers.starting(proxy.name, f"proxy {proxy.name} -> {upstream}")
        return self.endpoint(
            proxy, address="127.0.0.1:9" + upstream[-3:], close=self.servers.closer(proxy.name)
        )


class Silent(FaultBackend):
    """A backend whose start returns nothing (a plugin bug)."""

    name = "silent"
    kinds = frozenset()
    where = "upstream"

    def start_upstream(self, upstream: UpstreamSpec, run: RunContext) -> Endpoint:
        return None  # type: ignore[return-value]


ALL_CLOSED = [
    "close real_net",
    "close db_net",
    "close primary_net",
    "close backup",
    "close primary",
]
SCENARIO = """\
name: stack
target: {url: 'http://127.0.0.1:8000'}
upstreams:
  - {name: primary, api: openai, backend: box}
  - {name: backup, api: anthropic, backend: box}
  - {name: real, api: openai, backend: url, url: 'https://api.example.com/v1/'}
proxies:
  - {name: primary_net, upstream: primary, backend: tcp}
  - {name: db_net, upstream: '127.0.0.1:5432', backend: tcp}
  - {name: real_net, upstream: real, backend: tcp}
phases: [{name: a, duration: 1s}]
"""


@pytest.fixture
def servers() -> FakeServers:
    return FakeServers()


@pytest.fixture
def pm(servers: FakeServers) -> PluginManager:
    manager = PluginManager()
    manager.add(urlbackend, "url")
    manager.add(servers, "fakes")
    manager.check()
    return manager


@pytest.fixture
def run(tmp_path: Path) -> RunContext:
    return RunContext(run_id="r", seed=1, report_dir=tmp_path)


def _stack(pm: PluginManager, run: RunContext, text: str = SCENARIO) -> Stack:
    return Stack(parse_scenario(text), pm, run)


def test_starts_in_order_and_closes_in_reverse(
    pm: PluginManager, run: RunContext, servers: FakeServers
) -> None:
    with _stack(pm, run) as stack:
        assert servers.events == [
            "start primary",
            "start backup",
            "proxy primary_net -> 127.0.0.1:7001",
            "proxy db_net -> 127.0.0.1:5432",
            "proxy real_net -> api.example.com:443",
        ]
        assert list(run.endpoints) == [
            "primary",
            "backup",
            "real",
            "primary_net",
            "db_net",
            "real_net",
        ]
        assert stack.run is run
    assert servers.events[5:] == [
        "close real_net",
        "close db_net",
        "close primary_net",
        "close backup",
        "close primary",
    ]
    assert run.endpoints == {}


def test_proxies_rewrite_the_url_clients_use(pm: PluginManager, run: RunContext) -> None:
    with _stack(pm, run) as stack:
        endpoints = stack.run.endpoints
        net = endpoints["primary_net"]
        assert (net.url, net.address, net.api) == (
            "http://127.0.0.1:9001/v1",
            "127.0.0.1:9001",
            "openai",
        )
        # in front of a real vendor: the url goes through the proxy, path kept
        assert endpoints["real_net"].url == "http://127.0.0.1:9443/v1"
        assert endpoints["real"].url == "https://api.example.com/v1"
        assert endpoints["real"].address == "api.example.com:443"
        # in front of a bare host:port nothing is known about its URL
        assert endpoints["db_net"].url is None and endpoints["db_net"].api is None


@pytest.mark.parametrize(
    ("url", "address", "expected"),
    [
        ("http://127.0.0.1:5000/v1", "127.0.0.1:6000", "http://127.0.0.1:6000/v1"),
        ("https://api.openai.com/v1?x=1#f", "127.0.0.1:6000", "http://127.0.0.1:6000/v1?x=1#f"),
        ("http://h:1", "127.0.0.1:2", "http://127.0.0.1:2"),
        (None, "127.0.0.1:2", None),
        ("http://h:1", None, None),
    ],
)
def test_through(url: str | None, address: str | None, expected: str | None) -> None:
    assert _through(url, address) == expected


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://vendor.example", "vendor.example:80"),
        ("https://vendor.example", "vendor.example:443"),
        ("http://127.0.0.1:8080/v1", "127.0.0.1:8080"),
        ("http://[::1]:8080/v1", "[::1]:8080"),
    ],
)
def test_a_real_upstream_is_reached_at_its_host_and_port(
    pm: PluginManager, run: RunContext, url: str, address: str
) -> None:
    text = (
        "name: u\ntarget: {url: 'http://127.0.0.1:1'}\n"
        f"upstreams: [{{name: real, backend: url, url: '{url}'}}]\n"
        "phases: [{name: a, duration: 1s}]\n"
    )
    with _stack(pm, run, text):
        assert run.endpoints["real"].address == address
        assert run.endpoints["real"].backend == "url"


@pytest.mark.parametrize(
    ("failing", "error", "expected", "closed"),
    [
        (
            "backup",
            InfrastructureError("port taken", "free it"),
            InfrastructureError,
            ["close primary"],
        ),
        (
            "backup",
            OSError(98, "Address already in use"),
            InfrastructureError,
            ["close primary"],
        ),
        (
            "real_net",
            RuntimeError("plugin bug"),
            PluginError,
            ["close db_net", "close primary_net", "close backup", "close primary"],
        ),
        (
            "primary_net",
            OSError(98, "Address already in use"),
            InfrastructureError,
            ["close backup", "close primary"],
        ),
    ],
)
def test_a_later_start_failing_closes_what_started_in_reverse(
    pm: PluginManager,
    run: RunContext,
    servers: FakeServers,
    failing: str,
    error: BaseException,
    expected: type[Exception],
    closed: list[str],
) -> None:
    servers.fail_start[failing] = error
    stack = _stack(pm, run)
    with pytest.raises(expected) as info:
        stack.start()
    assert [e for e in servers.events if e.startswith("close")] == closed
    assert run.endpoints == {}
    text = str(info.value)
    if isinstance(error, OSError):
        role = "proxy" if failing.endswith("_net") else "upstream"
        backend = "tcp" if role == "proxy" else "box"
        assert text == (
            f"{role} {failing!r} ({backend}) could not start: [Errno 98] Address already in use\n"
            "  fix: check that 127.0.0.1 has free ports and nothing else holds the port"
        )
    elif isinstance(error, RuntimeError):
        assert text == (
            "proxy 'real_net': plugin 'fakes' failed to start it: RuntimeError('plugin bug')"
        )


def test_ctrl_c_while_starting_closes_what_started(
    pm: PluginManager, run: RunContext, servers: FakeServers
) -> None:
    servers.fail_start["backup"] = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        _stack(pm, run).start()
    assert servers.events == ["start primary", "close primary"]


def test_an_error_inside_the_block_closes_everything(
    pm: PluginManager, run: RunContext, servers: FakeServers
) -> None:
    with pytest.raises(ValueError, match="driver broke"), _stack(pm, run):
        raise ValueError("driver broke")
    assert servers.events[-5:] == ALL_CLOSED


def test_close_failures_still_close_the_rest_then_report(
    pm: PluginManager, run: RunContext, servers: FakeServers
) -> None:
    servers.fail_close["primary_net"] = RuntimeError("stuck")
    stack = _stack(pm, run)
    stack.start()
    with pytest.raises(InfrastructureError) as info:
        stack.close()
    assert str(info.value) == "could not stop everything cleanly: stuck"
    assert servers.events[-5:] == ALL_CLOSED
    assert run.endpoints == {}


def test_a_close_failure_after_an_error_does_not_hide_the_error(
    pm: PluginManager, run: RunContext, servers: FakeServers
) -> None:
    servers.fail_close["primary"] = RuntimeError("stuck")
    with pytest.raises(ValueError, match="first problem") as info, _stack(pm, run):
        raise ValueError("first problem")
    assert info.value.__notes__ == ["could not stop everything cleanly: stuck"]
    assert servers.events[-5:] == ALL_CLOSED


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        (
            "upstreams: [{name: p, backend: nowhere}]\n",
            PluginError,
            "no plugin provides the backend 'nowhere'; loaded: box, silent, tcp, url",
        ),
        (
            "upstreams: [{name: p, backend: silent}]\n",
            PluginError,
            "upstream 'p': plugin 'fakes' returned None, not an Endpoint",
        ),
        (
            "upstreams: [{name: primary, backend: box}]\n"
            "proxies: [{name: n, upstream: primary, backend: silent}]\n",
            PluginError,
            "backend 'silent' does not serve proxies",
        ),
    ],
)
def test_missing_or_silent_backends(
    pm: PluginManager,
    run: RunContext,
    servers: FakeServers,
    text: str,
    error: type[Exception],
    message: str,
) -> None:
    scenario = (
        "name: s\ntarget: {url: 'http://127.0.0.1:1'}\n"
        + text
        + "phases: [{name: a, duration: 1s}]\n"
    )
    with pytest.raises(error) as info:
        _stack(pm, run, scenario).start()
    assert str(info.value) == message
    assert [e for e in servers.events if e.startswith("start")] == [
        e.replace("close", "start") for e in servers.events if e.startswith("close")
    ]


def test_a_proxy_needs_an_upstream_with_a_tcp_address(
    pm: PluginManager, run: RunContext, servers: FakeServers
) -> None:
    class InProcess(FaultBackend):
        name = "in_process"
        kinds = frozenset()
        where = "upstream"

        def start_upstream(self, upstream: UpstreamSpec, run: RunContext) -> Endpoint:
            return self.endpoint(upstream, url="https://x.invalid/v1")

    class NoAddress:
        @hookimpl
        def harness_fault_backends(self) -> list[FaultBackend]:
            return [InProcess()]

    pm.add(NoAddress(), "no_address")
    pm.check()
    text = (
        "name: s\ntarget: {url: 'http://127.0.0.1:1'}\n"
        "upstreams: [{name: mock, backend: in_process}]\n"
        "proxies: [{name: net, upstream: mock, backend: tcp}]\nphases: [{name: a, duration: 1s}]\n"
    )
    with pytest.raises(InfrastructureError) as info:
        _stack(pm, run, text).start()
    assert str(info.value) == (
        "proxy 'net': upstream 'mock' has no TCP address\n"
        "  fix: point the proxy at an upstream served over the network (not respx)"
    )
    assert run.endpoints == {}


def test_plugin_input_errors_pass_through(
    pm: PluginManager, run: RunContext, servers: FakeServers
) -> None:
    servers.fail_start["primary"] = InputError("bad option")
    with pytest.raises(InputError, match=r"^bad option$"):
        _stack(pm, run).start()
