"""The storage interface: what the refresh engine and the readers need.

A store keeps cases, aggregated cases and per-source sync state. Its
promises, whatever the database:

- **Snapshots.** Everything read inside one :meth:`Store.reader` sees one
  committed state: before a refresh or after it, never between.
- **One transaction per refresh.** Everything written inside one
  :meth:`Store.writer` becomes visible at once when it exits cleanly, and
  not at all when it raises. Savepoints undo one source's part (except on
  Galera while streaming, where the refresh runs again without that source).
- **Idempotent writes.** The same batch applied twice changes nothing the
  second time; an older version of a case never replaces a newer one.
- **One refresh at a time** through :meth:`Store.refresh_lock`, also across
  processes that share the database.
"""

from __future__ import annotations

import abc
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from supporthub._store.reading import SqlReader
    from supporthub._store.writing import SqlWriter

__all__ = ["Store"]


class Store(abc.ABC):
    """Where the hub keeps its data; :class:`SqlStore` is the implementation."""

    @abc.abstractmethod
    def upgrade(self) -> None:
        """Create the schema, or migrate it to the current revision."""

    @abc.abstractmethod
    def check_schema(self, *, create_if_empty: bool) -> None:
        """Make sure the schema is current, creating it in an empty database if asked.

        :raises StorageError: the database cannot be reached, or its schema is
            older or newer than this code and needs ``supporthub db upgrade``.
        """

    @abc.abstractmethod
    def reader(self) -> AbstractContextManager[SqlReader]:
        """A consistent snapshot to read from."""

    @abc.abstractmethod
    def writer(self, *, stamp: str = "data_version") -> AbstractContextManager[SqlWriter]:
        """One transaction to write in; it stamps a new token under ``stamp``."""

    @abc.abstractmethod
    def refresh_lock(self, timeout: float | None) -> AbstractContextManager[bool]:
        """Hold the refresh lock; yields whether another refresh held it first.

        :raises RefreshInProgress: not acquired within ``timeout`` seconds.
        """

    @abc.abstractmethod
    def is_refreshing(self) -> bool:
        """Whether a refresh holds the lock now, in any process."""

    @abc.abstractmethod
    def ping(self) -> bool:
        """Whether the database answers."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close every connection."""
