"""Helpers shared by the engine's tests (imported by name: tests/engine is on sys.path)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.measure.sla import SLAError, parse_threshold
from harness.scenario.loader import parse_scenario


class FakeNow:
    """A clock for the recorder: ``now()`` returns ``t``, which the test moves."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def scenario_error(text: str, source: str = "s.yaml") -> ScenarioError:
    """The error ``parse_scenario`` raises for ``text`` (dedented); fails if it loads."""
    try:
        parse_scenario(textwrap.dedent(text).lstrip("\n"), source)
    except ScenarioError as exc:
        return exc
    raise AssertionError(f"expected a ScenarioError for:\n{text}")


def threshold_error(text: object) -> str:
    """The message of the ``SLAError`` that ``parse_threshold`` raises for ``text``."""
    with pytest.raises(SLAError) as info:
        parse_threshold(text)
    return str(info.value)


DEMO_PLUGIN = '''\
"""A tiny third-party harness plugin: a ``coin_flip`` fault injected by a ``demo`` backend.

Written against the public plugin API alone (``harness.plugin``) and the core's public event
bus. Its upstream is a no-op; while a coin_flip fault is applied it counts the resilient core's
finished calls and reports them as ``fired``.
"""

from __future__ import annotations

from typing import Literal

from harness.core import CallFinished, subscribe
from harness.plugin import (
    AppliedFault,
    Endpoint,
    FaultBackend,
    FaultSpec,
    InfrastructureError,
    RunContext,
    UpstreamSpec,
    hookimpl,
)

LOG: list[str] = []


class CoinFlipFault(FaultSpec):
    kind: Literal["coin_flip"] = "coin_flip"
    heads: bool = True


class DemoBackend(FaultBackend):
    name = "demo"
    kinds = frozenset({"coin_flip"})
    where = "upstream"
    description = "flips coins"

    def start_upstream(self, upstream: UpstreamSpec, run: RunContext) -> Endpoint:
        if upstream.options.get("fail"):
            raise InfrastructureError("the demo upstream refuses to start", "remove options.fail")
        LOG.append(f"start {upstream.name}")
        return self.endpoint(upstream, close=lambda: LOG.append(f"close {upstream.name}"))

    def apply(self, fault: FaultSpec, endpoint: Endpoint, run: RunContext) -> AppliedFault:
        seen: list[object] = []
        unsubscribe = subscribe(lambda e: seen.append(e) if isinstance(e, CallFinished) else None)
        LOG.append(f"apply {fault.label()} heads={fault.heads}")
        return self.applied(fault, endpoint, (seen, unsubscribe))

    def revert(self, applied: AppliedFault, run: RunContext) -> None:
        seen, unsubscribe = applied.handle
        unsubscribe()
        applied.fired = len(seen)
        LOG.append(f"revert {applied.label} fired={'some' if seen else 'none'}")


@hookimpl
def harness_fault_kinds():
    return [CoinFlipFault]


@hookimpl
def harness_fault_backends():
    return [DemoBackend()]
'''


def write_distribution(
    root: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]
) -> None:
    """Install nothing, but make ``root`` hold what ``pip install`` would leave in
    site-packages: the modules and a ``<dist>-1.0.dist-info`` with ``METADATA`` and an
    ``entry_points.txt`` declaring ``entry_points`` (name -> ``module[:attr]``) in the
    ``harness`` group. Put ``root`` on ``sys.path`` and importlib.metadata finds it."""
    for module, source in modules.items():
        (root / f"{module}.py").write_text(source)
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[harness]\n{lines}")
    (info / "RECORD").write_text("")


def install_demo_plugin(tmp_path: Path) -> Path:
    """``DEMO_PLUGIN`` "installed" in ``tmp_path / "site"`` (a dist-info with a ``harness``
    entry point); returns that directory, for ``sys.path`` or ``PYTHONPATH``."""
    site = tmp_path / "site"
    site.mkdir()
    write_distribution(
        site,
        "harness-demo-plugin",
        {"demo": "harness_demo_plugin"},
        {"harness_demo_plugin": DEMO_PLUGIN},
    )
    return site


DEMO_SCENARIO = """\
name: third party
seed: 3
target: {core: llm}
upstreams:
  - {name: primary, api: openai, backend: respx}
  - {name: coin, api: sqlite, backend: demo%(options)s}
load: {users: 2, think_time: 5ms}
phases:
  - {name: calm, duration: 150ms}
  - name: flipping
    duration: 150ms
    faults: [{kind: coin_flip, target: coin, heads: false}]
sla:
  - availability >= 99%%
  - p95 < 1s phase=flipping
"""
