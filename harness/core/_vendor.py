"""What the core's own vendor providers (OpenAI, Anthropic) share: settings from the environment
and the vendors' token counts."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar, TypedDict

from harness.core._clock import Clock
from harness.core._http import Secret
from harness.core._providers import HTTPProvider, Timeouts, Usage


class VendorOptions(TypedDict, total=False):
    """The keyword arguments of every vendor provider (see :class:`VendorProvider`)."""

    model: str | None
    base_url: str | None
    api_key: str | Secret | None
    name: str | None
    timeouts: Timeouts | None
    headers: Mapping[str, str] | None
    clock: Clock | None


class VendorProvider(HTTPProvider):
    """An :class:`HTTPProvider` for one vendor's API. Unset arguments come from the environment,
    ``{env_prefix}_MODEL``, ``{env_prefix}_BASE_URL`` and ``{env_prefix}_API_KEY``, then from
    the class's defaults; the name defaults to ``{api}:{model}``."""

    env_prefix: ClassVar[str]
    default_base_url: ClassVar[str]
    default_model: ClassVar[str]

    def __init__(
        self,
        *,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | Secret | None = None,
        name: str | None = None,
        timeouts: Timeouts | None = None,
        headers: Mapping[str, str] | None = None,
        clock: Clock | None = None,
    ) -> None:
        env = self.env_prefix
        model = model or os.environ.get(f"{env}_MODEL") or self.default_model
        super().__init__(
            name=name or f"{self.api}:{model}",
            base_url=self.normal_base_url(
                base_url or os.environ.get(f"{env}_BASE_URL") or self.default_base_url
            ),
            model=model,
            api_key=api_key if api_key is not None else os.environ.get(f"{env}_API_KEY"),
            timeouts=timeouts,
            headers=headers,
            clock=clock,
        )

    @staticmethod
    def normal_base_url(url: str) -> str:
        """The base URL as the provider's paths expect it."""
        return url


def usage_from(usage: Mapping[str, Any], input_key: str, output_key: str) -> Usage:
    """Token counts from a vendor's usage object (a missing or null count is 0)."""
    return Usage(
        input_tokens=int(usage.get(input_key) or 0),
        output_tokens=int(usage.get(output_key) or 0),
    )
