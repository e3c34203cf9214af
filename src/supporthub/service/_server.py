"""``supporthub serve``: the app on uvicorn, logging through the hub's own set-up."""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable

import uvicorn

from supporthub._errors import ConfigurationError
from supporthub._hub import Hub
from supporthub._settings import Settings
from supporthub.service._app import create_app

__all__ = ["listen", "listening_url", "run", "serve"]

log = logging.getLogger("supporthub.serve")


def listen(host: str, port: int) -> socket.socket:
    """The bound listening socket, or a :class:`ConfigurationError` that says why not.

    Bound before anything else starts, so that a port in use is one clear
    line and exit code 2, not a "ready" line followed by uvicorn's error.
    """
    try:
        (family, kind, protocol, _, address), *_ = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        listener = socket.socket(family, kind, protocol)
    except OSError as error:
        raise ConfigurationError(f"cannot listen on {host}:{port}: {error}") from None
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
    except OSError as error:
        listener.close()
        reason = error.strerror or str(error)
        raise ConfigurationError(
            f"cannot listen on {host}:{port}: {reason.lower()}; choose another --port"
        ) from None
    return listener


def listening_url(host: str, listener: socket.socket) -> str:
    """The URL a person opens for ``listener`` (its real port, so ``--port 0`` too)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{listener.getsockname()[1]}/"


def _reachable_from_elsewhere(listener: socket.socket) -> bool:
    address = str(listener.getsockname()[0]).partition("%")[0]  # IPv6 scope id
    try:
        return not ipaddress.ip_address(address).is_loopback
    except ValueError:
        return True


def _warn_about(hub: Hub, host: str, listener: socket.socket) -> None:
    if _reachable_from_elsewhere(listener) and hub.settings.api_token is None:
        log.warning(
            "listening on %s, reachable from other machines, and SUPPORTHUB_API_TOKEN is not "
            "set: anyone who can reach it can refresh and change the grouping; set the token",
            host,
        )
    if not hub.enabled_sources:
        log.warning("%s; serving the stored cases only", hub.no_source_message())


def serve(
    hub: Hub,
    *,
    host: str,
    port: int,
    scheduler: bool | None = None,
    on_ready: Callable[[], None] | None = None,
    listener: socket.socket | None = None,
) -> None:
    """Serve ``hub`` until SIGINT or SIGTERM, then shut down gracefully.

    Uvicorn's own log set-up and access log are off: the hub's handlers
    (text or JSON, always redacted) take uvicorn's records, and the
    service writes its own structured line per request.

    :param listener: a socket from :func:`listen`; bound here when ``None``.
    """
    if listener is None:
        listener = listen(host, port)
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
    with listener:
        uvicorn.Server(config).run(sockets=[listener])


def run(settings: Settings, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """``supporthub serve``: the service with the scheduled refresh, until stopped."""
    listener = listen(host, port)
    url = listening_url(host, listener)

    def announce() -> None:
        print(f"supporthub serve is ready at {url} (Ctrl-C stops it)", flush=True)

    with Hub(settings) as hub:
        _warn_about(hub, host, listener)
        serve(hub, host=host, port=port, listener=listener, on_ready=announce)
