"""``HTTPTool``: an HTTP API as a tool, on httpx, with vendor-style error translation."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from harness.core._clock import get_clock
from harness.core._http import TRANSPORT_ERRORS, classify_response, translate_transport_error
from harness.core._policy import RetryPolicy
from harness.core._tool import BaseTool
from harness.core._transport import admission, mounted, pooled_client

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class HTTPTool(BaseTool):
    """Calls ``method base_url/path``; returns parsed JSON, or text for other content types.

    Idempotent (so retried) by default for GET, HEAD, OPTIONS, PUT and DELETE.
    """

    name: ClassVar[str] = "http"

    def __init__(
        self,
        base_url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        timeout: float | None = 10.0,
        policy: RetryPolicy | None = None,
        idempotent: bool | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        method = method.upper()
        super().__init__(
            timeout=timeout,
            policy=policy,
            idempotent=method in _IDEMPOTENT_METHODS if idempotent is None else idempotent,
        )
        self.base_url = base_url.rstrip("/")
        self.method = method
        self.headers = dict(headers or {})
        self._client = client
        self._own_client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is not None:
            return self._client
        if self._own_client is None:
            self._own_client = pooled_client()
        return self._own_client

    async def arun(  # type: ignore[override]
        self,
        path: str = "",
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        url = f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url
        client = mounted(url) or self._http()
        queue = admission(client)
        if queue is not None:  # the attempt's time limit bounds the wait
            await queue.enter(math.inf, provider=self.name)
        try:
            response = await client.request(
                self.method, url, params=params, json=json, headers=self.headers
            )
        except TRANSPORT_ERRORS as exc:
            raise translate_transport_error(exc, self.name) from exc
        finally:
            if queue is not None:
                queue.leave()
        if response.status_code >= 400:
            raise classify_response(
                provider=self.name,
                status=response.status_code,
                headers=response.headers,
                body=response.content,
                now_wall=get_clock().wall(),
            )
        if "json" in response.headers.get("content-type", ""):
            return response.json()
        return response.text

    async def aclose(self) -> None:
        if self._own_client is not None:
            await self._own_client.aclose()
            self._own_client = None
