"""harness.strategies: sequences fire in order, generated scenarios are valid, and a failing
property prints the minimal fault sequence as a scenario snippet."""

from __future__ import annotations

import httpx
import pytest
import yaml
from hypothesis import given, settings
from pytester_support import expect_run

from harness import strategies
from harness.core import VirtualClock, use_clock
from harness.engine import parse_scenario
from harness.scenario.faults import ConnectionResetFault, HttpStatusFault, LatencyFault
from harness_respx import mock_vendor

URL = "https://vendor.strategies.invalid/v1"


def outcomes(count: int) -> list[str]:
    seen = []
    with httpx.Client() as client:
        for _ in range(count):
            try:
                response = client.get(f"{URL}/models")
                seen.append(str(response.status_code))
            except httpx.ReadError:
                seen.append("reset")
    return seen


def test_in_order_fires_each_fault_once_on_consecutive_requests() -> None:
    faults = [
        HttpStatusFault(status=503),
        ConnectionResetFault(),
        HttpStatusFault(status=429, retry_after=1.0),
    ]
    with mock_vendor(URL, strict=False) as vendor:
        for fault in strategies.in_order(faults):
            vendor.inject(fault)
        assert outcomes(5) == ["503", "reset", "429", "200", "200"]


@pytest.mark.anyio
async def test_a_latency_slows_the_request_of_the_next_failure() -> None:
    faults = [HttpStatusFault(status=500), LatencyFault(latency=2.0), HttpStatusFault(status=502)]
    with use_clock(VirtualClock()) as clock, mock_vendor(URL, strict=False) as vendor:
        for fault in strategies.in_order(faults):
            vendor.inject(fault)
        statuses = []
        async with httpx.AsyncClient() as client:
            for _ in range(4):
                statuses.append((await client.get(f"{URL}/models")).status_code)
        assert statuses == [500, 502, 200, 200]
        assert clock.sleeps == [2.0]  # the 502 came after 2 s


@settings(deadline=None)
@given(document=strategies.scenarios())
def test_generated_scenarios_are_valid(document: dict) -> None:  # type: ignore[type-arg]
    scenario = parse_scenario(yaml.safe_dump(document), "<generated>")
    assert scenario.target.core == "llm"
    assert 1 <= len(scenario.phases) <= 3


def test_snippet_is_a_pasteable_phase() -> None:
    faults = [
        HttpStatusFault(status=429, retry_after=2.0, retry_after_format="ms"),
        LatencyFault(latency=0.5),
    ]
    snippet = strategies.scenario_snippet(faults)
    assert snippet.startswith("# paste into a scenario under scenarios/")
    phases = yaml.safe_load(snippet)["phases"]
    assert phases[0]["faults"] == [
        {
            "kind": "http_status",
            "target": "primary",
            "first": 1,
            "status": 429,
            "retry_after": 2.0,
            "retry_after_format": "ms",
        },
        {"kind": "latency", "target": "primary", "first": 1, "after": 1, "latency": 0.5},
    ]


def test_a_failing_property_prints_the_minimal_sequence_as_a_scenario(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
from hypothesis import given, note, settings
from harness import strategies
from harness.scenario.faults import HttpStatusFault

@settings(database=None)
@given(strategies.fault_sequences(strategies.TRANSIENT, max_size=5))
def test_no_503_ever(faults):
    note(strategies.scenario_snippet(faults))
    assert not any(isinstance(f, HttpStatusFault) and f.status == 503 for f in faults)
"""
    )
    result = expect_run(
        pytester,
        failed=1,
        lines=[
            "*# paste into a scenario under scenarios/ (the minimal failing sequence)*",
            "*- kind: http_status*",
            "*status: 503*",
        ],
    )
    # shrunk to a single fault: exactly one entry in the printed phase. Only the
    # failure section counts: with CI set, pytest's short summary repeats it.
    failure_lines = [line for line in result.outlines if line.startswith("E ")]
    assert sum("- kind:" in line for line in failure_lines) == 1
