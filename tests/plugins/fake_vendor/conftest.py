from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from fake_vendor_support import vendor_http

from harness_fake_vendor import FakeVendor, VendorControl


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
    with vendor_http(vendor, timeout=5.0) as client:
        yield client


# The official SDKs as a user configures them: two retries, a 5 s timeout.
SDK_OPTIONS: dict[str, Any] = {"max_retries": 2, "timeout": 5.0}


@pytest.fixture
def oai(vendor: FakeVendor, control: VendorControl) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=vendor.openai_base_url, api_key="sk-test", **SDK_OPTIONS) as sdk:
        yield sdk


@pytest.fixture
def claude(vendor: FakeVendor, control: VendorControl) -> Iterator[anthropic.Anthropic]:
    base_url = vendor.anthropic_base_url
    with anthropic.Anthropic(base_url=base_url, api_key="sk-ant-test", **SDK_OPTIONS) as sdk:
        yield sdk
