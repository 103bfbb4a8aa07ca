"""The ``toxiproxy`` pytest fixture (this plugin's own pytest plugin, entry point ``pytest11``).

Cheap to import: only pytest; the server loads when a test asks for the fixture. It uses the
Toxiproxy at ``--toxiproxy-url`` (an option of the harness's pytest plugin) or
``TOXIPROXY_URL`` when set, else an embedded server for the session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from harness_toxiproxy import ToxiproxyClient


@pytest.fixture(scope="session")
def _harness_toxiproxy_url(pytestconfig: pytest.Config) -> Iterator[str]:
    from harness_toxiproxy import resolve_toxiproxy

    url = pytestconfig.getoption("toxiproxy_url", None) or os.environ.get("TOXIPROXY_URL")
    with resolve_toxiproxy({"TOXIPROXY_URL": url} if url else {}) as handle:
        yield handle.url


@pytest.fixture
def toxiproxy(_harness_toxiproxy_url: str) -> Iterator[ToxiproxyClient]:
    """A :class:`ToxiproxyClient` of the embedded server (or ``--toxiproxy-url``). Proxies the
    test creates are deleted after it; toxics it adds to existing proxies are removed."""
    from harness_toxiproxy import ToxiproxyClient

    client = ToxiproxyClient(_harness_toxiproxy_url)
    before = {name: {t.name for t in p.toxics} for name, p in client.proxies().items()}
    enabled = {name: p.enabled for name, p in client.proxies().items()}
    try:
        yield client
    finally:
        for name, proxy in client.proxies().items():
            if name not in before:
                client.delete_proxy(name, missing_ok=True)
                continue
            for toxic in proxy.toxics:
                if toxic.name not in before[name]:
                    client.remove_toxic(name, toxic.name, missing_ok=True)
            if proxy.enabled != enabled[name]:
                client.update_proxy(name, enabled=enabled[name])
