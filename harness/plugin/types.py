"""The objects that cross the plugin seam: the run, its endpoints, applied faults, backends.

A **fault backend** is an object (a :class:`FaultBackend` subclass) that serves upstreams or
proxies and injects faults at them. The engine calls exactly one backend per endpoint, the
one the endpoint names, as httpx sends a request to exactly one transport: a backend never
sees, and never filters, another backend's endpoints or faults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from harness.errors import InfrastructureError, PluginError

if TYPE_CHECKING:
    from harness.measure.vendor import VendorStats
    from harness.report.model import Report
    from harness.scenario.faults import FaultSpec
    from harness.scenario.model import ProxySpec, Scenario, UpstreamSpec

Isolation = Literal["thread", "process"]
Role = Literal["upstream", "proxy"]


@dataclass(slots=True)
class RunContext:
    """One run: its id, seed and where its files go, how servers start, what was started.

    - ``isolation``: ``"thread"`` serves upstreams and proxies inside this process (``harness
      run``, pytest); ``"process"`` starts each as a child process, so another process (the
      Locust workers) can reach and fault them.
    - ``detached``: children outlive this process (``harness stack up``), their output goes to
      files in ``log_dir``.
    - ``toxiproxy_url``: a running Toxiproxy to use instead of the embedded one.
    - ``resilience``: whether the target runs with the resilient core on (the naive client off).
    - ``source``: the scenario file (relative paths in it are relative to its directory).
    - ``stash``: per-run state a backend keeps (keyed by its name).
    """

    run_id: str
    seed: int
    report_dir: Path
    scenario: Scenario | None = None
    source: Path | None = None
    isolation: Isolation = "thread"
    detached: bool = False
    log_dir: Path | None = None
    toxiproxy_url: str | None = None
    resilience: bool = True
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    stash: dict[str, Any] = field(default_factory=dict)

    @property
    def workdir(self) -> Path:
        """A directory for this run's scratch files (databases, stack files); removed after."""
        return self.report_dir / ".work" / self.run_id


def _noop() -> None:
    return None


@dataclass(slots=True)
class Endpoint:
    """A started upstream or proxy: where clients reach it and which backend injects faults.

    ``url`` is the API base URL clients use (``http://127.0.0.1:PORT/v1``), ``address`` the
    ``host:port`` a TCP proxy can forward to. ``close`` stops whatever was started.
    ``descriptor`` (JSON-able) holds what another process needs to attach to it.
    """

    name: str
    role: Role
    backend: str
    url: str | None = None
    address: str | None = None
    api: str | None = None
    handle: Any = None
    close: Callable[[], None] = _noop
    descriptor: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """Everything another process needs to attach to this endpoint (JSON-able)."""
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
    """A fault in force. The backend fills ``fired`` when it reverts it (None: not countable)."""

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


