"""Errors of the harness engine (not of the resilient core: those live in ``harness.core``).

Every error maps to one process exit code, so the CLI, the pytest plugin and the Locust driver
agree on what a failure means::

    HarnessError                      base class, exit 1
    ├── InputError                    bad user input: scenario, SLA string, option; exit 2
    │   ├── ScenarioError             a scenario file: names the file and the field path
    │   └── PluginError               a plugin misbehaves: misspelled hook, duplicate kind, ...
    ├── InfrastructureError           a server, proxy or port could not be started; exit 3
    └── FaultInjectionError           a fault could not be applied or reverted; exit 3
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_BREACH = 1
EXIT_INPUT = 2
EXIT_INFRA = 3
EXIT_INCONCLUSIVE = 4
"""The measurement cannot be trusted (load generator saturated, too few samples for a
percentile): not held, not breached. ``harness gate --allow-inconclusive`` counts it as held."""


class HarnessError(Exception):
    """Base class of every error the harness raises on purpose."""

    exit_code: int = EXIT_BREACH


class InputError(HarnessError):
    """The user gave the harness something it cannot use (exit code 2)."""

    exit_code = EXIT_INPUT


class ScenarioError(InputError):
    """A scenario file is unreadable or invalid.

    ``problems`` holds one ``(field_path, message)`` pair per problem so that a caller can show
    all of them at once; ``str()`` renders them as ``file: field: message`` lines.
    """

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = [
            f"{source}: {path}: {msg}" if path else f"{source}: {msg}" for path, msg in problems
        ]
        super().__init__("\n".join(lines))


class PluginError(InputError):
    """A plugin is invalid or two plugins conflict; the message names the plugins."""


class InfrastructureError(HarnessError):
    """Something the harness must start could not start (exit code 3).

    ``fix`` tells the user what to do about it.
    """

    exit_code = EXIT_INFRA

    def __init__(self, reason: str, fix: str = "") -> None:
        self.reason = reason
        self.fix = fix
        super().__init__(f"{reason}\n  fix: {fix}" if fix else reason)


class FaultInjectionError(HarnessError):
    """A fault could not be applied, or could not be reverted (exit code 3).

    Never swallowed: a chaos run whose fault silently did not apply would report a false
    "resilient".
    """

    exit_code = EXIT_INFRA
