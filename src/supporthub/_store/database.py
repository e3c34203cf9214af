"""What the SQL modules of the store share about their database, below all of them.

:class:`SqlDatabase` is the part of the store the readers, writers and the
outbox run on (its engine and dialect); :func:`storage_error` turns a
database error into words. Both sit here, under ``reading``, ``writing``,
``outbox`` and ``sql``, so none of those needs to import another's home.
"""

from __future__ import annotations

from typing import Protocol

import sqlalchemy as sa

from supporthub._errors import StorageError
from supporthub._redact import redact

__all__ = ["SqlDatabase", "storage_error"]


class SqlDatabase(Protocol):
    """A database the SQL store runs on: :class:`~supporthub._store.sql.SqlStore` is one."""

    @property
    def engine(self) -> sa.Engine:
        """The primary's engine."""
        ...

    @property
    def dialect_name(self) -> str:
        """``sqlite`` or ``mysql``: where the SQL differs."""
        ...


def storage_error(error: BaseException) -> StorageError:
    """A :class:`StorageError` in words, without SQL, parameters or passwords."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip() or type(original).__name__
    return StorageError(f"database error: {redact(text.splitlines()[0])}")
