"""Property-based chaos against the resilient core (part of the shipped suite).

For *any* sequence of faults Hypothesis generates (429 with each Retry-After form, 5xx, 529,
resets, empty bodies, latency), the core's contract holds. The faults come from the in-process
respx vendor and every wait runs on a virtual clock, so hundreds of examples take seconds. When a
property fails, Hypothesis shrinks to the minimal fault sequence and prints it as a scenario
snippet to paste into ``scenarios/``.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, note, settings

from harness import strategies
from harness.core import (
    AllProvidersFailed,
    AnthropicProvider,
    BadRequest,
    BaseLLMWrapper,
    OpenAIProvider,
    RetryPolicy,
    VirtualClock,
    use_clock,
)
from harness.scenario.faults import HttpFault, LatencyFault
from harness_respx import mock_vendor

PRIMARY = "https://primary.chaos.invalid/v1"
BACKUP = "https://backup.chaos.invalid/v1"
DEADLINE = 60.0
PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def terminal(faults: list[HttpFault]) -> int:
    """How many requests the sequence fails (latencies only slow a request down)."""
    return sum(not isinstance(f, LatencyFault) for f in faults)


def primary_only() -> BaseLLMWrapper:
    return BaseLLMWrapper(
        OpenAIProvider(base_url=PRIMARY, api_key="sk-chaos-property", model="m"),
        policy=RetryPolicy(deadline=DEADLINE),
        budget=None,
        breaker=None,
    )


@PROPERTY
@given(faults=strategies.fault_sequences(strategies.TRANSIENT, max_size=4))
def test_any_storm_shorter_than_the_attempts_is_absorbed_within_the_deadline(
    faults: list[HttpFault],
) -> None:
    note(strategies.scenario_snippet(faults))
    with use_clock(VirtualClock()) as clock, mock_vendor(PRIMARY, strict=False) as vendor:
        for fault in strategies.in_order(faults):
            vendor.inject(fault)
        answer = primary_only().complete_sync("hello")
    assert answer.text
    assert answer.attempts == terminal(faults) + 1
    assert vendor.requests == terminal(faults) + 1
    assert clock.now() <= DEADLINE


@PROPERTY
@given(
    before=strategies.fault_sequences(strategies.TRANSIENT, max_size=3),
    permanent=strategies.http_faults(strategies.PERMANENT),
)
def test_a_permanent_error_is_never_retried(before: list[HttpFault], permanent: HttpFault) -> None:
    faults = [*before, permanent]
    note(strategies.scenario_snippet(faults))
    with use_clock(VirtualClock()), mock_vendor(PRIMARY, strict=False) as vendor:
        for fault in strategies.in_order(faults):
            vendor.inject(fault)
        with pytest.raises((AllProvidersFailed, BadRequest)):
            primary_only().complete_sync("hello")
    assert vendor.requests == terminal(before) + 1  # not one request after the permanent error


@PROPERTY
@given(faults=strategies.fault_sequences(strategies.TRANSIENT, min_size=1, max_size=8))
def test_with_a_backup_any_storm_on_the_primary_is_served(faults: list[HttpFault]) -> None:
    note(strategies.scenario_snippet(faults))
    llm = BaseLLMWrapper(
        [
            OpenAIProvider(
                name="primary", base_url=PRIMARY, api_key="sk-chaos-property", model="m"
            ),
            AnthropicProvider(
                name="backup", base_url=BACKUP, api_key="sk-chaos-property", model="c"
            ),
        ],
        policy=RetryPolicy(deadline=DEADLINE),
    )
    with (
        use_clock(VirtualClock()) as clock,
        mock_vendor(PRIMARY, strict=False) as primary,
        mock_vendor(BACKUP, "anthropic", strict=False),
    ):
        for fault in strategies.in_order(faults):
            primary.inject(fault)
        answer = llm.complete_sync("hello")
    assert answer.text
    assert clock.now() <= DEADLINE
    assert answer.provider == "primary" or answer.fallback
