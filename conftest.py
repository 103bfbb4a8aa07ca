"""Hypothesis settings profiles for the whole suite (one place for example counts), and the
fixtures every test directory shares.

- ``ci`` (the default, what ``make test`` runs): 100 examples per property, derandomized, so a
  CI run is deterministic: the same examples every time, and a failure reproduces.
- ``dev`` (``make test-fast``, or ``HYPOTHESIS_PROFILE=dev``): 25 examples, still
  derandomized, for a quick inner loop.
- ``thorough`` (``HYPOTHESIS_PROFILE=thorough``): 1000 random examples, to search before a
  release.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from harness.core import VirtualClock, use_clock

# What every profile shares: no per-example deadline (the machine may be busy) and no
# complaint about slow data generation.
UNHURRIED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", UNHURRIED, max_examples=100, derandomize=True, print_blob=True)
settings.register_profile("dev", UNHURRIED, max_examples=25, derandomize=True)
settings.register_profile("thorough", UNHURRIED, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def clock() -> Iterator[VirtualClock]:
    """The core's virtual clock, installed for the test: backoff sleeps take no real time and
    are recorded (``clock.sleeps``)."""
    with use_clock(VirtualClock()) as virtual:
        assert isinstance(virtual, VirtualClock)
        yield virtual
