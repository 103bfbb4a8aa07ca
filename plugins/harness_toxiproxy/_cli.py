"""``harness toxiproxy serve`` (added to the harness CLI by this plugin) and
``python -m harness_toxiproxy`` (how the plugin starts the server as a child process)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

toxiproxy_app = typer.Typer(help="The embedded Toxiproxy-compatible server.", no_args_is_help=True)


@toxiproxy_app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Address to bind (loopback only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="API port (0: a free one).")] = 8474,
    config: Annotated[
        Path | None, typer.Option(help="Proxies to create (JSON, as toxiproxy -config).")
    ] = None,
) -> None:
    """Serve the embedded Toxiproxy-compatible API until Ctrl-C."""
    from harness_toxiproxy import serve

    serve(host=host, port=port, config_path=str(config) if config else None)
