"""BaseLLMWrapper's surface: sync facade, message handling, provider naming, request shapes."""

from __future__ import annotations

import json

import pytest
import respx
from vendor_responses import (
    BACKUP,
    BACKUP_URL,
    PRIMARY_URL,
    SECRET,
    anthropic_ok,
    make_llm,
    openai_error,
    openai_ok,
)

from harness.core import AnthropicProvider, BaseLLMWrapper, OpenAIProvider, VirtualClock


def test_complete_sync_runs_outside_an_event_loop(
    mock: respx.MockRouter, clock: VirtualClock
) -> None:
    route = mock.post(PRIMARY_URL)
    route.side_effect = [openai_error(503), openai_ok("sync works")]
    llm = make_llm()
    answer = llm.complete_sync("hi", temperature=0.2)
    assert answer.text == "sync works"
    assert answer.attempts == 2
    assert json.loads(route.calls.last.request.content)["temperature"] == 0.2
    # a second call gets a fresh pooled client of its own loop
    route.side_effect = [openai_ok("again")]
    assert llm.complete_sync("hi").text == "again"


@pytest.mark.anyio
async def test_complete_sync_refuses_to_block_a_running_loop() -> None:
    with pytest.raises(RuntimeError, match="await complete"):
        make_llm().complete_sync("hi")


@pytest.mark.anyio
async def test_anthropic_request_shape(mock: respx.MockRouter, clock: VirtualClock) -> None:
    route = mock.post(BACKUP_URL).mock(return_value=anthropic_ok("bonjour"))
    provider = AnthropicProvider(base_url=BACKUP, api_key=SECRET, model="claude-test")
    async with BaseLLMWrapper(provider, clock=clock) as llm:
        answer = await llm.complete(
            [{"role": "system", "content": "be brief"}, {"role": "user", "content": "salut"}],
            max_tokens=64,
        )
    assert answer.text == "bonjour"
    assert answer.usage.total_tokens == 7
    request = route.calls.last.request
    body = json.loads(request.content)
    assert body["system"] == "be brief"
    assert body["messages"] == [{"role": "user", "content": "salut"}]
    assert body["max_tokens"] == 64
    assert request.headers["x-api-key"] == SECRET
    assert request.headers["anthropic-version"] == "2023-06-01"


def test_sdk_style_anthropic_base_url_gets_v1() -> None:
    assert AnthropicProvider(base_url="http://127.0.0.1:9/").url == "http://127.0.0.1:9/v1/messages"
    assert AnthropicProvider(base_url=BACKUP).url == BACKUP_URL


def test_configuration_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1234/v1")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("OPENAI_MODEL", "gpt-env")
    provider = OpenAIProvider()
    assert provider.url == "http://127.0.0.1:1234/v1/chat/completions"
    assert provider.name == "openai:gpt-env"
    assert provider.api_key.reveal() == SECRET
    assert SECRET not in repr(provider)


def test_provider_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        BaseLLMWrapper(
            [OpenAIProvider(model="m", api_key="k"), OpenAIProvider(model="m", api_key="k")]
        )
