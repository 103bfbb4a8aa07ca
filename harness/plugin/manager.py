"""The plugin manager: loads the ``harness`` entry points, checks them, builds the registries.

Built-in plugins are loaded through the same entry-point group as third-party ones (the
engine's own ``url`` backend is registered first, as pytest registers its default plugins).
Disable a plugin by name with ``HARNESS_DISABLE_PLUGINS=toxiproxy,respx`` (or the CLI/pytest
option). Loading fails loudly, naming the plugins, on a misspelled hook, on two plugins
declaring the same fault kind, backend or reporter, and on a backend supporting an undeclared
kind. :meth:`PluginManager.load_scenario` is the one way every entry point reads a scenario:
validated against the loaded fault kinds, then checked against the loaded backends.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any, Generic, Literal, TypeVar, get_origin

import pluggy
from pydantic import TypeAdapter

from harness.errors import PluginError, ScenarioError
from harness.plugin import hookspecs, urlbackend
from harness.plugin.types import FaultBackend, Reporter
from harness.scenario.faults import BUILTIN_FAULT_KINDS, FaultSpec
from harness.scenario.loader import UNKNOWN_KIND, load_scenario
from harness.scenario.model import ProxySpec, Scenario, UpstreamSpec, scenario_adapter

ENTRY_POINT_GROUP = "harness"
DISABLE_ENV = "HARNESS_DISABLE_PLUGINS"
DEFAULT_PLUGINS: tuple[tuple[str, ModuleType], ...] = (("url", urlbackend),)
"""Plugins of the engine itself, registered before the entry points."""


def disabled_from_env() -> set[str]:
    return {name.strip() for name in os.environ.get(DISABLE_ENV, "").split(",") if name.strip()}


T = TypeVar("T")


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus the harness's registries (fault kinds, backends, reporters)."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.fault_kinds: dict[str, type[FaultSpec]] = {}
        self.kind_owner: dict[str, str] = {}
        self.backends: dict[str, FaultBackend] = {}
        self.backend_owner: dict[str, str] = {}
        self.reporters: dict[str, Reporter] = {}
        self.reporter_owner: dict[str, str] = {}
        self.disabled: frozenset[str] = frozenset()

    def parse_hookimpl_opts(self, plugin: object, name: str) -> Any:
        """Like pytest: any ``harness_*`` function is a hook implementation, marked or not,
        so a misspelled one is caught by :meth:`check` instead of silently ignored."""
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name.startswith("harness_") and callable(getattr(plugin, name, None)):
            return {}
        return opts

    @property
    def hooks(self) -> Any:
        """The hook caller (``pm.hooks.harness_run_start(run=...)``), typed loosely."""
        return self.hook

    def load(
        self, *, disable: Iterable[str] = (), extra: Iterable[tuple[str, object]] = ()
    ) -> PluginManager:
        """Load entry-point plugins (minus ``disable`` and the environment's), then ``extra``
        ``(name, module)`` pairs, then check everything and build the registries."""
        disabled = {*disable, *disabled_from_env()}
        self.disabled = frozenset(disabled)
        for name in disabled:
            self.set_blocked(name)
        for name, plugin in DEFAULT_PLUGINS:
            if not self.is_blocked(name):
                self.add(plugin, name)
        installed = self._load_entry_points() | {name for name, _ in DEFAULT_PLUGINS}
        extra = list(extra)
        unknown = disabled - installed - {name for name, _ in extra}
        if unknown:
            raise PluginError(
                f"cannot disable {', '.join(repr(n) for n in sorted(unknown))}: no plugin has "
                f"that name (from --disable-plugin or {DISABLE_ENV}); installed plugins: "
                f"{', '.join(sorted(installed))}"
            )
        for name, extra_plugin in extra:
            self.add(extra_plugin, name)
        self.check()
        return self

    def _load_entry_points(self) -> set[str]:
        """Like pluggy's ``load_setuptools_entrypoints``, but any failure names the plugin and
        its distribution, and two distributions registering one name differently is an error
        (pluggy silently keeps whichever it meets first). Returns every installed plugin name,
        disabled ones included."""
        seen: dict[str, tuple[str, str]] = {}
        installed: set[str] = set()
        for dist in importlib.metadata.distributions():
            dist_name = dist.metadata["Name"] or "?"
            for ep in dist.entry_points:
                if ep.group != ENTRY_POINT_GROUP:
                    continue
                installed.add(ep.name)
                if self.is_blocked(ep.name):
                    continue
                if ep.name in seen:
                    other, value = seen[ep.name]
                    if value != ep.value:  # the same distribution seen twice on sys.path is fine
                        raise PluginError(
                            f"plugin name {ep.name!r} is registered by both {other!r} ({value}) "
                            f"and {dist_name!r} ({ep.value}); disable one with {DISABLE_ENV}"
                        )
                    continue
                seen[ep.name] = (dist_name, ep.value)
                if self.has_plugin(ep.name):
                    continue
                try:
                    plugin = ep.load()
                except Exception as exc:
                    raise PluginError(
                        f"plugin {ep.name!r} ({ep.value}, from {dist_name!r}) could not be "
                        f"loaded: {exc!r}"
                    ) from exc
                self.add(plugin, ep.name)
        return installed

    def add(self, plugin: object, name: str | None = None) -> str:
        """Register ``plugin`` (a module or object with hookimpls) programmatically."""
        try:
            registered = self.register(plugin, name=name)
        except ValueError as exc:
            raise PluginError(f"cannot register plugin {name!r}: {exc}") from exc
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {name or exc.plugin!r} is invalid: {exc}") from exc
        if registered is None:
            raise PluginError(f"plugin {name!r} is blocked (disabled) and was not registered")
        return registered

    def check(self) -> None:
        """Fail on misspelled hooks; rebuild the registries (duplicates fail, naming plugins)."""
        for hook_name, impls in self.hook.__dict__.items():
            # any hookimpl without a spec: an unmarked ``harness_*`` function, or a marked one
            # under any name, is a hook the engine will never call
            if isinstance(impls, pluggy.HookCaller) and not impls.has_spec():
                owners = ", ".join(self._name_of(i.plugin) for i in impls.get_hookimpls())
                raise PluginError(
                    f"unknown hook {hook_name!r} in plugin(s) {owners}: it matches no hook "
                    f"specification (misspelled?). Known hooks: {', '.join(_spec_names())}"
                )
        try:
            self.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {self._name_of(exc.plugin)!r}: {exc}") from exc
        self._collect()

    def _name_of(self, plugin: object) -> str:
        return self.get_name(plugin) or repr(plugin)

    def _results(self, hook_name: str) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        caller = getattr(self.hook, hook_name)
        for impl in caller.get_hookimpls():
            name = self._name_of(impl.plugin)
            try:
                result = impl.function()
            except Exception as exc:
                raise PluginError(f"plugin {name!r} failed in {hook_name}(): {exc!r}") from exc
            for item in result or ():
                out.append((name, item))
        return out

    def _collect(self) -> None:
        kinds = _Claims[type[FaultSpec]](
            "fault kind {!r} is declared",
            dict(BUILTIN_FAULT_KINDS),
            dict.fromkeys(BUILTIN_FAULT_KINDS, "harness (built-in)"),
        )
        for plugin, cls in self._results("harness_fault_kinds"):
            if not (isinstance(cls, type) and issubclass(cls, FaultSpec)):
                raise PluginError(
                    f"plugin {plugin!r}: harness_fault_kinds must return FaultSpec subclasses, "
                    f"got {cls!r}"
                )
            field = cls.model_fields.get("kind")
            kind = field.default if field is not None else None
            literal = field is not None and get_origin(field.annotation) is Literal
            if not isinstance(kind, str) or not kind or not literal:
                raise PluginError(
                    f"plugin {plugin!r}: fault class {cls.__name__} needs "
                    "`kind: Literal['<name>'] = '<name>'`"
                )
            kinds.claim(kind, cls, plugin)
        backends = _Claims[FaultBackend]("fault backend {!r} is provided")
        for plugin, backend in self._results("harness_fault_backends"):
            if not isinstance(backend, FaultBackend):
                raise PluginError(
                    f"plugin {plugin!r}: harness_fault_backends must return FaultBackend "
                    f"instances (subclass harness.plugin.FaultBackend), got {backend!r}"
                )
            missing = [a for a in ("name", "kinds", "where") if not hasattr(backend, a)]
            if missing:
                raise PluginError(
                    f"plugin {plugin!r}: backend {type(backend).__name__} does not set "
                    f"{', '.join(missing)} (class attributes of a FaultBackend)"
                )
            backends.claim(backend.name, backend, plugin)
            unknown = sorted(backend.kinds - kinds.items.keys())
            if unknown:
                raise PluginError(
                    f"plugin {plugin!r}: backend {backend.name!r} supports undeclared fault "
                    f"kind(s) {', '.join(unknown)}; declare them with harness_fault_kinds"
                )
        reporters = _Claims[Reporter]("reporter {!r} is provided")
        for plugin, reporter in self._results("harness_reporters"):
            if not isinstance(reporter, Reporter):
                raise PluginError(
                    f"plugin {plugin!r}: harness_reporters must return Reporter, got {reporter!r}"
                )
            reporters.claim(reporter.name, reporter, plugin)
        self.fault_kinds, self.kind_owner = kinds.items, kinds.owner
        self.backends, self.backend_owner = backends.items, backends.owner
        self.reporters, self.reporter_owner = reporters.items, reporters.owner

    # -- registries ------------------------------------------------------------------------------

    def scenario_adapter(self) -> TypeAdapter[Scenario]:
        """A scenario validator that knows every declared fault kind."""
        return scenario_adapter(tuple(self.fault_kinds.values()))

    def load_scenario(self, path: str | Path) -> Scenario:
        """Read a scenario file, validate it with these plugins' fault kinds, and check it
        against their backends (each exists; each fault's kind is one its endpoint's backend
        injects). The one scenario entry of every command, the pytest plugin and Locust."""
        source = str(path)
        try:
            scenario = load_scenario(path, adapter=self.scenario_adapter())
        except ScenarioError as exc:
            if not any(msg.startswith(UNKNOWN_KIND) for _, msg in exc.problems):
                raise
            raise ScenarioError(exc.source, self._name_providers(exc.problems)) from None
        self.check_scenario(scenario, source)
        return scenario

    def _name_providers(self, problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """An unknown kind also names the plugins that provide kinds, and the disabled ones."""
        injecting = [o for b, o in self.backend_owner.items() if self.backends[b].kinds]
        owners = {*self.kind_owner.values(), *injecting}
        providers = sorted(name for name in owners if self.get_plugin(name) is not None)
        where = f"; fault kinds come from the engine and the plugins {', '.join(providers)}"
        if self.disabled:
            where += f" (disabled: {', '.join(sorted(self.disabled))})"
        return [
            (field, msg + where if msg.startswith(UNKNOWN_KIND) else msg) for field, msg in problems
        ]

    def check_scenario(self, scenario: Scenario, source: str = "<scenario>") -> None:
        """Raise :class:`ScenarioError` naming every backend that is not loaded and every fault
        whose kind its endpoint's backend cannot inject."""
        loaded = ", ".join(sorted(self.backends)) or "none"
        problems: list[tuple[str, str]] = []
        backends: dict[str, str] = {}
        specs: list[tuple[str, UpstreamSpec | ProxySpec]] = [
            ("upstreams", u) for u in scenario.upstreams
        ]
        specs += [("proxies", p) for p in scenario.proxies]
        index: dict[str, int] = {}
        for field, spec in specs:
            i = index[field] = index.get(field, -1) + 1
            backends[spec.name] = spec.backend
            backend = self.backends.get(spec.backend)
            role = "upstream" if field == "upstreams" else "proxy"
            if backend is None:
                problems.append(
                    (
                        f"{field}[{i}].backend",
                        f"no plugin provides backend {spec.backend!r} (loaded: {loaded})",
                    )
                )
            elif backend.where != role:
                serving = sorted(n for n, b in self.backends.items() if b.where == role)
                problems.append(
                    (
                        f"{field}[{i}].backend",
                        f"backend {spec.backend!r} serves {backend.where}s, not {role}s "
                        f"(backends for {role}s: {', '.join(serving) or 'none'})",
                    )
                )
        for p, phase in enumerate(scenario.phases):
            for f, fault in enumerate(phase.faults):
                endpoint = scenario.fault_target(fault)
                backend = self.backends.get(backends.get(endpoint, ""))
                if backend is None:
                    continue
                if not backend.kinds:
                    problems.append(
                        (
                            f"phases[{p}].faults[{f}]",
                            f"{endpoint!r} is served by backend {backend.name!r}, which injects "
                            "no faults (for a real URL, put a proxy in front of it)",
                        )
                    )
                elif fault.kind not in backend.kinds:
                    problems.append(
                        (
                            f"phases[{p}].faults[{f}].kind",
                            f"{fault.kind!r} cannot be injected at {endpoint!r} (backend "
                            f"{backend.name!r} supports: {', '.join(sorted(backend.kinds))})",
                        )
                    )
        if problems:
            raise ScenarioError(source, problems)

    def backend(self, name: str) -> FaultBackend:
        try:
            return self.backends[name]
        except KeyError:
            known = ", ".join(sorted(self.backends)) or "none (all plugins disabled?)"
            raise PluginError(f"no plugin provides the backend {name!r}; loaded: {known}") from None

    def describe(self) -> list[dict[str, Any]]:
        """One entry per loaded plugin: its name, module, fault kinds, backends, reporters."""
        rows = []
        for name, plugin in sorted(self.list_name_plugin(), key=lambda p: p[0]):
            if plugin is None:  # a disabled (blocked) name, not a plugin
                continue
            module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__name__
            rows.append(
                {
                    "name": name,
                    "module": module,
                    "fault_kinds": sorted(k for k, o in self.kind_owner.items() if o == name),
                    "backends": {
                        b: sorted(self.backends[b].kinds)
                        for b, o in sorted(self.backend_owner.items())
                        if o == name
                    },
                    "reporters": sorted(r for r, o in self.reporter_owner.items() if o == name),
                    "hooks": sorted(
                        h.name
                        for h in self.get_hookcallers(plugin) or ()
                        if h.name.startswith("harness_")
                    ),
                }
            )
        return rows


@dataclasses.dataclass
class _Claims(Generic[T]):
    """Names the plugins claim (fault kinds, backends, reporters) and which plugin claimed each;
    a name two plugins claim is an error naming both. ``what`` says what a name is, with braces
    for it: ``"reporter {!r} is provided"``."""

    what: str
    items: dict[str, T] = dataclasses.field(default_factory=dict)
    owner: dict[str, str] = dataclasses.field(default_factory=dict)

    def claim(self, name: str, item: T, plugin: str) -> None:
        if name in self.items:
            raise PluginError(
                f"{self.what.format(name)} by both {self.owner[name]!r} and {plugin!r}"
            )
        self.items[name], self.owner[name] = item, plugin


def _spec_names() -> list[str]:
    return sorted(n for n in dir(hookspecs) if n.startswith("harness_"))


def get_plugin_manager(
    *, disable: Iterable[str] = (), extra: Iterable[tuple[str, object]] = ()
) -> PluginManager:
    """A new, loaded and checked plugin manager."""
    return PluginManager().load(disable=disable, extra=extra)
