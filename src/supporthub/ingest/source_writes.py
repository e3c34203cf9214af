"""Writing each source's batches inside a refresh's one transaction.

A source with cases stored is written whole, inside a savepoint: a fetch
that fails half-way rolls back to it and the source keeps its cases as
they were. A source with no case stored yet (a **first load**: a new
deployment's first refresh, a source just enabled) is written batch by
batch as its batches come, interleaved with the other first loads, so the
one writer never waits on one CRM while another's pages pile up in their
spool: in a first refresh of two sources of 100,000 cases each, the
second source's batches were written only after the slower fetch had
ended, a second after the faster one. A first load writes nothing but its
own cases, so one that fails half-way is undone by deleting them. A
refresh started with ``nice`` writes first loads whole too: the pauses of
the server while the writer waits on a fetch are the readers'.

Where the writer cannot undo a part (Galera, streaming: no savepoints) a
source that fails half-way raises :class:`SourceUndo`, and the refresh
runs again without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import attrs

from supporthub.grouping.consolidate import AggregateChanges
from supporthub.ingest.prepare import MembershipChanges, PreparedBatch
from supporthub.ingest.spool import FetchFailed, Spool
from supporthub.store.base import StoreWriter, SyncTracker
from supporthub.store.idfilter import IdFilter
from supporthub.vocabulary.models import SourceState

__all__ = ["Outcome", "SourceUndo", "SourceWrite"]

#: Words for a failed fetch's error, for the report: ``(source, error)``.
Describe = Callable[[str, BaseException], str]


@attrs.define
class Outcome:
    """What writing one source did, before it becomes a report."""

    fetched: int = 0
    skipped: int = 0
    written: int = 0
    deleted: int = 0
    cursor: str | None = None
    error: str | None = None


class SourceUndo(Exception):
    """One source failed inside a writer that cannot undo only its part."""

    def __init__(self, name: str, outcome: Outcome) -> None:
        super().__init__(name)
        self.name = name
        self.outcome = outcome


class SourceWrite:
    """One source's part of a refresh: its batches written, what they changed.

    :ivar changes: what the source's writes did to aggregated cases; the
        refresh applies them only when the source ends well.
    """

    def __init__(
        self,
        writer: StoreWriter,
        spool: Spool,
        state: SourceState | None,
        *,
        full: bool,
        describe: Describe,
    ) -> None:
        self.name = spool.name
        self.outcome = Outcome(cursor=None if state is None else state.cursor)
        self.changes = AggregateChanges()
        self.first_load = not writer.has_cases(self.name)
        self._writer = writer
        self._spool = spool
        #: Every case the CRM lists is read: the ones it no longer lists go.
        self._full_read = full or state is None or state.cursor is None
        self._describe = describe
        self._tracker = SyncTracker(self.name)
        self._batches: Iterator[PreparedBatch] | None = None

    # -- a source with cases: whole, in a savepoint ----------------------------

    def write_whole(self) -> Outcome:
        """Write every batch the spool brings, until its end; the outcome."""
        writer = self._writer
        try:
            with writer.savepoint():
                self._begin()
                for batch in self._spool:
                    self._write(batch)
                self._end()
        except FetchFailed as failure:
            return self._failed(failure.error)
        return self.outcome

    # -- a first load: a batch at a time ---------------------------------------

    def write_next(self) -> Outcome | None:
        """Write the spool's next batch (it must be :attr:`Spool.ready`).

        :returns: the outcome once the source has ended (well or not),
            ``None`` while batches are still to come.
        """
        if self._batches is None:
            self._begin()
            self._batches = iter(self._spool)
        try:
            batch = next(self._batches, None)
        except FetchFailed as failure:
            if self.outcome.written and not self._writer.streaming:
                self._writer.drop_cases(self.name)  # all it wrote: it had none before
            return self._failed(failure.error)
        if batch is None:
            self._end()
            return self.outcome
        self._write(batch)
        return None

    # -- the steps ---------------------------------------------------------------

    def _begin(self) -> None:
        if self.first_load:
            self._tracker.written = IdFilter()  # only its own ids can be stored
        elif self._full_read:
            self._writer.start_full_read(self._tracker)

    def _write(self, batch: PreparedBatch) -> None:
        outcome = self.outcome
        outcome.fetched += batch.fetched
        outcome.skipped += batch.skipped
        result = self._writer.write_batch(
            batch, tracker=self._tracker, changes=MembershipChanges(self.changes, batch.keys)
        )
        outcome.written += result.written
        outcome.deleted += result.deleted
        if batch.cursor is not None:
            outcome.cursor = batch.cursor

    def _end(self) -> None:
        if self._tracker.track_seen:
            self.outcome.deleted += self._writer.remove_unseen(
                self._tracker, MembershipChanges(self.changes)
            )

    def _failed(self, error: BaseException) -> Outcome:
        self.outcome.error = self._describe(self.name, error)
        if self._writer.streaming:
            raise SourceUndo(self.name, self.outcome) from None
        return self.outcome
