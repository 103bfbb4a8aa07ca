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
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from harness.measure.recorder import Recorder, ResilienceStats


@dataclass(frozen=True, slots=True)
class CoreCounters:
    """Totals of the core's counters at one scrape (a :class:`ResilienceStats` of totals)."""

    totals: ResilienceStats

    def minus(self, earlier: CoreCounters) -> ResilienceStats:
        """What happened between ``earlier`` and this scrape."""
        diff = ResilienceStats()
        for name, info in ResilienceStats.counters():
            now, before = getattr(self.totals, name), getattr(earlier.totals, name)
            if info.tally:
                delta = Counter({k: v - before.get(k, 0) for k, v in now.items()})
                setattr(diff, name, +delta)  # unary plus drops zero and negative counts
            else:
                setattr(diff, name, now - before)
        return diff


def parse_counters(text: str) -> CoreCounters:
    """The ``genai_llm_*`` counters in a Prometheus text exposition, summed over their labels
    (or keyed by one, for a tally), as each :class:`ResilienceStats` field declares."""
    by_metric: dict[str, list[tuple[str, Any]]] = {}
    for name, info in ResilienceStats.counters():
        if info.prom is not None:
            by_metric.setdefault(info.prom, []).append((name, info))
    totals = ResilienceStats()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for name, info in by_metric.get(sample.name, ()):
                if any(sample.labels.get(k) != v for k, v in info.prom_match):
                    continue
                value = round(sample.value)
                if info.tally:
                    key = sample.labels.get(info.prom_key or "")
                    if key is not None:
                        getattr(totals, name)[key] += value
                else:
                    setattr(totals, name, getattr(totals, name) + value)
    return CoreCounters(totals)


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


class PhaseCounters:
    """The core's counters of a service in another process, phase by phase: read at the start
    (:meth:`start`), then at every phase boundary (:meth:`phase_starts`) and at the end
    (:meth:`finish`); what changed between two reads is added to the phase in between. A
    phase with no call of the core adds nothing (a service that does not export the counters
    then has no data, not zeros)."""

    def __init__(self, url: str, recorder: Recorder, *, source: str = "llm") -> None:
        self.url = url
        self.recorder = recorder
        self.source = source
        self._last: CoreCounters | None = None
        self._phase: str | None = None

    def start(self) -> None:
        self._last = scrape(self.url)
        self._phase = None

    def phase_starts(self, name: str | None) -> None:
        if self._phase is None and name is None:
            return  # already finished (or never started a phase)
        now = scrape(self.url)
        if now is not None and self._last is not None and self._phase is not None:
            counted = now.minus(self._last)
            if counted.calls or counted.attempts:
                self.recorder.add_resilience(self.source, self._phase, counted)
        if now is not None:
            self._last = now
        self._phase = name

    def finish(self) -> None:
        self.phase_starts(None)
