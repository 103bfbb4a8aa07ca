"""Running pytest inside a test (``pytester``) and checking what it says."""

from __future__ import annotations

from collections.abc import Sequence

import pytest


def expect_run(
    pytester: pytest.Pytester, *args: str, lines: Sequence[str] = (), **outcomes: int
) -> pytest.RunResult:
    """``pytest *args`` in ``pytester``'s folder: exactly ``outcomes`` (``passed=1``, ...), and
    ``lines`` (glob patterns) in its output, in that order. Its result, for more checks."""
    result = pytester.runpytest(*args)
    result.assert_outcomes(**outcomes)
    if lines:
        result.stdout.fnmatch_lines(list(lines))
    return result
