"""The core's connection pool: the wait for a connection is held to the deadline, in FIFO order,
and many concurrent calls all get through (against the real fake vendor on 127.0.0.1)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aiohttp
import httpx
import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from vendor_responses import until_queued
from yarl import URL

from harness.core import (
    AllProvidersFailed,
    BaseLLMWrapper,
    ConnectError,
    DeadlineExceeded,
    OpenAIProvider,
    PoolTimeout,
    RetryPolicy,
    ServerError,
    Timeout,
    Timeouts,
    pooled_client,
)
from harness.core._http import translate_transport_error
from harness.core._transport import Admission, admission
from harness_fake_vendor import FakeVendor

pytestmark = pytest.mark.anyio

KEY = "sk-test-transport-0123"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the core's pool is aiohttp's, which runs on asyncio


@pytest.fixture
def vendor() -> Iterator[FakeVendor]:
    with FakeVendor() as server:
        yield server


def llm_for(
    vendor: FakeVendor,
    *,
    connections: int | None = 200,
    timeouts: Timeouts | None = None,
    policy: RetryPolicy | None = None,
) -> BaseLLMWrapper:
    provider = OpenAIProvider(
        base_url=vendor.openai_base_url, api_key=KEY, model="gpt-4o-mini", timeouts=timeouts
    )
    return BaseLLMWrapper(
        provider,
        policy=policy or RetryPolicy(deadline=5.0),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


def requests_served(vendor: FakeVendor) -> int:
    return sum(vendor.control.counters()["responses_by_status"].values())


def malformed_response() -> aiohttp.ClientResponseError:
    url = URL("http://vendor.test/v1/chat/completions")
    info = aiohttp.RequestInfo(url, "POST", CIMultiDictProxy(CIMultiDict()), url)
    return aiohttp.ClientResponseError(info, (), message="bad status line")


# -- the deadline covers the wait for a connection -------------------------------------------------


async def test_a_call_that_cannot_get_a_connection_fails_by_its_deadline(
    vendor: FakeVendor,
) -> None:
    vendor.control.add_fault({"kind": "latency", "latency": 1.0})
    async with llm_for(vendor, connections=1) as llm:
        order: list[str] = []

        async def holder() -> None:
            await llm.complete("first", deadline=10.0)
            order.append("holder answered")

        holding = asyncio.create_task(holder())
        await until_queued(llm)  # the holder has the only one
        with pytest.raises(DeadlineExceeded) as caught:
            await llm.complete("second", deadline=0.2)
        order.append("waiter gave up")
        await holding
    # It gave up while the only connection was still busy, a second before that answer came.
    assert order == ["waiter gave up", "holder answered"]
    assert isinstance(caught.value.errors["openai:gpt-4o-mini"], Timeout)
    assert requests_served(vendor) == 1  # the waiter's request was never sent


async def test_the_wait_for_a_connection_spends_the_deadline_not_the_connect_timeout(
    vendor: FakeVendor,
) -> None:
    # Before: the pool wait was bounded by the connect timeout, so the second call failed
    # after 50 ms and went round a retry. Now it waits its turn, within its deadline.
    vendor.control.add_fault({"kind": "latency", "latency": 0.3})
    async with llm_for(vendor, connections=1, timeouts=Timeouts(connect=0.05)) as llm:
        first, second = await asyncio.gather(llm.complete("one"), llm.complete("two"))
    assert (first.attempts, second.attempts) == (1, 1)
    assert requests_served(vendor) == 2


async def test_pool_timeout_when_every_connection_stays_busy(vendor: FakeVendor) -> None:
    vendor.control.add_fault({"kind": "latency", "latency": 1.0})
    timeouts = Timeouts(pool=0.1)
    policy = RetryPolicy.no_retries(deadline=5.0)
    async with llm_for(vendor, connections=1, timeouts=timeouts, policy=policy) as llm:
        holding = asyncio.create_task(llm.complete("first"))
        await until_queued(llm)
        with pytest.raises(AllProvidersFailed) as caught:
            await llm.complete("second")
        assert not holding.done()
        await holding
    error = caught.value.errors["openai:gpt-4o-mini"]
    assert isinstance(error, PoolTimeout)
    assert "all 1 busy" in str(error)
    assert not error.counts_for_breaker  # the vendor was never asked
    assert requests_served(vendor) == 1


async def test_an_open_stream_holds_its_connection_until_closed(vendor: FakeVendor) -> None:
    policy = RetryPolicy.no_retries(deadline=5.0)
    async with llm_for(vendor, connections=1, timeouts=Timeouts(pool=0.1), policy=policy) as llm:
        stream = llm.stream("one two three")
        async with stream:
            chunks = aiter(stream)
            await anext(chunks)
            with pytest.raises(AllProvidersFailed) as caught:
                await llm.complete("while the stream is open")
            assert isinstance(caught.value.errors["openai:gpt-4o-mini"], PoolTimeout)
        answer = await llm.complete("after it closed")
    assert answer.text == "echo: after it closed"


async def test_many_concurrent_calls_all_get_through(vendor: FakeVendor) -> None:
    # 1000 calls at once on the default pool of 200 connections. Before: past about 600 at
    # once, httpcore's pool kept the loop busy and every call ran out of time unanswered.
    calls = 1000
    async with llm_for(vendor, policy=RetryPolicy(deadline=20.0)) as llm:
        async with asyncio.timeout(60):
            answers = await asyncio.gather(*(llm.complete(f"q{n}") for n in range(calls)))
    assert [a.text for a in answers] == [f"echo: q{n}" for n in range(calls)]
    assert all(a.attempts == 1 for a in answers)
    assert requests_served(vendor) == calls


# -- the admission queue ----------------------------------------------------------------------------


async def test_admission_serves_waiters_first_come_first_served() -> None:
    queue = Admission(1)
    await queue.enter(1.0, provider="p")
    served: list[int] = []

    async def waiter(n: int) -> None:
        await queue.enter(5.0, provider="p")
        served.append(n)
        queue.leave()

    tasks = []
    for n in range(5):
        tasks.append(asyncio.create_task(waiter(n)))
        await asyncio.sleep(0)  # each one queues before the next
    queue.leave()
    await asyncio.gather(*tasks)
    assert served == [0, 1, 2, 3, 4]


async def test_a_cancelled_waiter_leaves_the_queue_and_takes_no_slot() -> None:
    queue = Admission(1)
    await queue.enter(1.0, provider="p")
    waiting = asyncio.create_task(queue.enter(5.0, provider="p"))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    queue.leave()
    assert not queue.waiting
    await queue.enter(0.01, provider="p")  # the slot is free again, at once


async def test_a_full_queue_raises_pool_timeout_after_the_wait() -> None:
    queue = Admission(2)
    await queue.enter(1.0, provider="p")
    await queue.enter(1.0, provider="p")
    with pytest.raises(PoolTimeout, match=r"within 0\.01s"):
        await queue.enter(0.01, provider="p")


def test_admission_rejects_no_capacity() -> None:
    with pytest.raises(ValueError, match="capacity must be >= 1, got 0"):
        Admission(0)


async def test_only_the_cores_own_clients_have_a_queue() -> None:
    async with pooled_client(httpx.Limits(max_connections=7)) as mine:
        queue = admission(mine)
        assert queue is not None
        assert queue.capacity == 7
    async with pooled_client(httpx.Limits(max_connections=None)) as unbounded:
        assert admission(unbounded) is None
    async with httpx.AsyncClient() as foreign:
        assert admission(foreign) is None


# -- transport errors ----------------------------------------------------------------------------


def chained(outer: httpx.HTTPError, cause: BaseException) -> httpx.HTTPError:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(
    ("exc", "error_cls", "words"),
    [
        # httpx-aiohttp reports these as ConnectTimeout; the aiohttp cause says what happened
        (
            chained(httpx.ConnectTimeout("x"), aiohttp.ServerDisconnectedError()),
            ConnectError,
            "connection lost",
        ),
        (
            chained(
                httpx.ConnectTimeout("x"),
                aiohttp.ClientConnectorError(
                    aiohttp.client_reqrep.ConnectionKey("h", 1, False, True, None, None, None),
                    OSError(111, "refused"),
                ),
            ),
            ConnectError,
            "could not connect",
        ),
        (
            chained(httpx.ConnectTimeout("x"), aiohttp.ConnectionTimeoutError("slow")),
            ConnectError,
            "connect timed out",
        ),
        (
            chained(httpx.ReadTimeout("x"), aiohttp.SocketTimeoutError("slow")),
            Timeout,
            "timed out",
        ),
        (
            chained(httpx.ReadError("x"), aiohttp.ClientPayloadError("cut")),
            ConnectError,
            "connection lost",
        ),
        # passed through untranslated by httpx-aiohttp: a malformed response
        (malformed_response(), ServerError, "bad response"),
        # plain httpx errors (a client passed in, or respx) keep their meaning
        (httpx.ConnectTimeout("x"), ConnectError, "connect timed out"),
        (httpx.PoolTimeout("x"), Timeout, "timed out"),
        (httpx.RemoteProtocolError("x"), ConnectError, "connection lost"),
    ],
)
def test_transport_errors_become_core_errors(
    exc: BaseException, error_cls: type[Exception], words: str
) -> None:
    error = translate_transport_error(exc, "p")
    assert type(error) is error_cls
    assert words in str(error)
    assert error.provider == "p"


async def test_a_refused_connection_is_a_connect_error() -> None:
    with FakeVendor() as stopped:
        url = stopped.openai_base_url
    provider = OpenAIProvider(base_url=url, api_key=KEY)
    async with BaseLLMWrapper(provider, policy=RetryPolicy.no_retries(deadline=2.0)) as llm:
        with pytest.raises(AllProvidersFailed) as caught:
            await llm.complete("hi")
    error = caught.value.errors[provider.name]
    assert isinstance(error, ConnectError)
    assert "could not connect" in str(error)
