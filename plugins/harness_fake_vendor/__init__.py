"""harness_fake_vendor: a fake OpenAI/Anthropic server that fails on cue.

Public API (imported lazily, so loading the plugin does not import uvicorn):

- :class:`FakeVendor`: the server on 127.0.0.1 in a background thread (``start``/``stop``,
  context manager, ``url``, ``openai_base_url``, ``anthropic_base_url``, ``control``);
- :class:`VendorControl`: a client for its ``/_harness/`` control API;
- :func:`serve`: the blocking server the CLI runs (``python -m harness vendor serve``);
- :class:`VendorConfig`, :data:`DEFAULT_MODELS`, :data:`SUPPORTED_KINDS`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness_fake_vendor._config import DEFAULT_MODELS, VendorConfig
    from harness_fake_vendor._control import VendorControl
    from harness_fake_vendor._server import FakeVendor, serve
    from harness_fake_vendor._state import SUPPORTED_KINDS

__all__ = [
    "DEFAULT_MODELS",
    "SUPPORTED_KINDS",
    "FakeVendor",
    "VendorConfig",
    "VendorControl",
    "serve",
]

_WHERE = {
    "DEFAULT_MODELS": "_config",
    "VendorConfig": "_config",
    "VendorControl": "_control",
    "FakeVendor": "_server",
    "serve": "_server",
    "SUPPORTED_KINDS": "_state",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # Not cached in globals(): a re-imported submodule (pytester's in-process runs restore
    # sys.modules) must not leave a stale class behind this name.
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
