"""The scenario loader: valid files load, every error names file, field path, line and what was
expected, and nothing but ``ScenarioError`` ever comes out (``harness.scenario.loader``)."""

from __future__ import annotations

import contextlib
import copy
import importlib
import io
import textwrap
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from engine_support import scenario_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from harness.cli import main
from harness.errors import ScenarioError
from harness.plugin.manager import PluginManager, get_plugin_manager
from harness.scenario.faults import HttpStatusFault, LatencyFault
from harness.scenario.loader import MAX_BYTES, MAX_NODES, load_scenario, parse_scenario
from harness.scenario.model import Scenario, TargetSpec, default_adapter

SCENARIO_DIR = Path(__file__).parents[2] / "scenarios"
SCENARIOS = sorted(SCENARIO_DIR.rglob("*.yaml"))

KINDS = (
    "http_status, latency, first_token_delay, stream_cut, stream_stall, malformed_stream, "
    "connection_reset, empty_response, timeout, reset_peer, bandwidth, slow_close, slicer, "
    "limit_data, down"
)
SCENARIO_KEYS = "name, description, seed, target, upstreams, proxies, load, phases, sla"
HTTP_STATUS_KEYS = (
    "kind, name, target, optional, rate, seed, first, every, after, route, model, status, "
    "retry_after, retry_after_format, error_code, message, should_retry"
)
METRICS = (
    "p50, p90, p95, p99, pNN, max, min, avg, error_rate, availability, fallback_rate, rps, "
    "retries_per_call, recovery_time, upstream_calls_per_request, backup_share, served_share, "
    "failover_time, back_to_primary_time, retry_after_violations"
)

VALID = """\
name: outage drill
description: the primary fails, the backup answers
seed: 7
target:
  core: llm
upstreams:
  - {name: primary, api: openai, backend: respx}
  - {name: backup, api: anthropic, backend: respx, model: claude-test}
load: {users: 3, spawn_rate: 10, think_time: 10ms}
phases:
  - {name: baseline, duration: 500ms}
  - name: outage
    duration: 1m
    faults:
      - {kind: http_status, target: primary, status: 503, rate: 50%, seed: 1}
      - {kind: latency, target: backup, latency: 200ms, optional: true}
  - {name: recovery, duration: 2}
sla:
  - p95 < 1500ms
  - availability >= 99.5% phase=outage
"""


def test_a_valid_scenario_becomes_typed_models() -> None:
    scenario = parse_scenario(VALID, "drill.yaml")
    assert scenario.name == "outage drill"
    assert scenario.seed == 7
    assert scenario.target == TargetSpec(core="llm")
    assert scenario.target.kind == "core"
    assert [(u.name, u.api, u.backend, u.model) for u in scenario.upstreams] == [
        ("primary", "openai", "respx", None),
        ("backup", "anthropic", "respx", "claude-test"),
    ]
    assert (scenario.load.users, scenario.load.spawn_rate, scenario.load.think_time) == (
        3,
        10,
        0.01,
    )
    assert [(p.name, p.duration) for p in scenario.phases] == [
        ("baseline", 0.5),
        ("outage", 60.0),
        ("recovery", 2.0),
    ]
    http, latency = scenario.phases[1].faults
    assert isinstance(http, HttpStatusFault) and (http.status, http.rate, http.seed) == (
        503,
        0.5,
        1,
    )
    assert isinstance(latency, LatencyFault) and latency.optional and latency.latency == 0.2
    assert [(t.metric, t.op, t.value, t.phase) for t in scenario.sla] == [
        ("p95", "<", 1.5, None),
        ("availability", ">=", 0.995, "outage"),
    ]
    # derived
    assert scenario.duration == 62.5
    assert scenario.endpoint_names() == ["primary", "backup"]
    assert scenario.fault_target(http) == "primary"
    assert [
        getattr(scenario.phase_at(t), "name", None) for t in (0, 0.49, 0.5, 60.49, 60.5, 62.5)
    ] == [
        "baseline",
        "baseline",
        "outage",
        "outage",
        "recovery",
        None,
    ]


def test_defaults_of_a_minimal_scenario() -> None:
    scenario = parse_scenario(
        "name: m\ntarget: {url: 'http://127.0.0.1:9/'}\nphases: [{name: only, duration: 1s}]\n"
    )
    assert scenario.description == "" and scenario.seed is None
    assert (scenario.upstreams, scenario.proxies, scenario.sla) == ([], [], [])
    assert scenario.load.users == 10 and scenario.load.duration is None
    assert scenario.target.request.method == "POST" and scenario.target.request.label == "/chat"


