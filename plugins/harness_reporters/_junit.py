"""The ``junit`` reporter: JUnit XML, so CI test UIs show SLA breaches as failed tests.

One ``<testsuite>`` named after the scenario, holding:

* one ``<testcase>`` per SLA threshold (class ``harness.sla.<scenario slug>``, named by the
  threshold text with its scope). A breach is a ``<failure>`` whose ``message`` names the
  observed value and the limit; "no data" is a failure too (type ``no-data``), never a pass;
* one failed ``<testcase>`` per problem of the run (class ``harness.problems.<slug>``), e.g. a
  declared fault that never fired;
* one ``<testcase>`` per declared fault (class ``harness.faults.<slug>``): passed when it fired,
  *skipped* when it never did. The fault testcase reports rather than judges: whether a silent
  fault fails the run is the engine's call, and it shows up as a problem testcase then, so
  one mistake is not counted twice.

What may surprise:

* testcase names are stable across runs (no observed values or fire counts in them), so CI
  history and flakiness tracking can follow a threshold from run to run; the numbers are in the
  failure message and in ``<system-out>``. Repeated names get a ``(#2)`` suffix;
* a report with no thresholds gets one *skipped* testcase saying so, instead of an empty suite
  that some CI reporters treat as "no tests found" and others as green;
* testcases take no time of their own (``time="0"``); the suite's ``time`` is the run's
  duration and ``timestamp`` its UTC start (without offset, as the JUnit schema wants);
* characters XML 1.0 cannot carry (control characters from an error message, say) are replaced
  by U+FFFD: ``ElementTree`` escapes markup but would happily write an unparseable file.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from harness.plugin import Report, ThresholdRow, run_summary, write_atomic
from harness_reporters import _format as fmt

NAME = "junit"
SUFFIX = ".junit.xml"
DESCRIPTION = "JUnit XML for CI test UIs: one testcase per SLA threshold, failures for breaches"

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_MAX_NAME = 120


def _x(text: object) -> str:
    """``text`` as a string XML 1.0 can hold."""
    return _NOT_XML.sub("\ufffd", str(text))


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_NAME else line[: _MAX_NAME - 1] + "\u2026"


def _timestamp(started_at: str) -> str:
    try:
        when = datetime.fromisoformat(started_at)
    except ValueError:
        return started_at
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S")


class _Suite:
    """Accumulates testcases and their counts."""

    def __init__(self) -> None:
        self.cases: list[ET.Element] = []
        self.failures = 0
        self.skipped = 0
        self._names: Counter[tuple[str, str]] = Counter()

    def case(self, classname: str, name: str) -> ET.Element:
        self._names[(classname, name)] += 1
        seen = self._names[(classname, name)]
        if seen > 1:
            name = f"{name} (#{seen})"
        element = ET.Element("testcase", classname=_x(classname), name=_x(name), time="0")
        self.cases.append(element)
        return element

    def fail(self, case: ET.Element, message: str, kind: str, body: str) -> None:
        failure = ET.SubElement(case, "failure", message=_x(message), type=kind)
        failure.text = _x(body)
        self.failures += 1

    def skip(self, case: ET.Element, message: str) -> None:
        ET.SubElement(case, "skipped", message=_x(message))
        self.skipped += 1


def _threshold_body(row: ThresholdRow) -> str:
    lines = [
        f"threshold: {row.text}",
        f"scope: {row.scope or 'whole run'}",
        f"observed: {row.observed_text}",
        f"required: {row.requirement()}",
        f"detail: {row.detail}",
    ]
    return "\n".join(lines) + "\n"


def render(report: Report) -> str:
    """The JUnit XML document (UTF-8, with an XML declaration)."""
    scenario = fmt.slug(report.scenario.name)
    suite = _Suite()
    for row in report.thresholds:
        case = suite.case(f"harness.sla.{scenario}", fmt.threshold_label(row))
        if row.held:
            ET.SubElement(case, "system-out").text = _x(row.detail)
        elif row.verdict == "inconclusive":  # CI UIs show a skipped case, neither green nor red
            suite.skip(case, row.detail)
        else:
            kind = "no-data" if row.observed is None else "sla-breach"
            suite.fail(case, fmt.breach_message(row), kind, _threshold_body(row))
    if not report.thresholds:
        suite.skip(
            suite.case(f"harness.sla.{scenario}", "SLA thresholds"),
            "the scenario declares no SLA thresholds: nothing was gated",
        )
    for problem in report.problems:
        case = suite.case(f"harness.problems.{scenario}", _short(problem))
        suite.fail(case, problem, "problem", problem + "\n")
    for phase in report.phases:
        for fault in phase.faults:
            name = f"{phase.name}: fault {fault.label} at {fault.endpoint}"
            case = suite.case(f"harness.faults.{scenario}", name)
            if fmt.never_fired(fault):
                why = "optional" if fault.optional else "reported as a problem"
                suite.skip(case, f"fault {fault.label} never fired ({why})")
            ET.SubElement(case, "system-out").text = _x(
                f"fault {fault.label} ({fault.kind}) fired {fmt.fired(fault)} times "
                f"in phase {phase.name}"
            )

    counts = {
        "tests": str(len(suite.cases)),
        "failures": str(suite.failures),
        "errors": "0",
        "skipped": str(suite.skipped),
        "time": f"{report.duration:.3f}",
    }
    root = ET.Element("testsuites", {"name": _x(f"harness {report.run_id}"), **counts})
    element = ET.SubElement(
        root,
        "testsuite",
        {
            "name": _x(report.scenario.name),
            "timestamp": _x(_timestamp(report.started_at)),
            **counts,
        },
    )
    properties = ET.SubElement(element, "properties")
    for key, value in (
        ("run_id", report.run_id),
        ("driver", report.driver),
        ("target", report.target),
        ("seed", str(report.seed)),
        ("held", "true" if report.held else "false"),
        ("scenario_source", report.scenario.source),
    ):
        ET.SubElement(properties, "property", name=key, value=_x(value))
    element.extend(suite.cases)
    ET.SubElement(element, "system-out").text = _x("\n".join(run_summary(report)) + "\n")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write(report: Report, path: Path) -> None:
    """Write ``report`` as JUnit XML to ``path`` atomically."""
    write_atomic(path, render(report))
