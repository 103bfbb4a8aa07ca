"""``harness vendor serve`` (added to the harness CLI by this plugin) and
``python -m harness_fake_vendor`` (how the plugin starts a vendor as a child process)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from harness.plugin import InputError

vendor_app = typer.Typer(help="The fake OpenAI/Anthropic vendor.", no_args_is_help=True)


@vendor_app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Address to bind (loopback only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: a free one).")] = 0,
    seed: Annotated[int | None, typer.Option(help="Default seed of fault schedules.")] = None,
    options_json: Annotated[
        str,
        typer.Option(
            help='FakeVendor options as a JSON object, e.g. {"stream_chunk_delay": 0.01}.'
        ),
    ] = "{}",
) -> None:
    """Serve the fake OpenAI/Anthropic vendor until Ctrl-C."""
    from harness_fake_vendor import serve

    try:
        options = json.loads(options_json)
    except ValueError as exc:
        raise InputError(f"--options-json: expected a JSON object ({exc})") from None
    if not isinstance(options, dict):
        raise InputError(f"--options-json: expected a JSON object, got {options_json!r}")
    serve(host=host, port=port, seed=seed, **options)
