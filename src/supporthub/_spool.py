"""Hands batches from the fetch threads to the one writer, in order.

Sources are fetched concurrently but written one after another (each inside
its own savepoint, so a failing source can be undone alone). While the
writer works on one source, the others keep fetching: their batches wait
here, a few in memory and the rest pickled to a temporary file, so memory
stays flat however many cases a source sends.
"""

from __future__ import annotations

import collections
import pickle
import tempfile
import threading
from collections.abc import Iterator
from typing import IO

from supporthub._adapter import Batch

__all__ = ["FetchFailed", "Spool", "SpoolCancelled", "SpoolSet"]

_IN_MEMORY = 4


class FetchFailed(Exception):
    """The fetch behind a spool failed; ``error`` is what it raised."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class SpoolCancelled(Exception):
    """The writer gave up on this spool; the fetch thread should stop."""


class Spool:
    """A FIFO of one source's batches, bounded in memory, spilling to disk."""

    def __init__(self, name: str, ready: threading.Condition) -> None:
        self.name = name
        self._ready = ready
        self._memory: collections.deque[Batch] = collections.deque()
        self._file: IO[bytes] | None = None
        self._spilled = 0
        self._read_offset = 0
        self._write_offset = 0
        self._done = False
        self._error: BaseException | None = None
        self._cancelled = False

    # -- the fetch thread's side ---------------------------------------------

    def put(self, batch: Batch) -> None:
        """Add a batch; spills to disk once memory holds enough.

        :raises SpoolCancelled: the writer no longer wants this source.
        """
        with self._ready:
            if self._cancelled:
                raise SpoolCancelled(self.name)
            if self._spilled == 0 and len(self._memory) < _IN_MEMORY:
                self._memory.append(batch)
            else:
                self._spill(batch)
            self._ready.notify_all()

    def _spill(self, batch: Batch) -> None:
        if self._file is None:
            # Kept open across calls on purpose; close() releases it.
            self._file = tempfile.TemporaryFile(prefix="supporthub-spool-")  # noqa: SIM115
        self._file.seek(self._write_offset)
        pickle.dump(batch, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self._write_offset = self._file.tell()
        self._spilled += 1

    def finish(self) -> None:
        """The fetch ended well: no more batches."""
        with self._ready:
            self._done = True
            self._ready.notify_all()

    def fail(self, error: BaseException) -> None:
        """The fetch failed; the writer sees :class:`FetchFailed` after the batches so far."""
        with self._ready:
            self._error = error
            self._done = True
            self._ready.notify_all()

    # -- the writer's side ---------------------------------------------------

    @property
    def ready(self) -> bool:
        """Whether the writer can take something (a batch, the end, or the error)."""
        return bool(self._memory) or self._spilled > 0 or self._done

    def _take(self) -> Batch | None:
        if self._memory:
            return self._memory.popleft()
        if self._spilled:
            assert self._file is not None
            self._file.seek(self._read_offset)
            batch: Batch = pickle.load(self._file)  # noqa: S301 - our own temp file
            self._read_offset = self._file.tell()
            self._spilled -= 1
            return batch
        return None

    def __iter__(self) -> Iterator[Batch]:
        """The batches in order; raises :class:`FetchFailed` where the fetch failed."""
        while True:
            with self._ready:
                while not self.ready:
                    self._ready.wait()
                batch = self._take()
                if batch is None:
                    self._close_file()
                    if self._error is not None:
                        raise FetchFailed(self._error)
                    return
            yield batch

    def cancel(self) -> None:
        """Stop the fetch at its next batch and drop what is buffered."""
        with self._ready:
            self._cancelled = True
            self._memory.clear()
            self._spilled = 0
            self._ready.notify_all()
            self._close_file()

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class SpoolSet:
    """The spools of one refresh, so the writer can take whichever is ready first."""

    def __init__(self, names: list[str]) -> None:
        self._ready = threading.Condition()
        self.spools = {name: Spool(name, self._ready) for name in names}

    def next_ready(self, pending: set[str]) -> Spool:
        """Wait until one of the ``pending`` spools has something; return it."""
        with self._ready:
            while True:
                for name in sorted(pending):
                    if self.spools[name].ready:
                        return self.spools[name]
                self._ready.wait()

    def cancel_all(self) -> None:
        """Stop every fetch (the refresh is being abandoned)."""
        for spool in self.spools.values():
            spool.cancel()

    def __getitem__(self, name: str) -> Spool:
        return self.spools[name]

    def __repr__(self) -> str:
        return f"SpoolSet({sorted(self.spools)!r})"
