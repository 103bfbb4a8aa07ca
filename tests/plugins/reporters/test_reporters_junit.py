"""The JUnit reporter: one testcase per threshold, failures exactly for breaches."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from harness.report.model import Report
from harness_reporters import _junit


def _parse(report: Report, tmp_path: Path) -> ET.Element:
    path = tmp_path / f"{report.run_id}.junit.xml"
    _junit.write(report, path)
    return ET.parse(path).getroot()


def _cases(root: ET.Element, prefix: str) -> list[ET.Element]:
    return [c for c in root.iter("testcase") if c.get("classname", "").startswith(prefix)]


def test_one_testcase_per_threshold_failures_for_breaches(
    tmp_path: Path, breached_report: Report
) -> None:
    root = _parse(breached_report, tmp_path)
    suites = root.findall("testsuite")
    assert len(suites) == 1
    assert suites[0].get("name") == "Vendor outage @ 20 users"
    cases = _cases(root, "harness.sla.")
    assert {c.get("classname") for c in cases} == {"harness.sla.vendor_outage_20_users"}
    assert [c.get("name") for c in cases] == [t.text for t in breached_report.thresholds]
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert failed == [t.text for t in breached_report.breaches]
    for case, row in zip(cases, breached_report.thresholds, strict=True):
        failure = case.find("failure")
        if row.held:
            assert failure is None
            continue
        assert failure is not None
        message = failure.get("message", "")
        assert row.observed_text in message
        assert ("no data" in message) == (row.observed is None)
        assert failure.get("type") == ("no-data" if row.observed is None else "sla-breach")
        assert row.detail in (failure.text or "")


def test_breach_message_has_observed_value_and_limit(
    tmp_path: Path, breached_report: Report
) -> None:
    root = _parse(breached_report, tmp_path)
    messages = {
        c.get("name"): c.find("failure").get("message")  # type: ignore[union-attr]
        for c in _cases(root, "harness.sla.")
        if c.find("failure") is not None
    }
    assert messages["p95 < 250ms phase=outage"] == (
        "breached: 586.2ms is not < 250ms (off by 336.2ms)"
    )
    assert messages["error_rate < 1% phase=outage"] == "breached: 25% is not < 1% (off by 24%)"
    no_data = messages["p95 < 1s phase=warmup"]
    assert no_data.startswith("observed no data, required < 1s: ")
    assert "no requests were recorded in phase 'warmup'" in no_data


def test_counts_and_time_attributes(tmp_path: Path, breached_report: Report) -> None:
    root = _parse(breached_report, tmp_path)
    suite = root.find("testsuite")
    assert suite is not None
    cases = list(suite.iter("testcase"))
    failures = sum(c.find("failure") is not None for c in cases)
    skipped = sum(c.find("skipped") is not None for c in cases)
    # 4 thresholds + 1 problem + 2 faults; 3 breaches + 1 problem fail; 2 faults never fired
    assert (len(cases), failures, skipped) == (7, 4, 2)
    for element in (root, suite):
        assert element.get("tests") == "7"
        assert element.get("failures") == "4"
        assert element.get("errors") == "0"
        assert element.get("skipped") == "2"
        assert float(element.get("time", "")) == breached_report.duration
    assert suite.get("timestamp") == "2025-03-01T12:00:00"
    assert all(c.get("time") == "0" for c in cases)
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["run_id"] == breached_report.run_id
    assert props["held"] == "false"
    assert props["seed"] == "42"
    out = suite.find("system-out")
    assert out is not None and "SLA BREACHED" in (out.text or "")


def test_problems_and_faults_are_testcases(tmp_path: Path, breached_report: Report) -> None:
    root = _parse(breached_report, tmp_path)
    problems = _cases(root, "harness.problems.")
    assert len(problems) == 1
    failure = problems[0].find("failure")
    assert failure is not None and failure.get("message") == breached_report.problems[0]
    assert failure.get("type") == "problem"
    faults = _cases(root, "harness.faults.")
    assert [c.get("name") for c in faults] == [
        "outage: fault http_status 503 @25% at openai",
        "outage: fault latency 300ms at openai",
    ]
    skips = [c.find("skipped").get("message") for c in faults]  # type: ignore[union-attr]
    assert skips == [
        "fault http_status 503 @25% never fired (reported as a problem)",
        "fault latency 300ms never fired (optional)",
    ]


def test_a_held_run_has_no_failures_and_fired_faults_pass(
    tmp_path: Path, held_report: Report
) -> None:
    root = _parse(held_report, tmp_path)
    assert root.get("failures") == "0"
    assert [c.find("failure") for c in root.iter("testcase")] == [None] * 6
    fired = _cases(root, "harness.faults.")[0]
    assert fired.find("skipped") is None
    out = fired.find("system-out")
    assert out is not None and "fired 40 times" in (out.text or "")


def test_no_thresholds_is_one_skipped_testcase(tmp_path: Path, empty: Report) -> None:
    root = _parse(empty, tmp_path)
    cases = list(root.iter("testcase"))
    assert len(cases) == 1
    assert cases[0].find("skipped") is not None
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("1", "0", "1")


def test_escaping_and_characters_xml_cannot_hold(tmp_path: Path, held_report: Report) -> None:
    report = held_report.model_copy(
        update={
            "thresholds": [held_report.thresholds[0]] * 2,
            "problems": ['upstream said <b>"bad" & \x00\x1b[31m\n</b>'],
            "scenario": held_report.scenario.model_copy(update={"name": '<Outage & "friends">'}),
        }
    )
    root = _parse(report, tmp_path)
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == '<Outage & "friends">'
    names = [c.get("name") for c in _cases(root, "harness.sla.")]
    assert names == ["p95 < 2s", "p95 < 2s (#2)"]  # unique names for CI history
    problem = _cases(root, "harness.problems.")[0].find("failure")
    assert problem is not None
    assert problem.get("message") == 'upstream said <b>"bad" & \ufffd\ufffd[31m\n</b>'
    assert _cases(root, "harness.sla.")[0].get("classname") == "harness.sla.outage_friends"
