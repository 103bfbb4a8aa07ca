"""Fixtures for the core's tests: a strict respx router (the virtual ``clock`` is the root
conftest's).

The core's own client sends completions to aiohttp directly, which respx never sees; so the
router is mounted on the test vendors' base URLs (``harness.core.mount``), as a service's tests
would do, and it also patches httpx's clients (``using="httpx"``) for what still sends with
httpx's API (``HTTPTool``).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import respx
from vendor_responses import PRIMARY_URL, openai_error

from harness.core import mount

MOCKED_BASES = ("https://primary.test", "https://backup.test")


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(using="httpx", assert_all_mocked=True, assert_all_called=False) as router:
        unmounts = [mount(base, httpx.MockTransport(router.async_handler)) for base in MOCKED_BASES]
        try:
            yield router
        finally:
            for unmount in unmounts:
                unmount()


@pytest.fixture
def failing_primary(mock: respx.MockRouter) -> respx.Route:
    """The primary answering 503 to every call: its route, for its call count."""
    return mock.post(PRIMARY_URL).mock(return_value=openai_error(503))
