"""The example GenAI service on its own: headers, Prometheus metrics, its naive and blocking
variants, against two real fake vendors (the primary answering 503 when told to)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from examples.genai_service.app import create_app
from examples.genai_service.config import from_env
from harness_fake_vendor import FakeVendor


@pytest.fixture(scope="module")
def vendors() -> Iterator[tuple[FakeVendor, FakeVendor]]:
    with FakeVendor() as primary, FakeVendor() as backup:
        yield primary, backup


@pytest.fixture(autouse=True)
def healthy_vendors(vendors: tuple[FakeVendor, FakeVendor]) -> Iterator[None]:
    yield
    for vendor in vendors:
        vendor.control.clear_faults()


def _service(vendors: tuple[FakeVendor, FakeVendor], tmp_path: Path, **env: str) -> TestClient:
    primary, backup = vendors
    endpoints = [
        {"name": "primary", "api": "openai", "url": primary.openai_base_url},
        {"name": "backup", "api": "anthropic", "url": backup.anthropic_base_url},
    ]
    settings = from_env(
        {"HARNESS_ENDPOINTS": json.dumps(endpoints), "HARNESS_WORKDIR": str(tmp_path), **env}
    )
    return TestClient(create_app(settings))


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_healthy_answer_says_who_served_it(
    vendors: tuple[FakeVendor, FakeVendor], tmp_path: Path
) -> None:
    with _service(vendors, tmp_path) as client:
        response = client.post("/chat", json={"session_id": "s1", "message": "refund please"})
        assert response.status_code == 200
        assert response.headers["x-provider"] == "primary"
        assert response.headers["x-attempts"] == "1"
        assert response.headers["x-fallback"] == "false"
        assert response.json()["degraded"] == []
        health = client.get("/healthz").json()
        assert health == {
            "status": "ok",
            "providers": ["primary", "backup"],
            "resilience": "on",
            "blocking_tool": False,
        }


def test_an_outage_is_served_by_the_backup_and_shows_in_the_metrics(
    vendors: tuple[FakeVendor, FakeVendor], tmp_path: Path
) -> None:
    vendors[0].control.add_fault({"kind": "http_status", "status": 503})
    with _service(vendors, tmp_path) as client:
        for n in range(12):
            response = client.post("/chat", json={"session_id": "s1", "message": f"hi {n}"})
            assert response.status_code == 200
            assert response.headers["x-provider"] == "backup"
            assert response.headers["x-fallback"] == "true"
        metrics = _samples(client.get("/metrics").text)
    assert metrics[("genai_chat_requests_total", (("outcome", "ok"),))] == 12
    assert metrics[("genai_llm_fallback_calls_total", (("provider", "backup"),))] == 12
    fallbacks = (("from_provider", "primary"), ("to_provider", "backup"))
    assert metrics[("genai_llm_fallbacks_total", fallbacks)] >= 1
    assert metrics[("genai_llm_attempts_total", (("provider", "primary"),))] >= 10
    # ten straight failures open the primary's breaker: later calls skip it (state 2: open)
    assert metrics[("genai_llm_breaker_opens_total", (("provider", "primary"),))] == 1
    assert metrics[("genai_llm_breaker_state", (("provider", "primary"),))] == 2
    assert ("genai_llm_retry_budget_tokens", (("provider", "primary"),)) in metrics
    assert metrics[("genai_chat_in_flight", ())] == 0


def test_the_naive_variant_fails_where_the_resilient_one_falls_back(
    vendors: tuple[FakeVendor, FakeVendor], tmp_path: Path
) -> None:
    vendors[0].control.add_fault({"kind": "http_status", "status": 503})
    with _service(vendors, tmp_path, HARNESS_RESILIENCE="off") as client:
        response = client.post("/chat", json={"session_id": "s1", "message": "hi"})
        assert response.status_code == 503
        assert response.json()["kind"] == "AllProvidersFailed"
        health = client.get("/healthz").json()
        assert (health["providers"], health["resilience"]) == (["primary"], "off")
        assert health["blocking_tool"] is True  # the naive proof of concept blocks the loop


def test_the_blocking_tool_variant_answers_the_same(
    vendors: tuple[FakeVendor, FakeVendor], tmp_path: Path
) -> None:
    with _service(vendors, tmp_path, GENAI_BLOCKING_TOOL="1") as client:
        assert client.get("/healthz").json()["blocking_tool"] is True
        response = client.post("/chat", json={"session_id": "s1", "message": "refund?"})
        assert response.status_code == 200
        assert response.headers["x-provider"] == "primary"
