"""The stack as child processes: what a load test runs against.

``ProcessStack`` starts, on 127.0.0.1 with free ports, the fake vendors, the embedded Toxiproxy
(or uses ``TOXIPROXY_URL``), the proxies the scenario declares, and the target service (uvicorn,
via ``python -m harness app serve``), or takes the user's own service by URL. It waits for each
to be ready and stops all of them on exit, on success, failure, Ctrl-C and SIGTERM. A server
that will not start raises :class:`InfrastructureError` (exit code 3) with its last output.

:class:`StackInfo` is the JSON description (``harness stack up`` writes it) another process
(the Locust master) attaches to: endpoints, the target URL, the processes to stop, each with
the identity it had when it started (so ``harness stack down`` never signals a reused pid).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

from harness.errors import InfrastructureError, InputError
from harness.plugin.closing import Closing
from harness.plugin.process import ProcessIdentity, started_identity
from harness.plugin.types import Endpoint, RunContext
from harness.report.files import new_run_id, write_atomic
from harness.run.launch import StartedTarget, launch_target, target_env
from harness.run.signals import deferred_signals
from harness.run.stack import Stack
from harness.scenario.wiring import endpoint_values

if TYPE_CHECKING:
    from harness.plugin.manager import PluginManager
    from harness.scenario.model import Scenario


@dataclass
class StackInfo:
    """A started stack, as JSON: enough for another process to drive faults against it."""

    run_id: str
    seed: int
    target_url: str
    endpoints: list[dict[str, Any]]
    pids: list[int] = field(default_factory=list)
    scenario: str = ""
    # ProcessIdentity.to_json() of each pid, as recorded when it started; a file written before
    # identities were recorded has none, and its pids are never signalled
    processes: list[dict[str, Any]] = field(default_factory=list)
    # the environment for a target started by hand against this stack (``harness stack env``)
    env: dict[str, str] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        write_atomic(path, json.dumps(self.__dict__, indent=2))

    @classmethod
    def load(cls, path: Path) -> StackInfo:
        try:
            data = json.loads(Path(path).read_text("utf-8"))
            info = cls(**data)
            for row in info.processes:
                ProcessIdentity.from_json(row)
            if not all(type(pid) is int for pid in info.pids):
                raise ValueError(f"expected 'pids' to be a list of integers, got {info.pids!r}")
        except (OSError, ValueError, TypeError, RecursionError) as exc:
            raise InputError(
                f"{path}: not a stack file written by `harness stack up` ({exc})"
            ) from None
        return info

    def identity(self, pid: int) -> ProcessIdentity | None:
        """The identity ``pid`` had when the stack started it (None: not recorded)."""
        for row in self.processes:
            identity = ProcessIdentity.from_json(row)
            if identity.pid == pid:
                return identity
        return None

    def endpoint_lines(self) -> list[str]:
        """One line per endpoint with the address each client form needs (what ``harness
        stack up`` prints)."""
        lines = []
        for described in self.endpoints:
            kind = "upstreams" if described.get("role") == "upstream" else "proxies"
            values = endpoint_values(kind, _Described(described))
            fields = [
                f"{name.rsplit('.', 1)[1]}={value}"
                for name, value in values.items()
                if not name.endswith((".host", ".port"))
            ]
            lines.append(
                f"{described['role']} {described['name']} ({described['backend']}): "
                + " ".join(fields)
            )
        return lines

    def attach(self, pm: PluginManager, run: RunContext) -> dict[str, Endpoint]:
        """Re-create the endpoints in this process (clients only; servers stay up)."""
        endpoints: dict[str, Endpoint] = {}
        for descriptor in self.endpoints:
            backend = pm.backends.get(descriptor["backend"])
            if backend is None:
                raise InfrastructureError(
                    f"no plugin can attach to {descriptor['name']!r} ({descriptor['backend']})",
                    "load the same harness plugins as the process that started the stack",
                )
            endpoint = backend.attach(descriptor, run)
            endpoints[endpoint.name] = endpoint
        return endpoints


@dataclass(frozen=True, slots=True)
class _Described:
    """An endpoint as its stack file describes it (what a placeholder needs)."""

    data: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def url(self) -> str | None:
        return self.data.get("url")

    @property
    def address(self) -> str | None:
        return self.data.get("address")


class AttachedStack(Closing):
    """The endpoints of a stack another process started (``harness stack up``), attached for
    one run: clients only; closing releases them and leaves the servers up."""

    def __init__(self, info: StackInfo, pm: PluginManager, run: RunContext) -> None:
        self.info = info
        self.pm = pm
        self.run = run

    def __enter__(self) -> Self:
        self.run.endpoints.update(self.info.attach(self.pm, self.run))
        return self

    def close(self) -> None:
        while self.run.endpoints:
            _, endpoint = self.run.endpoints.popitem()
            endpoint.close()


def stack_run(
    scenario: Scenario,
    *,
    seed: int | None,
    report_dir: Path,
    source: Path,
    resilience: bool = True,
    **more: Any,
) -> RunContext:
    """A new run of ``scenario`` for a :class:`ProcessStack`: a fresh run id, the scenario's
    seed unless ``seed`` is given; ``more`` are further :class:`RunContext` fields."""
    return RunContext(
        run_id=new_run_id(scenario.name),
        seed=scenario.run_seed(seed),
        report_dir=report_dir,
        scenario=scenario,
        resilience=resilience,
        source=source,
        **more,
    )


class ProcessStack(Closing):
    """Upstreams, proxies and the target service as child processes (a context manager)."""

    def __init__(
        self,
        scenario: Scenario,
        pm: PluginManager,
        run: RunContext,
    ) -> None:
        run.isolation = "process"
        self.scenario = scenario
        self.run = run
        self.stack = Stack(scenario, pm, run)
        self.target: StartedTarget | None = None
        self.target_url = ""

    def start(self) -> StackInfo:
        try:
            self.stack.start()
            self.target_url = self._start_target()
        except BaseException:
            self.close()
            raise
        return self.info()

    def _start_target(self) -> str:
        self.target = launch_target(self.scenario, self.run)
        return self.target.url

    def info(self) -> StackInfo:
        pids = [self.target.pid] if self.target and self.target.pid else []
        for endpoint in self.run.endpoints.values():
            pid = endpoint.descriptor.get("pid")
            if pid and pid not in pids:
                pids.append(pid)
        processes = []
        for pid in pids:
            # recorded when the child started; a plugin's process started some other way is
            # read now, while it is still the plugin's (None: it has already exited)
            identity = started_identity(pid) or ProcessIdentity.of(pid)
            if identity is not None:
                processes.append(identity.to_json())
        port = urlsplit(self.target_url).port if self.target_url else None
        return StackInfo(
            run_id=self.run.run_id,
            seed=self.run.seed,
            target_url=self.target_url,
            endpoints=[e.describe() for e in self.run.endpoints.values()],
            pids=pids,
            scenario=self.scenario.name,
            processes=processes,
            env=target_env(self.scenario, self.run, port),
        )

    def close(self) -> None:
        # held signals: a second Ctrl-C must not leave the service unstopped or unreaped
        with deferred_signals():
            try:
                if self.target is not None:
                    self.target.stop()
            finally:
                self.stack.close()

    def __enter__(self) -> Self:
        self.start()
        return self
