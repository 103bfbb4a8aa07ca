"""One respx router for the whole process: in-process vendors register their base URLs on it.

respx patches httpx's clients process-wide (``using="httpx"``: whatever their transport), so a
single catch-all route dispatches: requests under a registered base URL go to that
:class:`InProcessVendor`, everything else passes through to the network untouched (the fake
vendor's control API, the target app, ...). The resilient core sends completions to aiohttp
directly, out of respx's sight: each vendor is also mounted on the core
(``harness.core.mount``) for as long as it is registered.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import respx

from harness.core import mount
from harness.plugin import FaultEntry, FaultInjectionError, FaultSchedule, HttpFault, parse_fault
from harness.plugin.wire.common import Api
from harness_respx._vendor import InProcessVendor


def _normal(base_url: str) -> str:
    """``base_url`` as httpx renders request URLs (lower-case host, no default port), so that
    ``https://API.example.com:443/v1`` matches requests to ``https://api.example.com/v1/...``."""
    return str(httpx.URL(base_url)).rstrip("/")


def _answering(
    vendor: InProcessVendor,
) -> Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]:
    """``vendor`` as an async ``httpx.MockTransport`` handler (it answers now or later)."""

    async def answer(request: httpx.Request) -> httpx.Response:
        response = vendor(request)
        return response if isinstance(response, httpx.Response) else await response

    return answer


class RespxRouter:
    """Starts respx when the first vendor registers and stops it when the last one leaves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._vendors: dict[str, InProcessVendor] = {}
        self._unmounts: dict[str, Callable[[], None]] = {}
        self._router: respx.MockRouter | None = None

    def _dispatch(self, request: httpx.Request) -> Any:
        url = str(request.url)
        for base, vendor in self._vendors.items():  # longest base first: the most specific
            # a whole path segment (``/v1`` is not ``/v10``) and a whole port (``:80`` is not
            # ``:8000``)
            if url.startswith(base) and url[len(base) : len(base) + 1] in ("", "/", "?", "#"):
                return vendor(request)
        return request  # not ours: pass through to the network

    def add(self, vendor: InProcessVendor) -> None:
        base = _normal(vendor.base_url)
        with self._lock:
            if base in self._vendors:
                owner = self._vendors[base]
                message = f"respx: {vendor.base_url} is already mocked by {owner!r}"
                raise FaultInjectionError(message)
            vendors = {**self._vendors, base: vendor}
            self._vendors = dict(sorted(vendors.items(), key=lambda item: -len(item[0])))
            self._unmounts[base] = mount(base, httpx.MockTransport(_answering(vendor)))
            if self._router is None:
                router = respx.MockRouter(
                    assert_all_mocked=False, assert_all_called=False, using="httpx"
                )
                router.route().mock(side_effect=self._dispatch)
                router.start()
                self._router = router

    def remove(self, vendor: InProcessVendor) -> None:
        with self._lock:
            base = _normal(vendor.base_url)
            if self._vendors.get(base) is vendor:
                self._vendors = {k: v for k, v in self._vendors.items() if k != base}
                self._unmounts.pop(base)()
            if not self._vendors and self._router is not None:
                self._router.stop()
                self._router = None

    @property
    def active(self) -> bool:
        return self._router is not None


ROUTER = RespxRouter()


class MockedVendor:
    """A vendor mocked in-process for the duration of a ``with`` block (see :func:`mock_vendor`)."""

    def __init__(self, vendor: InProcessVendor) -> None:
        self.vendor = vendor
        self.faults: list[FaultEntry] = []

    def inject(self, fault: HttpFault | dict[str, Any]) -> FaultSchedule:
        """Add a fault (a spec or its mapping); returns its schedule (``.fired``, ``.seen``)."""
        spec = parse_fault(fault)
        if not isinstance(spec, HttpFault):
            raise FaultInjectionError(
                f"respx injects HTTP faults only; {spec.kind!r} needs a Toxiproxy proxy"
            )
        entry = self.vendor.book.add(spec)
        self.faults.append(entry)
        return entry.schedule

    @property
    def requests(self) -> int:
        return self.vendor.requests


@contextmanager
def mock_vendor(
    base_url: str,
    api: Api = "openai",
    *,
    model: str | None = None,
    seed: int | None = None,
    strict: bool = True,
) -> Iterator[MockedVendor]:
    """Answer httpx requests to ``base_url`` in-process as a fake ``api`` vendor.

    ``strict`` (the default, like respx's ``assert_all_called``): leaving the block fails if the
    vendor was never called or an injected fault (not ``optional``) never fired.
    """
    vendor = InProcessVendor(base_url, api, base_url, model=model, seed=seed)
    mocked = MockedVendor(vendor)
    ROUTER.add(vendor)
    try:
        yield mocked
    finally:
        ROUTER.remove(vendor)
    if strict:
        problems = []
        if vendor.requests == 0:
            problems.append(f"{base_url} was never called")
        problems += [
            f"fault {entry.spec.label()!r} never fired ({entry.schedule.seen} matching requests)"
            for entry in mocked.faults
            if not entry.spec.optional and entry.schedule.fired == 0
        ]
        if problems:
            raise FaultInjectionError("respx: " + "; ".join(problems))
