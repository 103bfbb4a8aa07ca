"""Prometheus metrics of the service, fed by the resilient core's events."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from harness import core

_BREAKER_VALUE = {"closed": 0, "half_open": 1, "open": 2}


class ServiceMetrics:
    """One registry per app instance (several apps can live in one test process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("genai_chat_requests", "Chat requests", ["outcome"], registry=r)
        self.in_flight = Gauge("genai_chat_in_flight", "Chat requests being served", registry=r)
        self.attempts = Counter("genai_llm_attempts", "LLM attempts", ["provider"], registry=r)
        self.retries = Counter(
            "genai_llm_retries", "LLM retries scheduled", ["provider", "reason"], registry=r
        )
        self.fallbacks = Counter(
            "genai_llm_fallbacks", "Fallbacks", ["from_provider", "to_provider"], registry=r
        )
        self.calls = Counter("genai_llm_calls", "LLM calls", ["outcome", "provider"], registry=r)
        self.fallback_calls = Counter(
            "genai_llm_fallback_calls", "Calls a backup provider served", ["provider"], registry=r
        )
        self.breaker_opens = Counter(
            "genai_llm_breaker_opens", "Times a breaker opened", ["provider"], registry=r
        )
        self.budget_exhausted = Counter(
            "genai_llm_budget_exhausted", "Retries refused by the budget", ["provider"], registry=r
        )
        self.breaker = Gauge(
            "genai_llm_breaker_state",
            "Breaker state (0 closed, 1 half-open, 2 open)",
            ["provider"],
            registry=r,
        )
        self.budget_tokens = Gauge(
            "genai_llm_retry_budget_tokens", "Retry budget tokens left", ["provider"], registry=r
        )
        self.degraded = Counter(
            "genai_degraded", "Requests served without a component", ["component"], registry=r
        )

    def on_event(self, event: core.ResilienceEvent) -> None:
        if isinstance(event, core.AttemptStarted):
            self.attempts.labels(event.provider).inc()
        elif isinstance(event, core.RetryScheduled):
            self.retries.labels(event.provider, event.reason).inc()
        elif isinstance(event, core.FallbackUsed):
            self.fallbacks.labels(event.from_provider, event.to_provider).inc()
        elif isinstance(event, core.BreakerStateChanged):
            self.breaker.labels(event.provider).set(_BREAKER_VALUE[event.new])
            if event.new == "open":
                self.breaker_opens.labels(event.provider).inc()
        elif isinstance(event, core.BudgetExhausted):
            self.budget_exhausted.labels(event.provider).inc()
        elif isinstance(event, core.CallFinished):
            self.calls.labels(event.outcome, event.provider or "none").inc()
            if event.fallback and event.outcome == "ok":
                self.fallback_calls.labels(event.provider or "none").inc()

    def refresh(self, llm: core.BaseLLMWrapper) -> None:
        """Gauges read at scrape time: budget tokens and breaker states."""
        for name, guard in llm.resilience.guards().items():
            if guard.budget is not None:
                self.budget_tokens.labels(name).set(guard.budget.tokens)
            if guard.breaker is not None:
                self.breaker.labels(name).set(_BREAKER_VALUE[guard.breaker.state])
