"""Request builders and constants shared by the fake-vendor tests.

A module of its own (not ``conftest``): several test directories import from their
``conftest``, and a module named ``conftest`` is ambiguous once they all run together.
"""

from __future__ import annotations

from typing import Any

import httpx

from harness_fake_vendor import FakeVendor

OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-haiku-4-5"
CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"
KEY_HEADERS = {"Authorization": "Bearer sk-test"}


def vendor_http(vendor: FakeVendor, timeout: float) -> httpx.Client:
    """An httpx client of ``vendor`` sending a valid key, with no proxy from the environment."""
    return httpx.Client(base_url=vendor.url, headers=KEY_HEADERS, timeout=timeout, trust_env=False)


def chat_body(text: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {"model": OPENAI_MODEL, "messages": [{"role": "user", "content": text}], **extra}


def messages_body(text: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {
        "model": ANTHROPIC_MODEL,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def sse_data_lines(text: str) -> list[str]:
    return [line[6:] for line in text.splitlines() if line.startswith("data: ")]
