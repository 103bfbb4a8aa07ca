"""The stack as child processes: what a load test runs against.

``ProcessStack`` starts, on 127.0.0.1 with free ports, the fake vendors, the embedded Toxiproxy
(or uses ``TOXIPROXY_URL``), the proxies the scenario declares, and the target service (uvicorn,
via ``python -m harness app serve``), or takes the user's own service by URL. It waits for each
to be ready and stops all of them on exit, on success, failure, Ctrl-C and SIGTERM. A server
that will not start raises :class:`InfrastructureError` (exit code 3) with its last output.

:class:`StackInfo` is the JSON description (``harness stack up`` writes it) another process
(the Locust master) attaches to: endpoints, the target URL, the pids to stop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from harness.errors import InfrastructureError, InputError
from harness.plugin.types import Endpoint, RunContext
from harness.report.files import write_atomic
from harness.run.launch import StartedTarget, launch_target
from harness.run.stack import Stack

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

    def save(self, path: Path) -> None:
        write_atomic(path, json.dumps(self.__dict__, indent=2))

    @classmethod
    def load(cls, path: Path) -> StackInfo:
        try:
            data = json.loads(Path(path).read_text("utf-8"))
            return cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise InputError(
                f"{path}: not a stack file written by `harness stack up` ({exc})"
            ) from None

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


class ProcessStack:
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
        return StackInfo(
            run_id=self.run.run_id,
            seed=self.run.seed,
            target_url=self.target_url,
            endpoints=[e.describe() for e in self.run.endpoints.values()],
            pids=pids,
            scenario=self.scenario.name,
        )

    def close(self) -> None:
        try:
            if self.target is not None:
                self.target.stop()
        finally:
            self.stack.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