def test_the_only_endpoint_is_the_default_fault_target() -> None:
    scenario = parse_scenario(
        """\
name: one
target: {core: llm}
upstreams: [{name: solo, backend: respx}]
phases: [{name: p, duration: 1s, faults: [{kind: connection_reset}]}]
"""
    )
    assert scenario.fault_target(scenario.phases[0].faults[0]) == "solo"


def test_yaml_merge_keys_work_and_explicit_keys_override() -> None:
    scenario = parse_scenario(
        """\
name: merged
target: {core: llm}
upstreams: [{name: primary, backend: respx}]
phases:
  - &base {name: first, duration: 1s, faults: [&fault {kind: http_status, status: 503}]}
  - {<<: *base, name: second, faults: [{<<: *fault, status: 502}]}
"""
    )
    assert [(p.name, p.duration) for p in scenario.phases] == [("first", 1.0), ("second", 1.0)]
    statuses = [p.faults[0].status for p in scenario.phases]  # type: ignore[attr-defined]
    assert statuses == [503, 502]


@pytest.mark.parametrize(
    "path", SCENARIOS, ids=[str(p.relative_to(SCENARIO_DIR)) for p in SCENARIOS]
)
def test_every_shipped_scenario_loads_and_checks(path: Path, pm: PluginManager) -> None:
    scenario = pm.load_scenario(path)
    assert scenario.phases and scenario.sla
    assert any(phase.faults for phase in scenario.phases)


def test_the_shipped_chaos_suite_is_all_there() -> None:
    assert {
        "anthropic_overload",
        "blocking_tool",
        "flaky_network",
        "latency_spike",
        "memory_outage",
        "primary_outage",
        "quota_exhausted",
        "rate_limit_storm",
        "stream_cut",
    } <= {p.stem for p in SCENARIOS}


# -- exact error messages ------------------------------------------------------------------------

HEAD = "name: t\ntarget: {core: llm}\nupstreams: [{name: p, backend: respx}]\n"


def headed(body: str) -> str:
    """``HEAD`` (lines 1 to 3: a name, a core target, one respx upstream), then ``body``
    (dedented) from line 4 on."""
    return HEAD + textwrap.dedent(body).lstrip("\n")


def with_two_upstreams(fault: str) -> str:
    """A core target over two respx upstreams, ``fault`` in its one phase (line 8)."""
    return (
        "name: t\ntarget: {core: llm}\n"
        "upstreams: [{name: primary, backend: respx}, {name: backup, backend: respx}]\n"
        f"phases:\n  - name: a\n    duration: 1s\n    faults:\n      - {fault}\n"
    )


