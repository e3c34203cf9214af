"""One refresh at a time, also across processes that share a database.

- MariaDB: a named lock (``GET_LOCK``) held by a dedicated connection. The
  server drops it when that connection dies, so a killed process never
  leaves the lock behind.
- SQLite file: an exclusive ``flock`` on ``<database>.refresh-lock``; the
  kernel drops it when the process dies.
- SQLite in memory: a process-local lock (nothing else can see the database).
"""

from __future__ import annotations

import abc
import contextlib
import fcntl
import hashlib
import os
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from supporthub.store.conflicts import is_conflict, retry_conflicts
from supporthub.vocabulary.errors import StorageError

__all__ = [
    "FileLock",
    "GaleraAwareLock",
    "LeaseLock",
    "LocalLock",
    "MariaDbLock",
    "RefreshLock",
    "causal",
]

# Polling granularity while waiting for a lock held by another process.
_POLL_SECONDS = 0.05


@contextlib.contextmanager
def causal(connection: sa.Connection, base: int = 0) -> Iterator[None]:
    """Reads on ``connection`` wait until this Galera node applied what the cluster committed.

    ``wsrep_sync_wait`` bit 1 for the block, then back to ``base`` (the
    session's own setting: ``?wsrep_sync_wait=`` of the database URL).
    """
    connection.exec_driver_sql(f"SET SESSION wsrep_sync_wait = {int(base) | 1}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"SET SESSION wsrep_sync_wait = {int(base)}")


class RefreshLock(abc.ABC):
    """A mutual-exclusion lock for refreshes."""

    @abc.abstractmethod
    def acquire(self, timeout: float | None) -> bool:
        """Take the lock, waiting up to ``timeout`` seconds (``None``: forever)."""

    @abc.abstractmethod
    def release(self) -> None:
        """Give the lock back."""

    @abc.abstractmethod
    def is_held(self) -> bool:
        """Whether anybody, here or in another process, holds the lock now."""

    def fence(self, connection: sa.Connection) -> None:  # noqa: B027 - most locks need none
        """Refuse to commit ``connection``'s transaction when this lock was lost.

        Locks that the server drops with their holder cannot be lost while
        held: nothing to check.
        """


class LocalLock(RefreshLock):
    """A lock for a database only this process can see."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def acquire(self, timeout: float | None) -> bool:
        return self._lock.acquire(timeout=-1 if timeout is None else timeout)

    def release(self) -> None:
        self._lock.release()

    def is_held(self) -> bool:
        return self._lock.locked()


class FileLock(RefreshLock):
    """An exclusive ``flock`` on a file next to the SQLite database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def _try(self, fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def acquire(self, timeout: float | None) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._try(fd):
            if deadline is not None and time.monotonic() >= deadline:
                os.close(fd)
                return False
            time.sleep(_POLL_SECONDS)
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def is_held(self) -> bool:
        if self._fd is not None:
            return True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return False
        try:
            if self._try(fd):
                fcntl.flock(fd, fcntl.LOCK_UN)
                return False
            return True
        finally:
            os.close(fd)


class MariaDbLock(RefreshLock):
    """A server-side named lock, scoped to the database name."""

    def __init__(self, engine: sa.Engine, database: str) -> None:
        self.engine = engine
        # Lock names are server-wide and at most 64 characters.
        digest = hashlib.sha256(database.encode()).hexdigest()[:32]
        self.name = f"supporthub.refresh.{digest}"
        self._connection: sa.Connection | None = None

    def acquire(self, timeout: float | None) -> bool:
        connection = self.engine.connect()
        remaining = timeout
        try:
            while True:
                # GET_LOCK waits at most the given seconds; wait in slices so
                # an unbounded wait still notices a dropped connection.
                wait = 3600.0 if remaining is None else max(0.0, min(remaining, 3600.0))
                got = connection.execute(
                    sa.text("SELECT GET_LOCK(:name, :wait)"), {"name": self.name, "wait": wait}
                ).scalar()
                connection.commit()
                if got == 1:
                    self._connection = connection
                    return True
                if remaining is not None:
                    remaining -= wait
                    if remaining <= 0:
                        connection.close()
                        return False
        except BaseException:
            connection.close()
            raise

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": self.name})
            connection.commit()
        except sa.exc.DBAPIError:
            # The connection died; the server released the lock with it.
            connection.invalidate()
        finally:
            connection.close()

    def is_held(self) -> bool:
        if self._connection is not None:
            return True
        with self.engine.connect() as connection:
            holder = connection.execute(
                sa.text("SELECT IS_USED_LOCK(:name)"), {"name": self.name}
            ).scalar()
        return holder is not None


class LeaseLock(RefreshLock):
    """A lease in the ``meta`` table: one refresh at a time across a Galera cluster.

    ``GET_LOCK`` is held by one node only, so on Galera two hub processes on
    two nodes would both get it. The lease is a row that the holder writes
    in a committed transaction; Galera certifies conflicting writes, so of
    two nodes taking it at once one commits and the other gets a deadlock
    error on commit (lost the race). The holder renews it every third of
    its time to live; a holder that dies stops renewing and the lease frees
    after ``ttl`` seconds. The value is ``"<token> <holder> <expires>"``
    (the database's clock, so hub hosts' clocks do not matter); the token
    grows with every new holder.

    :meth:`fence` renews the lease inside the refresh's own transaction: a
    holder that lost the lease meanwhile finds no row to renew (or loses
    certification against the new holder's write) and rolls back.
    """

    KEY = "refresh_lease"

    def __init__(self, engine: sa.Engine, ttl: float = 30.0, sync_wait: int = 0) -> None:
        self.engine = engine
        self.ttl = ttl
        #: The sessions' own ``wsrep_sync_wait`` (see :func:`causal`).
        self.sync_wait = sync_wait
        self._head: str | None = None  # "<token> <holder> " while held
        self._thread_id: int | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _try(self) -> bool:
        holder = f"{os.getpid()}.{secrets.token_hex(6)}"
        try:
            with self.engine.begin() as connection:
                now = self._now(connection)
                value = connection.execute(
                    sa.text("SELECT value FROM meta WHERE `key` = :key FOR UPDATE"),
                    {"key": self.KEY},
                ).scalar()
                token, _holder, expires = _parse_lease(value)
                if expires > now:
                    return False
                head = f"{token + 1} {holder} "
                params = {"key": self.KEY, "value": f"{head}{now + self.ttl:.6f}"}
                if value is None:
                    connection.execute(
                        sa.text("INSERT INTO meta (`key`, value) VALUES (:key, :value)"), params
                    )
                else:
                    connection.execute(
                        sa.text("UPDATE meta SET value = :value WHERE `key` = :key"), params
                    )
        except sa.exc.DBAPIError as error:
            # Another node's holder committed first (certification), or two
            # first holders inserted at once: lost the race.
            if is_conflict(error) or _is_duplicate(error):
                return False
            raise
        self._head = head
        return True

    @staticmethod
    def _now(connection: sa.Connection) -> float:
        return float(connection.execute(sa.text("SELECT UNIX_TIMESTAMP(NOW(6))")).scalar_one())

    def acquire(self, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._try():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(_LEASE_POLL_SECONDS)
        self._thread_id = threading.get_ident()
        self._stop.clear()
        self._renewer = threading.Thread(
            target=self._renew_loop, name="supporthub-lease", daemon=True
        )
        self._renewer.start()
        return True

    def _renew(self, connection: sa.Connection) -> bool:
        head = self._head
        if head is None:
            return False
        result = connection.execute(
            sa.text(
                "UPDATE meta SET value = CONCAT(:head, CAST(UNIX_TIMESTAMP(NOW(6)) + :ttl AS CHAR))"
                " WHERE `key` = :key AND value LIKE :pattern"
            ),
            {"head": head, "ttl": self.ttl, "key": self.KEY, "pattern": _like_prefix(head)},
        )
        return bool(result.rowcount)

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:

                def renew() -> bool:
                    with self.engine.begin() as connection:
                        return self._renew(connection)

                if not retry_conflicts(renew):
                    return  # lost: the refresh's fence will refuse to commit
            except sa.exc.SQLAlchemyError:
                continue  # the database is away; try again, the fence decides

    def fence(self, connection: sa.Connection) -> None:
        """Renew the lease in ``connection``'s transaction, or refuse: it was lost.

        Only the thread that holds the lease is fenced; other writers of this
        process (a cursor secret, say) do not need the lock.
        """
        if self._head is None or threading.get_ident() != self._thread_id:
            return
        if not self._renew(connection):
            raise StorageError(
                "the refresh lock expired while this refresh ran (another hub process "
                "took it over); nothing was written"
            )

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
            self._renewer = None
        head, self._head = self._head, None
        self._thread_id = None
        if head is None:
            return
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    sa.text("UPDATE meta SET value = :value WHERE `key` = :key AND value LIKE :p"),
                    {"value": f"{head}0", "key": self.KEY, "p": _like_prefix(head)},
                )
        except sa.exc.DBAPIError:
            pass  # the lease expires by itself

    def is_held(self) -> bool:
        if self._head is not None:
            return True
        # A causal read: a lease just taken or given back on another node may
        # not be applied on this one yet.
        with self.engine.connect() as connection, causal(connection, self.sync_wait):
            now = self._now(connection)
            value = connection.execute(
                sa.text("SELECT value FROM meta WHERE `key` = :key"), {"key": self.KEY}
            ).scalar()
            connection.commit()
        return _parse_lease(value)[2] > now


class GaleraAwareLock(RefreshLock):
    """``GET_LOCK`` on one MariaDB server, the :class:`LeaseLock` on a Galera node.

    ``GET_LOCK`` frees at once when its holder dies (the lease only after its
    time to live), so a single server keeps it. Whether the server is a
    Galera node (``@@wsrep_on``) is asked at first use.
    """

    def __init__(self, engine: sa.Engine, database: str, sync_wait: int = 0) -> None:
        self.engine = engine
        self.named = MariaDbLock(engine, database)
        self.lease = LeaseLock(engine, sync_wait=sync_wait)
        self._galera: bool | None = None
        self._lease_ready = False
        self._choosing = threading.Lock()
        self._held: RefreshLock | None = None

    def is_galera(self) -> bool:
        """Whether the server is a Galera node (asked once)."""
        if self._galera is None:
            with self.engine.connect() as connection:
                self._galera = _is_galera(connection)
                connection.commit()
        return self._galera

    def chosen(self) -> RefreshLock:
        with self._choosing:
            if not self._lease_ready:
                if not self.is_galera():
                    return self.named
                with self.engine.connect() as connection:
                    with causal(connection, self.lease.sync_wait):
                        ready = _has_meta(connection)
                    connection.commit()
                if not ready:
                    return self.named
                self._lease_ready = True
            return self.lease

    def acquire(self, timeout: float | None) -> bool:
        lock = self.chosen()
        got = lock.acquire(timeout)
        if got:
            self._held = lock
        return got

    def release(self) -> None:
        lock, self._held = self._held, None
        if lock is not None:
            lock.release()

    def is_held(self) -> bool:
        return self._held is not None or self.chosen().is_held()

    def fence(self, connection: sa.Connection) -> None:
        if self._held is not None:
            self._held.fence(connection)


# A lease is polled over the network: a little slower than a local lock.
_LEASE_POLL_SECONDS = 0.1


def _is_galera(connection: sa.Connection) -> bool:
    """Whether the server replicates with Galera (``wsrep_on``)."""
    try:
        value = connection.execute(sa.text("SELECT @@wsrep_on")).scalar()
    except sa.exc.DBAPIError:
        return False  # a server built without wsrep has no such variable
    return bool(value) and str(value).upper() not in {"0", "OFF"}


def _has_meta(connection: sa.Connection) -> bool:
    # Before the first `db upgrade` there is no table for the lease: the
    # schema's creation takes the node's GET_LOCK (DDL runs cluster-wide).
    # Read causally (the caller): a node that has not yet applied the
    # schema another node just created must not fall back to GET_LOCK.
    found = connection.execute(
        sa.text(
            "SELECT COUNT(*) FROM information_schema.tables"
            " WHERE table_schema = DATABASE() AND table_name = 'meta'"
        )
    ).scalar_one()
    return bool(found)


def _parse_lease(value: str | None) -> tuple[int, str, float]:
    if not value:
        return 0, "", 0.0
    token, holder, expires = value.split(" ")
    return int(token), holder, float(expires)


def _like_prefix(head: str) -> str:
    # Tokens and holders are digits, dots and hex: nothing LIKE treats specially.
    return head + "%"


def _is_duplicate(error: sa.exc.DBAPIError) -> bool:
    args: tuple[object, ...] = tuple(getattr(error.orig, "args", ()))
    return bool(args) and args[0] == 1062
