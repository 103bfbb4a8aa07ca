"""The architecture, pinned: the public surfaces, and arrows that point one way only.

- ``harness.plugin`` (what plugins code against) and ``harness.engine`` (what the CLI, the
  pytest plugin and users build on) export exactly the names listed in ``plugin_api.txt`` and
  ``engine_api.txt`` beside this file; a change to either is a deliberate API change.
- No import cycle among the harness's modules, counting imports under ``TYPE_CHECKING`` and
  inside functions: each folder depends only on the ones below it.
- ``harness.core`` imports nothing else of the project; plugins import only ``harness.plugin``
  (and its submodules) and ``harness.core`` (ruff's TID251 in ``plugins/ruff.toml`` enforces
  that as code is written; this test holds it too).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from types import ModuleType

import pytest

import harness.engine
import harness.plugin

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("module", "pin"),
    [(harness.plugin, "plugin_api.txt"), (harness.engine, "engine_api.txt")],
    ids=["plugin", "engine"],
)
def test_the_public_api_is_pinned(module: ModuleType, pin: str) -> None:
    names = (Path(__file__).parent / pin).read_text("utf-8").split()
    assert names == sorted(set(names)), f"keep {pin} sorted, each name once"
    assert set(module.__all__) == set(names)
    assert all(hasattr(module, name) for name in names)


def _modules(package: Path) -> dict[str, Path]:
    found = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``path`` imports (anywhere in the file); ``from pkg import sub``
    counts as importing ``pkg.sub``."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                targets.append(sub if sub in known else node.module)
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        for target in targets:
            parts = target.split(".")
            while parts and ".".join(parts) not in known:
                parts.pop()
            if parts:
                out.add(".".join(parts))
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_in_the_harness() -> None:
    known = _modules(ROOT / "harness")
    graph = {name: _imports(path, known) - {name} for name, path in known.items()}
    assert _cycles(graph) == []


def test_the_core_imports_nothing_else_of_the_project() -> None:
    known = _modules(ROOT / "harness")
    for name, path in known.items():
        if name.startswith("harness.core"):
            outside = {m for m in _imports(path, known) if not m.startswith("harness.core")}
            assert outside <= {"harness"}, (name, outside)


def test_plugins_import_only_the_plugin_api_and_the_core() -> None:
    known = _modules(ROOT / "harness")
    allowed = ("harness.plugin", "harness.core", "harness")
    for path in (ROOT / "plugins").rglob("*.py"):
        used = _imports(path, known)
        wrong = {m for m in used if not m.startswith(allowed) or m == "harness.plugin.manager"}
        assert wrong == set(), (path, wrong)
