"""The ``fake_llm`` pytest fixture (this plugin's own pytest plugin, entry point ``pytest11``).

Cheap to import: only pytest; the server loads when a test asks for the fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from harness_fake_vendor import FakeVendor


@pytest.fixture(scope="session")
def _harness_fake_llm_server() -> Iterator[FakeVendor]:
    from harness_fake_vendor import FakeVendor

    with FakeVendor() as vendor:
        yield vendor


@pytest.fixture
def fake_llm(_harness_fake_llm_server: FakeVendor) -> Iterator[FakeVendor]:
    """A running fake OpenAI/Anthropic vendor (``.openai_base_url``, ``.anthropic_base_url``,
    ``.control``); its faults and counters are cleared after each test."""
    vendor = _harness_fake_llm_server
    vendor.control.reset(faults=True)
    try:
        yield vendor
    finally:
        vendor.control.reset(faults=True)
