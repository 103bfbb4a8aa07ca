"""Report files: written atomically (temporary file + rename), read back with validation."""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from harness.errors import InputError
from harness.report.model import REPORT_VERSION, Report


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory + rename, so a
    reader (or a crash) never sees a half-written report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it 0600; a report is for everyone
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once, at import, before any thread
    os.umask(mask)
    return mask


_UMASK = _read_umask()


MAX_REPORT_BYTES = 256 * 1024 * 1024  # far above any real report; more is not one
MAX_INT_DIGITS = 100  # no count, seed or duration in a report comes near


class _NotAReport(ValueError):
    """A JSON value no report holds (a non-finite or absurdly long number)."""


def _json_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _NotAReport(
            f"an integer of {digits} digits (a report holds none over {MAX_INT_DIGITS})"
        )
    return int(text)


def _json_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotAReport(
            f"the number {text[:40]}{'...' if len(text) > 40 else ''} is out of range"
        )
    return value


def _json_constant(name: str) -> float:
    raise _NotAReport(f"{name} is not a number a report holds (JSON has no {name})")


def _read_capped(path: Path) -> bytes:
    """The file's bytes; an :class:`InputError` naming what it is instead when it is not a regular
    file of at most :data:`MAX_REPORT_BYTES`."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: no such report") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the report ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{path}: is a directory; expected a report file (reports/*.json)")
    if not stat.S_ISREG(info.st_mode):  # a FIFO or a device could block or never end
        raise InputError(f"{path}: not a regular file; expected a report file (reports/*.json)")
    too_big = InputError(
        f"{path}: larger than {MAX_REPORT_BYTES // 2**20} MiB, more than any report; expected "
        "a report written by the harness"
    )
    if info.st_size > MAX_REPORT_BYTES:
        raise too_big
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_REPORT_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the report ({exc.strerror or exc})") from None
    if len(data) > MAX_REPORT_BYTES:  # it grew since stat()
        raise too_big
    return data


def load_report(path: str | Path) -> Report:
    """Read a report file, strictly: a missing, unreadable, oversized or malformed one, or one
    whose values have the wrong JSON types, is an :class:`InputError` naming the file and what
    was expected (never another exception)."""
    path = Path(path)
    raw = _read_capped(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not a readable JSON report (not UTF-8: byte {exc.start} is "
            f"{raw[exc.start : exc.start + 1]!r})"
        ) from None
    try:
        data = json.loads(
            text, parse_int=_json_int, parse_float=_json_float, parse_constant=_json_constant
        )
    except RecursionError:
        raise InputError(
            f"{path}: not a readable JSON report (nested more deeply than a report is)"
        ) from None
    except ValueError as exc:  # JSONDecodeError, _NotAReport
        raise InputError(f"{path}: not a readable JSON report ({exc})") from None
    version = data.get("version") if isinstance(data, dict) else None
    if type(version) is not int or version != REPORT_VERSION:  # True == 1, but is no version
        found = repr(data.get("version")) if isinstance(data, dict) else type(data).__name__
        if len(found) > 60:
            found = found[:60] + "..."
        raise InputError(
            f"{path}: expected a harness report with version {REPORT_VERSION}, got {found}"
        )
    try:
        # from the text, not from ``data``: in JSON mode a strict row still reads an object into
        # a dataclass row, and "3" or true stay wrong for a count (json.loads above has
        # already refused what pydantic's parser would take: huge numbers, NaN, deep nesting)
        return Report.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"{path}: malformed report at {where}: {first['msg']}") from None
    except RecursionError:
        raise InputError(
            f"{path}: malformed report (nested more deeply than a report is)"
        ) from None


def new_run_id(name: str, now: datetime | None = None) -> str:
    """``<slug>-<UTC timestamp>-<pid>``: sortable, unique per process."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")[:40] or "run"
    return f"{slug}-{stamp}-{os.getpid()}"


def check_report_dir(path: Path, option: str = "--report-dir") -> Path:
    """Make sure reports can be written to ``path`` before a run starts (creating it), so an
    unwritable directory is bad input at once (:class:`InputError`, exit 2, naming ``option``,
    the path and the reason) rather than a lost report after minutes of load."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(
            f"{option} {path}: reports cannot be written there ({exc.strerror or exc}); "
            "choose a writable directory"
        ) from None
    return path
