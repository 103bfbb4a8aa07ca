"""The core's own client sends completions straight to aiohttp: what goes on the wire, what comes
back, and the same answer as through httpx (a client passed in, or a mount), fault for fault."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from vendor_responses import until_queued

from harness.core import (
    AllProvidersFailed,
    AnthropicProvider,
    BaseLLMWrapper,
    BreakerConfig,
    DeadlineExceeded,
    HTTPTool,
    OpenAIProvider,
    PoolTimeout,
    Resilience,
    RetryPolicy,
    ServerError,
    Timeout,
    Timeouts,
    UpstreamError,
    mount,
    pooled_client,
)
from harness.core._transport import Admission, admission, direct_pool
from harness.core._watchdog import start_attempt_timer
from harness_fake_vendor import FakeVendor

pytestmark = pytest.mark.anyio

KEY = "sk-test-direct-0123456789"
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-test",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1},
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def vendor() -> Iterator[FakeVendor]:
    with FakeVendor() as server:
        yield server


Captured = list[tuple[str, dict[str, str], bytes]]


@asynccontextmanager
async def capture_server(
    answer: bytes = json.dumps(COMPLETION).encode(), *, delay: float = 0.0
) -> AsyncIterator[tuple[str, Captured, list[int]]]:
    """An HTTP/1.1 server on 127.0.0.1 that records each request and answers ``answer`` after
    ``delay`` seconds; ``connections[0]`` counts the connections it accepted."""
    seen: Captured = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections[0] += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                line, *fields = head.decode("latin-1").split("\r\n")[:-2]
                headers = {k.lower(): v.strip() for k, v in (f.split(":", 1) for f in fields)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                seen.append((line, headers, body))
                await asyncio.sleep(delay)
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(answer)}\r\n\r\n".encode()
                    + answer
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    connections = [0]
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1", seen, connections
    finally:
        server.close()
        await server.wait_closed()


# -- the wire format ------------------------------------------------------------------------------


async def test_the_direct_path_sends_what_httpx_sends() -> None:
    async with capture_server() as (base, seen, _):
        provider = OpenAIProvider(
            base_url=base, api_key=KEY, model="gpt-test", headers={"x-team": "search"}
        )
        async with BaseLLMWrapper(provider) as llm:
            assert direct_pool(llm.client()) is not None  # the core's own client: aiohttp
            direct = await llm.complete("héllo", temperature=0.5)
        async with httpx.AsyncClient() as client:
            through_httpx = await BaseLLMWrapper(provider, client=client).complete(
                "héllo", temperature=0.5
            )
    assert dataclasses.replace(direct, elapsed=0.0) == dataclasses.replace(
        through_httpx, elapsed=0.0
    )
    assert (direct.text, direct.usage.total_tokens) == ("hi", 4)
    (line_a, headers_a, body_a), (line_b, headers_b, body_b) = seen
    assert line_a == line_b == "POST /v1/chat/completions HTTP/1.1"
    assert body_a == body_b  # byte for byte: compact UTF-8 JSON
    assert json.loads(body_a) == {
        "model": "gpt-test",
        "messages": [{"role": "user", "content": "héllo"}],
        "temperature": 0.5,
    }
    for name in ("authorization", "content-type", "x-team", "host"):
        assert headers_a[name] == headers_b[name]
    assert headers_a["authorization"] == f"Bearer {KEY}"


async def test_the_anthropic_wire_format_on_the_direct_path() -> None:
    answer = {
        "model": "claude-test",
        "content": [{"type": "text", "text": "bonjour"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 4, "output_tokens": 2},
    }
    async with capture_server(json.dumps(answer).encode()) as (base, seen, _):
        provider = AnthropicProvider(base_url=base, api_key=KEY, model="claude-test")
        async with BaseLLMWrapper(provider) as llm:
            reply = await llm.complete(
                [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "hi"},
                ]
            )
    assert (reply.text, reply.finish_reason) == ("bonjour", "end_turn")
    ((line, headers, body),) = seen
    assert line == "POST /v1/messages HTTP/1.1"
    assert headers["x-api-key"] == KEY
    assert headers["anthropic-version"] == "2023-06-01"
    assert json.loads(body) == {
        "model": "claude-test",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "hi"}],
        "system": "be brief",
    }


async def test_a_nan_parameter_is_refused_before_anything_is_sent() -> None:
    async with capture_server() as (base, seen, _):
        provider = OpenAIProvider(base_url=base, api_key=KEY)
        async with BaseLLMWrapper(provider) as llm:
            with pytest.raises(ValueError, match="not JSON compliant"):
                await llm.complete("hi", temperature=float("nan"))
            assert (await llm.complete("hi")).text == "hi"  # its connection slot came back
    assert len(seen) == 1


# -- the same errors as through httpx, fault for fault ----------------------------------------------

FAULTS: list[dict[str, Any]] = [
    {"kind": "http_status", "status": 429, "retry_after": "2s"},
    {"kind": "http_status", "status": 429, "retry_after": "1500ms", "retry_after_format": "ms"},
    {"kind": "http_status", "status": 429, "error_code": "insufficient_quota"},
    {"kind": "http_status", "status": 503, "should_retry": False},
    {"kind": "http_status", "status": 401},
    {"kind": "http_status", "status": 400, "error_code": "context_length_exceeded"},
    {"kind": "empty_response"},
    {"kind": "connection_reset"},
]


def describe(error: BaseException) -> tuple[Any, ...]:
    assert isinstance(error, UpstreamError), error
    return (type(error), error.status, error.retry_after, error.should_retry, error.message)


async def first_error(llm: BaseLLMWrapper) -> BaseException:
    with pytest.raises((AllProvidersFailed, UpstreamError)) as caught:
        await llm.complete("hi")
    error = caught.value
    if isinstance(error, AllProvidersFailed):
        assert error.last is not None
        return error.last
    return error


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f"{f['kind']}-{f.get('status', '')}")
async def test_direct_and_httpx_paths_raise_the_same_error(
    vendor: FakeVendor, fault: dict[str, Any]
) -> None:
    vendor.control.add_fault(fault)
    provider = OpenAIProvider(base_url=vendor.openai_base_url, api_key=KEY, model="gpt-test")
    policy = RetryPolicy.no_retries(deadline=5.0)
    async with BaseLLMWrapper(provider, policy=policy, breaker=None) as llm:
        direct = await first_error(llm)
    async with httpx.AsyncClient() as client:
        llm = BaseLLMWrapper(provider, policy=policy, breaker=None, client=client)
        through_httpx = await first_error(llm)
    if fault["kind"] == "connection_reset":  # the words differ (aiohttp's and httpx's)
        assert type(direct) is type(through_httpx)
        assert "connection lost" in str(direct) or "could not connect" in str(direct)
    else:
        assert describe(direct) == describe(through_httpx)
    assert KEY not in str(direct)


async def test_read_bounds_a_completion_on_the_direct_path(vendor: FakeVendor) -> None:
    vendor.control.add_fault({"kind": "latency", "latency": 2.0})
    provider = OpenAIProvider(
        base_url=vendor.openai_base_url, api_key=KEY, timeouts=Timeouts(read=0.2)
    )
    policy = RetryPolicy.no_retries(deadline=10.0)
    async with BaseLLMWrapper(provider, policy=policy) as llm:
        error = await first_error(llm)
        assert isinstance(error, Timeout)
        assert str(error).endswith("no answer within 0.2s")


async def test_the_deadline_still_ends_a_slow_answer(vendor: FakeVendor) -> None:
    vendor.control.add_fault({"kind": "latency", "latency": 2.0})
    provider = OpenAIProvider(base_url=vendor.openai_base_url, api_key=KEY)
    async with BaseLLMWrapper(provider, policy=RetryPolicy(deadline=0.3)) as llm:
        started = asyncio.get_running_loop().time()
        with pytest.raises(DeadlineExceeded):
            await llm.complete("hi")
        assert asyncio.get_running_loop().time() - started < 1.0


# -- mounts ----------------------------------------------------------------------------------------


def answering(calls: list[str]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        if request.url.path.endswith("/weather"):
            return httpx.Response(200, json={"sky": "clear"})
        return httpx.Response(200, json=COMPLETION)

    return handler


async def test_a_mount_answers_every_core_request_under_its_base() -> None:
    calls: list[str] = []
    unmount = mount("https://API.example.com:443/v1", httpx.MockTransport(answering(calls)))
    try:
        provider = OpenAIProvider(base_url="https://api.example.com/v1", api_key=KEY)
        async with BaseLLMWrapper(provider) as llm:
            assert (await llm.complete("hi")).text == "hi"
        tool = HTTPTool("https://api.example.com/v1/weather")
        assert await tool.arun() == {"sky": "clear"}
        await tool.aclose()
    finally:
        unmount()
    assert calls == [
        "https://api.example.com/v1/chat/completions",
        "https://api.example.com/v1/weather",
    ]


async def test_a_mount_matches_whole_segments_and_leaves_when_undone() -> None:
    calls: list[str] = []
    unmount = mount("http://127.0.0.1:9/v1", httpx.MockTransport(answering(calls)))
    with pytest.raises(ValueError, match="already mounted"):
        mount("http://127.0.0.1:9/v1/", httpx.MockTransport(answering(calls)))
    policy = RetryPolicy.no_retries(deadline=2.0)
    try:
        for base in ("http://127.0.0.1:9/v10", "http://127.0.0.1:90/v1"):  # neither is under it
            async with BaseLLMWrapper(OpenAIProvider(base_url=base), policy=policy) as llm:
                with pytest.raises(AllProvidersFailed):
                    await llm.complete("hi")
        provider = OpenAIProvider(base_url="http://127.0.0.1:9/v1")
        async with BaseLLMWrapper(provider, policy=policy) as llm:
            assert (await llm.complete("hi")).text == "hi"
    finally:
        unmount()
    unmount()  # twice is harmless
    async with BaseLLMWrapper(provider, policy=policy) as llm:
        with pytest.raises(AllProvidersFailed):  # port 9 (discard) refuses: the mount is gone
            await llm.complete("hi")
    assert calls == ["http://127.0.0.1:9/v1/chat/completions"]


async def test_a_client_passed_in_is_used_as_it_is() -> None:
    calls: list[str] = []
    async with httpx.AsyncClient(transport=httpx.MockTransport(answering(calls))) as client:
        llm = BaseLLMWrapper(OpenAIProvider(base_url="https://vendor.test/v1"), client=client)
        assert (await llm.complete("hi")).text == "hi"
    assert calls == ["https://vendor.test/v1/chat/completions"]


async def test_an_http_proxy_in_the_environment_keeps_httpx_routing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    async with pooled_client() as client:
        assert direct_pool(client) is None
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.delenv("https_proxy", raising=False)
    async with pooled_client() as client:
        assert direct_pool(client) is not None


# -- the admission queue under a storm of expiring waiters -----------------------------------------


async def test_cancelled_waiters_are_skipped_and_order_is_kept() -> None:
    queue = Admission(1)
    assert queue.try_enter()
    assert not queue.try_enter()
    served: list[int] = []

    async def waiter(n: int) -> None:
        await queue.enter(float("inf"), provider="p")
        served.append(n)
        queue.leave()

    tasks = [asyncio.create_task(waiter(n)) for n in range(1000)]
    await asyncio.sleep(0)
    for task in tasks[:-1:2]:  # every other one gives up (its deadline), the last one stays
        task.cancel()
    await asyncio.sleep(0)
    queue.leave()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert served == list(range(1, 1000, 2))
    assert not queue.waiting
    assert queue.try_enter()


async def test_a_slot_given_to_a_waiter_that_was_cancelled_meanwhile_is_passed_on() -> None:
    queue = Admission(1)
    assert queue.try_enter()
    first = asyncio.create_task(queue.enter(float("inf"), provider="p"))
    second = asyncio.create_task(queue.enter(float("inf"), provider="p"))
    await asyncio.sleep(0)
    queue.leave()  # the slot goes to ``first`` ...
    first.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    await second  # and it reached the next in line
    assert queue.waiting
    queue.leave()
    assert not queue.waiting


# -- no garbage left for the collector ---------------------------------------------------------------


async def test_failed_calls_leave_no_reference_cycles() -> None:
    resilience = Resilience(
        "llm", policy=RetryPolicy(jitter="none", deadline=0.3, fallback_after=0.01)
    )

    async def refused(info: Any) -> str:
        raise ServerError("down", status=503)

    async def hangs(info: Any) -> str:
        await asyncio.Event().wait()
        return "never"

    chains = [[("a", refused), ("b", refused)], [("a", hangs)], [("a", refused), ("b", hangs)]]
    for chain in chains:  # warm: first-use objects (guards, breakers) are not garbage
        with pytest.raises((AllProvidersFailed, DeadlineExceeded)):
            await resilience.run(chain, deadline=0.1)
    gc.collect()
    gc.disable()
    try:
        for chain in chains:
            with pytest.raises((AllProvidersFailed, DeadlineExceeded)):
                await resilience.run(chain, deadline=0.1)
        assert gc.collect() == 0  # everything went with its last reference
    finally:
        gc.enable()


def test_the_watchdog_does_not_keep_a_finished_loop_alive() -> None:
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def attempt() -> None:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        start_attempt_timer(60.0).cancel()

    asyncio.run(attempt())
    gc.collect()
    assert loops[0]() is None


async def test_deadlines_that_pass_in_the_queue_do_not_open_the_breaker(
    vendor: FakeVendor,
) -> None:
    # A burst of calls behind one busy connection: each runs out of time waiting for it. Before,
    # each counted as a vendor timeout and the third opened the breaker of a healthy vendor.
    vendor.control.add_fault({"kind": "latency", "latency": 0.5})
    provider = OpenAIProvider(base_url=vendor.openai_base_url, api_key=KEY)
    async with BaseLLMWrapper(
        provider,
        policy=RetryPolicy(deadline=5.0),
        breaker=BreakerConfig(consecutive_failures=3),
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
    ) as llm:
        queue = admission(llm.client())
        assert queue is not None
        holder = asyncio.create_task(llm.complete("first"))
        for _ in range(5000):  # until the holder has the only connection
            if queue.waiting:
                break
            await asyncio.sleep(0.001)
        outcomes = await asyncio.gather(
            *(llm.complete(f"q{n}", deadline=0.1) for n in range(10)), return_exceptions=True
        )
        assert (await holder).text == "echo: first"
        breaker = llm.resilience.guard(provider.name).breaker
        assert breaker is not None and breaker.state == "closed"
    for outcome in outcomes:
        assert isinstance(outcome, DeadlineExceeded)
        assert isinstance(outcome.errors[provider.name], PoolTimeout)


def one_connection() -> httpx.Limits:
    return httpx.Limits(max_connections=1, max_keepalive_connections=1)


async def test_a_queued_request_whose_deadline_passes_in_flight_keeps_its_connection() -> None:
    # Before: the cancelled request closed its connection and the next call opened a new one
    # (in a burst, the whole pool reconnected while deadlines were expiring).
    async with capture_server(delay=0.3) as (base, seen, connections):
        provider = OpenAIProvider(base_url=base, api_key=KEY)
        policy = RetryPolicy.no_retries(deadline=10.0)
        async with BaseLLMWrapper(provider, policy=policy, limits=one_connection()) as llm:
            loop = asyncio.get_running_loop()
            holder = asyncio.create_task(llm.complete("first"))
            await until_queued(llm)
            started = loop.time()
            with pytest.raises(DeadlineExceeded):  # queued 0.3 s, then in flight past 0.45 s
                await llm.complete("second", deadline=0.45)
            assert loop.time() - started < 0.55  # at its deadline, not when the answer came
            assert (await holder).text == "hi"
            assert (await llm.complete("third")).text == "hi"  # after "second" came back
    assert [json.loads(body)["messages"][0]["content"] for _, _, body in seen] == [
        "first",
        "second",
        "third",
    ]
    assert connections == [1]


async def test_closing_the_wrapper_ends_the_exchanges_still_in_the_background() -> None:
    async with capture_server(delay=1.0) as (base, _, _):
        provider = OpenAIProvider(base_url=base, api_key=KEY)
        llm = BaseLLMWrapper(provider, policy=RetryPolicy.no_retries(), limits=one_connection())
        holder = asyncio.create_task(llm.complete("first", deadline=0.2))
        await until_queued(llm)
        with pytest.raises(DeadlineExceeded):
            await llm.complete("second", deadline=0.3)
        with pytest.raises(DeadlineExceeded):
            await holder
        loop = asyncio.get_running_loop()
        started = loop.time()
        await llm.aclose()
        assert loop.time() - started < 0.5
        left = [
            t for t in asyncio.all_tasks() if "ConnectionPool.exchange" in t.get_coro().__qualname__
        ]
        assert left == []
