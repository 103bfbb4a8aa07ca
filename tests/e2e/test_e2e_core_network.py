"""The resilient core against the fake vendor behind the embedded Toxiproxy, on real sockets and
real time: retries, deadline and fallback behave as specified; and a scenario's proxies go to
whatever Toxiproxy ``TOXIPROXY_URL`` points at."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from harness.core import (
    AnthropicProvider,
    BaseLLMWrapper,
    OpenAIProvider,
    RetryPolicy,
    StreamInterrupted,
    Timeout,
    Timeouts,
)
from harness_fake_vendor import FakeVendor
from harness_toxiproxy import EmbeddedToxiproxy, ToxiproxyClient

pytestmark = pytest.mark.anyio
KEY = "sk-e2e-network"


@pytest.fixture(scope="module")
def vendors() -> Iterator[tuple[FakeVendor, FakeVendor]]:
    with FakeVendor() as primary, FakeVendor() as backup:
        yield primary, backup


@pytest.fixture(scope="module")
def toxi() -> Iterator[ToxiproxyClient]:
    with EmbeddedToxiproxy() as server:
        yield ToxiproxyClient(server.url)


@pytest.fixture
def proxied(vendors: tuple[FakeVendor, FakeVendor], toxi: ToxiproxyClient) -> Iterator[str]:
    primary, _ = vendors
    info = toxi.create_proxy("primary_net", primary.url.removeprefix("http://"))
    try:
        yield f"http://{info.listen}/v1"
    finally:
        toxi.delete_proxy("primary_net")
        primary.control.reset(faults=True)


def chain(primary_url: str, backup: FakeVendor, **kwargs: object) -> BaseLLMWrapper:
    return BaseLLMWrapper(
        [
            OpenAIProvider(
                name="primary",
                base_url=primary_url,
                api_key=KEY,
                model="m",
                timeouts=kwargs.pop("timeouts", None),
            ),  # type: ignore[arg-type]
            AnthropicProvider(
                name="backup", base_url=backup.anthropic_base_url, api_key=KEY, model="c"
            ),
        ],
        **kwargs,  # type: ignore[arg-type]
    )


async def test_latency_beyond_the_deadline_falls_back_in_time(
    proxied: str, vendors: tuple[FakeVendor, FakeVendor], toxi: ToxiproxyClient
) -> None:
    _, backup = vendors
    toxi.add_toxic("primary_net", "latency", attributes={"latency": 2000})
    llm = chain(
        proxied, backup, policy=RetryPolicy(deadline=3.0), timeouts=Timeouts(read=0.5, connect=0.5)
    )
    events: list[object] = []
    llm.subscribe(events.append)
    started = time.monotonic()
    answer = await llm.complete("hello")
    elapsed = time.monotonic() - started
    await llm.aclose()
    assert answer.provider == "backup"
    assert elapsed < 3.0  # the whole call kept its deadline
    failures = [e for e in events if type(e).__name__ == "AttemptFailed"]
    assert {e.error for e in failures} == {"Timeout"}


async def test_reset_peer_is_a_connect_error_retried_then_served_by_the_backup(
    proxied: str, vendors: tuple[FakeVendor, FakeVendor], toxi: ToxiproxyClient
) -> None:
    _, backup = vendors
    toxi.add_toxic("primary_net", "reset_peer", attributes={"timeout": 0})
    llm = chain(proxied, backup, policy=RetryPolicy(max_attempts=3, initial_delay=0.05))
    events: list[object] = []
    llm.subscribe(events.append)
    answer = await llm.complete("hello")
    await llm.aclose()
    assert answer.provider == "backup"
    assert answer.attempts_by_provider["primary"] == 3
    errors = [e.error for e in events if type(e).__name__ == "AttemptFailed"]
    assert errors == ["ConnectError"] * 3


async def test_the_deadline_bounds_a_call_with_no_backup(
    proxied: str, toxi: ToxiproxyClient
) -> None:
    toxi.add_toxic("primary_net", "timeout", attributes={"timeout": 0})  # hold, never answer
    llm = BaseLLMWrapper(
        OpenAIProvider(base_url=proxied, api_key=KEY, model="m"), policy=RetryPolicy(deadline=1.0)
    )
    started = time.monotonic()
    with pytest.raises(Exception) as info:  # DeadlineExceeded or AllProvidersFailed(Timeout)
        await llm.complete("hello")
    elapsed = time.monotonic() - started
    await llm.aclose()
    assert 0.9 <= elapsed < 1.5
    assert "deadline" in str(info.value).lower() or isinstance(
        getattr(info.value, "last", None), Timeout
    )


async def test_first_token_timeout_retries_and_a_stall_interrupts(
    vendors: tuple[FakeVendor, FakeVendor],
) -> None:
    primary, backup = vendors
    primary.control.reset(faults=True)
    primary.control.add_fault({"kind": "first_token_delay", "delay": 2.0, "first": 1})
    llm = chain(
        primary.openai_base_url,
        backup,
        timeouts=Timeouts(first_token=0.3, stall=0.3),
        policy=RetryPolicy(initial_delay=0.05),
    )
    stream = llm.stream("tell me a long story please")
    assert "".join([c async for c in stream]).startswith("echo:")
    assert stream.provider == "primary"
    assert stream.attempts == 2  # the first one timed out before its first token
    primary.control.add_fault({"kind": "stream_stall", "after_events": 3, "stall": 2.0, "first": 1})
    received = []
    with pytest.raises(StreamInterrupted) as info:
        async for chunk in llm.stream("tell me a long story please"):
            received.append(chunk)
    assert info.value.partial_text == "".join(received)
    assert received  # the caller keeps what it got; nothing is re-sent
    await llm.aclose()
    primary.control.reset(faults=True)


def test_a_scenario_uses_the_toxiproxy_at_toxiproxy_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    import threading
    from pathlib import Path

    from harness.engine import get_plugin_manager, parse_scenario
    from harness.run.session import RunOptions, run_scenario

    scenario = parse_scenario(
        """
name: external toxiproxy
target: {core: llm}
upstreams: [{name: primary, api: openai}]
proxies: [{name: primary_net, upstream: primary}]
load: {users: 2}
phases:
  - name: slow
    duration: 1s
    faults: [{kind: latency, target: primary_net, latency: 20ms}]
sla: [availability >= 99%]
"""
    )
    seen: set[str] = set()
    with EmbeddedToxiproxy() as external:
        monkeypatch.setenv("TOXIPROXY_URL", external.url)
        client = ToxiproxyClient(external.url)
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                seen.update(client.proxies())
                done.wait(0.05)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            report = run_scenario(
                scenario,
                get_plugin_manager(),
                RunOptions(report_dir=Path(str(tmp_path)), reporters=[]),
            )
        finally:
            done.set()
            watcher.join()
        assert client.proxies() == {}  # the run removed what it created there
    assert "primary_net" in seen
    assert report.held
    assert report.phases[0].faults[0].fired  # counted by that server
