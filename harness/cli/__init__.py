"""The ``harness`` command line (typer): one module per command group, errors handled in
:func:`harness.cli.main.main` only."""

from harness.cli.main import app, main

__all__ = ["app", "main"]
