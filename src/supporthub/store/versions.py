"""Both data tokens in one round trip: what a kept answer is checked against.

Every write transaction replaces ``data_version`` (or ``work_version``) in
the same transaction as its data (:meth:`SqlStore.writer`), so the pair a
reader sees names exactly the data it sees. A repeated list view needs only
that pair to find its kept answer (``query/answer_cache.py``); reading it
through a pooled reader cost three round trips on MariaDB (the pool's
ping, the query inside a transaction, the commit).

:class:`VersionProbe` reads both tokens with one ``SELECT`` on connections
of their own in autocommit mode: one statement is one consistent read of
the latest committed state, so it is never older than what a reader opened
at the same moment would see, and no half-written refresh can show (its
token commits with its data). No ping: a connection the server dropped
fails the query, is thrown away, and the query runs once more on a new one.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

__all__ = ["VersionProbe", "probe_engine_options"]

_SQL = "SELECT `key`, value FROM meta WHERE `key` IN ('data_version', 'work_version')"


def probe_engine_options() -> dict[str, Any]:
    """``create_engine`` keywords of a MariaDB probe engine (the URL's own connect args too).

    No ping and no reset on return: a checkout costs no round trip. No
    overflow: each probe holds a connection for one short query, so a probe
    that finds them all busy waits a moment for one rather than opening
    (and closing again) one of its own, which costs a login each time.
    """
    return {
        "pool_pre_ping": False,
        "pool_reset_on_return": None,
        "pool_recycle": 1800,
        "pool_size": 16,
        "max_overflow": 0,
        "pool_timeout": 30,
    }


class VersionProbe:
    """Reads ``(data_version, work_version)`` in one autocommit query on ``engine``.

    ``engine`` must hand out connections in autocommit mode (see
    :func:`probe_engine_options`; the store switches each new one on).
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._error: type[BaseException] = engine.dialect.loaded_dbapi.Error

    def read(self) -> tuple[str | None, str | None]:
        """Both tokens now (``None`` where a database has none yet).

        :raises sqlalchemy.exc.DBAPIError: the database failed twice in a row.
        """
        try:
            return self._read()
        except self._error:
            # A connection the server closed (restart, timeout) fails once.
            return self._read()

    def _read(self) -> tuple[str | None, str | None]:
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(_SQL)
                rows = cursor.fetchall()
            finally:
                cursor.close()
        except self._error:
            connection.invalidate()
            raise
        finally:
            connection.close()
        found = dict(rows)
        return found.get("data_version"), found.get("work_version")

    def close(self) -> None:
        """Close the probe's connections."""
        self.engine.dispose()
