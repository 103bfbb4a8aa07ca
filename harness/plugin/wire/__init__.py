"""Vendor wire formats: the exact bytes OpenAI and Anthropic send, as pure functions.

Shared by the fake-vendor server (``harness_fake_vendor``) and the in-process respx backend, so
both answer with the same bodies, SSE events, error shapes and headers. Nothing here does I/O
or keeps state: callers pass ids and clocks in.

- :mod:`harness.plugin.wire.common`: :class:`WireResponse`, JSON encoding, ids, HTTP dates.
- :mod:`harness.plugin.wire.sse`: Server-Sent Events framing.
- :mod:`harness.plugin.wire.text`: the deterministic answer (an echo) and its token counts.
- :mod:`harness.plugin.wire.openai` / :mod:`harness.plugin.wire.anthropic`: each vendor's
  bodies and headers.
- :mod:`harness.plugin.wire.errors`: an :class:`~harness.plugin.HttpStatusFault` as a vendor
  answer.
"""

from __future__ import annotations

from harness.plugin.wire.common import APIS, Api, WireResponse
from harness.plugin.wire.errors import fault_response, retry_after_headers

__all__ = ["APIS", "Api", "WireResponse", "fault_response", "retry_after_headers"]
