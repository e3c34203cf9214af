"""``supporthub serve``: the app on uvicorn, logging through the hub's own set-up."""

from __future__ import annotations

from collections.abc import Callable

import uvicorn

from supporthub._hub import Hub
from supporthub._settings import Settings
from supporthub.service._app import create_app

__all__ = ["run", "serve"]


def serve(
    hub: Hub,
    *,
    host: str,
    port: int,
    scheduler: bool | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve ``hub`` until SIGINT or SIGTERM, then shut down gracefully.

    Uvicorn's own log set-up and access log are off: the hub's handlers
    (text or JSON, always redacted) take uvicorn's records, and the
    service writes its own structured line per request.
    """
    app = create_app(hub, scheduler=scheduler, on_ready=on_ready)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="on",
    )
    uvicorn.Server(config).run()


def run(settings: Settings, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """``supporthub serve``: the service with the scheduled refresh, until stopped."""
    with Hub(settings) as hub:
        serve(hub, host=host, port=port)
