"""``python -m harness_fake_vendor [--port 0] [--seed N] [--options-json ...]``: serve one
fake vendor in the foreground (how the plugin starts vendors as child processes)."""

import sys

import typer

from harness.plugin import HarnessError
from harness_fake_vendor._cli import serve_command

try:
    typer.run(serve_command)
except HarnessError as exc:
    sys.stderr.write(f"error: {exc}\n")
    sys.exit(exc.exit_code)
