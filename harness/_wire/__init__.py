"""Vendor wire formats: the exact bytes OpenAI and Anthropic send, as pure functions.

Shared by the fake-vendor server (``harness_fake_vendor``) and the in-process respx backend, so
both answer with the same bodies, SSE events, error shapes and headers. Nothing here does I/O
or keeps state: callers pass ids and clocks in.

- :mod:`harness._wire.common`: :class:`WireResponse`, JSON encoding, ids, HTTP dates.
- :mod:`harness._wire.sse`: Server-Sent Events framing.
- :mod:`harness._wire.text`: the deterministic answer (an echo) and its token counts.
- :mod:`harness._wire.openai` / :mod:`harness._wire.anthropic`: each vendor's bodies and headers.
- :mod:`harness._wire.errors`: an :class:`~harness._faults.HttpStatusFault` as a vendor answer.
"""

from __future__ import annotations

from harness._wire.common import APIS, Api, WireResponse
from harness._wire.errors import fault_response, retry_after_headers

__all__ = ["APIS", "Api", "WireResponse", "fault_response", "retry_after_headers"]
