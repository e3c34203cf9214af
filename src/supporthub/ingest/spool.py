"""Hands batches from the fetch threads to the one writer, in order.

Sources are fetched concurrently but written one after another (each inside
its own savepoint, so a failing source can be undone alone). While the
writer works on one source, the others keep fetching: their batches wait
here, up to about 25,000 rows in memory and the rest spilled to a temporary
file, so memory stays flat however many cases a source sends. A spilled
batch's rows are MessagePack (msgspec), the rest of it (keys, tombstones,
counts) a small pickle: pickling the rows' datetimes was the costliest thing
a fetch thread did after decoding JSON, about 20 times the cost of
msgspec's encoder, and it held the GIL the writer needs. Rows msgspec cannot
encode are pickled whole.
"""

from __future__ import annotations

import collections
import pickle
import tempfile
import threading
from collections.abc import Iterator
from typing import IO, Any

import attrs
import msgspec

from supporthub.ingest.prepare import PreparedBatch

__all__ = ["FetchFailed", "Spool", "SpoolCancelled", "SpoolSet"]

#: Rows a spool keeps in memory before it spills batches to disk.
_IN_MEMORY_ROWS = 25_000
_ROWS_ENCODER = msgspec.msgpack.Encoder()
#: Arrays back as tuples, timestamps back as aware UTC datetimes: the rows as they were.
_ROWS_DECODER = msgspec.msgpack.Decoder(tuple[tuple[Any, ...], ...])


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
        self._memory: collections.deque[PreparedBatch] = collections.deque()
        self._memory_rows = 0
        self._file: IO[bytes] | None = None
        self._spilled = 0
        self._read_offset = 0
        self._write_offset = 0
        self._done = False
        self._error: BaseException | None = None
        self._cancelled = False

    # -- the fetch thread's side ---------------------------------------------

    def put(self, batch: PreparedBatch) -> None:
        """Add a batch; spills to disk once memory holds enough.

        :raises SpoolCancelled: the writer no longer wants this source.
        """
        with self._ready:
            if self._cancelled:
                raise SpoolCancelled(self.name)
            if self._spilled == 0 and (
                not self._memory or self._memory_rows + len(batch.rows) <= _IN_MEMORY_ROWS
            ):
                self._memory.append(batch)
                self._memory_rows += len(batch.rows)
            else:
                self._spill(batch)
            self._ready.notify_all()

    def _spill(self, batch: PreparedBatch) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="supporthub-spool-")  # noqa: SIM115 - lives as long as the spool
        self._file.seek(self._write_offset)
        pickle.dump(_pack(batch), self._file, protocol=pickle.HIGHEST_PROTOCOL)
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

    def _take(self) -> PreparedBatch | None:
        if self._memory:
            first = self._memory.popleft()
            self._memory_rows -= len(first.rows)
            return first
        if self._spilled:
            assert self._file is not None
            self._file.seek(self._read_offset)
            batch = _unpack(pickle.load(self._file))  # noqa: S301 - our own temp file
            self._read_offset = self._file.tell()
            self._spilled -= 1
            return batch
        return None

    def __iter__(self) -> Iterator[PreparedBatch]:
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
            self._memory_rows = 0
            self._spilled = 0
            self._ready.notify_all()
            self._close_file()

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _pack(batch: PreparedBatch) -> tuple[bytes | None, PreparedBatch]:
    """A batch to spill: its rows as MessagePack when they can be, and the rest."""
    try:
        rows = _ROWS_ENCODER.encode(batch.rows)
    except (TypeError, ValueError, OverflowError):
        return None, batch
    return rows, attrs.evolve(batch, rows=())


def _unpack(packed: tuple[bytes | None, PreparedBatch]) -> PreparedBatch:
    rows, rest = packed
    return rest if rows is None else attrs.evolve(rest, rows=_ROWS_DECODER.decode(rows))


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
