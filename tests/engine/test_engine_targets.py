"""How a ``core`` target's scenario settings become the core the harness drives."""

from __future__ import annotations

from harness.core import BreakerConfig, Timeouts
from harness.run.targets import build_wrapper, core_client_config
from harness.scenario.model import TargetSpec

CHAIN = [
    {"name": "primary", "api": "openai", "url": "http://127.0.0.1:9/v1", "model": None},
    {"name": "backup", "api": "anthropic", "url": "http://127.0.0.1:9", "model": None},
]


def test_unset_settings_keep_the_core_defaults() -> None:
    assert core_client_config(TargetSpec(core="llm")) == (None, None)
    wrapper = build_wrapper(CHAIN, resilience=True, seed=1)
    assert wrapper.resilience.breaker_config == BreakerConfig()
    assert all(provider.timeouts == Timeouts() for provider in wrapper.providers)


def test_timeouts_reach_every_provider_and_the_breaker_the_resilient_core() -> None:
    spec = TargetSpec.model_validate(
        {"core": "llm", "timeouts": {"read": "300ms"}, "breaker": {"break_duration": "1s"}}
    )
    timeouts, breaker = core_client_config(spec)
    assert timeouts == Timeouts(read=0.3)
    assert breaker == BreakerConfig(break_duration=1.0)
    resilient = build_wrapper(CHAIN, resilience=True, seed=1, timeouts=timeouts, breaker=breaker)
    assert [p.name for p in resilient.providers] == ["primary", "backup"]
    assert all(provider.timeouts.read == 0.3 for provider in resilient.providers)
    assert resilient.resilience.breaker_config == BreakerConfig(break_duration=1.0)


def test_the_naive_client_gets_the_same_timeouts_but_no_breaker_and_no_backup() -> None:
    naive = build_wrapper(
        CHAIN,
        resilience=False,
        seed=1,
        timeouts=Timeouts(read=0.3),
        breaker=BreakerConfig(break_duration=1.0),
    )
    assert [p.name for p in naive.providers] == ["primary"]
    assert naive.providers[0].timeouts.read == 0.3
    assert naive.resilience.breaker_config is None
    assert naive.resilience.budget_config is None
    assert naive.policy.max_attempts == 1
