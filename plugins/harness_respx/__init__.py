"""harness_respx: in-process fault injection for httpx code, with no server (built-in plugin).

A fake OpenAI/Anthropic vendor answered through respx inside the test process, with the same
HTTP fault specs (and the same combination rules) as the fake vendor server:

- as a scenario backend: an upstream with ``backend: respx``;
- directly: ``with mock_vendor("https://api.openai.com/v1") as vendor: vendor.inject({...})``,
  strict like respx's ``assert_all_called`` (a vendor never called or a fault never fired fails).
"""

from __future__ import annotations

from harness_respx._router import ROUTER, MockedVendor, RespxRouter, mock_vendor
from harness_respx._vendor import InProcessVendor

__all__ = ["ROUTER", "InProcessVendor", "MockedVendor", "RespxRouter", "mock_vendor"]
