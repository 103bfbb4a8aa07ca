"""Every vendor status becomes the right core error, and is retried or not accordingly."""

from __future__ import annotations

from typing import NamedTuple

import httpx
import pytest
import respx
from vendor_responses import PRIMARY_URL, SECRET, anthropic_error, make_llm, openai_error, openai_ok

from harness import core

pytestmark = pytest.mark.anyio


class Answer(NamedTuple):
    """An error answer of the vendor, and the core error it must become."""

    status: int
    code: str | None
    etype: str
    error_cls: type[core.UpstreamError]

    def response(self) -> httpx.Response:
        return openai_error(self.status, code=self.code, etype=self.etype)

    def id(self) -> str:
        return f"{self.status}-{self.code}-{self.etype}-{self.error_cls.__name__}"


TRANSIENT = [
    Answer(429, None, "requests", core.RateLimited),
    Answer(500, None, "server_error", core.ServerError),
    Answer(502, None, "server_error", core.ServerError),
    Answer(503, None, "server_error", core.ServerError),
    Answer(504, None, "server_error", core.ServerError),
    Answer(408, None, "timeout", core.Timeout),
]
PERMANENT = [
    Answer(429, "insufficient_quota", "insufficient_quota", core.QuotaExhausted),
    Answer(400, None, "invalid_request_error", core.BadRequest),
    Answer(400, "context_length_exceeded", "invalid_request_error", core.ContextWindowExceeded),
    Answer(401, "invalid_api_key", "invalid_request_error", core.AuthError),
    Answer(403, None, "permission_error", core.AuthError),
    Answer(404, "model_not_found", "invalid_request_error", core.NotFound),
]


@pytest.mark.parametrize("case", TRANSIENT, ids=Answer.id)
async def test_transient_statuses_are_retried_until_success(
    mock: respx.MockRouter, clock: core.VirtualClock, case: Answer
) -> None:
    route = mock.post(PRIMARY_URL)
    route.side_effect = [case.response(), openai_ok("fine")]
    events: list[object] = []
    llm = make_llm()
    llm.subscribe(events.append)
    answer = await llm.complete("hi")
    assert answer.text == "fine"
    assert answer.attempts == 2
    assert route.call_count == 2
    failed = [e for e in events if type(e).__name__ == "AttemptFailed"]
    assert [e.error for e in failed] == [case.error_cls.__name__]
    assert [e.status for e in failed] == [case.status]


@pytest.mark.parametrize("case", PERMANENT, ids=Answer.id)
async def test_permanent_statuses_are_never_retried(
    mock: respx.MockRouter, clock: core.VirtualClock, case: Answer
) -> None:
    route = mock.post(PRIMARY_URL).mock(return_value=case.response())
    llm = make_llm()
    with pytest.raises((core.AllProvidersFailed, core.BadRequest)) as info:
        await llm.complete("hi")
    error = (
        info.value.errors["primary"]
        if isinstance(info.value, core.AllProvidersFailed)
        else info.value
    )
    assert type(error) is case.error_cls
    assert error.status == case.status
    assert route.call_count == 1
    assert clock.sleeps == []


async def test_anthropic_529_is_overloaded_and_retried(
    mock: respx.MockRouter, clock: core.VirtualClock
) -> None:
    from vendor_responses import BACKUP_URL, anthropic_ok

    mock.post(PRIMARY_URL).mock(return_value=openai_error(503))
    route = mock.post(BACKUP_URL)
    route.side_effect = [anthropic_error(529, "overloaded_error", "Overloaded"), anthropic_ok("ok")]
    events: list[object] = []
    llm = make_llm(backup=True, policy=core.RetryPolicy(jitter="none", max_attempts=2))
    llm.subscribe(events.append)
    answer = await llm.complete("hi")
    assert answer.provider == "backup"
    assert answer.text == "ok"
    assert [e.error for e in events if type(e).__name__ == "AttemptFailed"] == [
        "ServerError",
        "ServerError",
        "Overloaded",
    ]
    assert isinstance(core.Overloaded("x"), core.Overloaded)


@pytest.mark.parametrize(
    ("exc", "error_cls"),
    [
        (httpx.ConnectError("refused"), core.ConnectError),
        (httpx.ConnectTimeout("slow connect"), core.ConnectError),
        (httpx.ReadTimeout("slow read"), core.Timeout),
        (httpx.RemoteProtocolError("peer closed connection"), core.ConnectError),
        (httpx.ReadError("connection reset by peer"), core.ConnectError),
    ],
)
async def test_transport_errors_are_translated_from_httpx(
    mock: respx.MockRouter, clock: core.VirtualClock, exc: Exception, error_cls: type
) -> None:
    mock.post(PRIMARY_URL).mock(side_effect=exc)
    llm = make_llm(policy=core.RetryPolicy(jitter="none", max_attempts=2))
    with pytest.raises(core.AllProvidersFailed) as info:
        await llm.complete("hi")
    error = info.value.errors["primary"]
    assert type(error) is error_cls
    assert error.__cause__ is exc
    assert clock.sleeps == [1.0]


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, content=b""),
        httpx.Response(200, content=b"{not json"),
        httpx.Response(200, json={"unexpected": True}),
    ],
)
async def test_malformed_success_bodies_are_server_errors_and_retried(
    mock: respx.MockRouter, clock: core.VirtualClock, response: httpx.Response
) -> None:
    route = mock.post(PRIMARY_URL)
    route.side_effect = [response, openai_ok("recovered")]
    answer = await make_llm().complete("hi")
    assert answer.text == "recovered"
    assert answer.attempts == 2


async def test_x_should_retry_overrides_the_status(
    mock: respx.MockRouter, clock: core.VirtualClock
) -> None:
    route = mock.post(PRIMARY_URL)
    route.side_effect = [
        openai_error(400, headers={"x-should-retry": "true"}),
        openai_ok("retried a 400 because the vendor said so"),
    ]
    assert (await make_llm().complete("hi")).attempts == 2

    route.side_effect = [openai_error(503, headers={"x-should-retry": "false"}), openai_ok()]
    route.reset()
    with pytest.raises(core.AllProvidersFailed) as info:
        await make_llm().complete("hi")
    assert isinstance(info.value.errors["primary"], core.ServerError)
    assert route.call_count == 1


async def test_the_api_key_never_leaks(mock: respx.MockRouter, clock: core.VirtualClock) -> None:
    mock.post(PRIMARY_URL).mock(
        return_value=openai_error(401, message=f"Incorrect API key provided: {SECRET}")
    )
    events: list[object] = []
    llm = make_llm()
    llm.subscribe(events.append)
    with pytest.raises(core.AllProvidersFailed) as info:
        await llm.complete("hi")
    rendered = [
        str(info.value),
        repr(info.value),
        repr(llm),
        repr(llm.providers[0]),
        *map(repr, events),
    ]
    assert all(SECRET not in text for text in rendered)
    assert "***" in str(info.value)
    request = mock.calls.last.request
    assert request.headers["authorization"] == f"Bearer {SECRET}"
