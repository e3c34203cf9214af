"""A TCP proxy between the hub and MariaDB whose connections a test can cut.

The real server stays up (other people use it); the proxy plays the outage:

- :meth:`TcpProxy.drop` closes every proxied connection and keeps accepting
  new ones (a network blip, a server that restarted quickly, ``wait_timeout``);
- :meth:`TcpProxy.cut` closes every connection *and* the listening socket, so
  new connections are refused (a server that is down);
- :meth:`TcpProxy.restore` listens again on the same port;
- :meth:`TcpProxy.cut_after` cuts once ``n`` more bytes went to the server,
  a point in the middle of whatever the client is doing;
- :meth:`TcpProxy.cut_on` cuts when the client sends given bytes (the start of
  a statement), so that the statement never reaches the server.

Threads, not asyncio: the proxy must keep working while the test thread
blocks in a synchronous hub call.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Self

import sqlalchemy as sa

__all__ = ["TcpProxy"]

_CHUNK = 65536
_ACCEPT_POLL_SECONDS = 0.05


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to ``target_host:target_port``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        #: Bytes sent towards the server, over every connection so far.
        self.sent_to_server = 0
        #: Connections accepted so far.
        self.accepted = 0
        #: Set when a cut happened (by :meth:`cut` or :meth:`cut_after`).
        self.was_cut = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._cut_at: int | None = None
        self._cut_marker: bytes | None = None
        self._on_cut: Callable[[], object] | None = None

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> Self:
        """Listen (on a free port the first time, on the same port afterwards)."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(_ACCEPT_POLL_SECONDS)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def close(self) -> None:
        """Stop listening and close every connection."""
        self.cut()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def url(self, database_url: str) -> str:
        """``database_url`` with its host and port replaced by the proxy's."""
        return (
            sa.make_url(database_url)
            .set(host="127.0.0.1", port=self.port)
            .render_as_string(hide_password=False)
        )

    # -- faults ---------------------------------------------------------------------

    def drop(self) -> None:
        """Close every proxied connection; new ones are still accepted."""
        with self._lock:
            doomed, self._sockets = self._sockets, set()
        for sock in doomed:
            _close(sock)

    def cut(self) -> None:
        """Close every connection and stop listening: new connections are refused."""
        with self._lock:
            listener, self._listener = self._listener, None
            self._cut_at = None
        if listener is not None:
            listener.close()
        self.drop()
        self.was_cut.set()

    def restore(self) -> None:
        """Accept connections again, on the same port; a pending cut is called off."""
        with self._lock:
            self._cut_at = None
            self._cut_marker = None
        self.was_cut.clear()
        if self._listener is None:
            self.start()

    def cut_after(self, n: int, then: Callable[[], object] | None = None) -> None:
        """Cut (as :meth:`cut`) once ``n`` more bytes have gone to the server.

        The chunk that crosses the mark is not forwarded. ``then`` runs in the
        proxy's thread right after the cut.
        """
        with self._lock:
            self._cut_at = self.sent_to_server + n
            self._on_cut = then

    def cut_on(self, marker: bytes) -> None:
        """Cut (as :meth:`cut`) when a chunk the client sends contains ``marker``.

        That chunk is not forwarded.
        """
        with self._lock:
            self._cut_marker = marker

    # -- forwarding ------------------------------------------------------------------

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                if self._listener is not listener:
                    return
                continue
            except OSError:
                return  # the listener was closed: a cut
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            client.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    _close(client)
                    _close(server)
                    return
                self._sockets |= {client, server}
                self.accepted += 1
            for source, sink, upstream in ((client, server, True), (server, client, False)):
                threading.Thread(
                    target=self._pump, args=(source, sink, upstream), daemon=True
                ).start()

    def _pump(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        try:
            while data := source.recv(_CHUNK):
                if upstream and self._count(data):
                    return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets -= {source, sink}
            _close(source)
            _close(sink)

    def _count(self, data: bytes) -> bool:
        """Count bytes to the server; cut and return True when a cut is due."""
        with self._lock:
            self.sent_to_server += len(data)
            due = (self._cut_at is not None and self.sent_to_server >= self._cut_at) or (
                self._cut_marker is not None and self._cut_marker in data
            )
            then = self._on_cut if due else None
        if not due:
            return False
        self.cut()
        if then is not None:
            then()
        return True


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
