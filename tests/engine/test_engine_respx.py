"""The respx backend (``plugins/harness_respx``): every HTTP fault kind through ``mock_vendor``
against the real resilient core on a virtual clock; strictness; pass-through."""

from __future__ import annotations

import http.server
import random
from collections.abc import Awaitable, Callable, Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
from http_support import serving

from harness.core import (
    AllProvidersFailed,
    AnthropicProvider,
    AttemptFailed,
    BaseLLMWrapper,
    OpenAIProvider,
    ResilienceEvent,
    RetryScheduled,
    StreamInterrupted,
    VirtualClock,
    subscribe,
)
from harness.errors import FaultInjectionError
from harness.plugin import FaultSchedule
from harness_respx import ROUTER, mock_vendor

pytestmark = pytest.mark.anyio

BASE = "https://primary.respx.invalid/v1"
BACKUP = "https://backup.respx.invalid/v1"
KEY = "sk-test-0123456789abcdef"
PROMPT = "hello there my friend"


@pytest.fixture(autouse=True)
def _router_released() -> Iterator[None]:
    """Every test leaves httpx unpatched: respx stops when the last vendor leaves."""
    assert not ROUTER.active
    yield
    assert not ROUTER.active


@pytest.fixture
def events() -> Iterator[list[ResilienceEvent]]:
    seen: list[ResilienceEvent] = []
    unsubscribe = subscribe(seen.append)
    yield seen
    unsubscribe()


def _llm(*providers: Any) -> BaseLLMWrapper:
    chain = providers or (OpenAIProvider(base_url=BASE, api_key=KEY, model="gpt-test"),)
    return BaseLLMWrapper(list(chain), rng=random.Random(0))


async def _complete(llm: BaseLLMWrapper, prompt: str = PROMPT) -> Any:
    try:
        return await llm.complete(prompt)
    finally:
        await llm.aclose()


async def _stream(llm: BaseLLMWrapper, prompt: str = PROMPT) -> list[str]:
    pieces: list[str] = []
    try:
        async for piece in llm.stream(prompt):
            pieces.append(piece)
    finally:
        await llm.aclose()
    return pieces


async def _under(
    fault: dict[str, Any], call: Callable[[BaseLLMWrapper], Awaitable[Any]] = _complete
) -> tuple[Any, FaultSchedule]:
    """``call`` (a completion, or ``_stream``) through the mocked vendor with ``fault``
    injected: its result and the fault's schedule."""
    with mock_vendor(BASE) as vendor:
        schedule = vendor.inject(fault)
        return await call(_llm()), schedule


def _failures(events: list[ResilienceEvent]) -> list[tuple[str, int | None]]:
    return [(e.error, e.status) for e in events if isinstance(e, AttemptFailed)]


def _retries(events: list[ResilienceEvent]) -> list[tuple[float, str]]:
    return [(e.delay, e.reason) for e in events if isinstance(e, RetryScheduled)]


# -- each HTTP fault kind through the core ---------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "header", "value"),
    [
        ("seconds", "retry-after", "3"),
        ("ms", "retry-after-ms", "3000"),
        ("http-date", "retry-after", None),
    ],
)
async def test_http_status_429_with_each_retry_after_form(
    clock: VirtualClock, events: list[ResilienceEvent], fmt: str, header: str, value: str | None
) -> None:
    fault = {"kind": "http_status", "status": 429, "retry_after": "3s", "retry_after_format": fmt}
    with mock_vendor(BASE) as vendor:
        schedule = vendor.inject({**fault, "first": 1})
        async with httpx.AsyncClient() as client:
            raw = await client.post(f"{BASE}/chat/completions", json={"model": "m", "messages": []})
        assert raw.status_code == 429
        assert raw.json()["error"]["type"] == "requests"
        if value is None:  # an HTTP-date 3 s after the vendor's (virtual) clock
            when = parsedate_to_datetime(raw.headers[header]).timestamp()
            assert when == clock.wall() + 3
        else:
            assert raw.headers[header] == value
        schedule = vendor.inject({**fault, "first": 1, "name": "again"})
        answer = await _complete(_llm())
    assert answer.text == f"echo: {PROMPT}" and answer.attempts == 2
    assert _failures(events) == [("RateLimited", 429)]
    assert _retries(events) == [(3.0, "retry_after")]  # the vendor's wait, not the backoff's
    assert clock.sleeps == [3.0]
    assert (schedule.seen, schedule.fired) == (2, 1)


