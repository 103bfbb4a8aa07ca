"""The ``json`` reporter: the report model itself, the input of ``harness gate``.

This is the only lossless format: it keeps the recorder snapshot (HDR histograms), so reports of
several workers can be merged exactly later, and it is what every other format can be re-rendered
from (``harness.report.model.load_report``). Everything else here is a view of it.
"""

from __future__ import annotations

from pathlib import Path

from harness.plugin import Report, write_atomic

NAME = "json"
SUFFIX = ".json"
DESCRIPTION = "the versioned report model (input of `harness gate`); lossless, mergeable"


def render(report: Report) -> str:
    return report.model_dump_json(indent=2) + "\n"


def write(report: Report, path: Path) -> None:
    """Write ``report`` as JSON to ``path`` atomically (temporary file + rename)."""
    write_atomic(path, render(report))
