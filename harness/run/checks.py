"""Checks of a valid scenario against the loaded plugins: do the backends exist, and does the
backend at each fault's target support that fault kind?"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.errors import ScenarioError

if TYPE_CHECKING:
    from harness.plugin.manager import PluginManager
    from harness.scenario.model import Scenario


def check_scenario(scenario: Scenario, pm: PluginManager, source: str = "<scenario>") -> None:
    problems: list[tuple[str, str]] = []
    backends: dict[str, str] = {}
    for i, upstream in enumerate(scenario.upstreams):
        backends[upstream.name] = upstream.backend
        if upstream.backend != "url" and upstream.backend not in pm.backends:
            problems.append(
                (
                    f"upstreams[{i}].backend",
                    f"no plugin provides backend {upstream.backend!r} "
                    f"(loaded: {', '.join(sorted(pm.backends)) or 'none'})",
                )
            )
    for i, proxy in enumerate(scenario.proxies):
        backends[proxy.name] = proxy.backend
        if proxy.backend not in pm.backends:
            problems.append(
                (
                    f"proxies[{i}].backend",
                    f"no plugin provides backend {proxy.backend!r} "
                    f"(loaded: {', '.join(sorted(pm.backends)) or 'none'})",
                )
            )
    for p, phase in enumerate(scenario.phases):
        for f, fault in enumerate(phase.faults):
            endpoint = scenario.fault_target(fault)
            backend_name = backends.get(endpoint)
            backend = pm.backends.get(backend_name or "")
            if backend is None:
                if backend_name == "url":
                    problems.append(
                        (
                            f"phases[{p}].faults[{f}]",
                            f"{endpoint!r} is a real URL: "
                            "only a proxy in front of it can inject faults",
                        )
                    )
                continue
            if fault.kind not in backend.kinds:
                problems.append(
                    (
                        f"phases[{p}].faults[{f}].kind",
                        f"{fault.kind!r} cannot be injected at {endpoint!r} (backend "
                        f"{backend.name!r} supports: {', '.join(sorted(backend.kinds))})",
                    )
                )
    if problems:
        raise ScenarioError(source, problems)