class FaultBackend:
    """Serves upstreams (``where = "upstream"``) or proxies (``"proxy"``) and injects faults.

    Subclass it, set the class attributes, implement :meth:`apply` and :meth:`revert` and the
    start method of your ``where``, and return an instance from the ``harness_fault_backends``
    hook. The engine calls a backend only for the endpoints that name it.

    ``name`` is what scenarios write as ``backend:``; ``kinds`` the fault kinds it can inject
    (each declared by the engine or a plugin's ``harness_fault_kinds``).
    """

    name: ClassVar[str]
    kinds: ClassVar[frozenset[str]]
    where: ClassVar[Role]
    description: ClassVar[str] = ""

    # -- starting ----------------------------------------------------------------------------

    def start_upstream(self, upstream: UpstreamSpec, run: RunContext) -> Endpoint:
        """Start (or connect) ``upstream`` for ``run`` and return its endpoint, whose ``close``
        stops it. Honour ``run.isolation``: with ``"process"`` another process must be able to
        reach it (and :meth:`attach` to it)."""
        raise PluginError(f"backend {self.name!r} does not serve upstreams")

    def start_proxy(self, proxy: ProxySpec, upstream: str, run: RunContext) -> Endpoint:
        """Create a network proxy in front of ``upstream`` (``host:port``)."""
        raise PluginError(f"backend {self.name!r} does not serve proxies")

    def attach(self, descriptor: dict[str, Any], run: RunContext) -> Endpoint:
        """Re-create, in another process, an endpoint this backend started (``descriptor`` is
        what its :attr:`Endpoint.descriptor` held, plus the :meth:`Endpoint.describe` keys).
        The endpoint's ``close`` must release clients only, never stop the server."""
        raise InfrastructureError(
            f"backend {self.name!r} cannot be reached from another process",
            "use a backend that serves over the network (e.g. fake_vendor) for load tests",
        )

    def adopt(self, target: object, run: RunContext, *, api: str = "openai") -> Endpoint | None:
        """The endpoint for something a test names as where to inject (``chaos.inject(fault,
        at=target, api=...)``: a server object of yours, a URL, a proxy name), or None when
        ``target`` is not yours (``api`` says which vendor a bare URL speaks). Backends are
        asked in plugin order; the first endpoint wins. Anything started here is the
        backend's to stop in the endpoint's ``close``."""
        return None

    # -- faults ------------------------------------------------------------------------------

    def apply(self, fault: FaultSpec, endpoint: Endpoint, run: RunContext) -> AppliedFault:
        """Inject ``fault`` at ``endpoint``; return the handle :meth:`revert` gets back. Raise
        ``FaultInjectionError`` when it cannot be applied: never return without applying it."""
        raise NotImplementedError

    def revert(self, applied: AppliedFault, run: RunContext) -> None:
        """Remove a fault this backend applied, verify it is gone, and set ``applied.fired``
        to how many times it took effect (None when the backend cannot count)."""
        raise NotImplementedError

    # -- the vendor-side ledger ----------------------------------------------------------------

    def mark_phase(self, endpoint: Endpoint, phase: str | None, run: RunContext) -> None:
        """Tell ``endpoint`` that ``phase`` starts now (None: the run's last phase ended), so
        it counts what reaches it per phase (:class:`~harness.plugin.VendorLedger`). Called for
        every endpoint of the run at each phase entry and at the end. The default does
        nothing: a backend that cannot count."""
        return

    def ledger(self, endpoint: Endpoint, run: RunContext) -> dict[str, VendorStats] | None:
        """What reached ``endpoint`` in each phase marked since the run's first phase (read
        once, at the end), or None when this backend cannot count (e.g. a real Toxiproxy)."""
        return None

    # -- helpers for subclasses --------------------------------------------------------------

    def endpoint(self, spec: UpstreamSpec | ProxySpec, **fields: Any) -> Endpoint:
        """An :class:`Endpoint` for ``spec`` served by this backend (name, role, backend and
        api filled in)."""
        api = getattr(spec, "api", None)
        return Endpoint(name=spec.name, role=self.where, backend=self.name, api=api, **fields)

    def attached(self, described: dict[str, Any], **fields: Any) -> Endpoint:
        """An :class:`Endpoint` re-created from what :meth:`Endpoint.describe` gave (see
        :meth:`attach`); ``fields`` override or add (``handle``, ``close``, ...)."""
        base = {k: described.get(k) for k in ("url", "address", "api")}
        return Endpoint(
            name=described["name"],
            role=described.get("role", self.where),
            backend=self.name,
            **{**base, **fields},
        )

    def applied(self, fault: FaultSpec, endpoint: Endpoint, handle: Any) -> AppliedFault:
        """The :class:`AppliedFault` for ``fault`` applied at ``endpoint``."""
        return AppliedFault(fault=fault, backend=self.name, endpoint=endpoint.name, handle=handle)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.name!r} ({self.where}: {', '.join(sorted(self.kinds))})>"
        )


@dataclass(frozen=True, slots=True)
class Reporter:
    """Renders a :class:`~harness.plugin.Report` into one file named ``<run-id><suffix>``.

    ``write`` must write atomically (:func:`harness.plugin.write_atomic` does it for you).
    """

    name: str
    suffix: str
    write: Callable[[Report, Path], None]
    description: str = ""