CASES: list[tuple[str, str, str]] = [
    (
        "unknown top-level key, with a hint",
        headed(
            """
            phase: []
            phases: [{name: a, duration: 1s}]
            """
        ),
        f"s.yaml: phase (line 4): unknown key 'phase' (did you mean 'phases'?); expected one "
        f"of: {SCENARIO_KEYS}",
    ),
    (
        "unknown key inside a fault: the path drops pydantic's discriminator tag",
        headed(
            """
            phases:
              - name: a
                duration: 1s
                faults:
                  - kind: http_status
                    status: 429
                    retry_afer: 2s
            """
        ),
        "s.yaml: phases[0].faults[0].retry_afer (line 10): unknown key 'retry_afer' (did you "
        f"mean 'retry_after'?); expected one of: {HTTP_STATUS_KEYS}",
    ),
    (
        "unknown key in the target, without a close match",
        """
        name: t
        target: {core: llm, zzz: 1}
        upstreams: [{name: p, backend: respx}]
        phases: [{name: a, duration: 1s}]
        """,
        "s.yaml: target.zzz (line 2): unknown key 'zzz'; expected one of: app, url, core, "
        "command, cwd, ready, ready_timeout, request, env, timeouts, breaker",
    ),
    (
        "unknown fault kind with the did-you-mean hint",
        headed(
            """
            phases:
              - name: a
                duration: 1s
                faults: [{kind: http_stats, status: 503}]
            """
        ),
        "s.yaml: phases[0].faults[0] (line 7): unknown fault kind 'http_stats' (did you mean "
        f"'http_status'?); expected one of: {KINDS}",
    ),
    (
        "a fault without a kind",
        headed(
            """
            phases: [{name: a, duration: 1s, faults: [{status: 503}]}]
            """
        ),
        "s.yaml: phases[0].faults[0] (line 4): a fault needs a 'kind' (http_status, latency, "
        "timeout, ...)",
    ),
    (
        "bad duration",
        headed(
            """
            phases:
              - name: a
                duration: 2 weeks
            """
        ),
        "s.yaml: phases[0].duration (line 6): expected a duration such as 500ms, 2s or 1m, got "
        "'2 weeks'",
    ),
    (
        "a phase of 1e308 seconds",
        headed(
            """
            phases: [{name: a, duration: 1e308s}]
            """
        ),
        "s.yaml: phases[0].duration (line 4): expected a duration of at most 24h, got '1e308s'",
    ),
    (
        "a run longer than 72h",
        headed(
            """
            phases: [{name: a, duration: 24h}, {name: b, duration: 24h}, {name: c, duration: 24h},
                     {name: d, duration: 1h}]
            """
        ),
        "s.yaml: phases (line 4): the phases last 73h in all; a run lasts at most 72h",
    ),
    (
        "a load duration beyond 72h",
        headed(
            """
            load: {duration: 1e9}
            phases: [{name: a, duration: 1s, faults: [{kind: latency, latency: 100h}]}]
            """
        ),
        "s.yaml: load.duration (line 4): expected a duration of at most 72h, got '1e9'\n"
        "s.yaml: phases[0].faults[0].latency (line 5): expected a duration of at most 72h, got "
        "'100h'",
    ),
    (
        "a zero duration",
        headed(
            """
            phases: [{name: a, duration: 0s}]
            """
        ),
        "s.yaml: phases[0].duration (line 4): Input should be greater than 0 (got 0.0)",
    ),
    (
        "bad rate, three phases deep",
        headed(
            """
            phases:
              - {name: a, duration: 1s}
              - {name: b, duration: 1s}
              - name: c
                duration: 1s
                faults:
                  - kind: http_status
                    status: 503
                    rate: 150%
            """
        ),
        "s.yaml: phases[2].faults[0].rate (line 12): expected a rate between 0 and 1 (or 0% and "
        "100%), got '150%'",
    ),
    (
        "bad fault parameter",
        headed(
            """
            phases:
              - name: a
                duration: 1s
                faults: [{kind: http_status, status: 200}]
            """
        ),
        "s.yaml: phases[0].faults[0].status (line 7): Input should be greater than or equal to "
        "400 (got 200)",
    ),
    (
        "missing required fields",
        headed(
            """
            phases: [{duration: 1s, faults: [{kind: latency}]}]
            """
        ),
        "s.yaml: phases[0].name (line 4): required field is missing\n"
        "s.yaml: phases[0].faults[0].latency (line 4): required field is missing",
    ),
    (
        "no phases at all",
        HEAD,
        "s.yaml: phases (line 1): required field is missing",
    ),
    (
        "SLA: unknown metric",
        headed(
            """
            phases: [{name: a, duration: 1s}]
            sla:
              - p95 < 1s
              - latency < 1s
            """
        ),
        "s.yaml: sla[1] (line 7): unknown metric 'latency' in 'latency < 1s'; expected one of: "
        + METRICS,
    ),
    (
        "SLA: a latency without unit, and a rate above 100 %",
        headed(
            """
            phases: [{name: a, duration: 1s}]
            sla: [p95 < 1500, error_rate < 120%]
            """
        ),
        "s.yaml: sla[0] (line 5): bad value '1500' in 'p95 < 1500': p95 needs a unit: write "
        "1500ms or 1500s\n"
        "s.yaml: sla[1] (line 5): bad value '120%' in 'error_rate < 120%': expected a rate "
        "between 0 and 1 (or 0% and 100%), got '120%'",
    ),
    (
        "SLA: an operator k6 does not have, a scope twice, not a string",
        headed(
            """
            phases: [{name: a, duration: 1s}]
            sla:
              - rps = 20
              - p95 {phase=a} < 1s phase=a
              - 42
            """
        ),
        "s.yaml: sla[0] (line 6): unsupported operator '=' in 'rps = 20'; use <, <=, > or >=\n"
        "s.yaml: sla[1] (line 7): phase is scoped twice in 'p95 {phase=a} < 1s phase=a'\n"
        "s.yaml: sla[2] (line 8): expected a threshold string such as 'p95 < 2s', got 42",
    ),
    (
        "SLA scoped to an unknown phase",
        headed(
            """
            phases: [{name: baseline, duration: 1s}, {name: outage, duration: 1s}]
            sla:
              - p95 < 1s
              - error_rate < 1% phase=outgae
            """
        ),
        "s.yaml: sla[1] (line 7): 'error_rate < 1% phase=outgae' is scoped to an unknown phase "
        "'outgae' (phases: baseline, outage)",
    ),
    (
        "duplicate YAML key at the top",
        """
        name: t
        target: {core: llm}
        name: u
        """,
        "s.yaml: name (line 3): duplicate key 'name' (a key may appear once in a mapping)",
    ),
    (
        "duplicate YAML key deep inside",
        headed(
            """
            phases:
              - {name: a, duration: 1s}
              - name: b
                duration: 1s
                faults:
                  - kind: http_status
                    status: 503
                    status: 429
            """
        ),
        "s.yaml: phases[1].faults[0].status (line 11): duplicate key 'status' (a key may appear "
        "once in a mapping)",
    ),
    (
        "fault target not declared",
        with_two_upstreams("{kind: http_status, status: 503, target: primray}"),
        "s.yaml: phases[0].faults[0].target (line 8): 'primray' is not a declared upstream or "
        "proxy (declared: backup, primary)",
    ),
    (
        "fault target needed when there are several endpoints",
        with_two_upstreams("{kind: connection_reset}"),
        "s.yaml: phases[0].faults[0].target (line 8): fault 'connection_reset' needs a 'target' "
        "when there is not exactly one upstream or proxy (declared: backup, primary)",
    ),
    (
        "proxy upstream neither an upstream nor host:port",
        """
        name: t
        target: {url: 'http://127.0.0.1:8000'}
        upstreams: [{name: primary}]
        proxies:
          - {name: net, upstream: primary}
          - {name: db, upstream: postgres}
        phases: [{name: a, duration: 1s}]
        """,
        "s.yaml: proxies[1].upstream (line 6): 'postgres' is neither a declared upstream "
        "(primary) nor host:port",
    ),
    (
        "duplicate names, and an upstream and a proxy sharing one",
        """
        name: t
        target: {url: 'http://127.0.0.1:8000'}
        upstreams: [{name: primary}, {name: primary}]
        proxies: [{name: primary, upstream: '127.0.0.1:5432'}]
        phases: [{name: a, duration: 1s}, {name: b, duration: 1s}, {name: a, duration: 1s}]
        """,
        "s.yaml: upstreams[1].name (line 3): duplicate name 'primary' (as upstreams[0])\n"
        "s.yaml: phases[2].name (line 5): duplicate name 'a' (as phases[0])\n"
        "s.yaml: proxies[0].name (line 4): 'primary' is already the name of an upstream",
    ),
    (
        "target needs exactly one of app/url/core: two",
        """
        name: t
        target: {app: example, url: 'http://127.0.0.1:8000'}
        phases: [{name: a, duration: 1s}]
        """,
        "s.yaml: target (line 2): target needs exactly one of 'app', 'command', 'url' or "
        "'core', got ['app', 'url']",
    ),
    (
        "target needs exactly one of app/url/core: none",
        """
        name: t
        target: {}
        phases: [{name: a, duration: 1s}]
        """,
        "s.yaml: target (line 2): target needs exactly one of 'app', 'command', 'url' or "
        "'core', got none",
    ),
    (
        "client timeouts and breaker configure only a core target",
        """
        name: t
        target: {app: example, timeouts: {read: 1s}, breaker: {break_duration: 1s}}
        phases: [{name: a, duration: 1s}]
        """,
        "s.yaml: target (line 2): timeouts and breaker configure the core a 'core' target "
        "builds; an app, command or url target configures its own client",
    ),
    (
        "a core target's client settings are checked like everything else",
        """
        name: t
        target: {core: llm, timeouts: {read: 0s}, breaker: {failure_ratio: 150%}}
        upstreams: [{name: p, backend: respx}]
        phases: [{name: a, duration: 1s}]
        """,
        "s.yaml: target.timeouts.read (line 2): Input should be greater than 0 (got '0s')\n"
        "s.yaml: target.breaker.failure_ratio (line 2): expected a rate between 0 and 1 "
        "(or 0% and 100%), got '150%'",
    ),
    (
        "a core target with nothing to call",
        """
        name: t
        target: {core: llm}
        phases: [{name: a, duration: 1s}]
        """,
        "s.yaml: upstreams (line 1): target 'core' needs at least one upstream to call",
    ),
    (
        "URLs that would only fail when the run starts",
        """
        name: t
        target: {url: 'ftp://example.com'}
        upstreams: [{name: real, backend: url, url: 'http://api.example.com:99999/v1'}]
        phases: [{name: a, duration: 1s}]
        """,
        "s.yaml: target.url (line 2): expected an http(s) URL such as http://127.0.0.1:8000/v1, "
        "got 'ftp://example.com'\n"
        "s.yaml: upstreams[0].url (line 3): expected an http(s) URL such as "
        "http://127.0.0.1:8000/v1, got 'http://api.example.com:99999/v1'",
    ),
    (
        "a url backend without a url",
        """
        name: t
        target: {url: 'http://127.0.0.1:8000'}
        upstreams: [{name: real, backend: url}]
        phases: [{name: a, duration: 1s}]
        """,
        "s.yaml: upstreams[0] (line 3): an upstream with backend 'url' needs a 'url'",
    ),
    (
        "not a mapping",
        "- name: t\n- phases: []\n",
        "s.yaml: expected a mapping with name, target, phases, ... got list",
    ),
    ("empty", "", "s.yaml: expected a mapping with name, target, phases, ... got NoneType"),
    (
        "a scalar",
        "just text\n",
        "s.yaml: expected a mapping with name, target, phases, ... got str",
    ),
    (
        "broken YAML",
        "name: t\nphases: [\n",
        "s.yaml: invalid YAML: line 3, column 1: expected the node content, but found "
        "'<stream end>'",
    ),
    (
        "a Python tag",
        "name: !!python/object/apply:os.system ['true']\n",
        "s.yaml: invalid YAML: line 1, column 7: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/object/apply:os.system'",
    ),
    (
        "a bad timestamp (PyYAML raises AttributeError for it)",
        "name: !!timestamp yesterday\n",
        "s.yaml: invalid YAML: 'NoneType' object has no attribute 'groupdict'",
    ),
    (
        "a control character",
        "name: \x00\n",
        "s.yaml: invalid YAML: unacceptable character #x0000: special characters are not allowed "
        'in "<unicode string>", position 6',
    ),
    (
        "an unhashable key",
        "? [a, b]\n: 1\n",
        "s.yaml: invalid YAML: line 1, column 3: unhashable key ['a', 'b']",
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_messages_are_exact(text: str, expected: str) -> None:
    assert str(scenario_error(text)) == expected


def test_every_problem_is_reported_at_once_with_its_own_path() -> None:
    error = scenario_error(
        headed(
            """
            phases:
              - name: a
                duration: soon
                faults: [{kind: latency, latency: 1s, target: q}]
            sla: [p95 < 1s phase=z]
            """
        )
    )
    # field errors first; the cross-field checks need valid fields, so they wait for a fix
    assert error.problems == [
        ("phases[0].duration (line 6)", "expected a duration such as 500ms, 2s or 1m, got 'soon'")
    ]
    fixed = scenario_error(
        headed(
            """
            phases:
              - name: a
                duration: 1s
                faults: [{kind: latency, latency: 1s, target: q}]
            sla: [p95 < 1s phase=z]
            """
        )
    )
    assert fixed.problems == [
        (
            "phases[0].faults[0].target (line 7)",
            "'q' is not a declared upstream or proxy (declared: p)",
        ),
        ("sla[0] (line 8)", "'p95 < 1s phase=z' is scoped to an unknown phase 'z' (phases: a)"),
    ]
    assert fixed.source == "s.yaml"
    assert fixed.exit_code == 2


def test_validating_a_model_directly_still_names_the_fields() -> None:
    data = yaml.safe_load(VALID)
    data["phases"][1]["faults"][0]["target"] = "nowhere"
    with pytest.raises(ValidationError) as info:
        default_adapter().validate_python(data)
    assert (
        "phases[1].faults[0].target: 'nowhere' is not a declared upstream or proxy "
        "(declared: backup, primary)"
    ) in str(info.value)


# -- hostile input -------------------------------------------------------------------------------


def test_a_billion_laughs_is_refused_before_it_expands() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    error = scenario_error("\n".join(lines) + "\n")
    assert str(error) == f"s.yaml: document expands to more than {MAX_NODES} nodes"


def test_a_recursive_alias_is_refused() -> None:
    error = scenario_error("a: &a [*a, *a]\n")
    assert str(error) == f"s.yaml: document expands to more than {MAX_NODES} nodes"


def test_huge_files_are_refused_unread() -> None:
    big = "# " + "x" * MAX_BYTES + "\n"
    with pytest.raises(ScenarioError) as as_text:
        parse_scenario(big, "big.yaml")
    assert str(as_text.value) == f"big.yaml: file is larger than {MAX_BYTES} characters"
    with pytest.raises(ScenarioError) as as_bytes:
        parse_scenario(big.encode(), "big.yaml")
    assert str(as_bytes.value) == f"big.yaml: file is larger than {MAX_BYTES} bytes"


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(ScenarioError, match="nested too deeply"):
        parse_scenario("a: " + "[" * 5000 + "]" * 5000 + "\n")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"name: \xff\xfe\n", "invalid start byte"),
        (b"name: caf\xe9\n", "invalid continuation byte"),
    ],
)
def test_non_utf8_bytes(data: bytes, reason: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, "latin1.yaml")
    assert str(info.value) == f"latin1.yaml: not UTF-8 text: {reason}"


