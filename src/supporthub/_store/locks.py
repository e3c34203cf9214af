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
import fcntl
import hashlib
import os
import threading
import time
from pathlib import Path

import sqlalchemy as sa

__all__ = ["FileLock", "LocalLock", "MariaDbLock", "RefreshLock"]

# Polling granularity while waiting for a lock held by another process.
_POLL_SECONDS = 0.05


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
