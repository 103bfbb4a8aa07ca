"""The scenario file: the one declarative input, validated strictly.

A scenario says what to run against (``target``), which fake or real upstreams and which
network proxies sit between them, the load, the **phases** with the faults each one injects,
and the SLA thresholds. Unknown keys are errors, and every error names the file, the field
path (``phases[2].faults[0].rate``) and what was expected.

Fault models come from the plugin manager's registry, so a plugin's new fault kind validates
exactly like a built-in one (the ``faults`` items are a union discriminated on ``kind``).
"""

from __future__ import annotations

import functools
import re
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    model_validator,
)

from harness._faults import BUILTIN_FAULT_KINDS, FaultSpec
from harness._sla import Threshold, parse_threshold
from harness._units import Duration


def _threshold(value: Any) -> Threshold:
    return value if isinstance(value, Threshold) else parse_threshold(value)


ThresholdField = Annotated[Threshold, BeforeValidator(_threshold)]
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$", max_length=64)]
HOST_PORT = re.compile(r"^[A-Za-z0-9.-]+:\d{1,5}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UpstreamSpec(_Model):
    """A vendor the target talks to. ``backend`` says who serves it and injects its faults:
    ``fake_vendor`` (a local fake OpenAI/Anthropic server), ``respx`` (in-process, no server),
    or ``url`` (a real vendor at ``url``: only network faults, through a proxy)."""

    name: Identifier
    api: Literal["openai", "anthropic", "sqlite"] = "openai"
    backend: str = "fake_vendor"
    model: str | None = None
    url: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _url_backend_needs_url(self) -> UpstreamSpec:
        if self.backend == "url" and not self.url:
            raise ValueError("an upstream with backend 'url' needs a 'url'")
        return self


class ProxySpec(_Model):
    """A network proxy (Toxiproxy by default) in front of an upstream or any ``host:port``."""

    name: Identifier
    upstream: str
    backend: str = "toxiproxy"
    listen: str | None = None


class RequestSpec(_Model):
    """What each simulated user sends to an HTTP target (``{n}`` and ``{user}`` are filled in)."""

    method: Literal["GET", "POST"] = "POST"
    path: str = "/chat"
    name: str | None = None
    body: dict[str, Any] = Field(
        default_factory=lambda: {"session_id": "user-{user}", "message": "question {n}"}
    )
    stream: bool = False
    timeout: Duration = 30.0

    @property
    def label(self) -> str:
        return self.name or self.path


class TargetSpec(_Model):
    """The system under test: exactly one of ``app`` (the example service), ``url`` (your
    service), or ``core`` (the resilient core driven directly, no HTTP service)."""

    app: Literal["example"] | None = None
    url: str | None = None
    core: Literal["llm"] | None = None
    request: RequestSpec = Field(default_factory=RequestSpec)
    env: dict[str, str] = Field(
        default_factory=dict, description="extra environment for an app target"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> TargetSpec:
        chosen = [k for k in ("app", "url", "core") if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError(
                f"target needs exactly one of 'app', 'url' or 'core', got {chosen or 'none'}"
            )
        return self

    @property
    def kind(self) -> str:
        return "app" if self.app else "url" if self.url else "core"


class LoadSpec(_Model):
    """How much load: ``users`` concurrent users arriving at ``spawn_rate`` per second, for
    ``duration`` (default: the sum of the phases); ``think_time`` between a user's requests."""

    users: int = Field(default=10, ge=1, le=10_000)
    spawn_rate: float | None = Field(default=None, gt=0)
    duration: Duration | None = None
    think_time: Duration = 0.0
    max_requests: int | None = Field(default=None, ge=1)


def _fault_union(kinds: tuple[type[FaultSpec], ...]) -> Any:
    if len(kinds) == 1:
        return kinds[0]
    return Annotated[Union[kinds], Field(discriminator="kind")]  # noqa: UP007 - built at runtime


class PhaseSpec(_Model):
    name: Identifier
    duration: Duration = Field(gt=0)
    faults: list[FaultSpec] = Field(default_factory=list)


class Scenario(_Model):
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    seed: int | None = None
    target: TargetSpec
    upstreams: list[UpstreamSpec] = Field(default_factory=list)
    proxies: list[ProxySpec] = Field(default_factory=list)
    load: LoadSpec = Field(default_factory=LoadSpec)
    phases: list[PhaseSpec] = Field(min_length=1)
    sla: list[ThresholdField] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        problems: list[str] = []
        upstreams = {u.name for u in self.upstreams}
        proxies = {p.name for p in self.proxies}
        for kind, names in (
            ("upstream", [u.name for u in self.upstreams]),
            ("proxy", [p.name for p in self.proxies]),
            ("phase", [p.name for p in self.phases]),
        ):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                problems.append(f"duplicate {kind} names: {', '.join(duplicates)}")
        clash = sorted(upstreams & proxies)
        if clash:
            problems.append(f"names used by both an upstream and a proxy: {', '.join(clash)}")
        for proxy in self.proxies:
            if proxy.upstream not in upstreams and not HOST_PORT.match(proxy.upstream):
                problems.append(
                    f"proxy {proxy.name!r}: upstream {proxy.upstream!r} is neither a declared "
                    f"upstream ({', '.join(sorted(upstreams)) or 'none'}) nor host:port"
                )
        endpoints = upstreams | proxies
        phase_names = {p.name for p in self.phases}
        for phase in self.phases:
            for fault in phase.faults:
                if fault.target is None and len(endpoints) != 1:
                    choices = ", ".join(sorted(endpoints)) or "no upstream or proxy declared"
                    problems.append(
                        f"phase {phase.name!r}: fault {fault.kind!r} needs a 'target' "
                        f"(one of: {choices})"
                    )
                elif fault.target is not None and fault.target not in endpoints:
                    problems.append(
                        f"phase {phase.name!r}: fault target {fault.target!r} is not a declared "
                        f"upstream or proxy ({', '.join(sorted(endpoints)) or 'none declared'})"
                    )
        for threshold in self.sla:
            if threshold.phase and threshold.phase not in phase_names:
                problems.append(
                    f"sla {threshold.text!r}: unknown phase {threshold.phase!r} "
                    f"(phases: {', '.join(p.name for p in self.phases)})"
                )
        if self.target.core and not self.upstreams:
            problems.append("target 'core' needs at least one upstream to call")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # -- derived ---------------------------------------------------------------------------------

    @property
    def duration(self) -> float:
        """Total seconds of the phases."""
        return sum(p.duration for p in self.phases)

    def endpoint_names(self) -> list[str]:
        return [u.name for u in self.upstreams] + [p.name for p in self.proxies]

    def fault_target(self, fault: FaultSpec) -> str:
        """The endpoint a fault applies to (its ``target``, or the only endpoint)."""
        if fault.target is not None:
            return fault.target
        return self.endpoint_names()[0]

    def phase_at(self, elapsed: float) -> PhaseSpec | None:
        """The phase running ``elapsed`` seconds after the start (None after the last)."""
        start = 0.0
        for phase in self.phases:
            if elapsed < start + phase.duration:
                return phase
            start += phase.duration
        return None


@functools.cache
def scenario_adapter(kinds: tuple[type[FaultSpec], ...]) -> TypeAdapter[Scenario]:
    """A validator for scenarios whose faults may be any of ``kinds``.

    Built once per registry: ``PhaseSpec.faults`` becomes a union discriminated on ``kind``.
    """
    phase = type(
        "PhaseSpec",
        (PhaseSpec,),
        {
            "__annotations__": {"faults": list[_fault_union(kinds)]},  # type: ignore[misc]
            "faults": Field(default_factory=list),
            "__module__": __name__,
        },
    )
    scenario = type(
        "Scenario",
        (Scenario,),
        {
            "__annotations__": {"phases": list[phase]},  # type: ignore[valid-type]
            "phases": Field(min_length=1),
            "__module__": __name__,
        },
    )
    adapter: TypeAdapter[Scenario] = TypeAdapter(scenario)
    adapter._harness_kinds = frozenset(k.model_fields["kind"].default for k in kinds)  # type: ignore[attr-defined]
    return adapter


def default_adapter() -> TypeAdapter[Scenario]:
    return scenario_adapter(tuple(BUILTIN_FAULT_KINDS.values()))
