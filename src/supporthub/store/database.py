"""What the SQL modules of the store share about their database, below all of them.

:class:`SqlDatabase` is the part of the store the readers, writers and the
outbox run on (its engine and dialect); :func:`storage_error` turns a
database error into words. Both sit here, under ``reading``, ``writing``,
``outbox`` and ``sql``, so none of those needs to import another's home.
"""

from __future__ import annotations

import collections
import threading
from typing import Any, Protocol

import sqlalchemy as sa

from supporthub.vocabulary.errors import StorageError
from supporthub.vocabulary.redact import redact

__all__ = ["CountCache", "SharedTotals", "SqlDatabase", "storage_error"]


class SharedTotals(Protocol):
    """Totals kept where every process of the hub finds them (``store/shared_counts.py``)."""

    def get(self, key: Any) -> int | None: ...

    def put(self, key: Any, total: int) -> None: ...

    def clear(self) -> None: ...


class SqlDatabase(Protocol):
    """A database the SQL store runs on: :class:`~supporthub.store.sql.SqlStore` is one."""

    @property
    def engine(self) -> sa.Engine:
        """The primary's engine."""
        ...

    @property
    def dialect_name(self) -> str:
        """``sqlite`` or ``mysql``: where the SQL differs."""
        ...

    def is_galera(self) -> bool:
        """Whether the database is a Galera cluster node (some bulk paths do not fit it)."""
        ...

    @property
    def counts(self) -> CountCache:
        """Listing totals kept per data version, shared by the readers."""
        ...


class CountCache:
    """How many aggregated cases matched a filter, kept per data version (thread-safe LRU).

    Every page of a listing carries ``total``; counting a million rows for
    each of them would cost more than the page. Both data tokens
    (``data_version``, ``work_version``) are part of the key, and every
    write replaces one of them in the same transaction as its data, so a
    kept count is exactly what counting again in that snapshot would give.

    :ivar shared: where other processes' counts are found, and this one's
        are shared, behind this process's own (``None``: this process only).
    """

    def __init__(self, max_counts: int = 4096, shared: SharedTotals | None = None) -> None:
        self._counts: collections.OrderedDict[Any, int] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.max_counts = max_counts
        self.shared = shared

    def get(self, key: Any) -> int | None:
        """The count kept for ``key`` here or, failing that, shared; else ``None``."""
        with self._lock:
            found = self._counts.get(key)
            if found is not None:
                self._counts.move_to_end(key)
                return found
        if self.shared is None or (found := self.shared.get(key)) is None:
            return None
        self._keep(key, found)
        return found

    def put(self, key: Any, count: int) -> None:
        """Keep ``count`` here and share it."""
        self._keep(key, count)
        if self.shared is not None:
            self.shared.put(key, count)

    def _keep(self, key: Any, count: int) -> None:
        """Keep ``count``, dropping the least recently used beyond :attr:`max_counts`."""
        with self._lock:
            self._counts[key] = count
            self._counts.move_to_end(key)
            while len(self._counts) > self.max_counts:
                self._counts.popitem(last=False)

    def clear(self) -> None:
        """Forget every count, the shared ones too."""
        with self._lock:
            self._counts.clear()
        if self.shared is not None:
            self.shared.clear()


def storage_error(error: BaseException) -> StorageError:
    """A :class:`StorageError` in words, without SQL, parameters or passwords."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip() or type(original).__name__
    return StorageError(f"database error: {redact(text.splitlines()[0])}")
