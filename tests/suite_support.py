"""Helpers shared by the tests of several folders (``tests/conftest.py`` puts ``tests/`` on
``sys.path``). A uniquely named module, like each folder's ``*_support``: modules named
``conftest`` clash when imported by name."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from hypothesis import strategies as st


def run_harness(
    *args: str, timeout: float, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m harness *args`` in a child process, unbuffered, its output captured as text;
    the exit code is the caller's to check."""
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        check=False,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def modules_imported_by(module: str) -> set[str]:
    """The modules a fresh interpreter holds after ``import <module>``."""
    code = f"import sys, {module}\nprint('\\n'.join(sys.modules))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def json_values(big_integers: st.SearchStrategy[int]) -> st.SearchStrategy[Any]:
    """Any JSON value up to 16 leaves: null, booleans, integers (``big_integers`` among them),
    finite floats and short strings, in lists and objects."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | big_integers
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=20)
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=16,
    )


@contextlib.contextmanager
def serving(server: ThreadingHTTPServer, poll_interval: float = 0.5) -> Iterator[str]:
    """``server`` answering from a thread of this process; yields its URL, and on exit shuts it
    down, closes its socket and joins the thread."""
    thread = threading.Thread(target=server.serve_forever, args=(poll_interval,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
