"""Waiting, in real time, for something another thread or process does."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(check: Callable[[], object], what: str, within: float = 10.0) -> None:
    """Until ``check()`` is true; fails naming ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)
