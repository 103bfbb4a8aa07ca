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
import math
import random
import re
import shlex
import types
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    model_validator,
)

from harness.measure.sla import Threshold, parse_threshold
from harness.scenario.faults import BUILTIN_FAULT_KINDS, FaultSpec
from harness.scenario.wiring import describe_known, known_names, unknown_placeholders
from harness.units import MAX_DURATION, Duration, PhaseDuration, Rate, parse_quantity


def _threshold(value: Any) -> Threshold:
    return value if isinstance(value, Threshold) else parse_threshold(value)


def _http_url(value: str) -> str:
    """An ``http://`` or ``https://`` URL with a host and a valid port (checked here, so a bad
    URL is a scenario error rather than a crash when the run starts)."""
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises for a port that is not a number in 0..65535
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid:
        raise ValueError(f"expected an http(s) URL such as http://127.0.0.1:8000/v1, got {value!r}")
    return value


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")


def format_path(loc: Sequence[int | str], kinds: Iterable[str] = ()) -> str:
    """``('phases', 2, 'faults', 0, 'http_status', 'rate')`` -> ``phases[2].faults[0].rate``.

    The discriminator tag pydantic inserts after a union item is dropped.
    """
    tags = set(kinds)
    out = ""
    previous_was_index = False
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            previous_was_index = True
            continue
        if previous_was_index and part in tags:
            previous_was_index = False
            continue
        previous_was_index = False
        # a key that is not a plain name (a newline, an escape sequence) is quoted, so a path
        # stays on one line and prints nothing but itself
        text = part if _PLAIN_KEY.match(part) else repr(part)
        out += f".{text}" if out else text
    return out


