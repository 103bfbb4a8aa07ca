"""``python -m harness_toxiproxy [--port 8474] [--config proxies.json]``: serve the embedded
Toxiproxy-compatible API in the foreground (how the plugin starts it as a child process)."""

import sys

import typer

from harness.plugin import HarnessError
from harness_toxiproxy._cli import serve_command

try:
    typer.run(serve_command)
except HarnessError as exc:
    sys.stderr.write(f"error: {exc}\n")
    sys.exit(exc.exit_code)
