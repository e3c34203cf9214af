"""``supporthub serve``: the app on uvicorn, logging through the hub's own set-up.

With ``--workers N`` (N > 1) the listening socket is bound once and N
worker processes (spawned, each with its own hub and connection pool)
accept on it; the parent only supervises: it restarts a worker that dies
and stops them all on SIGINT or SIGTERM. The scheduled refresh and the
deliverer of replies run in worker 1 alone (and again in its replacement
if it dies), so N workers still refresh once per interval and send each
reply from one process; the others only serve. ``/refresh`` works in any
of them: the refresh lock is the database's, shared by every process.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import multiprocessing
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any

import uvicorn

from supporthub.hub import Hub
from supporthub.service._app import create_app
from supporthub.vocabulary.errors import ConfigurationError
from supporthub.vocabulary.settings import Settings

__all__ = ["MAX_WORKERS", "listen", "listening_url", "run", "serve"]

#: The most worker processes ``serve --workers`` starts.
MAX_WORKERS = 64
#: How long stopping workers may take before they are killed.
_STOP_SECONDS = 30.0

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
    deliver: bool = True,
) -> None:
    """Serve ``hub`` until SIGINT or SIGTERM, then shut down gracefully.

    Uvicorn's own log set-up and access log are off: the hub's handlers
    (text or JSON, always redacted) take uvicorn's records, and the
    service writes its own structured line per request.

    :param listener: a socket from :func:`listen`; bound here when ``None``.
    :param deliver: send the replies' outbox from this process.
    """
    if listener is None:
        listener = listen(host, port)
    app = create_app(hub, scheduler=scheduler, on_ready=on_ready, deliver=deliver)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    with listener:
        server.run(sockets=[listener])
    # Uvicorn raises a SIGINT it shut down for once more on its way out, into
    # asyncio's own SIGINT handler, which turns it into KeyboardInterrupt only
    # when it catches the main task still running: otherwise `serve` ended
    # as if nobody had asked (status 0, no "interrupted"; seen once in CI).
    if signal.SIGINT in getattr(server, "_captured_signals", ()):
        raise KeyboardInterrupt


def run(settings: Settings, *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """``supporthub serve``: the service with the scheduled refresh, until stopped.

    :param workers: processes serving requests (see the module's description).
    """
    if not 1 <= workers <= MAX_WORKERS:
        raise ConfigurationError(f"--workers must be between 1 and {MAX_WORKERS}, got {workers}")
    listener = listen(host, port)
    url = listening_url(host, listener)

    def announce() -> None:
        shown = "" if workers == 1 else f" with {workers} worker processes"
        print(f"supporthub serve is ready at {url}{shown} (Ctrl-C stops it)", flush=True)

    with Hub(settings) as hub:
        _warn_about(hub, host, listener)
        if workers == 1:
            serve(hub, host=host, port=port, listener=listener, on_ready=announce)
            return
    with listener:
        _Workers(settings, host, port, listener, workers).run(announce)


def _worker(  # noqa: PLR0917 - multiprocessing passes positional arguments
    settings: Settings,
    host: str,
    port: int,
    listener: socket.socket,
    primary: bool,
    ready: Any,
) -> None:
    """One worker process of ``serve --workers``: its own hub on the shared socket."""
    from supporthub.vocabulary.log_setup import configure_logging  # noqa: PLC0415

    configure_logging(settings.log_level, settings.log_format)
    with contextlib.suppress(KeyboardInterrupt), Hub(settings) as hub:
        # Ctrl-C reaches every process of the group: each stops quietly.
        serve(
            hub,
            host=host,
            port=port,
            listener=listener,
            # The scheduler as configured, and the deliverer, in one process only.
            scheduler=None if primary else False,
            deliver=primary,
            on_ready=ready.set,
        )


class _Workers:
    """Starts, restarts and stops the worker processes of ``serve --workers``."""

    def __init__(
        self, settings: Settings, host: str, port: int, listener: socket.socket, count: int
    ) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._arguments = (settings, host, port, listener)
        self._count = count
        self._stop = threading.Event()
        self._signal: int | None = None

    def _start(self, number: int) -> tuple[Any, Any]:
        ready = self._context.Event()
        process = self._context.Process(
            target=_worker,
            args=(*self._arguments, number == 0, ready),
            name=f"supporthub-worker-{number + 1}",
            daemon=False,
        )
        process.start()
        return process, ready

    def _stop_on(self, sig: int, _frame: object) -> None:
        self._signal = sig
        self._stop.set()

    def run(self, on_ready: Callable[[], None]) -> None:
        """Serve until SIGINT or SIGTERM; a worker that exits meanwhile is started again.

        Then the signal takes its usual course, as after a single process's
        shutdown: SIGINT raises :class:`KeyboardInterrupt`.
        """
        previous = {
            sig: signal.signal(sig, self._stop_on) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        workers = [self._start(number) for number in range(self._count)]
        announced = False
        try:
            while not self._stop.wait(0.2):
                if not announced and all(ready.is_set() for _, ready in workers):
                    announced = True
                    on_ready()
                for number, (process, _) in enumerate(workers):
                    if not process.is_alive() and not self._stop.is_set():
                        log.warning(
                            "worker %d (pid %s) exited with code %s; starting it again",
                            number + 1,
                            process.pid,
                            process.exitcode,
                        )
                        workers[number] = self._start(number)
        finally:
            for process, _ in workers:
                if process.is_alive() and process.pid is not None:
                    process.terminate()  # SIGTERM: uvicorn finishes what it serves
            for process, _ in workers:
                process.join(_STOP_SECONDS)
                if process.is_alive():
                    process.kill()
                    process.join()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self._signal is not None:
            signal.raise_signal(self._signal)
