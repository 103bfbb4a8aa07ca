from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from harness_fake_vendor import FakeVendor, VendorControl

OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-haiku-4-5"
CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"
KEY_HEADERS = {"Authorization": "Bearer sk-test"}


def chat_body(text: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {"model": OPENAI_MODEL, "messages": [{"role": "user", "content": text}], **extra}


def messages_body(text: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {
        "model": ANTHROPIC_MODEL,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


@pytest.fixture(scope="module")
def vendor() -> Iterator[FakeVendor]:
    with FakeVendor(seed=1234) as server:
        yield server


@pytest.fixture
def control(vendor: FakeVendor) -> VendorControl:
    """The module's vendor, with no fault and zeroed counters."""
    vendor.control.reset(faults=True)
    return vendor.control


@pytest.fixture
def http(vendor: FakeVendor, control: VendorControl) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=vendor.url, headers=KEY_HEADERS, timeout=5.0, trust_env=False
    ) as client:
        yield client


@pytest.fixture
def oai(vendor: FakeVendor, control: VendorControl) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=vendor.openai_base_url, api_key="sk-test", max_retries=2, timeout=5.0
    ) as client:
        yield client


@pytest.fixture
def claude(vendor: FakeVendor, control: VendorControl) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=vendor.anthropic_base_url, api_key="sk-ant-test", max_retries=2, timeout=5.0
    ) as client:
        yield client


def sse_data_lines(text: str) -> list[str]:
    return [line[6:] for line in text.splitlines() if line.startswith("data: ")]
