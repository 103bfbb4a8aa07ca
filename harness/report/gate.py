"""``harness gate``: the CI verdict over report files."""

from __future__ import annotations

from pathlib import Path

from harness.errors import EXIT_BREACH, EXIT_INPUT, EXIT_OK, InputError
from harness.report.files import load_report


def gate(paths: list[Path]) -> tuple[int, list[str]]:
    """Exit code and the lines to print: 0 all held, 1 any breach, 2 a missing/malformed report."""
    if not paths:
        return EXIT_INPUT, ["no report files given (expected reports/*.json)"]
    lines: list[str] = []
    breached = False
    for path in paths:
        try:
            report = load_report(path)
        except InputError as exc:
            return EXIT_INPUT, [*lines, f"error: {exc}"]
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
