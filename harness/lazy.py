"""A package's public names imported on first use (PEP 562 ``__getattr__``/``__dir__``).

For the plugin packages, whose import must stay cheap: pytest loads them at start-up, and
their servers and clients pull in uvicorn, aiohttp and the like. This module imports nothing
but :mod:`importlib`, so using it costs nothing either (``harness`` itself is empty).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, where: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: each name of ``where`` is read from
    the submodule it maps to (relative to ``package``, e.g. ``"._server"``) when first used.

    Not cached in the package's globals: a re-imported submodule (pytester's in-process runs
    restore ``sys.modules``) must not leave a stale class behind the name.
    """

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module, package), name)

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *where})

    return __getattr__, __dir__
