"""The ``markdown`` reporter: a GitHub-flavoured summary, made for ``$GITHUB_STEP_SUMMARY``.

Sections: a title with the verdict (✅/❌) and the run's identity (run id, target, driver,
duration, seed), the SLA table (threshold | scope | observed | verdict), the phases (requests,
failures, p50/p95/p99, each fault and how often it fired), the resilient core's counters per
phase when it reported any, the vendor side (what reached each fake vendor and proxy, per
phase, counted by them: calls per request, backup share, failover and back-to-primary times,
Retry-After violations), requests per name when there are several, and the problems.

Side effect, on purpose: when the environment variable ``GITHUB_STEP_SUMMARY`` names a file,
the same markdown is also **appended** to it (GitHub Actions renders that file on the job's
page). It is never overwritten, so several runs in one step each add their section. A failure
to append is logged, not raised: the report file itself has been written by then.

Every value that comes from the outside (names, labels, problem texts) is escaped for tables:
``|`` would otherwise split a cell and a newline end the row.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from harness.plugin import Report, ThresholdRow, write_atomic
from harness_reporters import _format as fmt

NAME = "markdown"
SUFFIX = ".md"
DESCRIPTION = (
    "Markdown summary (SLA, phases, resilience, problems); also appended to "
    "$GITHUB_STEP_SUMMARY when that variable is set"
)
STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"

logger = logging.getLogger("harness.reporters")

_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~])")


def text(value: object) -> str:
    """Plain text safe in a table cell: markdown specials escaped, whitespace folded."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def code(value: object) -> str:
    """An inline code span (pipes escaped: GFM splits cells on them even inside code)."""
    body = " ".join(str(value).split()).replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def table(header: list[str], rows: list[list[str]], right: frozenset[int] = frozenset()) -> str:
    """A GFM table; ``right`` are the indexes of right-aligned (numeric) columns."""
    align = ["---:" if i in right else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _verdict_cell(row: ThresholdRow) -> str:
    if row.held:
        return "✅ held"
    if row.verdict == "inconclusive":
        return f"❔ inconclusive: {text(row.detail.removeprefix('inconclusive: '))}"
    icon = "❌ no data" if row.observed is None else "❌ breached"
    return f"{icon}: {text(row.detail.removeprefix('breached: '))}"


def _title(report: Report) -> list[str]:
    breaches = len(report.breaches)
    icon, verdict = "✅", "SLA held"
    if report.verdict == "inconclusive":
        count = len(report.inconclusive)
        icon = "❔"
        verdict = (
            f"inconclusive ({count} of {len(report.thresholds)} thresholds could not be "
            "judged: the measurement cannot be trusted)"
        )
    elif not report.held:
        why = []
        if breaches:
            why.append(f"{breaches} of {len(report.thresholds)} thresholds breached")
        if report.problems:
            why.append(f"{len(report.problems)} problem{'s' if len(report.problems) > 1 else ''}")
        icon, verdict = "❌", "SLA breached" + (f" ({', '.join(why)})" if why else "")
    info = [
        f"run {code(report.run_id)}",
        f"target {code(report.target)}",
        f"driver {text(report.driver)}",
        f"duration {fmt.duration(report.duration)}",
        f"seed {code(report.seed)}",
        f"started {text(report.started_at)}",
    ]
    lines = [f"## {icon} {text(report.scenario.name)}: {verdict}", ""]
    if report.scenario.description:
        lines += [text(report.scenario.description), ""]
    lines += [" · ".join(info), ""]
    return lines


def _sla(report: Report) -> list[str]:
    lines = ["### SLA", ""]
    if not report.thresholds:
        return [*lines, "_No SLA thresholds declared: nothing was gated._", ""]
    rows = [
        [code(t.text), text(t.scope) or "whole run", text(t.observed_text), _verdict_cell(t)]
        for t in report.thresholds
    ]
    return [*lines, table(["threshold", "scope", "observed", "verdict"], rows), ""]


def _faults_cell(line: fmt.PhaseLine) -> str:
    if line.phase is None or not line.phase.faults:
        return fmt.NONE
    cells = []
    for fault in line.phase.faults:
        warn = "⚠️ " if fmt.never_fired(fault) and not fault.optional else ""
        optional = " (optional)" if fault.optional else ""
        cells.append(f"{warn}{code(fault.label)} \u00d7{fmt.fired(fault)}{optional}")
    return "<br>".join(cells)


def _phases(report: Report) -> list[str]:
    lines = ["### Phases", ""]
    rows = []
    for line in fmt.phase_lines(report):
        req = line.requests
        window = (
            f"{line.phase.start:.1f}\u2013{line.phase.end:.1f}s"
            if line.phase is not None
            else fmt.NONE
        )
        rows.append(
            [
                text(line.name),
                window,
                str(req.count) if req else "0",
                str(req.failed) if req else "0",
                fmt.latency(req.p50) if req else fmt.NONE,
                fmt.latency(req.p95) if req else fmt.NONE,
                fmt.latency(req.p99) if req else fmt.NONE,
                _faults_cell(line),
            ]
        )
    total = report.totals()
    if total is not None:
        rows.append(
            [
                "**all**",
                f"{report.duration:.1f}s",
                f"**{total.count}**",
                f"**{total.failed}**",
                fmt.latency(total.p50),
                fmt.latency(total.p95),
                fmt.latency(total.p99),
                "",
            ]
        )
    if not rows or (total is not None and total.count == 0 and len(rows) == 1):
        return [*lines, "_No requests were recorded._", ""]
    header = ["phase", "window", "requests", "failed", "p50", "p95", "p99", "faults (fired)"]
    return [*lines, table(header, rows, frozenset({2, 3, 4, 5, 6})), ""]


def _names(report: Report) -> list[str]:
    rows = [
        [
            code(r.name),
            str(r.count),
            str(r.failed),
            fmt.latency(r.p50),
            fmt.latency(r.p95),
            fmt.latency(r.p99),
            text(fmt.counts_text(r.errors)),
        ]
        for r in fmt.name_rows(report)
    ]
    if not rows:
        return []
    header = ["request", "requests", "failed", "p50", "p95", "p99", "errors"]
    return ["### Requests by name", "", table(header, rows, frozenset({1, 2, 3, 4, 5})), ""]


def _resilience(report: Report) -> list[str]:
    lines = ["### Resilience (core events)", ""]
    if not fmt.has_resilience(report):
        return [*lines, "_No calls of the resilient core were observed._", ""]
    rows = []
    columns = fmt.resilience_columns()
    ordered = [line.resilience for line in fmt.phase_lines(report)]
    ordered.append(fmt.total_resilience(report))
    for res in ordered:
        if res is None:
            continue
        rows.append(
            [
                "**all**" if res.phase == fmt.ALL else text(res.phase),
                *(str(getattr(res, name)) for name, _ in columns),
                text(fmt.attempts_text(res.attempts_per_call)),
            ]
        )
    header = ["phase", *(label for _, label in columns), "attempts per call"]
    return [*lines, table(header, rows, frozenset(range(1, len(columns) + 1))), ""]


def _vendor(report: Report) -> list[str]:
    if not report.vendor and not report.vendor_uncounted:
        return []
    lines = ["### Vendor side (counted by the vendors and proxies)", ""]
    upstreams = list(dict.fromkeys(r.endpoint for r in report.vendor if r.role == "upstream"))
    if report.vendor_phases:
        rows = [
            [
                "**all**" if f.phase == fmt.ALL else text(f.phase),
                str(f.requests),
                *(fmt.count(f.calls_per_request.get(name)) for name in upstreams),
                fmt.rate(f.backup_share),
                fmt.latency(f.failover_time),
                fmt.latency(f.back_to_primary_time),
                str(f.retry_after_violations),
            ]
            for f in report.vendor_phases
        ]
        header = ["phase", "requests", *(f"{text(n)} calls/request" for n in upstreams)]
        header += ["backup served", "failover", "back to primary", "Retry-After violations"]
        lines += [table(header, rows, frozenset(range(1, len(header)))), ""]
    ledger = fmt.vendor_rows(report)
    if ledger:
        columns = fmt.vendor_columns(ledger)
        rows = [
            [
                code(r.endpoint),
                "**all**" if r.phase == fmt.ALL else text(r.phase),
                *(str(getattr(r, name)) for name, _ in columns),
                text(fmt.counts_text(dict(r.statuses))),
                text(fmt.counts_text(dict(r.faults_fired))),
            ]
            for r in ledger
        ]
        header = ["endpoint", "phase", *(label for _, label in columns), "answers", "faults"]
        lines += [table(header, rows, frozenset(range(2, len(columns) + 2))), ""]
    for name, why in report.vendor_uncounted.items():
        lines.append(f"- not counted: {code(name)}: {text(why)}")
    if report.vendor_uncounted:
        lines.append("")
    return lines


def _problems(report: Report) -> list[str]:
    if not report.problems:
        return []
    return ["### Problems", "", *(f"- ⚠️ {text(p)}" for p in report.problems), ""]


def render(report: Report) -> str:
    """The whole summary, ending with a newline."""
    sections = [
        _title(report),
        _sla(report),
        _phases(report),
        _resilience(report),
        _vendor(report),
        _names(report),
        _problems(report),
    ]
    return "\n".join(line for section in sections for line in section).rstrip("\n") + "\n"


def append_step_summary(markdown: str) -> Path | None:
    """Append ``markdown`` to ``$GITHUB_STEP_SUMMARY`` when set; return that path."""
    target = os.environ.get(STEP_SUMMARY_ENV, "").strip()
    if not target:
        return None
    path = Path(target)
    try:
        with path.open("a", encoding="utf-8") as handle:
            if handle.tell() > 0:
                handle.write("\n")
            handle.write(markdown)
    except OSError as exc:
        logger.warning("could not append the summary to $%s (%s): %s", STEP_SUMMARY_ENV, path, exc)
        return None
    return path


def write(report: Report, path: Path) -> None:
    """Write the summary to ``path`` atomically, then append it to ``$GITHUB_STEP_SUMMARY``."""
    markdown = render(report)
    write_atomic(path, markdown)
    append_step_summary(markdown)
