"""@pytest.mark.sla and @pytest.mark.chaos, the chaos fixture, and the terminal summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytester_support import expect_run

CORE_TEST = """
import pytest
from harness.core import BaseLLMWrapper, OpenAIProvider

def llm(url):
    return BaseLLMWrapper(OpenAIProvider(base_url=url, api_key="k", model="m"))
"""


def test_sla_marker_holds_over_what_the_test_recorded(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        CORE_TEST
        + """
@pytest.mark.sla("availability >= 99%", "retries_per_call <= 1")
def test_storm(chaos, fake_llm, virtual_clock):
    client = llm(fake_llm.openai_base_url)
    with chaos.inject({"kind": "http_status", "status": 503, "first": 3}, at=fake_llm) as fault:
        for _ in range(5):
            assert client.complete_sync("hi").text
    assert fault.fired == 3
    assert virtual_clock.sleeps  # the backoff ran on virtual time
"""
    )
    expect_run(
        pytester,
        "--chaos-report-dir",
        str(pytester.path / "out"),
        passed=1,
        lines=[
            "*chaos SLA summary*",
            "*test_storm*",
            "*held*availability >= 99%*held: 100% >= 99%*",
            "*held*retries_per_call <= 1*",
            "session report: *out*pytest-*.json",
        ],
    )


def test_a_breached_sla_fails_the_test_with_the_table(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import pytest

@pytest.mark.sla("max < 10ms", "error_rate < 1%", "p99 < 1s")
def test_slow(chaos):
    chaos.record("search", 0.25)
    chaos.record("search", 0.30, ok=False, error="Timeout")
"""
    )
    expect_run(
        pytester,
        failed=1,
        lines=[
            "*SLA breached:*",
            "*BREACHED max < 10ms*breached: 250*ms is not < 10ms (off by 240*ms)*",
            "*BREACHED error_rate < 1%*breached: 50% is not < 1%*",
            "*INCONCLUSIVE p99 < 1s*p99 needs 100 samples to be stated, got 1*",
        ],
    )


def test_no_data_is_a_breach(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import pytest

@pytest.mark.sla("p95 < 1s")
def test_records_nothing(chaos):
    pass
"""
    )
    expect_run(pytester, failed=1, lines=["*BREACHED p95 < 1s*no data is a breach*"])


def test_record_only_keeps_the_breach_in_the_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import pytest

@pytest.mark.sla("max < 10ms")
def test_slow(chaos):
    chaos.record("x", 0.5)
"""
    )
    out = pytester.path / "out"
    expect_run(
        pytester,
        "--sla-record-only",
        "--chaos-report-dir",
        str(out),
        passed=1,
        lines=["*BREACHED max < 10ms*"],
    )
    report = json.loads(next(out.glob("pytest-*.json")).read_text())
    assert report["held"] is False
    assert report["thresholds"][0]["scope"].endswith("test_slow")
    assert {p.suffix for p in out.iterdir() if p.is_file()} >= {".json", ".xml", ".md", ".html"}


def test_chaos_marker_applies_faults_for_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        CORE_TEST
        + """
@pytest.mark.chaos({"kind": "http_status", "status": 429, "retry_after": 0.5, "first": 1},
                   at="https://vendor.example.test/v1")
def test_retries_once(chaos, virtual_clock):
    answer = llm("https://vendor.example.test/v1").complete_sync("hello")
    assert answer.attempts == 2
    assert virtual_clock.sleeps == [0.5]
"""
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_fault_that_never_fired_fails_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import pytest

@pytest.mark.chaos({"kind": "http_status", "status": 503}, at="fake_llm")
def test_never_calls_the_vendor(chaos):
    pass

@pytest.mark.chaos({"kind": "http_status", "status": 503, "optional": True}, at="fake_llm")
def test_optional_fault_may_not_fire(chaos):
    pass
"""
    )
    expect_run(
        pytester, passed=2, errors=1, lines=["*fault 'http_status' (http_status) never fired*"]
    )


def test_virtual_clock_fixture_is_the_cores_clock(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
from harness.core import get_clock

def test_clock(virtual_clock):
    assert get_clock() is virtual_clock
"""
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_toxiproxy_fixture_cleans_up_after_each_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
def test_creates(toxiproxy, fake_llm):
    toxiproxy.create_proxy("vendor_net", fake_llm.url.removeprefix("http://"))
    toxiproxy.add_toxic("vendor_net", "latency", attributes={"latency": 10})
    assert "vendor_net" in toxiproxy.proxies()

def test_starts_clean(toxiproxy):
    assert "vendor_net" not in toxiproxy.proxies()
"""
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_works_under_xdist_with_one_merged_report(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    pytester.makepyfile(
        """
import pytest

@pytest.mark.parametrize("n", range(4))
@pytest.mark.sla("availability >= 50%")
def test_records(chaos, n):
    for i in range(10):
        chaos.record("op", 0.001 * (i + 1), ok=i != 0)
"""
    )
    out = tmp_path / "out"
    result = pytester.runpytest_subprocess("-n", "2", "--chaos-report-dir", str(out))
    result.assert_outcomes(passed=4)
    reports = list(out.glob("pytest-*.json"))
    assert len(reports) == 1  # the controller merged the workers into one report
    report = json.loads(reports[0].read_text())
    totals = next(r for r in report["requests"] if r["name"] == "*" and r["phase"] == "*")
    assert (totals["count"], totals["ok"], totals["failed"]) == (40, 36, 4)
    assert len(report["thresholds"]) == 4


def test_measure_assert_sla_and_run_scenario_from_a_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import pytest
from harness.run.chaos import SLABreach

def test_measured(chaos):
    for n in range(4):
        with chaos.measure("lookup"):
            pass
    with pytest.raises(ZeroDivisionError), chaos.measure("lookup"):
        1 / 0
    verdicts = chaos.assert_sla("max < 1s name=lookup")
    assert [v.held for v in verdicts] == [True]
    with pytest.raises(SLABreach) as info:
        chaos.assert_sla("availability >= 99% name=lookup")
    assert "availability >= 99% name=lookup" in str(info.value)
    assert "80%" in str(info.value)  # 4 of 5 measured blocks went well

def test_a_whole_scenario(chaos, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: inline\\n"
        "target: {core: llm}\\n"
        "upstreams: [{name: primary, backend: respx}, {name: backup, backend: respx}]\\n"
        "load: {users: 2}\\n"
        "phases:\\n"
        "  - name: outage\\n"
        "    duration: 1s\\n"
        "    faults: [{kind: http_status, target: primary, status: 503}]\\n"
        "sla: [availability >= 99%, fallback_rate >= 90%]\\n"
    )
    report = chaos.run_scenario(path)
    assert report.held, [t.observed_text for t in report.thresholds]
    assert report.phases[0].faults[0].fired > 0
    assert chaos.reports == [report]
"""
    )
    expect_run(
        pytester,
        "--chaos-report-dir",
        str(pytester.path / "out"),
        "-p",
        "no:cacheprovider",
        passed=2,
    )
