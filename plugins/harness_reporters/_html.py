"""The ``html`` reporter: one self-contained page for people, drawn with plotly.

Contents: a header with the scenario, the run and the verdict; the SLA table coloured by
verdict; the problems; **latency over time** (per-second p50/p95/max, and below it requests and
errors per second) with every phase that injected faults shaded and labelled with its faults;
the percentile table per phase; the resilient core's counters and the **attempts per call**
chart; the vendor side (per phase: calls per request of each upstream, backup share, failover
and back-to-primary times, Retry-After violations; each endpoint's ledger; **vendor calls per
second per upstream**, fault phases shaded); requests per name when there are several.

What may surprise:

* the page is about 5 MB: plotly.js is embedded inline (once, in ``<head>``), so it opens from
  disk, from a CI artifact or offline, with no CDN, external CSS or web font;
* plotly is imported only when a page is rendered, keeping plugin loading cheap;
* the per-second series is a *sample* (at most 500 latencies per second, see
  ``harness.measure.recorder``): its p95 line is for the eye; the tables hold the exact HDR figures;
* a second ``t`` covers ``[t, t+1)`` and is drawn at its middle, on the same clock as the
  phase windows, so the shading lines up with what happened during the fault;
* plots without data (no series, a black-box target without core events) still render, saying
  "no data", so a page never breaks on a short or failed run.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

from harness.plugin import REPORT_VERSION, Report, RequestRow, ThresholdRow, write_atomic
from harness_reporters import _format as fmt

if TYPE_CHECKING:
    import plotly.graph_objects as go

NAME = "html"
SUFFIX = ".html"
DESCRIPTION = (
    "self-contained HTML page (plotly inline): latency over time with fault phases shaded, "
    "percentiles, attempts per call, SLA"
)

OK_COLOUR = "#1a7f37"
BAD_COLOUR = "#cf222e"
WARN_COLOUR = "#9a6700"
UNSURE_COLOUR = "#8250df"  # inconclusive: neither the held green nor the breached red
FAULT_FILL = "#cf222e"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
PLOT_CONFIG = {"displaylogo": False, "responsive": True}

_CSS = Template("""
body { font-family: $font; margin: 0 auto; max-width: 1200px; padding: 0 1.5rem 3rem;
       color: #1f2328; background: #fff; }
header { border-left: 0.5rem solid; padding: 0.5rem 1rem; margin: 1.5rem 0; background: #f6f8fa; }
header.held { border-color: $ok; } header.breached { border-color: $bad; }
header.inconclusive { border-color: $unsure; }
h1 { margin: 0.3rem 0; font-size: 1.6rem; } h2 { margin-top: 2rem; font-size: 1.2rem; }
dl { display: flex; flex-wrap: wrap; gap: 0.3rem 1.5rem; margin: 0.5rem 0; }
dt { font-weight: 600; } dd { margin: 0 0 0 0.3rem; font-family: ui-monospace, monospace; }
dl div { display: flex; }
table { border-collapse: collapse; font-size: 0.9rem; margin: 0.5rem 0; }
th, td { border: 1px solid #d0d7de; padding: 0.25rem 0.6rem; text-align: left;
         vertical-align: top; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.held td.verdict { color: $ok; font-weight: 600; }
tr.breached { background: #ffebe9; } tr.breached td.verdict { color: $bad; font-weight: 600; }
tr.nodata { background: #fff8c5; } tr.nodata td.verdict { color: $warn; font-weight: 600; }
tr.inconclusive { background: #fbefff; }
tr.inconclusive td.verdict { color: $unsure; font-weight: 600; }
tr.total td { font-weight: 600; }
code { font-family: ui-monospace, monospace; }
ul.problems li { color: $bad; margin: 0.3rem 0; }
.muted { color: #656d76; } .plot { width: 100%; }
""").substitute(font=FONT, ok=OK_COLOUR, bad=BAD_COLOUR, warn=WARN_COLOUR, unsure=UNSURE_COLOUR)


def _e(value: object) -> str:
    return escape(str(value), quote=True)


# -- figures -------------------------------------------------------------------------------------


def _layout(fig: go.Figure, height: int) -> None:
    fig.update_layout(
        height=height,
        margin={"l": 60, "r": 20, "t": 40, "b": 50},
        font={"family": FONT, "size": 12},
        template="plotly_white",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        hovermode="x unified",
    )


def _no_data(fig: go.Figure, xref: str = "x domain", yref: str = "y domain") -> None:
    fig.add_annotation(
        text="no data",
        xref=xref,
        yref=yref,
        x=0.5,
        y=0.5,
        showarrow=False,
        font={"size": 16, "color": "#656d76"},
    )


def latency_figure(report: Report) -> go.Figure:
    """Latency (p50/p95/max per second) over requests and errors per second, fault phases
    shaded in both plots; the top one carries the phase's name and faults."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.65, 0.35],
        vertical_spacing=0.08,
    )
    series = report.series
    x = [s.t + 0.5 for s in series]
    for label, values, dash in (
        ("p50", [s.p50 for s in series], "solid"),
        ("p95", [s.p95 for s in series], "solid"),
        ("max", [s.max for s in series], "dot"),
    ):
        fig.add_trace(
            go.Scatter(
                x=x,
                y=[None if v is None else v * 1000 for v in values],
                text=[fmt.latency(v) for v in values],
                name=f"{label} latency",
                mode="lines+markers",
                line={"dash": dash, "width": 2 if label != "max" else 1},
                marker={"size": 4},
                hovertemplate="%{text}",
            ),
            row=1,
            col=1,
        )
    fig.add_trace(
        go.Bar(
            x=x,
            y=[s.requests - s.errors for s in series],
            name="ok requests/s",
            marker_color=OK_COLOUR,
            width=0.9,
        ),
        row=2,
        col=1,
    )
    fig.add_trace(
        go.Bar(
            x=x,
            y=[s.errors for s in series],
            name="errors/s",
            marker_color=BAD_COLOUR,
            width=0.9,
        ),
        row=2,
        col=1,
    )
    for phase in report.phases:
        if not phase.faults:
            continue
        faults = "<br>".join(f"{_e(f.label)} (fired {fmt.fired(f)})" for f in phase.faults)
        shade = {
            "x0": phase.start,
            "x1": phase.end,
            "col": 1,
            "fillcolor": FAULT_FILL,
            "opacity": 0.12,
            "line_width": 0,
            "layer": "below",
            "name": f"fault phase {phase.name}",
        }
        fig.add_vrect(
            row=1,
            annotation_text=f"<b>{_e(phase.name)}</b><br>{faults}",
            annotation_position="top left",
            annotation_font={"size": 11, "color": BAD_COLOUR},
            annotation_align="left",
            **shade,
        )
        fig.add_vrect(row=2, **shade)
    if not series:
        _no_data(fig, "x domain", "y domain")
        _no_data(fig, "x2 domain", "y2 domain")
    _layout(fig, 560)
    fig.update_layout(barmode="stack", bargap=0)
    fig.update_yaxes(title_text="latency (ms)", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="requests/s", rangemode="tozero", row=2, col=1)
    fig.update_xaxes(title_text="seconds since the start", rangemode="tozero", row=2, col=1)
    return fig


def attempts_figure(report: Report) -> go.Figure:
    """How many calls needed 1, 2, 3, ... attempts, per phase (the whole run when the core's
    events carry no phase)."""
    import plotly.graph_objects as go

    rows = [r for r in report.resilience if r.phase != fmt.ALL and r.attempts_per_call]
    if not rows:
        rows = [r for r in report.resilience if r.attempts_per_call]
    attempts = sorted({k for r in rows for k in r.attempts_per_call})
    fig = go.Figure()
    for res in rows:
        fig.add_trace(
            go.Bar(
                x=[str(n) for n in attempts],
                y=[res.attempts_per_call.get(n, 0) for n in attempts],
                name="all phases" if res.phase == fmt.ALL else f"phase {_e(res.phase)}",
                hovertemplate="%{y} calls needed %{x} attempt(s)",
            )
        )
    if not rows:
        _no_data(fig)
    _layout(fig, 340)
    fig.update_layout(barmode="group", hovermode="closest")
    fig.update_xaxes(title_text="attempts per call", type="category")
    fig.update_yaxes(title_text="calls", rangemode="tozero")
    return fig


def vendor_figure(report: Report) -> go.Figure:
    """Calls per second each upstream received, as the vendors counted them (seconds from
    the first phase's start, on the page's clock), fault phases shaded."""
    import plotly.graph_objects as go

    fig = go.Figure()
    origin = report.phases[0].start if report.phases else 0.0
    totals = [r for r in report.vendor if r.phase == fmt.ALL and r.role == "upstream"]
    for row in totals:
        seconds = sorted(row.calls_by_second)
        fig.add_trace(
            go.Scatter(
                x=[origin + t + 0.5 for t in seconds],
                y=[row.calls_by_second[t] for t in seconds],
                name=f"{_e(row.endpoint)} calls/s",
                mode="lines+markers",
                marker={"size": 4},
            )
        )
    for phase in report.phases:
        if phase.faults:
            fig.add_vrect(
                x0=phase.start,
                x1=phase.end,
                fillcolor=FAULT_FILL,
                opacity=0.12,
                line_width=0,
                layer="below",
                annotation_text=f"<b>{_e(phase.name)}</b>",
                annotation_position="top left",
                annotation_font={"size": 11, "color": BAD_COLOUR},
            )
    if not any(row.calls_by_second for row in totals):
        _no_data(fig)
    _layout(fig, 320)
    fig.update_yaxes(title_text="vendor calls/s", rangemode="tozero")
    fig.update_xaxes(title_text="seconds since the start", rangemode="tozero")
    return fig


def _plot(fig: go.Figure, div_id: str) -> str:
    html: str = fig.to_html(
        include_plotlyjs=False, full_html=False, config=PLOT_CONFIG, div_id=div_id
    )
    return f'<div class="plot">{html}</div>'


# -- tables --------------------------------------------------------------------------------------


def _table(header: list[str], rows: list[str]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _td(value: object, *, num: bool = False, cls: str = "") -> str:
    classes = " ".join(c for c in ("num" if num else "", cls) if c)
    attr = f' class="{classes}"' if classes else ""
    return f"<td{attr}>{_e(value)}</td>"


def _threshold_class(row: ThresholdRow) -> str:
    if row.held:
        return "held"
    if row.verdict == "inconclusive":
        return "inconclusive"
    return "nodata" if row.observed is None else "breached"


def _sla(report: Report) -> str:
    if not report.thresholds:
        return '<p class="muted">No SLA thresholds declared: nothing was gated.</p>'
    rows = [
        f'<tr class="{_threshold_class(t)}"><td><code>{_e(t.text)}</code></td>'
        + _td(t.scope or "whole run")
        + _td(t.observed_text, num=True)
        + _td(t.requirement(), num=True)
        + _td(fmt.verdict(t), cls="verdict")
        + _td(t.detail)
        + "</tr>"
        for t in report.thresholds
    ]
    return _table(["threshold", "scope", "observed", "required", "verdict", "detail"], rows)


def _percentiles(report: Report) -> str:
    rows = []
    for line in fmt.phase_lines(report):
        r = line.requests
        faults = (
            ", ".join(f"{f.label} \u00d7{fmt.fired(f)}" for f in line.phase.faults)
            if line.phase is not None and line.phase.faults
            else fmt.NONE
        )
        window = f"{line.phase.start:.1f}\u2013{line.phase.end:.1f}s" if line.phase else fmt.NONE
        rows.append(_request_row(line.name, window, faults, r, total=False))
    total = report.totals()
    if total is not None:
        rows.append(_request_row("all", f"{report.duration:.1f}s", "", total, total=True))
    if total is None or total.count == 0:
        rows.insert(0, '<tr><td colspan="15" class="muted">no requests were recorded</td></tr>')
    header = ["phase", "window", "faults (fired)", "requests", "ok", "failed", "error rate"]
    header += ["rps", "avg", "p50", "p90", "p95", "p99", "max", "errors"]
    return _table(header, rows)


def _request_row(name: str, window: str, faults: str, r: RequestRow | None, *, total: bool) -> str:
    cls = ' class="total"' if total else ""
    if r is None:
        empty = _td(0, num=True) * 3 + _td(fmt.NONE, num=True) * 8 + _td(fmt.NONE)
        return f"<tr{cls}>{_td(name)}{_td(window)}{_td(faults)}{empty}</tr>"
    error_rate = r.failed / r.count if r.count else None
    cells = [
        _td(name),
        _td(window),
        _td(faults),
        _td(r.count, num=True),
        _td(r.ok, num=True),
        _td(r.failed, num=True),
        _td(fmt.rate(error_rate), num=True),
        _td(fmt.number(r.rps), num=True),
        *(_td(fmt.latency(v), num=True) for v in (r.avg, r.p50, r.p90, r.p95, r.p99, r.max)),
        _td(fmt.counts_text(r.errors)),
    ]
    return f"<tr{cls}>{''.join(cells)}</tr>"


def _names(report: Report) -> str:
    rows = fmt.name_rows(report)
    if not rows:
        return ""
    body = [_request_row(r.name, fmt.NONE, fmt.NONE, r, total=False) for r in rows]
    header = ["request", "window", "faults", "requests", "ok", "failed", "error rate"]
    header += ["rps", "avg", "p50", "p90", "p95", "p99", "max", "errors"]
    return f"<h2>Requests by name</h2>{_table(header, body)}"


def _resilience(report: Report) -> str:
    if not fmt.has_resilience(report):
        return '<p class="muted">No calls of the resilient core were observed.</p>'
    ordered = [line.resilience for line in fmt.phase_lines(report)]
    ordered.append(fmt.total_resilience(report))
    columns = fmt.resilience_columns()
    rows = []
    for res in ordered:
        if res is None:
            continue
        total = res.phase == fmt.ALL
        cls = ' class="total"' if total else ""
        numbers = [getattr(res, name) for name, _ in columns]
        rows.append(
            f"<tr{cls}>{_td('all' if total else res.phase)}"
            + "".join(_td(n, num=True) for n in numbers)
            + _td(fmt.attempts_text(res.attempts_per_call))
            + "</tr>"
        )
    header = ["phase", *(label for _, label in columns), "attempts per call"]
    return _table(header, rows)


def _vendor_tables(report: Report) -> str:
    upstreams = list(dict.fromkeys(r.endpoint for r in report.vendor if r.role == "upstream"))
    parts = []
    if report.vendor_phases:
        rows = []
        for f in report.vendor_phases:
            total = f.phase == fmt.ALL
            cls = ' class="total"' if total else ""
            cells = [
                _td("all" if total else f.phase),
                _td(f.requests, num=True),
                *(_td(fmt.count(f.calls_per_request.get(n)), num=True) for n in upstreams),
                _td(fmt.rate(f.backup_share), num=True),
                _td(fmt.latency(f.failover_time), num=True),
                _td(fmt.latency(f.back_to_primary_time), num=True),
                _td(f.retry_after_violations, num=True),
            ]
            rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
        header = ["phase", "requests", *(f"{n} calls/request" for n in upstreams)]
        header += ["backup served", "failover", "back to primary", "Retry-After violations"]
        parts.append(_table(header, rows))
    ledger = fmt.vendor_rows(report)
    if ledger:
        columns = fmt.vendor_columns(ledger)
        rows = []
        for r in ledger:
            total = r.phase == fmt.ALL
            cls = ' class="total"' if total else ""
            rows.append(
                f"<tr{cls}>{_td(r.endpoint)}{_td(r.role)}{_td('all' if total else r.phase)}"
                + "".join(_td(getattr(r, name), num=True) for name, _ in columns)
                + _td(fmt.count(r.calls_per_request), num=True)
                + _td(fmt.counts_text(dict(r.statuses)))
                + _td(fmt.counts_text(dict(r.faults_fired)))
                + "</tr>"
            )
        header = ["endpoint", "role", "phase", *(label for _, label in columns)]
        header += ["calls/request", "answers", "faults"]
        parts.append(_table(header, rows))
    if report.vendor_uncounted:
        items = "".join(
            f"<li><code>{_e(k)}</code>: {_e(v)}</li>" for k, v in report.vendor_uncounted.items()
        )
        parts.append(f'<p class="muted">Not counted:</p><ul class="muted">{items}</ul>')
    return "".join(parts)


def _vendor(report: Report) -> str:
    if not report.vendor and not report.vendor_uncounted:
        return ""
    plot = _plot(vendor_figure(report), "harness-vendor") if report.vendor else ""
    return (
        "<h2>Vendor side</h2>"
        '<p class="muted">What reached each fake vendor and proxy, counted by them per phase '
        "(a call belongs to the phase it arrived in), whatever client the target uses.</p>"
        f"{_vendor_tables(report)}{plot}"
    )


# -- page ----------------------------------------------------------------------------------------


_HEADLINE = {
    "held": ("SLA held", "\u2705"),
    "breached": ("SLA breached", "\u274c"),
    "inconclusive": ("inconclusive: the measurement cannot be trusted", "\u2754"),
}


def _header(report: Report) -> str:
    verdict, icon = _HEADLINE[report.verdict]
    facts = [
        ("run", report.run_id),
        ("target", report.target),
        ("driver", report.driver),
        ("seed", report.seed),
        ("started", report.started_at),
        ("duration", fmt.duration(report.duration)),
        (
            "thresholds",
            f"{sum(r.held for r in report.thresholds)}/{len(report.thresholds)} held",
        ),
    ]
    if report.scenario.source:
        facts.append(("scenario file", report.scenario.source))
    items = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in facts)
    description = f"<p>{_e(report.scenario.description)}</p>" if report.scenario.description else ""
    return (
        f'<header class="{report.verdict}">'
        f"<h1>{icon} {_e(report.scenario.name)}: {verdict}</h1>{description}<dl>{items}</dl>"
        "</header>"
    )


def render(report: Report) -> str:
    """The whole page: one HTML document with plotly.js inline."""
    from plotly.offline import get_plotlyjs

    problems = ""
    if report.problems:
        items = "".join(f"<li>{_e(p)}</li>" for p in report.problems)
        problems = f'<h2>Problems</h2><ul class="problems">{items}</ul>'
    title = f"{report.verdict} \u2013 {report.scenario.name} \u2013 "
    title += report.run_id
    body = [
        _header(report),
        f"<h2>SLA</h2>{_sla(report)}",
        problems,
        "<h2>Latency over time</h2>",
        '<p class="muted">Per second: latency (sampled) above, ok requests and errors below; '
        "phases with faults are shaded.</p>",
        _plot(latency_figure(report), "harness-latency"),
        f"<h2>Phases</h2>{_percentiles(report)}",
        f"<h2>Resilience</h2>{_resilience(report)}",
        "<h3>Attempts per call</h3>",
        _plot(attempts_figure(report), "harness-attempts"),
        _vendor(report),
        _names(report),
        f'<footer class="muted"><p>genai-chaos-harness report v{REPORT_VERSION} \u00b7 '
        f"{_e(report.run_id)}</p></footer>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n"
        "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>\n"
        f"<script>{get_plotlyjs()}</script>\n</head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + "\n</body>\n</html>\n"
    )


def write(report: Report, path: Path) -> None:
    """Render the page and write it to ``path`` atomically."""
    write_atomic(path, render(report))