def test_utf8_bytes_load() -> None:
    scenario = parse_scenario(VALID.replace("outage drill", "panne générale").encode())
    assert scenario.name == "panne générale"


def test_load_scenario_reads_files_and_names_them(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(VALID)
    assert load_scenario(good).name == "outage drill"
    with pytest.raises(ScenarioError) as missing:
        load_scenario(tmp_path / "nope.yaml")
    assert (
        str(missing.value)
        == f"{tmp_path / 'nope.yaml'}: cannot read file: No such file or directory"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(VALID.replace("rate: 50%", "rate: 50 percent"))
    with pytest.raises(ScenarioError) as info:
        load_scenario(bad)
    assert str(info.value) == (
        f"{bad}: phases[1].faults[0].rate (line 15): expected a rate such as 0.3 or 30%, got "
        "'50 percent'"
    )


# -- fuzzing: nothing but ScenarioError ---------------------------------------------------------

_FUZZ_PM: list[PluginManager] = []


def _adapter() -> Any:
    if not _FUZZ_PM:
        _FUZZ_PM.append(get_plugin_manager())
    return _FUZZ_PM[0].scenario_adapter()


def _parses_or_scenario_error(text: str | bytes) -> None:
    error: ScenarioError | None = None
    try:
        scenario = parse_scenario(text, "fuzz.yaml", adapter=_adapter())
    except ScenarioError as exc:
        error = exc
    if error is None:
        assert isinstance(scenario, Scenario)
        return
    assert error.problems and all(isinstance(m, str) and m for _, m in error.problems)
    assert str(error).startswith("fuzz.yaml: ")


YAML_PIECES = st.sampled_from(
    [
        "name: ",
        "target: ",
        "phases:",
        "faults:",
        "sla:",
        "kind: ",
        "http_status",
        "latency",
        "duration: ",
        "rate: ",
        "1s",
        "50%",
        "-1",
        "1e400",
        "0x1F",
        ".nan",
        "~",
        "null",
        "true",
        "- ",
        "\n",
        "\n  ",
        "\n    ",
        "{",
        "}",
        "[",
        "]",
        ", ",
        ": ",
        "&a ",
        "*a",
        "<<: ",
        "? ",
        "!!int ",
        "!!str ",
        "!!timestamp ",
        "!!binary ",
        "!!set ",
        "!!python/name:os.system ",
        "'",
        '"',
        "#",
        "|",
        ">",
        "%YAML 1.1",
        "---",
        "...",
        "é",
        "\t",
        "\\",
        "p95 < 1s",
    ]
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(st.text(max_size=300), st.binary(max_size=300), st.lists(YAML_PIECES).map("".join))
)
def test_arbitrary_text_gives_only_scenario_errors(text: str | bytes) -> None:
    _parses_or_scenario_error(text)


JSONISH = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**30), max_value=10**400),
        st.floats(),
        st.text(max_size=12),
        st.sampled_from(["1s", "250ms", "30%", "p95 < 1s", "primary", "http_status", "respx"]),
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
BASES = [yaml.safe_load(p.read_text()) for p in SCENARIOS] + [yaml.safe_load(VALID)]


