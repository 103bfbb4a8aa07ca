"""Report files: written atomically (temporary file + rename), read back with validation."""

from __future__ import annotations

import json
import os
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


def load_report(path: str | Path) -> Report:
    """Read a report file; a missing, unreadable or malformed one is an :class:`InputError`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such report") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a readable JSON report ({exc})") from None
    if not isinstance(data, dict) or data.get("version") != REPORT_VERSION:
        found = data.get("version") if isinstance(data, dict) else type(data).__name__
        raise InputError(
            f"{path}: expected a harness report with version {REPORT_VERSION}, got {found!r}"
        )
    try:
        return Report.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"{path}: malformed report at {where}: {first['msg']}") from None


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
