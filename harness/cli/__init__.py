"""The ``harness`` command line (typer): :mod:`harness.cli.main` builds it, handles every
error in one place (:func:`main`), and lets plugins add commands."""

from harness.cli.main import build_app, main

__all__ = ["build_app", "main"]
