"""``harness app serve``: an ASGI app factory on uvicorn, announcing its address when ready."""

from __future__ import annotations

import socket
from typing import Any

from harness._errors import InfrastructureError


def serve_app(factory: str, *, host: str = "127.0.0.1", port: int = 0) -> None:
    """Bind first (so port 0 works and a taken port is a clear error), then serve until SIGTERM."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InfrastructureError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            "choose another --port (0 picks a free one) or stop what holds it",
        ) from exc
    bound = sock.getsockname()[1]
    config = uvicorn.Config(
        factory,
        factory=True,
        log_level="warning",
        lifespan="on",
        backlog=2048,
        timeout_keep_alive=30,
    )

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                print(f"app listening on http://{host}:{bound}", flush=True)

    try:
        AnnouncingServer(config).run(sockets=[sock])
    finally:
        sock.close()
