"""Settings of one fake vendor server, and the checked way to build them from options."""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any

from pydantic import ConfigDict, ValidationError
from pydantic.dataclasses import dataclass

from harness.plugin import InputError, loopback_problem
from harness.plugin.wire.text import Reply, echo_reply

DEFAULT_MODELS: tuple[str, ...] = (
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1-mini",
    "claude-haiku-4-5",
    "claude-sonnet-4-6",
)

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
"""The largest request body the vendor reads (4 MiB); a larger one is answered 413."""


# strict: no coercion ("5" is not 5, 1 is not True); finite numbers only
@dataclass(frozen=True, config=ConfigDict(strict=True, allow_inf_nan=False))
class VendorConfig:
    """Everything a :class:`~harness_fake_vendor.FakeVendor` can be told at construction.

    - ``seed``: default seed of every fault schedule that has none (reproducible runs);
    - ``models``: what ``GET /v1/models`` lists (any model name is accepted in requests);
    - ``rate_limit_*``: the window the ``x-ratelimit-*`` / ``anthropic-ratelimit-*`` headers
      report (the requests family always; the tokens family only when ``rate_limit_tokens`` is
      set, since each header costs throughput); with ``enforce_rate_limit`` an exhausted
      window answers 429 (requests only);
    - ``require_api_key``: answer 401 when the request carries no key;
    - ``stream_chunk_delay``: pause between two SSE events (seconds; 0 sends them back to back);
    - ``graceful_timeout``: on stop, how long in-flight answers may finish before being cancelled;
    - ``max_body_bytes``: a larger request body is read to its end, dropped and answered 413 in
      the vendor's own error format (no parsing, so a huge prompt cannot stall the server);
    - ``reply``: turns the last user message into the answer (default ``echo: <text>``); for
      a large request it runs in a worker thread, so it must not touch the event loop.
    """

    host: str = "127.0.0.1"
    port: int = 0
    seed: int | None = None
    models: Sequence[str] = DEFAULT_MODELS
    rate_limit_requests: int = 10_000
    rate_limit_tokens: int | None = None
    rate_limit_window: float = 60.0
    enforce_rate_limit: bool = False
    require_api_key: bool = True
    stream_chunk_delay: float = 0.0
    graceful_timeout: float = 1.0
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    reply: Reply = field(default=echo_reply)

    def __post_init__(self) -> None:
        problem = loopback_problem("fake vendor host", self.host)
        if problem is not None:
            raise InputError(problem)
        if not 0 <= self.port <= 65535:
            raise InputError(f"fake vendor port must be between 0 and 65535, got {self.port}")
        if self.rate_limit_requests < 1 or (
            self.rate_limit_tokens is not None and self.rate_limit_tokens < 1
        ):
            raise InputError("fake vendor rate limits must be at least 1")
        if self.rate_limit_window <= 0:
            raise InputError("fake vendor rate_limit_window must be positive")
        if self.stream_chunk_delay < 0 or self.graceful_timeout < 0:
            raise InputError("fake vendor delays must not be negative")
        if self.max_body_bytes < 1:
            raise InputError(
                f"fake vendor max_body_bytes must be at least 1, got {self.max_body_bytes}"
            )
        if isinstance(self.models, str):
            raise InputError(f"fake vendor models must be a list of names, got {self.models!r}")
        object.__setattr__(self, "models", tuple(self.models))


OPTION_NAMES: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(VendorConfig) if f.name not in ("host", "port", "seed")
)
"""The keyword options of :class:`~harness_fake_vendor.FakeVendor` and ``serve()``."""

_SHORT = reprlib.Repr()
_SHORT.maxstring = 60
_SHORT.maxother = 60


def vendor_config(
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int | None = None,
    options: Mapping[str, Any] | None = None,
) -> VendorConfig:
    """A :class:`VendorConfig` from keyword options, every problem an :class:`InputError`.

    An unknown option is named with the known ones; a value of the wrong type names the
    option, what it expects and what it got (``rate_limit_requests: Input should be a valid
    integer (got 'many')``). ``None`` for ``models`` or ``reply`` means the default.
    """
    options = dict(options or {})
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise InputError(
            f"unknown fake vendor option(s) {', '.join(map(repr, unknown))}; "
            f"the options are: {', '.join(OPTION_NAMES)}"
        )
    for name in ("models", "reply"):
        if options.get(name, 0) is None:
            del options[name]
    data: dict[str, Any] = {
        "host": "127.0.0.1" if host == "localhost" else host,
        "port": port,
        "seed": seed,
    }
    try:
        return VendorConfig(**data, **options)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(part) for part in err["loc"]) or "(options)"
            got = f" (got {_SHORT.repr(err['input'])})" if "input" in err else ""
            problems.append(f"{where}: {err['msg']}{got}")
        raise InputError("invalid fake vendor option(s): " + "; ".join(problems)) from None
