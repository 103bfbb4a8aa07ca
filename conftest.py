"""Hypothesis settings profiles for the whole suite (one place for example counts).

- ``ci`` (the default, what ``make test`` runs): 100 examples per property, derandomized, so a
  CI run is deterministic: the same examples every time, and a failure reproduces.
- ``dev`` (``make test-fast``, or ``HYPOTHESIS_PROFILE=dev``): 25 examples, still
  derandomized, for a quick inner loop.
- ``thorough`` (``HYPOTHESIS_PROFILE=thorough``): 1000 random examples, to search before a
  release.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile(
    "dev",
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