async def test_http_status_503_then_backoff(
    clock: VirtualClock, events: list[ResilienceEvent]
) -> None:
    answer, schedule = await _under({"kind": "http_status", "status": 503, "first": 2})
    assert answer.attempts == 3
    assert _failures(events) == [("ServerError", 503), ("ServerError", 503)]
    assert [reason for _, reason in _retries(events)] == ["backoff", "backoff"]
    delays = [delay for delay, _ in _retries(events)]
    assert 0 <= delays[0] <= 1.0 and 0 <= delays[1] <= 2.0  # full jitter under 1 s, 2 s
    assert clock.sleeps == delays
    assert (schedule.seen, schedule.fired) == (3, 2)


async def test_http_status_quota_is_not_retried(
    clock: VirtualClock, events: list[ResilienceEvent]
) -> None:
    with mock_vendor(BASE) as vendor:
        vendor.inject({"kind": "http_status", "status": 429, "error_code": "insufficient_quota"})
        with pytest.raises(AllProvidersFailed):
            await _complete(_llm())
    assert _failures(events) == [("QuotaExhausted", 429)]
    assert clock.sleeps == []


async def test_anthropic_overloaded_529(clock: VirtualClock, events: list[ResilienceEvent]) -> None:
    with mock_vendor(BACKUP, "anthropic") as vendor:
        vendor.inject({"kind": "http_status", "status": 529, "first": 1})
        answer = await _complete(_llm(AnthropicProvider(base_url=BACKUP, api_key=KEY, model="c")))
    assert answer.attempts == 2
    assert _failures(events) == [("Overloaded", 529)]


async def test_connection_reset(clock: VirtualClock, events: list[ResilienceEvent]) -> None:
    with mock_vendor(BASE) as vendor:
        vendor.inject({"kind": "connection_reset", "first": 1})
        async with httpx.AsyncClient() as client:
            with pytest.raises(httpx.ReadError, match="Connection reset by peer"):
                await client.post(f"{BASE}/chat/completions", json={})
        vendor.inject({"kind": "connection_reset", "first": 1, "name": "again"})
        answer = await _complete(_llm())
    assert answer.attempts == 2
    assert _failures(events) == [("ConnectError", None)]
    assert vendor.vendor.statuses["reset"] == 2


async def test_empty_response(clock: VirtualClock, events: list[ResilienceEvent]) -> None:
    with mock_vendor(BASE) as vendor:
        vendor.inject({"kind": "empty_response", "first": 1})
        async with httpx.AsyncClient() as client:
            raw = await client.post(f"{BASE}/chat/completions", json={})
        assert (raw.status_code, raw.content) == (200, b"")
        vendor.inject({"kind": "empty_response", "first": 1, "name": "again"})
        answer = await _complete(_llm())
    assert answer.attempts == 2
    assert [e for e, _ in _failures(events)] == ["ServerError"]


@pytest.mark.parametrize(("distribution", "expected"), [("fixed", [2.0]), ("uniform", None)])
async def test_latency_sleeps_on_the_virtual_clock(
    clock: VirtualClock, distribution: str, expected: list[float] | None
) -> None:
    with mock_vendor(BASE, seed=9) as vendor:
        vendor.inject(
            {"kind": "latency", "latency": "2s", "jitter": "500ms", "distribution": distribution}
        )
        answer = await _complete(_llm())
    assert answer.attempts == 1
    if expected is not None:
        assert clock.sleeps == expected
    else:
        (slept,) = clock.sleeps
        assert 1.5 <= slept <= 2.5 and slept != 2.0


