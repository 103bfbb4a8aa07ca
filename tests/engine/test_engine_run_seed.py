"""The seed of a run: the option's, else the scenario's (0 included), else a random one; every
command that starts a run picks it the same way (``Scenario.run_seed``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.cli import stack as stack_cli
from harness.plugin.types import RunContext
from harness.scenario.loader import parse_scenario
from harness.scenario.model import Scenario

SEEDS = st.integers(min_value=0, max_value=2**31 - 1)


def scenario_with(seed: int | None) -> Scenario:
    line = "" if seed is None else f"seed: {seed}\n"
    return parse_scenario(
        f"name: s\n{line}target: {{url: 'http://127.0.0.1:9/'}}\n"
        "phases: [{name: only, duration: 1s}]\n"
    )


@given(option=SEEDS, own=st.none() | SEEDS)
def test_the_option_wins(option: int, own: int | None) -> None:
    assert scenario_with(own).run_seed(option) == option


@given(own=SEEDS)
def test_without_the_option_the_scenario_seed_holds_zero_included(own: int) -> None:
    assert scenario_with(own).run_seed() == own
    assert scenario_with(own).run_seed(None) == own


def test_without_either_a_seed_is_drawn() -> None:
    assert 0 <= scenario_with(None).run_seed() < 2**31


def test_stack_up_keeps_a_scenario_seed_of_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``harness stack up`` once took ``seed: 0`` for "no seed" and drew a random one."""
    scenario_file = tmp_path / "s.yaml"
    scenario_file.write_text(
        "name: s\nseed: 0\ntarget: {url: 'http://127.0.0.1:9/'}\n"
        "phases: [{name: only, duration: 1s}]\n"
    )
    runs: list[RunContext] = []

    class Recorded:  # records the run the command builds instead of starting processes
        def __init__(self, scenario: Scenario, pm: Any, run: RunContext) -> None:
            runs.append(run)

        def start(self) -> Any:
            raise SystemExit(0)

    monkeypatch.setattr(stack_cli, "ProcessStack", Recorded)
    with pytest.raises(SystemExit):
        stack_cli.stack_up(scenario_file, tmp_path / "stack.json")
    assert [run.seed for run in runs] == [0]
