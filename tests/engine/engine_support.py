"""Helpers shared by the engine's tests (imported by name: tests/engine is on sys.path)."""

from __future__ import annotations

import textwrap

from harness._errors import ScenarioError
from harness._loader import parse_scenario


class FakeNow:
    """A clock for the recorder: ``now()`` returns ``t``, which the test moves."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def scenario_error(text: str, source: str = "s.yaml") -> ScenarioError:
    """The error ``parse_scenario`` raises for ``text`` (dedented); fails if it loads."""
    try:
        parse_scenario(textwrap.dedent(text).lstrip("\n"), source)
    except ScenarioError as exc:
        return exc
    raise AssertionError(f"expected a ScenarioError for:\n{text}")
