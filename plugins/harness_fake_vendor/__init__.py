"""harness_fake_vendor: a fake OpenAI/Anthropic server that fails on cue.

Public API (imported lazily, so loading the plugin does not import uvicorn):

- :class:`FakeVendor`: the server on 127.0.0.1 in a background thread (``start``/``stop``,
  context manager, ``url``, ``openai_base_url``, ``anthropic_base_url``, ``control``);
- :class:`VendorControl`: a client for its ``/_harness/`` control API;
- :func:`serve`: the blocking server the CLI runs (``python -m harness vendor serve``);
- :class:`VendorConfig`, :data:`DEFAULT_MODELS`, :data:`SUPPORTED_KINDS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.lazy import lazy_exports

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
    "DEFAULT_MODELS": "._config",
    "VendorConfig": "._config",
    "VendorControl": "._control",
    "FakeVendor": "._server",
    "serve": "._server",
    "SUPPORTED_KINDS": "._state",
}


__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