async def test_latencies_add_up_before_the_error(
    clock: VirtualClock, events: list[ResilienceEvent]
) -> None:
    with mock_vendor(BASE) as vendor:
        vendor.inject({"kind": "latency", "latency": "1s", "distribution": "fixed", "first": 1})
        vendor.inject({"kind": "latency", "latency": "250ms", "distribution": "fixed", "first": 1})
        vendor.inject({"kind": "http_status", "status": 500, "first": 1})
        answer = await _complete(_llm())
    assert answer.attempts == 2
    assert clock.sleeps[0] == 1.25
    assert _failures(events) == [("ServerError", 500)]


@pytest.mark.parametrize("streaming", [True, False])
async def test_first_token_delay(clock: VirtualClock, streaming: bool) -> None:
    with mock_vendor(BASE) as vendor:
        vendor.inject({"kind": "first_token_delay", "delay": "4s"})
        if streaming:
            assert "".join(await _stream(_llm())) == f"echo: {PROMPT}"
        else:  # not a stream: it acts as latency
            assert (await _complete(_llm())).text == f"echo: {PROMPT}"
    assert clock.sleeps == [4.0]


async def test_stream_cut_before_any_text_is_retried_invisibly(
    clock: VirtualClock, events: list[ResilienceEvent]
) -> None:
    pieces, schedule = await _under({"kind": "stream_cut", "after_events": 1, "first": 1}, _stream)
    assert "".join(pieces) == f"echo: {PROMPT}"
    (failure,) = [e for e in events if isinstance(e, AttemptFailed)]
    assert failure.retryable  # nothing reached the caller yet: safe to retry
    assert [(e.attempt, e.reason) for e in events if isinstance(e, RetryScheduled)] == [
        (1, "backoff")
    ]
    assert schedule.fired == 1


async def test_stream_cut_after_text_surfaces_with_the_partial_answer(
    clock: VirtualClock, events: list[ResilienceEvent]
) -> None:
    with mock_vendor(BASE) as vendor:
        vendor.inject({"kind": "stream_cut", "after_events": 3, "first": 1})
        llm = _llm()
        pieces: list[str] = []
        with pytest.raises(StreamInterrupted) as info:
            try:
                async for piece in llm.stream(PROMPT):
                    pieces.append(piece)
            finally:
                await llm.aclose()
    assert pieces == ["echo: ", "hello "]
    assert "failed after 12 characters" in str(info.value)
    assert "stream ended without its terminator" in str(info.value)
    assert clock.sleeps == []  # never retried: the caller already has those tokens


async def test_stream_cut_only_matches_streams(clock: VirtualClock) -> None:
    answer, schedule = await _under({"kind": "stream_cut", "optional": True})
    assert answer.attempts == 1
    assert (schedule.seen, schedule.fired) == (0, 0)


async def test_stream_stall(clock: VirtualClock) -> None:
    with mock_vendor(BASE) as vendor:
        vendor.inject({"kind": "stream_stall", "after_events": 2, "stall": "5s"})
        vendor.inject({"kind": "stream_stall", "after_events": 2, "stall": "1s", "name": "more"})
        assert "".join(await _stream(_llm())) == f"echo: {PROMPT}"
    assert clock.sleeps == [6.0]  # stalls at one position add up


@pytest.mark.parametrize(
    ("after", "retried"),
    [(1, True), (3, False)],
    ids=["before-text", "after-text"],
)
async def test_malformed_stream(
    clock: VirtualClock, events: list[ResilienceEvent], after: int, retried: bool
) -> None:
    with mock_vendor(BASE) as vendor:
        vendor.inject({"kind": "malformed_stream", "after_events": after, "first": 1})
        llm = _llm()
        if retried:
            assert "".join(await _stream(llm)) == f"echo: {PROMPT}"
            assert [e for e, _ in _failures(events)] == ["ServerError"]
        else:
            with pytest.raises(StreamInterrupted, match="malformed stream event"):
                await _stream(llm)


