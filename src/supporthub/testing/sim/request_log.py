"""A log of every request a simulator answered, for tests to assert on."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping

import attrs

__all__ = ["LoggedRequest", "RequestLog"]


@attrs.frozen(slots=True)
class LoggedRequest:
    """One answered request.

    Holds no headers and no body: those carry secrets (tokens, API keys) and
    tests assert on what a client asked for, which path and query say.
    """

    method: str
    path: str
    """The path below the simulator's base URL (its path prefix removed).

    A request outside the prefix keeps its full path.
    """
    query: Mapping[str, str]
    """Query parameters, the first value of each."""
    status: int
    records: int
    """How many records (or tickets) the answer carried."""
    peer_port: int
    """The client's port: the same port across requests means a reused connection."""
    duration: float
    """Seconds spent answering, delays from :meth:`Faults.slow` included."""
    lost: str | None = None
    """``reset`` or ``timeout`` when the answer never reached the client
    (:meth:`Faults.lose_write_answers`): :attr:`status` is what it would have been."""


class RequestLog:
    """Thread-safe, clearable list of :class:`LoggedRequest`.

    Filters take the same keywords everywhere: ``method``, ``path`` (exact),
    ``path_prefix`` and ``status``; each left out matches everything.
    """

    def __init__(self) -> None:
        """Start with an empty log."""
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []

    def append(self, entry: LoggedRequest) -> None:
        """Record one request (the simulator does this for every answer)."""
        with self._lock:
            self._entries.append(entry)

    def clear(self) -> None:
        """Forget every request logged so far."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        """How many requests were logged."""
        with self._lock:
            return len(self._entries)

    def __iter__(self) -> Iterator[LoggedRequest]:
        """Iterate over a snapshot, oldest first."""
        return iter(self.all())

    def all(self) -> list[LoggedRequest]:
        """A snapshot of every logged request, oldest first."""
        with self._lock:
            return list(self._entries)

    def filter(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        path_prefix: str | None = None,
        status: int | None = None,
    ) -> list[LoggedRequest]:
        """The logged requests that match every given criterion, oldest first."""
        return [
            entry
            for entry in self.all()
            if (method is None or entry.method == method.upper())
            and (path is None or entry.path == path)
            and (path_prefix is None or entry.path.startswith(path_prefix))
            and (status is None or entry.status == status)
        ]

    def count(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        path_prefix: str | None = None,
        status: int | None = None,
    ) -> int:
        """How many logged requests match (see :meth:`filter`)."""
        return len(self.filter(method=method, path=path, path_prefix=path_prefix, status=status))

    def records_returned(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        path_prefix: str | None = None,
        status: int | None = None,
    ) -> int:
        """How many records the matching answers carried, added up."""
        return sum(
            entry.records
            for entry in self.filter(
                method=method, path=path, path_prefix=path_prefix, status=status
            )
        )

    def last(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        path_prefix: str | None = None,
        status: int | None = None,
    ) -> LoggedRequest | None:
        """The newest matching request, or None."""
        matching = self.filter(method=method, path=path, path_prefix=path_prefix, status=status)
        return matching[-1] if matching else None
