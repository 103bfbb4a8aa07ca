"""``harness gate``: the CI verdict over report files.

The gate trusts no verdict a report states: it validates the file strictly
(:func:`~harness.report.files.load_report`), recomputes every threshold's verdict from its
``op``, ``limit`` and ``observed`` (no observed value is a breach), and checks that the
report's ``held`` is exactly "every threshold held and there is no problem". A report that
disagrees with itself was edited or corrupted: it is *inconsistent* (exit 2, naming the file and
the field), never a pass.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import EXIT_BREACH, EXIT_INPUT, EXIT_OK, InputError
from harness.measure.sla import OPERATORS
from harness.report.files import load_report
from harness.report.model import Report, ThresholdRow


def threshold_held(row: ThresholdRow) -> bool:
    """The verdict ``row``'s own numbers give: ``observed op limit``; False without data."""
    return row.observed is not None and OPERATORS[row.op](row.observed, row.limit)


def inconsistencies(report: Report) -> list[str]:
    """Where ``report`` contradicts itself, as ``field: why`` (empty when it does not)."""
    found = []
    verdicts = []
    for i, row in enumerate(report.thresholds):
        held = threshold_held(row)
        verdicts.append(held)
        if row.held == held:
            continue
        field = f"thresholds[{i}].held"
        if row.observed is None:
            found.append(f"{field} is true with no observed value (no data is a breach)")
        else:
            says = "holds" if held else "does not hold"
            found.append(
                f"{field} is {str(row.held).lower()}, but observed {row.observed!r} {row.op} "
                f"limit {row.limit!r} {says} ({row.text!r})"
            )
    held = all(verdicts) and not report.problems
    if report.held != held:
        if report.held:
            why = [f"thresholds[{i}] breached" for i, ok in enumerate(verdicts) if not ok][:3]
            if report.problems:
                why.append(f"problems lists {len(report.problems)}")
            found.append(f"held is true, but {', '.join(why)}")
        else:
            found.append("held is false, but every threshold held and there is no problem")
    return found


def gate(paths: list[Path]) -> tuple[int, list[str]]:
    """Exit code and the lines to print: 0 all held, 1 any breach or problem, 2 a missing,
    malformed or inconsistent report."""
    if not paths:
        return EXIT_INPUT, ["no report files given (expected reports/*.json)"]
    lines: list[str] = []
    breached = False
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
        if report.held:
            lines.append(f"{path}: held ({len(report.thresholds)} thresholds)")
            continue
        breached = True
        lines.append(f"{path}: BREACHED ({report.scenario.name})")
        for row in report.breaches:
            scope = f" [{row.scope}]" if row.scope else ""
            lines.append(f"  {row.text}{scope}: {row.detail}")
        for problem in report.problems:
            lines.append(f"  problem: {problem}")
    return (EXIT_BREACH if breached else EXIT_OK), lines
