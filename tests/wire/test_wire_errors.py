from __future__ import annotations

import email.utils
import json

import pytest

from harness.plugin.wire import WireResponse, fault_response, retry_after_headers
from harness.scenario.faults import HttpStatusFault


def test_retry_after_formats() -> None:
    assert retry_after_headers(2.0) == {"retry-after": "2"}
    assert retry_after_headers(0.2) == {"retry-after": "0.2"}
    assert retry_after_headers(0.25, "ms") == {"retry-after-ms": "250"}
    date = retry_after_headers(3.0, "http-date", now=1_700_000_000.5)["retry-after"]
    parsed = email.utils.parsedate_to_datetime(date).timestamp()
    assert parsed == 1_700_000_004.0  # now + 3 s, rounded up to a whole second
    assert date.endswith(" GMT")


def test_openai_fault_response() -> None:
    fault = HttpStatusFault(status=429, retry_after="200ms", retry_after_format="ms")
    status, headers, body = fault_response(fault, "openai", request_id="req_x", model="gpt-4o")
    assert status == 429
    assert headers["content-type"] == "application/json"
    assert headers["retry-after-ms"] == "200"
    assert "retry-after" not in headers
    assert headers["x-request-id"] == "req_x"
    error = json.loads(body)["error"]
    assert error["type"] == "requests"
    assert error["code"] == "rate_limit_exceeded"


def test_openai_insufficient_quota() -> None:
    fault = HttpStatusFault(status=429, error_code="insufficient_quota", should_retry=False)
    response = fault_response(fault, "openai")
    assert isinstance(response, WireResponse)
    error = json.loads(response.body)["error"]
    assert (error["type"], error["code"]) == ("insufficient_quota", "insufficient_quota")
    assert "quota" in error["message"]
    assert response.headers["x-should-retry"] == "false"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 529])
def test_anthropic_fault_response(status: int) -> None:
    fault = HttpStatusFault(status=status, retry_after=1, message="boom")
    status_out, headers, body = fault_response(fault, "anthropic", request_id="req_a")
    assert status_out == status
    assert headers["request-id"] == "req_a"
    assert headers["retry-after"] == "1"
    data = json.loads(body)
    assert data["type"] == "error"
    assert data["error"]["message"] == "boom"
    assert data["request_id"] == "req_a"


def test_no_retry_headers_unless_asked() -> None:
    _, headers, _ = fault_response(HttpStatusFault(status=503), "openai")
    assert not {"retry-after", "retry-after-ms", "x-should-retry"} & set(headers)
