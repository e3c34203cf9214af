"""Listing totals shared by every hub process on one MariaDB database.

Every page of a listing carries ``total``, a count of all its filters
match; at a million aggregated cases a count of a common filter reads tens
of thousands of index entries (0.1-2 s). Each process keeps the totals it
counted (:class:`~supporthub.store.database.CountCache`), so N processes
(``serve --workers N``, several hosts) counted each filter N times, and a
request that met a worker's first count waited for it while another worker
knew the answer. :class:`SharedCounts` keeps them in ``listing_counts``
too: a process that has not counted a filter reads what another counted.

A total is keyed by a digest of its filters and the data tokens it was
counted under, both read in the same snapshot, so a shared total is exactly
what counting again under those tokens gives; totals of tokens that went
away are never read again and are pruned by age. It reads and writes on
the data tokens' autocommit connections (:mod:`.versions`), outside every
reader's transaction, and it is an aid, never a source of failure: an
error (a read-only account, a server gone) means counting again, said once
in the log. SQLite keeps its totals in-process: a reader's insert there
would wait for the one write lock a refresh holds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import threading
import time
from collections.abc import Hashable
from typing import Any

import sqlalchemy as sa

from supporthub.vocabulary.redact import redact

__all__ = ["SharedCounts"]

log = logging.getLogger("supporthub.store")

#: A total older than this is deleted (its tokens are long gone, or it is counted again).
KEEP = dt.timedelta(hours=1)
#: Every this many totals written, the old ones are pruned (a bounded delete).
_PRUNE_EVERY = 256
_PRUNE_LIMIT = 10_000
_PRUNE = f"DELETE FROM listing_counts WHERE counted_at < %s LIMIT {_PRUNE_LIMIT}"  # noqa: S608
#: After an error, the shared totals rest this long (seconds): counting goes on meanwhile.
_REST = 60.0


#: Part of every digest: a hub whose totals mean something else shares none with this one.
_FORMAT = "supporthub listing total 1"


def digest(key: Hashable) -> bytes:
    """The row key of a count key: its ``repr`` (tuples, strings, enums: alike in every process)."""
    return hashlib.sha256(f"{_FORMAT}\n{key!r}".encode()).digest()


class SharedCounts:
    """Totals in ``listing_counts`` through ``engine`` (autocommit connections).

    :param engine: the data tokens' probe engine (:func:`.versions.probe_engine_options`).
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._errors: tuple[type[BaseException], ...] = (
            engine.dialect.loaded_dbapi.Error,
            sa.exc.SQLAlchemyError,
        )
        self._lock = threading.Lock()
        self._written = 0
        self._resting_until = -math.inf
        self._told = False

    def get(self, key: Hashable) -> int | None:
        """The total another process (or this one) counted for ``key``, or ``None``."""
        if time.monotonic() < self._resting_until:
            return None
        try:
            rows = self._run("SELECT total FROM listing_counts WHERE digest = %s", (digest(key),))
        except self._errors as error:
            self._rest(error)
            return None
        return int(rows[0][0]) if rows else None

    def put(self, key: Hashable, total: int) -> None:
        """Share ``total`` for ``key`` (a total already there for it is the same)."""
        if time.monotonic() < self._resting_until:
            return
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with self._lock:
            self._written += 1
            prune = self._written % _PRUNE_EVERY == 0
        try:
            self._run(
                "INSERT IGNORE INTO listing_counts (digest, total, counted_at) VALUES (%s, %s, %s)",
                (digest(key), total, now),
            )
            if prune:
                self._run(_PRUNE, (now - KEEP,))
        except self._errors as error:
            self._rest(error)

    def clear(self) -> None:
        """Forget every shared total (after a migration changed rows under the same tokens)."""
        try:
            self._run("DELETE FROM listing_counts", ())
        except self._errors as error:
            self._rest(error)

    def _run(self, sql: str, parameters: tuple[object, ...]) -> list[tuple[Any, ...]]:
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(sql, parameters)
                return list(cursor.fetchall())
            finally:
                cursor.close()
        except self._errors:
            connection.invalidate()  # a connection the server dropped is not reused
            raise
        finally:
            connection.close()

    def _rest(self, error: BaseException) -> None:
        self._resting_until = time.monotonic() + _REST
        if not self._told:
            self._told = True
            log.warning(
                "listing totals are not shared between processes for now (each counts its own): %s",
                redact(str(error)),
            )
