"""``harness gate``: the CI verdict over report files.

The gate trusts no verdict a report states: it validates the file strictly
(:func:`~harness.report.files.load_report`), recomputes every threshold's verdict from its
``op``, ``limit``, ``observed`` and ``samples`` and the report's measurement health (no
observed value is a breach; too few samples for a percentile, or a latency or throughput
threshold under a saturated load generator, is inconclusive), and checks that the report's
``verdict`` and ``held`` follow from them and from its problems. A report that disagrees with
itself was edited or corrupted: it is *inconsistent* (exit 2, naming the file and the field),
never a pass.

Exit codes: 0 every report held; 1 any breach or problem; 2 a missing, malformed or
inconsistent report; 4 nothing breached but something was inconclusive (0 with
``allow_inconclusive``).
"""

from __future__ import annotations

import math
from pathlib import Path

from harness.errors import EXIT_BREACH, EXIT_INCONCLUSIVE, EXIT_INPUT, EXIT_OK, InputError
from harness.measure.sla import OPERATORS
from harness.measure.verdicts import judge
from harness.report.build import run_verdict
from harness.report.files import load_report
from harness.report.model import Report, Status, ThresholdRow


def threshold_held(row: ThresholdRow) -> bool:
    """The verdict ``row``'s own numbers give: ``observed op limit``; False without data."""
    return (
        row.observed is not None
        and row.limit is not None
        and OPERATORS[row.op](row.observed, row.limit)
    )


def threshold_verdict(row: ThresholdRow, saturation: str) -> Status:
    """The verdict ``row``'s own numbers and the run's health give (see the module)."""
    if row.observed is None or row.limit is None:
        return "breached"
    worst = math.inf if row.worst_unbounded else row.worst
    status, _ = judge(
        row.metric,
        row.op,
        row.observed,
        row.limit,
        samples=row.samples,
        worst=worst,
        saturation=saturation,
    )
    return status


def inconsistencies(report: Report) -> list[str]:
    """Where ``report`` contradicts itself, as ``field: why`` (empty when it does not)."""
    found = []
    statuses: list[Status] = []
    health = report.health
    saturation = ""
    if health is not None and health.saturated:
        saturation = "; ".join(health.saturation) or "saturated"
    for i, row in enumerate(report.thresholds):
        status = threshold_verdict(row, saturation)
        statuses.append(status)
        field = f"thresholds[{i}]"
        if row.verdict != status:
            if row.observed is None:
                found.append(f"{field}.verdict is {row.verdict} with no observed value (no data)")
            else:
                found.append(
                    f"{field}.verdict is {row.verdict}, but observed {row.observed!r} {row.op} "
                    f"limit {row.limit!r} over {row.samples} samples makes it {status} "
                    f"({row.text!r})"
                )
        elif row.held != (status == "held"):
            found.append(f"{field}.held is {str(row.held).lower()} for a {status} threshold")
    verdict = run_verdict(statuses, report.problems)
    if report.verdict != verdict:
        why = [f"thresholds[{i}] {s}" for i, s in enumerate(statuses) if s != "held"][:3]
        if report.problems:
            why.append(f"problems lists {len(report.problems)}")
        found.append(f"verdict is {report.verdict}, but {', '.join(why) or 'everything held'}")
    if report.held != (verdict == "held"):
        found.append(f"held is {str(report.held).lower()}, but the verdict is {verdict}")
    return found


def gate(paths: list[Path], *, allow_inconclusive: bool = False) -> tuple[int, list[str]]:
    """Exit code and the lines to print (see the module docstring)."""
    if not paths:
        return EXIT_INPUT, ["no report files given (expected reports/*.json)"]
    lines: list[str] = []
    breached = inconclusive = False
    for path in paths:
        try:
            report = load_report(path)
        except InputError as exc:
            return EXIT_INPUT, [*lines, f"error: {exc}"]
        wrong = inconsistencies(report)
        if wrong:
            return EXIT_INPUT, [
                *lines,
                *(f"error: {path}: inconsistent report: {why}" for why in wrong),
            ]
        if report.verdict == "held":
            lines.append(f"{path}: held ({len(report.thresholds)} thresholds)")
            continue
        if report.verdict == "inconclusive":
            inconclusive = True
            lines.append(f"{path}: INCONCLUSIVE ({report.scenario.name})")
            for row in report.inconclusive:
                scope = f" [{row.scope}]" if row.scope else ""
                lines.append(f"  {row.text}{scope}: {row.detail}")
            continue
        breached = True
        lines.append(f"{path}: BREACHED ({report.scenario.name})")
        for row in report.breaches:
            scope = f" [{row.scope}]" if row.scope else ""
            lines.append(f"  {row.text}{scope}: {row.detail}")
        for problem in report.problems:
            lines.append(f"  problem: {problem}")
    if breached:
        return EXIT_BREACH, lines
    if inconclusive and not allow_inconclusive:
        return EXIT_INCONCLUSIVE, lines
    return EXIT_OK, lines


def exit_code(report: Report, *, allow_inconclusive: bool = False) -> int:
    """The exit code of a run that produced ``report``: 0 held, 1 breached, 4 inconclusive."""
    if report.verdict == "breached":
        return EXIT_BREACH
    if report.verdict == "inconclusive" and not allow_inconclusive:
        return EXIT_INCONCLUSIVE
    return EXIT_OK