def _containers(node: Any, out: list[Any]) -> list[Any]:
    if isinstance(node, dict | list):
        out.append(node)
        for child in node.values() if isinstance(node, dict) else node:
            _containers(child, out)
    return out


@st.composite
def mutated_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 4))):
        containers = _containers(data, [])
        node = draw(st.sampled_from(containers))
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        action = draw(st.sampled_from(["replace", "delete", "add", "duplicate"]))
        if action == "add" or not keys:
            key = draw(
                st.sampled_from([*keys, "extra", "kind", "target", "rate", "phase"])
                | st.text(max_size=6)
            )
            if isinstance(node, dict):
                node[key] = draw(JSONISH)
            else:
                node.append(draw(JSONISH))
            continue
        key = draw(st.sampled_from(keys))
        if action == "replace":
            node[key] = draw(JSONISH)
        elif action == "delete":
            del node[key]
        elif isinstance(node, list):
            node.append(copy.deepcopy(node[key]))
        else:
            node[draw(st.text(max_size=6))] = copy.deepcopy(node[key])
    return data


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(mutated_scenarios())
def test_mutated_scenarios_give_only_scenario_errors(data: dict[str, Any]) -> None:
    _parses_or_scenario_error(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


@pytest.mark.parametrize(
    "base", BASES, ids=[*(str(p.relative_to(SCENARIO_DIR)) for p in SCENARIOS), "valid"]
)
def test_the_fuzz_bases_are_valid(base: dict[str, Any]) -> None:
    parse_scenario(yaml.safe_dump(base), adapter=_adapter())


# -- harness validate -----------------------------------------------------------------------------


def test_validate_exits_0_on_the_shipped_suite(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", *map(str, SCENARIOS)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert [line.split(": ok (")[0] for line in lines] == [str(p) for p in SCENARIOS]
    quota = next(p for p in SCENARIOS if p.stem == "quota_exhausted")
    assert f"{quota}: ok (quota exhausted: 3 phases, 1 faults, 4 thresholds)" in lines


def test_validate_exits_2_naming_file_field_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        textwrap.dedent(
            """\
            name: t
            target: {core: llm}
            upstreams: [{name: p, backend: respx}]
            phases:
              - name: a
                duration: 1s
                faults: [{kind: http_status, status: 503, rate: 2}]
            """
        )
    )
    good = SCENARIOS[0]
    assert main(["validate", str(good), str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{good}: ok (")
    assert captured.err == (
        f"{bad}: phases[0].faults[0].rate (line 7): expected a rate between 0 and 1 "
        "(or 0% and 100%), got 2\n"
    )


def test_validate_reports_a_backend_that_cannot_inject_the_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        "name: t\ntarget: {core: llm}\nupstreams: [{name: p, backend: respx}]\n"
        "phases: [{name: a, duration: 1s, faults: [{kind: bandwidth, kbps: 1}]}]\n"
    )
    assert main(["validate", str(wrong)]) == 2
    err = capsys.readouterr().err
    assert (
        "phases[0].faults[0].kind: 'bandwidth' cannot be injected at 'p' (backend 'respx' "
        "supports: connection_reset, empty_response, first_token_delay, http_status, latency, "
        "malformed_stream, stream_cut, stream_stall)"
    ) in err


def test_validate_exits_2_on_a_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml: cannot read file: No such file or directory" in capsys.readouterr().err


# -- checks against the plugins ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        (
            "name: t\ntarget: {url: 'http://127.0.0.1:1'}\nupstreams: [{name: p, backend: nope}]\n"
            "proxies: [{name: n, upstream: p, backend: nada}]\nphases: [{name: a, duration: 1s}]\n",
            [
                (
                    "upstreams[0].backend",
                    "no plugin provides backend 'nope' (loaded: fake_vendor, respx, sqlite, "
                    "toxiproxy, url)",
                ),
                (
                    "proxies[0].backend",
                    "no plugin provides backend 'nada' (loaded: fake_vendor, respx, sqlite, "
                    "toxiproxy, url)",
                ),
            ],
        ),
        (
            "name: t\ntarget: {url: 'http://127.0.0.1:1'}\n"
            "upstreams: [{name: real, backend: url, url: 'https://api.openai.com/v1'}]\n"
            "phases: [{name: a, duration: 1s, faults: [{kind: http_status, status: 500}]}]\n",
            [
                (
                    "phases[0].faults[0]",
                    "'real' is served by backend 'url', which injects no faults (for a real "
                    "URL, put a proxy in front of it)",
                )
            ],
        ),
        (
            "name: t\ntarget: {url: 'http://127.0.0.1:1'}\nupstreams: [{name: p}]\n"
            "proxies: [{name: net, upstream: p}]\n"
            "phases: [{name: a, duration: 1s, faults: [{kind: stream_cut, target: net}]}]\n",
            [
                (
                    "phases[0].faults[0].kind",
                    "'stream_cut' cannot be injected at 'net' (backend 'toxiproxy' supports: "
                    "bandwidth, down, latency, limit_data, reset_peer, slicer, slow_close, timeout)",
                )
            ],
        ),
    ],
)
def test_check_scenario_against_the_backends(
    text: str, problems: list[tuple[str, str]], pm: PluginManager
) -> None:
    scenario = parse_scenario(text, adapter=pm.scenario_adapter())
    with pytest.raises(ScenarioError) as info:
        pm.check_scenario(scenario, "c.yaml")
    assert info.value.problems == problems
    assert str(info.value).startswith("c.yaml: ")


# -- fuzzing harness validate: exit 0 or 2 with a message, never a traceback ----------------------

_CLI = importlib.import_module("harness.cli.main")


def _validate(path: Path) -> tuple[int, str, str]:
    """``harness validate path`` in this process (the plugins loaded once: loading them is not
    what is being tested, and costs 0.2 s)."""
    out, err = io.StringIO(), io.StringIO()
    _adapter()  # loads the plugins once
    with (
        mock.patch.object(_CLI, "get_plugin_manager", return_value=_FUZZ_PM[0]),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        code = main(["validate", str(path)])
    return code, out.getvalue(), err.getvalue()


def _assert_validated_or_explained(path: Path) -> None:
    code, out, err = _validate(path)
    assert code in (0, 2), (code, out, err)
    if code == 0:
        assert out.startswith(f"{path}: ok (") and not err
    else:
        lines = err.rstrip("\n").split("\n")  # not splitlines(): a key may hold \x1e
        assert lines and not out, (out, err)
        assert all(line.startswith((f"{path}: ", "  ")) for line in lines), err
        assert "Traceback" not in err


@pytest.fixture(scope="module")
def fuzz_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "fuzz.yaml"


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.one_of(
        st.text(max_size=200), st.binary(max_size=200), st.lists(YAML_PIECES).map("".join)
    )
)
def test_validate_any_text_is_ok_or_exit_2(fuzz_file: Path, text: str | bytes) -> None:
    fuzz_file.write_bytes(
        text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    )
    _assert_validated_or_explained(fuzz_file)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated_scenarios())
