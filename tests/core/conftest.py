"""Fixtures for the core's tests: a virtual clock and a strict respx router.

The router mocks at httpx's client (``using="httpx"``): the core's own client sends through
aiohttp's pool, which respx's default (httpcore) mocker never sees.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import respx

from harness.core import VirtualClock, use_clock


@pytest.fixture
def clock() -> Iterator[VirtualClock]:
    with use_clock(VirtualClock()) as virtual:
        assert isinstance(virtual, VirtualClock)
        yield virtual


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(using="httpx", assert_all_mocked=True, assert_all_called=False) as router:
        yield router