async def test_route_and_model_filters(clock: VirtualClock) -> None:
    with mock_vendor(BASE) as vendor:
        other = vendor.inject(
            {"kind": "http_status", "status": 500, "model": "other", "optional": True}
        )
        models = vendor.inject(
            {"kind": "http_status", "status": 500, "route": "/models", "optional": True}
        )
        assert (await _complete(_llm())).attempts == 1
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{BASE}/models")).status_code == 500
    assert (other.seen, other.fired) == (0, 0)
    assert (models.seen, models.fired) == (1, 1)


# -- strictness --------------------------------------------------------------------------------


def test_a_vendor_never_called_fails() -> None:
    with pytest.raises(FaultInjectionError) as info, mock_vendor(BASE):
        pass
    assert str(info.value) == f"respx: {BASE} was never called"


async def test_a_fault_that_never_fired_fails(clock: VirtualClock) -> None:
    with pytest.raises(FaultInjectionError) as info, mock_vendor(BASE) as vendor:
        vendor.inject({"kind": "http_status", "status": 503, "after": 5, "name": "late"})
        vendor.inject({"kind": "stream_cut", "name": "streams only"})
        vendor.inject({"kind": "connection_reset", "route": "/nope", "optional": True})
        await _complete(_llm())
    assert str(info.value) == (
        "respx: fault 'late' never fired (1 matching requests); "
        "fault 'streams only' never fired (0 matching requests)"
    )


async def test_optional_faults_and_non_strict_vendors_do_not_fail(clock: VirtualClock) -> None:
    with mock_vendor(BASE) as vendor:
        vendor.inject({"kind": "http_status", "status": 503, "after": 5, "optional": True})
        await _complete(_llm())
    with mock_vendor(BASE, strict=False) as vendor:
        vendor.inject({"kind": "http_status", "status": 503, "after": 5})


def test_an_error_in_the_block_is_not_masked_by_strictness() -> None:
    with pytest.raises(ValueError, match="test failed first"), mock_vendor(BASE):
        raise ValueError("test failed first")


def test_only_http_faults_and_one_vendor_per_base_url() -> None:
    with mock_vendor(BASE, strict=False) as vendor:
        with pytest.raises(FaultInjectionError, match="respx injects HTTP faults only; 'down'"):
            vendor.inject({"kind": "down"})
        with (
            pytest.raises(FaultInjectionError, match="is already mocked by"),
            mock_vendor(BASE + "/"),
        ):
            pass
        assert ROUTER.active  # the first one is still there
    assert not ROUTER.active


# -- pass-through and URL matching -----------------------------------------------------------------


class _Real(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"real {self.path}".encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def real_server() -> Iterator[str]:
    with serving(_Real, poll=0.01) as url:
        yield url


async def test_urls_not_mocked_pass_through_to_the_network(real_server: str) -> None:
    with mock_vendor(f"{real_server}/v1") as vendor:
        async with httpx.AsyncClient() as client:
            mocked = await client.get(f"{real_server}/v1/models")
            sibling = await client.get(f"{real_server}/v10/models")  # not under /v1
            other = await client.get(f"{real_server}/health")
        assert mocked.json()["data"][0]["id"] == "fake-model"
        assert (sibling.text, other.text) == ("real /v10/models", "real /health")
        assert vendor.requests == 1


def test_a_port_prefix_is_not_a_match(real_server: str) -> None:
    shorter = real_server[:-1]  # http://127.0.0.1:4123 -> http://127.0.0.1:412
    with mock_vendor(shorter, strict=False) as vendor:
        assert httpx.get(f"{real_server}/x").text == "real /x"
    assert vendor.requests == 0


def test_the_most_specific_base_wins_and_urls_are_normalised() -> None:
    with (
        mock_vendor("https://API.example.com:443/v1", strict=False) as outer,
        mock_vendor("https://api.example.com/v1/beta", strict=False) as inner,
    ):
        assert httpx.get("https://api.example.com/v1/beta/models").status_code == 200
        assert httpx.get("https://api.example.com/v1/models").status_code == 200
    assert (outer.requests, inner.requests) == (1, 1)