class ScenarioProblems(ValueError):
    """Problems that span fields (references between them, duplicate names), each at the field
    path it is about; the loader reports each one at its path and line."""

    def __init__(self, problems: list[tuple[tuple[int | str, ...], str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{format_path(loc)}: {msg}" for loc, msg in problems))


ThresholdField = Annotated[Threshold, BeforeValidator(_threshold)]
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$", max_length=64)]
HttpURL = Annotated[str, AfterValidator(_http_url)]
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
    url: HttpURL | None = None
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
        default_factory=lambda: {"session_id": "user-{user}", "message": "user {user} question {n}"}
    )
    stream: bool = False
    timeout: Duration = 30.0

    @property
    def label(self) -> str:
        return self.name or self.path


class CoreTimeoutsSpec(_Model):
    """Per-attempt client limits of a ``core`` target's providers (``harness.core.Timeouts``).

    Client configuration, not resilience: the naive client (resilience off) gets them too."""

    connect: Duration | None = Field(default=None, gt=0)
    read: Duration | None = Field(default=None, gt=0)
    first_token: Duration | None = Field(default=None, gt=0)
    stall: Duration | None = Field(default=None, gt=0)


class CoreBreakerSpec(_Model):
    """The circuit breaker of a ``core`` target (``harness.core.BreakerConfig``); unset fields
    keep the core's defaults."""

    failure_ratio: Rate | None = Field(default=None, gt=0, le=1)
    window: Duration | None = Field(default=None, gt=0)
    min_throughput: int | None = Field(default=None, ge=1)
    consecutive_failures: int | None = Field(default=None, ge=1)
    break_duration: Duration | None = Field(default=None, ge=0)


AppImport = Annotated[str, Field(pattern=r"^(example|[A-Za-z_][\w.]*:[A-Za-z_][\w.]*)$")]


class TargetSpec(_Model):
    """The system under test: exactly one of

    - ``app``: an ASGI app the harness serves on uvicorn: ``example`` (the example service on
      the core) or any import string ``"package.module:attribute"`` naming an app instance
      or a factory that returns one;
    - ``command``: your service, started by the harness as a process (``"uvicorn mysvc:app
      --port {port}"``) in ``cwd``, with ``env`` (placeholders name the run's endpoints, see
      :mod:`harness.run.wiring`), ready when ``ready`` answers;
    - ``url``: your service, already running (started by hand, e.g. against ``harness stack
      up``); probed before the load starts;
    - ``core``: the resilient core driven directly, no HTTP service.
    """

    app: AppImport | None = None
    url: HttpURL | None = None
    core: Literal["llm"] | None = None
    command: str | list[str] | None = None
    cwd: str | None = Field(default=None, description="working directory of a command target")
    ready: str | None = Field(
        default=None,
        description="path that must answer 2xx before the load starts (default: any answer to '/')",
    )
    ready_timeout: Duration | None = Field(default=None, gt=0, le=600)
    request: RequestSpec = Field(default_factory=RequestSpec)
    env: dict[str, str] = Field(
        default_factory=dict, description="extra environment of an app or command target"
    )
    timeouts: CoreTimeoutsSpec | None = None
    breaker: CoreBreakerSpec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> TargetSpec:
        chosen = [k for k in ("app", "url", "core", "command") if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError(
                "target needs exactly one of 'app', 'command', 'url' or 'core', got "
                f"{chosen or 'none'}"
            )
        configured = [k for k in ("timeouts", "breaker") if getattr(self, k) is not None]
        if configured and self.core is None:
            raise ValueError(
                f"{' and '.join(configured)} configure the core a 'core' target builds; "
                "an app, command or url target configures its own client"
            )
        if self.command is not None and not self.argv_template:
            raise ValueError("command is empty: expected e.g. 'uvicorn mysvc:app --port {port}'")
        if self.cwd is not None and self.command is None:
            raise ValueError("cwd is the working directory of a 'command' target")
        if self.ready is not None and not self.ready.startswith("/"):
            raise ValueError(f"ready is a path such as /healthz, got {self.ready!r}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("app", "command", "url", "core") if getattr(self, k) is not None)

    @property
    def argv_template(self) -> list[str]:
        """The command as arguments (a string is split like a shell would, without one)."""
        if self.command is None:
            return []
        if isinstance(self.command, list):
            return list(self.command)
        try:
            return shlex.split(self.command)
        except ValueError:  # unbalanced quotes: reported by _exactly_one as empty
            return []

    def templates(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Every text of this target that may hold placeholders, with its field path."""
        out: list[tuple[tuple[str | int, ...], str]] = []
        if isinstance(self.command, list):
            out += [(("target", "command", i), arg) for i, arg in enumerate(self.command)]
        elif self.command is not None:
            out.append((("target", "command"), self.command))
        if self.cwd is not None:
            out.append((("target", "cwd"), self.cwd))
        out += [(("target", "env", key), value) for key, value in self.env.items()]
        return out


MAX_REQUEST_RATE = 10_000.0
"""Requests started per second at most (``load.rate``): above it, one machine's generator
falls behind its own timetable, and the run would measure the generator."""
MAX_IN_FLIGHT = 10_000
"""The largest ``load.max_in_flight``, and the bound of its default."""
MIN_DEFAULT_IN_FLIGHT = 10
"""The smallest default in-flight cap (a low rate with a short timeout still gets some room)."""
_REQUEST_RATE_RE = re.compile(
    r"^\s*((?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(?:/\s*(s|sec|m|min|h))?\s*$"
)
_PER_UNIT = {None: 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_request_rate(value: object) -> float:
    """Requests started per second for ``40/s``, ``2400/m``, ``10/h`` or a bare ``40``.

    Raises ``ValueError`` naming the accepted forms and the bounds (more than 0, at most
    :data:`MAX_REQUEST_RATE` per second)."""
    rate = parse_quantity(
        value,
        _REQUEST_RATE_RE,
        lambda number, unit: number / _PER_UNIT[unit],
        "a request rate such as 40/s, 2400/m or 40 (requests started per second)",
    )
    if not (math.isfinite(rate) and 0.0 < rate <= MAX_REQUEST_RATE):
        raise ValueError(
            f"expected a request rate above 0 and at most {MAX_REQUEST_RATE:g}/s, got {value!r}"
        )
    return rate


RequestRate = Annotated[float, BeforeValidator(parse_request_rate)]
"""A pydantic field type: requests started per second, written ``40/s``, ``2400/m`` or ``40``."""


class LoadSpec(_Model):
    """How much load, in one of two models.

    - **Closed loop** (``users``, the default): ``users`` concurrent users arriving at
      ``spawn_rate`` per second, each sending its next request when the last one answered
      (plus ``think_time``). A stalled service receives fewer requests, so the stall hides
      from the percentiles, and with no think time the users saturate the service.
    - **Open loop** (``rate``): requests *start* on a fixed timetable, ``rate`` per second
      (each phase may set its own ``rate``), whatever the service does; latency counts from
      each request's intended start, and at most ``max_in_flight`` requests run at once.

    ``duration`` (default: the sum of the phases) and ``max_requests`` apply to both.
    """

    users: int = Field(default=10, ge=1, le=10_000)
    spawn_rate: float | None = Field(default=None, gt=0)
    duration: Duration | None = None
    think_time: Duration = 0.0
    max_requests: int | None = Field(default=None, ge=1)
    rate: RequestRate | None = None
    max_in_flight: int | None = Field(default=None, ge=1, le=MAX_IN_FLIGHT)

    @model_validator(mode="after")
    def _one_load_model(self) -> LoadSpec:
        problems: list[tuple[tuple[int | str, ...], str]] = []
        if self.rate is not None:
            if "users" in self.model_fields_set:
                problems.append(
                    (
                        ("users",),
                        "both 'rate' (open loop: requests started per second) and 'users' "
                        "(closed loop) are given: give exactly one of them",
                    )
                )
            for closed in ("spawn_rate", "think_time"):
                if closed in self.model_fields_set:
                    problems.append(
                        (
                            (closed,),
                            f"'{closed}' applies to closed-loop 'users', and 'rate' makes this "
                            "load open loop: remove one of them",
                        )
                    )
        elif self.max_in_flight is not None:
            problems.append(
                (
                    ("max_in_flight",),
                    "'max_in_flight' caps an open-loop load: give 'rate' too "
                    "(closed-loop 'users' are their own cap)",
                )
            )
        if problems:
            raise ScenarioProblems(problems)
        return self

    @property
    def open_loop(self) -> bool:
        """True when requests start on a timetable (``rate``), not when users are free."""
        return self.rate is not None

    def rate_of(self, phase: PhaseSpec) -> float:
        """Requests started per second during ``phase`` (its own ``rate``, else ``load.rate``)."""
        rate = phase.rate if phase.rate is not None else self.rate
        if rate is None:
            raise ValueError("a closed-loop load (users) has no rate")
        return rate

    def in_flight_cap(self, rate: float, timeout: float) -> int:
        """At most how many requests run at once at ``rate``: ``max_in_flight`` if given, else
        twice what a service answering every request only at its ``timeout`` would hold
        (``2 x rate x timeout``), within [:data:`MIN_DEFAULT_IN_FLIGHT`, :data:`MAX_IN_FLIGHT`]."""
        if self.max_in_flight is not None:
            return self.max_in_flight
        wanted = math.ceil(2.0 * rate * timeout)
        return min(MAX_IN_FLIGHT, max(MIN_DEFAULT_IN_FLIGHT, wanted))


def _fault_union(kinds: tuple[type[FaultSpec], ...]) -> Any:
    if len(kinds) == 1:
        return kinds[0]
    return Annotated[Union[kinds], Field(discriminator="kind")]  # noqa: UP007 - built at runtime


class PhaseSpec(_Model):
    name: Identifier
    duration: PhaseDuration = Field(gt=0)
    faults: list[FaultSpec] = Field(default_factory=list)
    rate: RequestRate | None = None
    """Requests started per second in this phase, overriding ``load.rate`` (open loop only)."""


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
        """Cross-field checks; each problem is reported at the field it is about."""
        problems: list[tuple[tuple[int | str, ...], str]] = []
        upstreams = {u.name for u in self.upstreams}
        proxies = {p.name for p in self.proxies}
        for field, names in (
            ("upstreams", [u.name for u in self.upstreams]),
            ("proxies", [p.name for p in self.proxies]),
            ("phases", [p.name for p in self.phases]),
        ):
            first: dict[str, int] = {}
            for i, name in enumerate(names):
                if name in first:
                    where = f"{field}[{first[name]}]"
                    problems.append(((field, i, "name"), f"duplicate name {name!r} (as {where})"))
                first.setdefault(name, i)
        for i, proxy in enumerate(self.proxies):
            if proxy.name in upstreams:
                problems.append(
                    (("proxies", i, "name"), f"{proxy.name!r} is already the name of an upstream")
                )
            if proxy.upstream not in upstreams and not HOST_PORT.match(proxy.upstream):
                problems.append(
                    (
                        ("proxies", i, "upstream"),
                        f"{proxy.upstream!r} is neither a declared upstream "
                        f"({', '.join(sorted(upstreams)) or 'none'}) nor host:port",
                    )
                )
        endpoints = upstreams | proxies
        declared = ", ".join(sorted(endpoints)) or "none declared"
        for p, phase in enumerate(self.phases):
            for f, fault in enumerate(phase.faults):
                if fault.target is None and len(endpoints) != 1:
                    problems.append(
                        (
                            ("phases", p, "faults", f, "target"),
                            f"fault {fault.kind!r} needs a 'target' when there is not exactly "
                            f"one upstream or proxy (declared: {declared})",
                        )
                    )
                elif fault.target is not None and fault.target not in endpoints:
                    problems.append(
                        (
                            ("phases", p, "faults", f, "target"),
                            f"{fault.target!r} is not a declared upstream or proxy "
                            f"(declared: {declared})",
                        )
                    )
        for p, phase in enumerate(self.phases):
            if phase.rate is not None and not self.load.open_loop:
                problems.append(
                    (
                        ("phases", p, "rate"),
                        "a phase's 'rate' overrides 'load.rate', and this load is closed loop "
                        "(users): give 'load.rate' to run open loop",
                    )
                )
        phase_names = [p.name for p in self.phases]
        for i, threshold in enumerate(self.sla):
            if threshold.phase and threshold.phase not in phase_names:
                problems.append(
                    (
                        ("sla", i),
                        f"{threshold.text!r} is scoped to an unknown phase {threshold.phase!r} "
                        f"(phases: {', '.join(phase_names)})",
                    )
                )
        if self.target.core and not self.upstreams:
            problems.append((("upstreams",), "target 'core' needs at least one upstream to call"))
        known = known_names(upstreams, proxies)
        for loc, text in self.target.templates():
            unknown = unknown_placeholders(text, known)
            if unknown:
                problems.append(
                    (
                        loc,
                        f"unknown placeholder {{{unknown[0]}}}; expected one of: "
                        f"{describe_known(known)}",
                    )
                )
        if self.duration > MAX_DURATION:
            problems.append(
                (
                    ("phases",),
                    f"the phases last {self.duration / 3600:g}h in all; a run lasts at most "
                    f"{MAX_DURATION / 3600:g}h",
                )
            )
        if problems:
            raise ScenarioProblems(problems)
        return self

    # -- derived ---------------------------------------------------------------------------------

    @property
    def duration(self) -> float:
        """Total seconds of the phases."""
        return sum(p.duration for p in self.phases)

    def run_seed(self, seed: int | None = None) -> int:
        """The seed of a run: ``seed`` (an option) when given, else the scenario's (0 too),
        else a random one."""
        if seed is not None:
            return seed
        return self.seed if self.seed is not None else random.randrange(2**31)

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
    classes = {k.model_fields["kind"].default: k for k in kinds}
    adapter._harness_kinds = frozenset(classes)  # type: ignore[attr-defined]
    adapter._harness_classes = classes  # type: ignore[attr-defined]
    adapter._harness_model = scenario  # type: ignore[attr-defined]
    return adapter


class _Faults:
    """Marker: the position of a fault in a list whose items are a union discriminated on kind."""


def _model_of(annotation: Any) -> type[BaseModel] | type[_Faults] | None:
    """The model a field's values are (through lists, optionals and ``Annotated``)."""
    origin = get_origin(annotation)
    if origin is Annotated or origin is list:
        return _model_of(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        models = {m for arg in get_args(annotation) if (m := _model_of(arg)) is not None}
        if len(models) == 1:
            return models.pop()
        faults = all(isinstance(m, type) and issubclass(m, FaultSpec) for m in models)
        return _Faults if models and faults else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def keys_at(adapter: TypeAdapter[Scenario], loc: Sequence[int | str]) -> list[str] | None:
    """The keys the mapping at ``loc`` (a pydantic error location) accepts, in schema order;
    None when it is not a model (a free-form mapping such as ``options``) or unknown."""
    model: type[BaseModel] | type[_Faults] | None = getattr(adapter, "_harness_model", Scenario)
    classes: dict[str, type[FaultSpec]] = getattr(adapter, "_harness_classes", BUILTIN_FAULT_KINDS)
    for part in loc:
        if isinstance(part, int):
            continue
        if model is _Faults:
            model = classes.get(part)  # the discriminator tag pydantic puts after the index
        elif model is not None and issubclass(model, BaseModel) and part in model.model_fields:
            model = _model_of(model.model_fields[part].annotation)
        else:
            return None
    if model is None or model is _Faults or not issubclass(model, BaseModel):
        return None
    return list(model.model_fields)


def default_adapter() -> TypeAdapter[Scenario]:
    return scenario_adapter(tuple(BUILTIN_FAULT_KINDS.values()))
