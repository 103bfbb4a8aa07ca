"""The ``harness`` console script and ``python -m harness``: a guard in front of the CLI.

``pip install genai-chaos-harness`` installs the resilient core alone; the engine's
dependencies (pydantic, typer, uvicorn, ...) come with the ``harness`` extra and Locust with
``load``. Without them the command says so in one line and exits 3 (infrastructure could not
start), instead of a traceback from deep inside an import.

What is missing is read from the installed distribution's own metadata (the requirements marked
``extra == "harness"``, or ``"load"`` for ``harness load``), so the list never drifts from
``pyproject.toml``. Run from a source tree that is not installed, there is no metadata and the
check passes; an ``ImportError`` of one of those packages is still caught on the CLI's import.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata

DISTRIBUTION = "genai-chaos-harness"
EXIT_INFRA = 3  # harness.errors.EXIT_INFRA, not imported: this module must need nothing

_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXTRA = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def missing_requirements(extra: str, distribution: str = DISTRIBUTION) -> list[str]:
    """The distributions that ``distribution[extra]`` requires and that are not installed.

    Follows self-references (``load`` requires ``genai-chaos-harness[harness]``). Empty when
    ``distribution`` itself is not installed (a source checkout): nothing to compare against.
    """
    try:
        requirements = metadata.requires(distribution) or []
    except metadata.PackageNotFoundError:
        return []
    wanted, seen, missing = [extra], set(), []
    while wanted:
        current = wanted.pop()
        if current in seen:
            continue
        seen.add(current)
        for requirement in requirements:
            spec, _, marker = requirement.partition(";")
            extras = _EXTRA.findall(marker)
            if current not in extras:
                continue
            match = _NAME.match(spec)
            if match is None:
                continue
            name = match.group(1)
            if _normalize(name) == _normalize(distribution):
                inner = spec[match.end() :].strip()
                if inner.startswith("["):
                    wanted += [e.strip() for e in inner[1 : inner.index("]")].split(",")]
                continue
            try:
                metadata.distribution(name)
            except metadata.PackageNotFoundError:
                missing.append(name)
    return sorted(set(missing), key=str.lower)


def _refuse(extra: str, missing: list[str]) -> int:
    print(
        f"harness: the engine is not installed ({', '.join(missing)} missing): "
        f"pip install '{DISTRIBUTION}[{extra}]'",
        file=sys.stderr,
    )
    return EXIT_INFRA


def main(argv: list[str] | None = None) -> int:
    """Check the engine's dependencies, then run :func:`harness.cli.main`."""
    args = sys.argv[1:] if argv is None else argv
    extra = "load" if args[:1] == ["load"] else "harness"
    missing = missing_requirements(extra)
    if missing:
        return _refuse(extra, missing)
    try:
        from harness.cli import main as cli_main
    except ModuleNotFoundError as exc:
        top = (exc.name or "").partition(".")[0]
        if not top or top == "harness":  # our own module: a real bug, not a missing extra
            raise
        return _refuse("harness", [top])
    return cli_main(argv)
