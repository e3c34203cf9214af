"""The HTTP server under every simulator.

A real HTTP/1.1 server on the loopback interface, running in background
threads: keep-alive (an httpx client reuses its connection), Nagle off (a
page goes out without waiting for the client's delayed ACK), one thread per
connection. The stdlib ``ThreadingHTTPServer`` is enough: the per-request
overhead is tiny next to shipping a page of two thousand records, and
``bench/sim_throughput.py`` shows the client decoding JSON, not this
server, is the bottleneck.

The server knows nothing of CRMs. It turns each request into a
:class:`SimRequest`, hands it to one handler function, and writes back the
:class:`SimResponse` it gets.
"""

from __future__ import annotations

import logging
import socket
import struct
import sys
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Final, Self
from urllib.parse import parse_qs, unquote, urlsplit

import attrs

from supporthub.testing.sim.faults import LostAnswer

__all__ = ["Handler", "SimRequest", "SimResponse", "SimServer"]

_log = logging.getLogger(__name__)

_POLL_INTERVAL: Final = 0.05  # how quickly stop() and down() take effect


@attrs.frozen(slots=True)
class SimRequest:
    """A request as the simulator sees it."""

    method: str
    path: str | None
    """The path below the base URL (``/api/v2/cases``), percent-decoded;
    None when the request lies outside the server's path prefix."""
    raw_path: str
    """The path exactly as requested, prefix included."""
    query: Mapping[str, list[str]]
    """Every query parameter with all its values, blank ones included."""
    headers: Mapping[str, str]
    """Request headers; look them up with :meth:`header`, case-insensitively."""
    body: bytes
    peer_port: int

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (any case), or None."""
        return self.headers.get(name.lower())

    def param(self, name: str) -> str | None:
        """The first value of query parameter ``name``, or None."""
        values = self.query.get(name)
        return values[0] if values else None


@attrs.frozen(slots=True)
class SimResponse:
    """What to answer."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    records: int = 0
    """How many records the body carries, for the request log."""
    lost: LostAnswer | None = None
    """Send nothing: reset the connection (after ``lost.hold`` seconds for a timeout)."""


Handler = Callable[[SimRequest], SimResponse]


class SimServer:
    """A loopback HTTP/1.1 server that answers with one handler function.

    Use as a context manager or with :meth:`start` and :meth:`stop`.
    :meth:`go_down` and :meth:`go_up` close and reopen the listening socket
    on the same port, for tests that need a connection error.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        path_prefix: str = "",
    ) -> None:
        """Prepare a server; nothing listens before :meth:`start`.

        :param handler: called for every request, in the connection's thread.
        :param port: 0 picks a free port.
        :param path_prefix: a path the base URL carries (``/tenant-a``);
            requests outside it reach the handler with ``path=None``.
        """
        self.handler = handler
        self.host = host
        self.port = port
        self.path_prefix = normalize_prefix(path_prefix)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._running = False
        self.stopping = threading.Event()
        """Set by :meth:`stop`: cuts short an answer held back to simulate a timeout."""

    @property
    def url(self) -> str:
        """The base URL, prefix included, without a trailing slash."""
        if self.port == 0:
            raise RuntimeError("the server has no port before start()")
        return f"http://{self.host}:{self.port}{self.path_prefix}"

    def start(self) -> Self:
        """Bind (picking a port if it was 0) and serve in a background thread."""
        with self._lock:
            if self._running:
                return self
            self.stopping.clear()
            self._listen()
            self._running = True
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and reset every open connection."""
        self.stopping.set()
        with self._lock:
            self._running = False
            self._close()

    def go_down(self) -> None:
        """Refuse connections until :meth:`go_up`, resetting the open ones."""
        with self._lock:
            self._close()

    def go_up(self) -> None:
        """Listen again on the same port after :meth:`go_down`."""
        with self._lock:
            if self._running and self._httpd is None:
                self._listen()

    def __enter__(self) -> Self:
        """Start the server."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    def _listen(self) -> None:
        httpd = _HTTPServer((self.host, self.port), _RequestHandler, self)
        self.port = httpd.server_address[1]
        thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": _POLL_INTERVAL},
            name=f"sim-server-{self.port}",
            daemon=True,
        )
        thread.start()
        self._httpd, self._thread = httpd, thread

    def _close(self) -> None:
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        httpd.reset_connections()
        if thread is not None:
            thread.join()


def normalize_prefix(prefix: str) -> str:
    """``tenant-a/`` → ``/tenant-a``; ``""`` and ``/`` → ``""``."""
    stripped = prefix.strip("/")
    return f"/{stripped}" if stripped else ""


class _HTTPServer(ThreadingHTTPServer):
    """The stdlib threading server, plus a register of open connections.

    The register lets ``go_down`` reset connections a keep-alive client
    holds: closing the listening socket alone would leave them serving.
    """

    daemon_threads = True
    # stop() resets the connections itself; waiting for idle keep-alive
    # threads to end by themselves would wait for the client.
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        handler_class: type[BaseHTTPRequestHandler],
        owner: SimServer,
    ) -> None:
        self.owner = owner
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler_class)

    def process_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: object
    ) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket | tuple[bytes, socket.socket]) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: object
    ) -> None:
        if isinstance(sys.exception(), OSError):
            return  # the client went away, or go_down() reset the connection: normal here
        super().handle_error(request, client_address)

    def reset_connections(self) -> None:
        """Abort every open connection with a TCP reset."""
        with self._connections_lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            try:
                # Linger 0: close() sends RST instead of FIN, so a client
                # sees a reset rather than a polite end of stream.
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already gone: the client closed it meanwhile


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _HTTPServer

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        split = urlsplit(self.path)
        owner = self.server.owner
        prefix = owner.path_prefix
        raw_path = split.path
        path: str | None = unquote(raw_path)
        if prefix and path is not None:
            inside = path == prefix or path.startswith(prefix + "/")
            path = path[len(prefix) :] if inside else None
        request = SimRequest(
            method=self.command,
            path=path,
            raw_path=raw_path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={key.lower(): value for key, value in self.headers.items()},
            body=body,
            peer_port=self.client_address[1],
        )
        try:
            response = owner.handler(request)
        except Exception:
            _log.exception("simulator handler failed on %s %s", self.command, raw_path)
            response = SimResponse(500, b'{"error":"simulator bug"}')
        if response.lost is not None:
            self._lose(response.lost)
            return
        self._write(response)

    def _lose(self, lost: LostAnswer) -> None:
        """Answer nothing: wait (a timeout) or not (a reset), then reset the connection."""
        self.close_connection = True
        if lost.how == "timeout":
            self.server.owner.stopping.wait(lost.hold)
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # the client gave up and closed it first

    def _write(self, response: SimResponse) -> None:
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [
            f"HTTP/1.1 {response.status} {reason}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
        ]
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head)
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: request lines may carry query values nobody asked to see."""