def test_validate_mutated_scenarios_is_ok_or_exit_2(fuzz_file: Path, data: dict[str, Any]) -> None:
    fuzz_file.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    _assert_validated_or_explained(fuzz_file)


@pytest.mark.parametrize(
    "text",
    [
        "name: t\nseed: " + "9" * 5000 + "\n",
        "name: t\nphases: [{name: a, duration: " + "9" * 5000 + "}]\n",
        "name: t\nphases: [{name: a, duration: 1e308s}]\n",
        "name: t\nphases: [{name: a, duration: .inf}]\n",
        "name: t\nload: {users: " + "9" * 5000 + "}\n",
        "a: " + "[" * 100_000 + "]" * 100_000 + "\n",
        "a: " + "{a: " * 20_000 + "}" * 20_000 + "\n",
        "name: [1, 2]\ntarget: 7\nphases: {a: 1}\nsla: p95\n",
        "sla: ['p95 < " + "9" * 5000 + "ms', 'rps > 1e999', 'p99.99999999999999999999 < 1s']\n",
        "\ufeff\x00\x01",
        "# " + "x" * (MAX_BYTES + 1) + "\n",
    ],
    ids=[
        "huge-seed",
        "huge-duration",
        "1e308s",
        "inf",
        "huge-users",
        "deep-lists",
        "deep-maps",
        "wrong-types",
        "hostile-sla",
        "control-bytes",
        "huge-file",
    ],
)
def test_validate_hostile_files(fuzz_file: Path, text: str) -> None:
    fuzz_file.write_text(text, "utf-8")
    code, out, err = _validate(fuzz_file)
    assert code == 2 and not out
    assert err.startswith(f"{fuzz_file}: ")


def test_validate_a_directory_is_exit_2(tmp_path: Path) -> None:
    code, _, err = _validate(tmp_path)
    assert code == 2
    assert err.startswith(f"{tmp_path}: cannot read file")


def test_a_key_with_a_newline_or_an_escape_is_quoted_in_the_path() -> None:
    """Found by the fuzzer: the path printed a key as it was, so one problem took two lines (or
    coloured the terminal)."""
    error = scenario_error(
        """
        name: t
        "a\\nb": 1
        "\\e[31m": 2
        """
    )
    paths = [path for path, _ in error.problems]
    assert paths[2:] == ["'a\\nb' (line 2)", "'\\x1b[31m' (line 3)"]
    assert len(str(error).splitlines()) == len(error.problems)
    assert "\x1b" not in str(error)
