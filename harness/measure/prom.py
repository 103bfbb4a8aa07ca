"""Reading the resilient core's counters from a service's Prometheus ``/metrics``.

When the target runs in another process (a load test), the core's events cannot reach the
recorder; the service exports them instead. The harness understands the ``genai_llm_*`` counters
the example service exports from the core's events (copy ``examples/genai_service/metrics.py``
to get them in yours). Scraped at every phase boundary, the differences between two scrapes are
that phase's counters.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from harness.measure.recorder import ResilienceStats

_COUNTERS = {
    "genai_llm_calls_total": "calls",
    "genai_llm_attempts_total": "attempts",
    "genai_llm_retries_total": "retries",
    "genai_llm_fallbacks_total": "fallbacks",
    "genai_llm_fallback_calls_total": "fallback_calls",
    "genai_llm_breaker_opens_total": "breaker_opens",
    "genai_llm_budget_exhausted_total": "budget_exhausted",
}


@dataclass(frozen=True, slots=True)
class CoreCounters:
    """Totals of the core's counters at one scrape."""

    values: dict[str, float]

    def minus(self, earlier: CoreCounters) -> ResilienceStats:
        diff = {k: round(v - earlier.values.get(k, 0.0)) for k, v in self.values.items()}
        by_provider = Counter(
            {
                k.removeprefix("attempts@"): v
                for k, v in diff.items()
                if k.startswith("attempts@") and v
            }
        )
        return ResilienceStats(
            attempts_by_provider=by_provider,
            calls=diff.get("calls", 0),
            calls_ok=diff.get("calls_ok", 0),
            attempts=diff.get("attempts", 0),
            retries=diff.get("retries", 0),
            fallbacks=diff.get("fallbacks", 0),
            fallback_calls=diff.get("fallback_calls", 0),
            breaker_opens=diff.get("breaker_opens", 0),
            budget_exhausted=diff.get("budget_exhausted", 0),
        )


def parse_counters(text: str) -> CoreCounters:
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            field = _COUNTERS.get(sample.name)
            if field is None:
                continue
            values[field] = values.get(field, 0.0) + sample.value
            if field == "attempts" and "provider" in sample.labels:
                key = f"attempts@{sample.labels['provider']}"
                values[key] = values.get(key, 0.0) + sample.value
            if field == "calls" and sample.labels.get("outcome") == "ok":
                values["calls_ok"] = values.get("calls_ok", 0.0) + sample.value
    return CoreCounters(values)


def scrape(url: str, *, timeout: float = 5.0) -> CoreCounters | None:
    """The counters at ``url`` (``.../metrics``); None when it cannot be read. A service that
    exports none of them reads as all zeros (no calls: thresholds on them have no data)."""
    try:
        response = httpx.get(url, timeout=timeout)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    return parse_counters(response.text)
