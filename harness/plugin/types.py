"""The objects that cross the plugin seam (see ``harness.plugin.hookspecs``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from harness.report.model import Report
    from harness.scenario.faults import FaultSpec
    from harness.scenario.model import Scenario


@dataclass(frozen=True, slots=True)
class FaultBackend:
    """Something that injects faults: ``kinds`` it supports, at ``where`` (upstreams or proxies)."""

    name: str
    kinds: frozenset[str]
    where: Literal["upstream", "proxy"]
    description: str = ""


@dataclass(frozen=True, slots=True)
class Reporter:
    """Renders a :class:`~harness.Report` into one file named ``<run-id><suffix>``.

    ``write`` must write atomically (``harness.write_atomic`` does it for you).
    """

    name: str
    suffix: str
    write: Callable[[Report, Path], None]
    description: str = ""


def _noop() -> None:
    return None


@dataclass(slots=True)
class Endpoint:
    """A started upstream or proxy: where clients reach it and who injects faults there.

    ``url`` is the API base URL clients use (``http://127.0.0.1:PORT/v1``), ``address`` the
    ``host:port`` a TCP proxy can forward to. ``close`` stops whatever was started.
    ``descriptor`` (JSON-able, with a ``backend`` key) lets another process attach to it.
    """

    name: str
    role: Literal["upstream", "proxy"]
    backend: str
    url: str | None = None
    address: str | None = None
    api: str | None = None
    handle: Any = None
    close: Callable[[], None] = _noop
    descriptor: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """Everything another process needs to attach to this endpoint."""
        return {
            "name": self.name,
            "role": self.role,
            "backend": self.backend,
            "url": self.url,
            "address": self.address,
            "api": self.api,
            **self.descriptor,
        }


@dataclass(slots=True)
class AppliedFault:
    """A fault in force. The backend fills ``fired`` when it reverts it."""

    fault: FaultSpec
    backend: str
    endpoint: str
    handle: Any = None
    phase: str | None = None
    fired: int | None = None
    reverted: bool = False

    @property
    def label(self) -> str:
        return self.fault.label()


@dataclass(slots=True)
class RunContext:
    """One run: its id, seed and options, what was started, and a stash for plugins."""

    run_id: str
    seed: int
    report_dir: Path
    scenario: Scenario | None = None
    options: dict[str, Any] = field(default_factory=dict)
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    stash: dict[str, Any] = field(default_factory=dict)
