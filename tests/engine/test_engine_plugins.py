"""The plugin manager (``harness.plugin.manager``, ``harness.plugin.hookspecs``): built-ins load through the
``harness`` entry points, misbehaving or conflicting plugins fail loudly naming themselves,
plugins can be disabled, and a third-party plugin registered the public way works end to end."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

import pytest
from engine_support import DEMO_SCENARIO, write_distribution

from harness.cli import main
from harness.errors import PluginError, ScenarioError
from harness.plugin import hookspecs
from harness.plugin.hookspecs import hookimpl
from harness.plugin.httpfaults import SUPPORTED_KINDS
from harness.plugin.manager import PluginManager, get_plugin_manager
from harness.plugin.types import FaultBackend, Reporter
from harness.run.session import RunOptions, run_scenario
from harness.scenario.faults import BUILTIN_FAULT_KINDS, FaultSpec, HttpFault
from harness.scenario.loader import parse_scenario

HTTP_KINDS = sorted(k.model_fields["kind"].default for k in SUPPORTED_KINDS)
NETWORK_KINDS = [
    "bandwidth",
    "down",
    "latency",
    "limit_data",
    "reset_peer",
    "slicer",
    "slow_close",
    "timeout",
]
KNOWN_HOOKS = ", ".join(sorted(n for n in dir(hookspecs) if n.startswith("harness_")))


def test_the_builtins_load_with_their_backends_kinds_and_reporters(pm: PluginManager) -> None:
    assert sorted(name for name, _ in pm.list_name_plugin()) == [
        "fake_vendor",
        "reporters",
        "respx",
        "sqlite",
        "toxiproxy",
        "url",
    ]
    assert {name: sorted(b.kinds) for name, b in pm.backends.items()} == {
        "fake_vendor": HTTP_KINDS,
        "respx": HTTP_KINDS,
        "sqlite": ["store_contention", "store_lock"],
        "toxiproxy": NETWORK_KINDS,
        "url": [],
    }
    assert pm.backend_owner == {
        "fake_vendor": "fake_vendor",
        "respx": "respx",
        "sqlite": "sqlite",
        "toxiproxy": "toxiproxy",
        "url": "url",
    }
    assert {b.where for b in pm.backends.values()} == {"upstream", "proxy"}
    assert pm.backends["toxiproxy"].where == "proxy"
    assert sorted(pm.reporters) == ["html", "json", "junit", "markdown"]
    assert set(pm.reporter_owner.values()) == {"reporters"}
    # the engine's kinds plus the sqlite plugin's own, each with its owner
    assert set(pm.fault_kinds) == set(BUILTIN_FAULT_KINDS) | {"store_lock", "store_contention"}
    assert pm.kind_owner["store_lock"] == "sqlite"
    assert pm.kind_owner["http_status"] == "harness (built-in)"


def test_builtins_come_from_the_entry_point_group() -> None:
    import importlib.metadata

    eps = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="harness")}
    assert eps == {
        "fake_vendor": "harness_fake_vendor._plugin",
        "reporters": "harness_reporters",
        "respx": "harness_respx._plugin",
        "sqlite": "harness_sqlite._plugin",
        "toxiproxy": "harness_toxiproxy._plugin",
    }


def test_describe(pm: PluginManager) -> None:
    rows = {row["name"]: row for row in pm.describe()}
    assert rows["sqlite"]["module"] == "harness_sqlite._plugin"
    assert rows["sqlite"]["fault_kinds"] == ["store_contention", "store_lock"]
    assert rows["sqlite"]["backends"] == {"sqlite": ["store_contention", "store_lock"]}
    assert rows["reporters"]["reporters"] == ["html", "json", "junit", "markdown"]
    assert rows["respx"]["fault_kinds"] == []
    assert rows["respx"]["hooks"] == ["harness_fault_backends"]
    assert rows["url"]["module"] == "harness.plugin.urlbackend"


def test_backend_lookup(pm: PluginManager) -> None:
    assert pm.backend("respx").name == "respx"
    with pytest.raises(PluginError) as info:
        pm.backend("nope")
    assert str(info.value) == (
        "no plugin provides the backend 'nope'; loaded: fake_vendor, respx, sqlite, toxiproxy, url"
    )


def test_the_scenario_adapter_knows_plugin_kinds(pm: PluginManager) -> None:
    text = (
        "name: t\ntarget: {url: 'http://127.0.0.1:1'}\n"
        "upstreams: [{name: db, api: sqlite, backend: sqlite}]\n"
        "phases: [{name: a, duration: 1s, faults: [{kind: store_lock}]}]\n"
    )
    assert parse_scenario(text, adapter=pm.scenario_adapter()).phases[0].faults[0].kind == (
        "store_lock"
    )
    with pytest.raises(ScenarioError, match="unknown fault kind 'store_lock'"):
        parse_scenario(text)  # the engine alone does not know it


def test_an_unknown_kind_names_the_plugins_and_the_disabled_ones(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: t\ntarget: {url: 'http://127.0.0.1:1'}\n"
        "upstreams: [{name: db, api: sqlite, backend: sqlite}]\n"
        "phases: [{name: a, duration: 1s, faults: [{kind: store_lock}]}]\n"
    )
    assert get_plugin_manager().load_scenario(path).phases[0].faults[0].kind == "store_lock"
    with pytest.raises(ScenarioError) as info:
        get_plugin_manager(disable=["sqlite"]).load_scenario(path)
    ((field, message),) = info.value.problems
    assert field == "phases[0].faults[0] (line 4)"
    assert message.startswith("unknown fault kind 'store_lock'")
    assert message.endswith(
        "; fault kinds come from the engine and the plugins fake_vendor, respx, toxiproxy "
        "(disabled: sqlite)"
    )


# -- plugins that fail loudly -------------------------------------------------------------------


class _Zap(HttpFault):
    kind: Literal["zap"] = "zap"


class _OtherZap(HttpFault):
    kind: Literal["zap"] = "zap"


class _Plugin:
    """A plugin object whose hooks return what it was given."""

    def __init__(
        self,
        kinds: list[Any] | None = None,
        backends: list[Any] | None = None,
        reporters: list[Any] | None = None,
    ) -> None:
        self.kinds, self._backends, self._reporters = kinds, backends, reporters

    @hookimpl
    def harness_fault_kinds(self) -> list[Any]:
        return self.kinds or []

    @hookimpl
    def harness_fault_backends(self) -> list[Any]:
        return self._backends or []

    @hookimpl
    def harness_reporters(self) -> list[Any]:
        return self._reporters or []


def _backend(backend_name: str, *backend_kinds: str) -> FaultBackend:
    class Backend(FaultBackend):
        name = backend_name
        kinds = frozenset(backend_kinds)
        where = "upstream"

    return Backend()


def _reporter(name: str) -> Reporter:
    return Reporter(name=name, suffix=f".{name}", write=lambda report, path: None)


def _load(*plugins: tuple[str, object]) -> PluginManager:
    return get_plugin_manager(extra=plugins)


class _MarkedTypo:
    @hookimpl
    def harness_fault_kind(self) -> list[Any]:
        return []


class _UnmarkedTypo:
    def harness_run_starts(self, run: Any) -> None:
        return None


class _MarkedWrongName:
    @hookimpl
    def fault_kinds(self) -> list[Any]:
        return []


@pytest.mark.parametrize(
    ("plugin", "hook"),
    [
        (_MarkedTypo(), "harness_fault_kind"),
        (_UnmarkedTypo(), "harness_run_starts"),
        (_MarkedWrongName(), "fault_kinds"),
    ],
    ids=["marked", "unmarked", "marked-without-prefix"],
)
def test_a_misspelled_hook_fails_naming_the_plugin(plugin: object, hook: str) -> None:
    with pytest.raises(PluginError) as info:
        _load(("typo_plugin", plugin))
    assert str(info.value) == (
        f"unknown hook {hook!r} in plugin(s) typo_plugin: it matches no hook specification "
        f"(misspelled?). Known hooks: {KNOWN_HOOKS}"
    )


class _WrongArguments:
    @hookimpl
    def harness_run_start(self, run: Any, extra: Any) -> None:
        return None


def test_a_hook_with_arguments_the_spec_lacks_fails_naming_the_plugin() -> None:
    with pytest.raises(PluginError) as info:
        _load(("wrong_args", _WrongArguments()))
    assert str(info.value).startswith("plugin 'wrong_args' is invalid: ")
    assert "extra" in str(info.value)


def test_two_plugins_declaring_one_fault_kind_fail_naming_both() -> None:
    with pytest.raises(PluginError) as info:
        _load(("first", _Plugin(kinds=[_Zap])), ("second", _Plugin(kinds=[_OtherZap])))
    assert str(info.value) == "fault kind 'zap' is declared by both 'first' and 'second'"


def test_redeclaring_a_builtin_kind_fails() -> None:
    class Latency(HttpFault):
        kind: Literal["latency"] = "latency"

    with pytest.raises(PluginError) as info:
        _load(("copycat", _Plugin(kinds=[Latency])))
    assert str(info.value) == (
        "fault kind 'latency' is declared by both 'harness (built-in)' and 'copycat'"
    )


def test_two_plugins_providing_one_backend_fail_naming_both() -> None:
    with pytest.raises(PluginError) as info:
        _load(("mine", _Plugin(backends=[_backend("respx", "latency")])))
    assert str(info.value) == "fault backend 'respx' is provided by both 'respx' and 'mine'"


def test_two_plugins_providing_one_reporter_fail_naming_both() -> None:
    with pytest.raises(PluginError) as info:
        _load(
            ("a", _Plugin(reporters=[_reporter("csv")])),
            ("b", _Plugin(reporters=[_reporter("csv")])),
        )
    assert str(info.value) == "reporter 'csv' is provided by both 'a' and 'b'"


def test_a_backend_supporting_an_undeclared_kind_fails() -> None:
    with pytest.raises(PluginError) as info:
        _load(("sloppy", _Plugin(backends=[_backend("mock", "latency", "zap", "boom")])))
    assert str(info.value) == (
        "plugin 'sloppy': backend 'mock' supports undeclared fault kind(s) boom, zap; declare "
        "them with harness_fault_kinds"
    )


def test_declaring_the_kind_makes_the_backend_valid() -> None:
    pm = _load(("tidy", _Plugin(kinds=[_Zap], backends=[_backend("mock", "latency", "zap")])))
    assert pm.kind_owner["zap"] == "tidy"
    assert pm.backend_owner["mock"] == "tidy"
    assert (
        "zap"
        in pm.scenario_adapter()
        .validate_python(
            {
                "name": "t",
                "target": {"core": "llm"},
                "upstreams": [{"name": "m", "backend": "mock"}],
                "phases": [{"name": "a", "duration": 1, "faults": [{"kind": "zap"}]}],
            }
        )
        .phases[0]
        .faults[0]
        .kind
    )


class _NotLiteral(FaultSpec):
    kind: str = "loose"


class _NoKind(FaultSpec):
    pass


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        (
            _Plugin(kinds=[dict]),
            "plugin 'bad': harness_fault_kinds must return FaultSpec subclasses, got <class 'dict'>",
        ),
        (
            _Plugin(kinds=[_NoKind]),
            "plugin 'bad': fault class _NoKind needs `kind: Literal['<name>'] = '<name>'`",
        ),
        (
            # would only break later, when the scenario validator is built
            _Plugin(kinds=[_NotLiteral]),
            "plugin 'bad': fault class _NotLiteral needs `kind: Literal['<name>'] = '<name>'`",
        ),
        (
            _Plugin(backends=["respx"]),
            "plugin 'bad': harness_fault_backends must return FaultBackend instances "
            "(subclass harness.plugin.FaultBackend), got 'respx'",
        ),
        (
            _Plugin(reporters=[print]),
            "plugin 'bad': harness_reporters must return Reporter, got <built-in function print>",
        ),
    ],
)
def test_hooks_returning_the_wrong_things_fail_naming_the_plugin(
    plugin: object, message: str
) -> None:
    with pytest.raises(PluginError) as info:
        _load(("bad", plugin))
    assert str(info.value) == message


class _Raising:
    @hookimpl
    def harness_fault_backends(self) -> list[Any]:
        raise RuntimeError("kaboom")


def test_a_plugin_whose_hook_raises_is_a_plugin_error_naming_it() -> None:
    with pytest.raises(PluginError) as info:
        _load(("boom", _Raising()))
    assert (
        str(info.value)
        == "plugin 'boom' failed in harness_fault_backends(): RuntimeError('kaboom')"
    )
    assert isinstance(info.value.__cause__, RuntimeError)
    assert info.value.exit_code == 2


def test_registering_a_name_twice_fails() -> None:
    pm = _load(("once", _Plugin()))
    with pytest.raises(PluginError, match=r"^cannot register plugin 'once': "):
        pm.add(_Plugin(), "once")


# -- disabling ----------------------------------------------------------------------------------


def test_disable_by_name() -> None:
    pm = get_plugin_manager(disable=["toxiproxy", "reporters"])
    assert sorted(n for n, p in pm.list_name_plugin() if p is not None) == [
        "fake_vendor",
        "respx",
        "sqlite",
        "url",
    ]
    assert [row["name"] for row in pm.describe()] == ["fake_vendor", "respx", "sqlite", "url"]
    assert "toxiproxy" not in pm.backends
    assert pm.reporters == {}
    assert pm.is_blocked("toxiproxy")


def test_disable_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_DISABLE_PLUGINS", " respx, sqlite ,")
    pm = get_plugin_manager()
    assert sorted(pm.backends) == ["fake_vendor", "toxiproxy", "url"]
    assert "store_lock" not in pm.fault_kinds  # its declaring plugin is gone too


def test_a_disabled_extra_plugin_is_refused() -> None:
    with pytest.raises(PluginError) as info:
        get_plugin_manager(disable=["mine"], extra=[("mine", _Plugin())])
    assert str(info.value) == "plugin 'mine' is blocked (disabled) and was not registered"


def test_disabling_a_plugin_that_does_not_exist_fails_loudly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(PluginError) as info:
        get_plugin_manager(disable=["toxiproxi"])
    assert str(info.value) == (
        "cannot disable 'toxiproxi': no plugin has that name (from --disable-plugin or "
        "HARNESS_DISABLE_PLUGINS); installed plugins: fake_vendor, reporters, respx, sqlite, "
        "toxiproxy, url"
    )
    monkeypatch.setenv("HARNESS_DISABLE_PLUGINS", "respx,sqlite3")
    assert main(["plugins"]) == 2
    assert "cannot disable 'sqlite3'" in capsys.readouterr().err


def test_a_scenario_needing_a_disabled_backend_is_refused() -> None:
    pm = get_plugin_manager(disable=["respx"])
    scenario = parse_scenario(
        "name: t\ntarget: {core: llm}\nupstreams: [{name: p, backend: respx}]\n"
        "phases: [{name: a, duration: 1s}]\n"
    )
    with pytest.raises(ScenarioError) as info:
        pm.check_scenario(scenario, "x.yaml")
    assert info.value.problems[0] == (
        "upstreams[0].backend",
        "no plugin provides backend 'respx' (loaded: fake_vendor, sqlite, toxiproxy, url)",
    )


def test_plugins_command_honours_disable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--json", "-d", "toxiproxy", "-d", "fake_vendor"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in rows] == ["reporters", "respx", "sqlite", "url"]


# -- a third-party plugin, registered the public way ---------------------------------------------


@pytest.mark.usefixtures("demo_plugin")
def test_a_third_party_plugin_is_discovered_through_its_entry_point() -> None:
    pm = get_plugin_manager()
    assert pm.has_plugin("demo")
    assert pm.kind_owner["coin_flip"] == "demo"
    assert pm.backend_owner["demo"] == "demo"
    assert sorted(pm.backends["demo"].kinds) == ["coin_flip"]
    assert get_plugin_manager(disable=["demo"]).backends.keys() == {
        "fake_vendor",
        "respx",
        "sqlite",
        "toxiproxy",
        "url",
    }


@pytest.mark.usefixtures("demo_plugin")
def test_harness_plugins_lists_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert (
        "demo  (harness_demo_plugin)\n"
        "  backend demo: coin_flip\n"
        "  declares fault kinds: coin_flip\n"
        "  hooks: harness_fault_backends, harness_fault_kinds\n"
    ) in out
    assert main(["plugins", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["demo"]["fault_kinds"] == ["coin_flip"]


@pytest.mark.usefixtures("demo_plugin")
def test_a_scenario_using_the_third_party_kind_validates_and_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pm = get_plugin_manager()
    path = tmp_path / "third_party.yaml"
    path.write_text(DEMO_SCENARIO % {"options": ""})
    assert main(["validate", str(path)]) == 0
    assert f"{path}: ok (third party: 2 phases, 1 faults, 2 thresholds)" in capsys.readouterr().out

    scenario = pm.load_scenario(path)
    report = run_scenario(
        scenario,
        pm,
        RunOptions(report_dir=tmp_path / "reports", reporters=["json"]),
        source=str(path),
    )
    log: list[str] = sys.modules["harness_demo_plugin"].LOG
    assert log == [
        "start coin",
        "apply coin_flip@coin heads=False",
        "revert coin_flip@coin fired=some",
        "close coin",
    ]
    (flipping,) = [p for p in report.phases if p.name == "flipping"]
    (fault,) = flipping.faults
    assert (fault.label, fault.kind, fault.endpoint) == ("coin_flip@coin", "coin_flip", "coin")
    assert fault.fired is not None and fault.fired > 0
    assert report.held, report.problems
    assert (tmp_path / "reports" / f"{report.run_id}.json").is_file()


def test_a_plugin_that_cannot_be_imported_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_distribution(
        tmp_path,
        "harness-broken",
        {"broken": "harness_broken_plugin"},
        {"harness_broken_plugin": "raise RuntimeError('cannot start without a licence key')\n"},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError) as info:
        get_plugin_manager()
    assert str(info.value) == (
        "plugin 'broken' (harness_broken_plugin, from 'harness-broken') could not be loaded: "
        "RuntimeError('cannot start without a licence key')"
    )
    # ... and disabling it is the way out
    assert not get_plugin_manager(disable=["broken"]).has_plugin("broken")


def test_two_distributions_claiming_one_plugin_name_fail_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_distribution(
        tmp_path, "harness-impostor", {"respx": "harness_impostor"}, {"harness_impostor": ""}
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError) as info:
        get_plugin_manager()
    message = str(info.value)
    assert message.startswith("plugin name 'respx' is registered by both ")
    assert "'harness-impostor' (harness_impostor)" in message
    assert "'genai-chaos-harness' (harness_respx._plugin)" in message
