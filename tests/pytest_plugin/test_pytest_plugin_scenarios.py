"""`pytest scenarios/`: each scenario file is one test item with a result line per threshold."""

from __future__ import annotations

import pytest
from pytester_support import expect_run

SCENARIO = """
name: tiny {name}
seed: 5
target: {{core: llm}}
upstreams:
  - {{name: primary, api: openai, backend: respx}}
  - {{name: backup, api: anthropic, backend: respx}}
load: {{rate: 50/s}}
phases:
  - {{name: baseline, duration: 0.4s}}
  - name: outage
    duration: 2s
    faults:
      - {{kind: http_status, target: primary, status: 503}}
sla:
{sla}
"""


def write(pytester: pytest.Pytester, name: str, sla: list[str]) -> None:
    scenarios = (
        pytester.mkdir("scenarios")
        if not (pytester.path / "scenarios").exists()
        else pytester.path / "scenarios"
    )
    body = SCENARIO.format(name=name, sla="\n".join(f"  - {s}" for s in sla))
    (scenarios / f"{name}.yaml").write_text(body)


def test_a_scenario_that_holds_passes(pytester: pytest.Pytester) -> None:
    write(pytester, "holds", ["availability >= 99%", "fallback_rate >= 90% phase=outage"])
    expect_run(
        pytester,
        "scenarios",
        "--chaos-report-dir",
        str(pytester.path / "r"),
        passed=1,
        lines=[
            "*scenarios/holds.yaml::holds:*",
            "*tiny holds: SLA HELD*",
            "*availability >= 99%*100%*held*",
            "*fallback_rate >= 90% phase=outage*held*",
        ],
    )
    assert len(list((pytester.path / "r").glob("tiny-holds-*.html"))) == 1


def test_a_breached_scenario_fails_and_names_the_threshold(pytester: pytest.Pytester) -> None:
    write(pytester, "breaks", ["availability >= 99%", "p95 < 1us"])
    expect_run(
        pytester,
        "scenarios",
        failed=1,
        lines=["*tiny breaks: SLA BREACHED*", "*p95 < 1us*BREACHED*"],
    )


def test_the_naive_client_is_caught(pytester: pytest.Pytester) -> None:
    write(pytester, "outage", ["availability >= 99%"])
    expect_run(
        pytester,
        "scenarios",
        "--chaos-no-resilience",
        failed=1,
        lines=["*availability >= 99%*BREACHED*"],
    )


def test_an_invalid_scenario_fails_with_file_field_and_expectation(
    pytester: pytest.Pytester,
) -> None:
    scenarios = pytester.mkdir("scenarios")
    (scenarios / "bad.yaml").write_text(
        "name: bad\ntarget: {core: llm}\nupstreams: [{name: p, backend: respx}]\n"
        "phases:\n  - name: a\n    duration: 1s\n    faults:\n      - {kind: http_status, status: 503, rate: 300%}\n"
    )
    expect_run(
        pytester,
        "scenarios",
        failed=1,
        lines=["*ScenarioError*bad.yaml: phases[[]0].faults[[]0].rate (line 8): expected a rate*"],
    )


def test_yaml_outside_a_scenarios_directory_is_not_collected(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", config="name: not a scenario\n")
    pytester.mkdir("scenarios")
    (pytester.path / "scenarios" / "load").mkdir()
    (pytester.path / "scenarios" / "load" / "big.yaml").write_text("name: load only\n")
    result = pytester.runpytest("--collect-only", "-q")
    assert "config.yaml" not in result.stdout.str()
    assert "big.yaml" not in result.stdout.str()


def test_a_yaml_file_named_on_the_command_line_is_a_scenario(pytester: pytest.Pytester) -> None:
    body = SCENARIO.format(name="mine", sla="  - availability >= 99%")
    (pytester.path / "my_scenario.yaml").write_text(body)
    expect_run(
        pytester, "my_scenario.yaml", "--chaos-report-dir", str(pytester.path / "r"), passed=1
    )
    # and only by name: the same file is not collected from its directory
    assert "my_scenario" not in pytester.runpytest("--collect-only", "-q").stdout.str()
