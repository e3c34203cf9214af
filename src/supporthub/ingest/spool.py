"""Hands batches from the fetch threads to the one writer, in order.

Sources are fetched concurrently and written by one writer: a source with
cases stored whole, inside its own savepoint (so a failing source can be
undone alone), first loads a batch at a time. While the writer works on
one source, the others keep fetching: their batches wait
here, up to about 25,000 rows in memory and the rest spilled to a temporary
file, so memory stays flat however many cases a source sends. A spilled
batch is in :mod:`.batch_wire`'s form, the one a fetch process sends its
batches in: those are kept as they came and decoded by the writer when it
takes them.
"""

from __future__ import annotations

import collections
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import IO

from supporthub.ingest import batch_wire
from supporthub.ingest.prepare import PreparedBatch

__all__ = ["FetchFailed", "Spool", "SpoolCancelled", "SpoolSet"]

#: Rows a spool keeps in memory before it spills batches to disk.
_IN_MEMORY_ROWS = 25_000
_LENGTH_BYTES = 8


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
        # A batch, or one in batch_wire's bytes with its row count.
        self._memory: collections.deque[tuple[PreparedBatch | bytes, int]] = collections.deque()
        self._memory_rows = 0
        self._file: IO[bytes] | None = None
        self._spilled = 0
        self._read_offset = 0
        self._write_offset = 0
        self._done = False
        self._error: BaseException | None = None
        self._cancelled = False
        self._on_cancel: list[Callable[[], None]] = []

    # -- the fetch's side ----------------------------------------------------

    def put(self, batch: PreparedBatch) -> None:
        """Add a batch; spills to disk once memory holds enough.

        :raises SpoolCancelled: the writer no longer wants this source.
        """
        self._add(batch, len(batch.rows))

    def put_packed(self, data: bytes, rows: int) -> None:
        """Add a batch in :mod:`.batch_wire`'s form, of ``rows`` rows.

        :raises SpoolCancelled: the writer no longer wants this source.
        """
        self._add(data, rows)

    def _add(self, batch: PreparedBatch | bytes, rows: int) -> None:
        with self._ready:
            if self._cancelled:
                raise SpoolCancelled(self.name)
            if self._spilled == 0 and (
                not self._memory or self._memory_rows + rows <= _IN_MEMORY_ROWS
            ):
                self._memory.append((batch, rows))
                self._memory_rows += rows
            else:
                self._spill(batch if isinstance(batch, bytes) else batch_wire.pack(batch))
            self._ready.notify_all()

    def _spill(self, data: bytes) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="supporthub-spool-")  # noqa: SIM115 - lives as long as the spool
        self._file.seek(self._write_offset)
        self._file.write(len(data).to_bytes(_LENGTH_BYTES, "big"))
        self._file.write(data)
        self._write_offset = self._file.tell()
        self._spilled += 1

    def when_cancelled(self, action: Callable[[], None]) -> None:
        """Run ``action`` when the writer gives up on this spool (stop a fetch
        that may be waiting for its CRM); at once if it already has."""
        with self._ready:
            if not self._cancelled:
                self._on_cancel.append(action)
                return
        action()

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

    @property
    def cancelled(self) -> bool:
        """Whether the writer gave up on this spool."""
        return self._cancelled

    # -- the writer's side ---------------------------------------------------

    @property
    def ready(self) -> bool:
        """Whether the writer can take something (a batch, the end, or the error)."""
        return bool(self._memory) or self._spilled > 0 or self._done

    def _take(self) -> PreparedBatch | bytes | None:
        if self._memory:
            first, rows = self._memory.popleft()
            self._memory_rows -= rows
            return first
        if self._spilled:
            assert self._file is not None
            self._file.seek(self._read_offset)
            length = int.from_bytes(self._file.read(_LENGTH_BYTES), "big")
            data = self._file.read(length)
            self._read_offset = self._file.tell()
            self._spilled -= 1
            return data
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
            # Decoded outside the lock: the fetch side goes on meanwhile.
            yield batch if isinstance(batch, PreparedBatch) else batch_wire.unpack(batch)

    def cancel(self) -> None:
        """Stop the fetch at its next batch and drop what is buffered."""
        with self._ready:
            self._cancelled = True
            self._memory.clear()
            self._memory_rows = 0
            self._spilled = 0
            self._ready.notify_all()
            self._close_file()
            actions, self._on_cancel = self._on_cancel, []
        for action in actions:
            action()

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class SpoolSet:
    """The spools of one refresh, so the writer can take whichever is ready first."""

    def __init__(self, names: list[str]) -> None:
        self._ready = threading.Condition()
        self.spools = {name: Spool(name, self._ready) for name in names}
        self._last = ""

    def next_ready(self, pending: set[str]) -> Spool:
        """Wait until one of the ``pending`` spools has something; return it.

        In turn: after one spool, the next ready one in name order, so that
        a writer taking a batch at a time drains them all alike.
        """
        with self._ready:
            while True:
                names = sorted(pending)
                after = [name for name in names if name > self._last]
                for name in after + names[: len(names) - len(after)]:
                    if self.spools[name].ready:
                        self._last = name
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
