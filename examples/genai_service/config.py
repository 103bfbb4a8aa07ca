"""Settings of the example service, read from the environment.

- ``HARNESS_ENDPOINTS``: JSON list of ``{"name", "api", "url", "model"}``, the LLM chain in
  fallback order (the harness sets it); else ``GENAI_PRIMARY_URL``/``GENAI_PRIMARY_API``/
  ``GENAI_PRIMARY_MODEL`` and the same with ``BACKUP``.
- ``HARNESS_RESILIENCE``: ``on`` (default) or ``off`` (one attempt, no fallback, tool I/O
  blocking the event loop: the naive proof of concept the harness must catch).
- ``GENAI_RETRY_BUDGET=off``: resilient, but without the retry budget (for the benchmark).
- ``HARNESS_WORKDIR``: where the SQLite files live (default: a temporary directory);
  ``HARNESS_MEMORY_URL`` / ``HARNESS_CATALOG_URL`` (``sqlite:///path``) override each file.
- ``GENAI_BLOCKING_TOOL=1``: the benchmark's bad variant, the catalog lookup runs blocking in
  the event loop; ``GENAI_TOOL_LATENCY``: seconds of I/O wait per lookup (a remote database).
- ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY``: vendor keys (fake vendors only need one present).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Upstream:
    name: str
    api: str
    url: str
    model: str | None = None


@dataclass(frozen=True)
class Settings:
    upstreams: tuple[Upstream, ...]
    resilient: bool = True
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="genai-")))
    memory_path: Path | None = None
    catalog_path: Path | None = None
    blocking_tool: bool = False
    tool_latency: float = 0.0
    deadline: float = 20.0
    retry_budget: bool = True

    @property
    def memory_file(self) -> Path:
        return self.memory_path or self.workdir / "memory.db"

    @property
    def catalog_file(self) -> Path:
        return self.catalog_path or self.workdir / "catalog.db"


def _sqlite_path(url: str | None) -> Path | None:
    if not url:
        return None
    if not url.startswith("sqlite:///"):
        raise ValueError(f"expected a sqlite:///path URL, got {url!r}")
    return Path(url[len("sqlite://") :])


def _upstreams(env: dict[str, str]) -> tuple[Upstream, ...]:
    raw = env.get("HARNESS_ENDPOINTS")
    if raw:
        entries: list[dict[str, Any]] = json.loads(raw)
        return tuple(
            Upstream(e["name"], e["api"], e["url"], e.get("model"))
            for e in entries
            if e.get("api") in ("openai", "anthropic") and e.get("url")
        )
    found = []
    for role in ("PRIMARY", "BACKUP"):
        url = env.get(f"GENAI_{role}_URL")
        if url:
            found.append(
                Upstream(
                    role.lower(),
                    env.get(f"GENAI_{role}_API", "openai"),
                    url,
                    env.get(f"GENAI_{role}_MODEL"),
                )
            )
    return tuple(found)


def from_env(environ: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    upstreams = _upstreams(env)
    if not upstreams:
        raise RuntimeError(
            "no LLM upstream configured: set HARNESS_ENDPOINTS or GENAI_PRIMARY_URL "
            "(e.g. the fake vendor's http://127.0.0.1:PORT/v1)"
        )
    workdir = Path(env["HARNESS_WORKDIR"]) if env.get("HARNESS_WORKDIR") else None
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    return Settings(
        upstreams=upstreams,
        resilient=env.get("HARNESS_RESILIENCE", "on") != "off",
        workdir=workdir or Path(tempfile.mkdtemp(prefix="genai-")),
        memory_path=_sqlite_path(env.get("HARNESS_MEMORY_URL")),
        catalog_path=_sqlite_path(env.get("HARNESS_CATALOG_URL")),
        # The naive service (resilience off) is the proof of concept the brief starts from:
        # synchronous tool I/O in the event loop, unless told otherwise.
        blocking_tool=env.get(
            "GENAI_BLOCKING_TOOL", "0" if env.get("HARNESS_RESILIENCE", "on") != "off" else "1"
        )
        in ("1", "true", "yes"),
        tool_latency=float(env.get("GENAI_TOOL_LATENCY", "0") or 0),
        deadline=float(env.get("GENAI_DEADLINE", "20") or 20),
        retry_budget=env.get("GENAI_RETRY_BUDGET", "on") != "off",
    )
