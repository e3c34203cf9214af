"""The storage interface: what the refresh, the hub and the readers type against.

A store keeps cases, aggregated cases and per-source sync state. Its
promises, whatever the database:

- **Snapshots.** Everything read inside one :meth:`Store.reader` sees one
  committed state: before a refresh or after it, never between.
- **One transaction per refresh.** Everything written inside one
  :meth:`Store.writer` becomes visible at once when it exits cleanly, and
  not at all when it raises. Savepoints undo one source's part (except on
  Galera while streaming, where the refresh runs again without that source).
- **Idempotent writes.** The same batch applied twice changes nothing the
  second time; an older version of a case never replaces a newer one.
- **One refresh at a time** through :meth:`Store.refresh_lock`, also across
  processes that share the database.

These are :class:`typing.Protocol` classes: callers name :class:`Store`,
:class:`StoreReader` and :class:`StoreWriter`, and only the place that
builds the hub names :class:`~supporthub.store.sql.SqlStore`. This module
is the bottom of ``store``: it imports the vocabulary only. The store
decides nothing about grouping; the caller computes aggregated cases
(``grouping.consolidate``, ``grouping.replay``) and hands the writer rows.

The work and outbox functions (``store/work.py``, ``store/outbox.py``)
run on a snapshot's or a writer's :attr:`StoreReader.connection`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import attrs
import sqlalchemy as sa

from supporthub.store.database import SqlDatabase
from supporthub.store.idfilter import IdFilter
from supporthub.vocabulary.models import Case, SourceState, Status
from supporthub.vocabulary.override_records import Override
from supporthub.vocabulary.rows import (
    SOURCE_ID,
    UPDATED_AT,
    AggregateRow,
    CaseRow,
    Position,
    SortPosition,
)
from supporthub.vocabulary.work import Lifecycle, WorkState

__all__ = [
    "BatchResult",
    "CaseBatch",
    "ListQuery",
    "MembershipLog",
    "Store",
    "StoreReader",
    "StoreWriter",
    "SyncTracker",
]


class ListQuery(Protocol):
    """What the store lists by: :class:`supporthub.query.listing.Query` is one.

    Filters are ANDed between kinds and ORed within one; see ``Query``.
    """

    @property
    def provider_keys(self) -> tuple[str, ...]: ...
    @property
    def error_code_keys(self) -> tuple[str, ...]: ...
    @property
    def statuses(self) -> tuple[Status, ...]: ...
    @property
    def owners(self) -> tuple[str | None, ...]: ...
    @property
    def states(self) -> tuple[WorkState, ...]: ...
    @property
    def lifecycle(self) -> tuple[Lifecycle, ...]: ...
    @property
    def texts(self) -> tuple[tuple[str, str | None], ...]: ...
    @property
    def after(self) -> Position | SortPosition | None: ...
    @property
    def sort(self) -> str | None: ...


class CaseBatch(Protocol):
    """One source's batch as rows (``ingest.prepare.PreparedBatch`` is one)."""

    @property
    def rows(self) -> Sequence[CaseRow]: ...
    @property
    def tombstones(self) -> Sequence[tuple[str, dt.datetime | None]]: ...


class MembershipLog(Protocol):
    """Told by the writer what it changed, so that grouping can follow.

    The refresh's implementation (``ingest.prepare.MembershipChanges``) turns each
    call into the changes of the aggregated cases involved.
    """

    def replaced(self, old: CaseRow | None, new: CaseRow) -> None:
        """``new`` was written; it replaced ``old`` (``None``: a new case)."""
        ...

    def added(self, rows: Sequence[CaseRow]) -> None:
        """``rows`` were written where no case was stored: ``replaced(None, row)`` for each."""
        ...

    def removed(self, old: CaseRow) -> None:
        """The stored case ``old`` was deleted."""
        ...


@attrs.define
class SyncTracker:
    """What one source's sync must remember across its batches.

    :ivar tombstones: ids deleted earlier in this sync, with the deletion
        time, so that an older repeat of the record does not resurrect it.
    :ivar track_seen: a full read: remember every id, to remove the cases
        the CRM no longer lists at the end.
    :ivar written: set when the source had no case before this sync: only
        the ids it remembers can exist in the store, so others need no lookup.
    """

    source: str
    track_seen: bool = False
    tombstones: dict[str, dt.datetime | None] = attrs.field(factory=dict)
    written: IdFilter | None = None

    def deleted_since(self, row: CaseRow) -> bool:
        """Whether this sync already saw the record deleted after this version."""
        if row[SOURCE_ID] not in self.tombstones:
            return False
        deleted_at = self.tombstones[row[SOURCE_ID]]
        return deleted_at is None or deleted_at >= row[UPDATED_AT]


@attrs.frozen
class BatchResult:
    """What writing one batch did."""

    written: int
    deleted: int


class StoreReader(Protocol):
    """One consistent snapshot of the store (``reading.SqlReader``)."""

    @property
    def connection(self) -> sa.Connection:
        """The snapshot's connection, for the work and outbox functions."""
        ...

    def meta(self, key: str) -> str | None: ...
    def refreshed_at(self) -> dt.datetime | None: ...
    def last_refresh_at(self) -> dt.datetime | None: ...
    def data_version(self) -> str | None: ...
    def work_version(self) -> str | None: ...
    def rules_version(self) -> str | None: ...
    def default_rules(self) -> str | None: ...
    def rule_set_label(self, version: str) -> str | None: ...
    def successor(self, old_id: str) -> str | None: ...
    def states(self) -> dict[str, SourceState]: ...
    def last_run(self) -> dict[str, Any] | None: ...
    def overrides(self, *, include_removed: bool = False) -> list[Override]: ...
    def value_counts(self, agg_id: str) -> list[tuple[str | None, str | None, int]]: ...
    def case(self, source: str, source_id: str) -> tuple[str, Case] | None: ...
    def source_case_counts(self) -> dict[str, int]: ...
    def count(self, query: ListQuery, *, now: dt.datetime | None = None) -> int: ...
    def rows(
        self,
        query: ListQuery,
        *,
        after: Position | SortPosition | None,
        limit: int,
        now: dt.datetime | None = None,
    ) -> list[AggregateRow]: ...
    def position(
        self, row: AggregateRow, query: ListQuery, now: dt.datetime | None = None
    ) -> Position | SortPosition: ...
    def iter_rows(
        self, query: ListQuery, *, chunk: int = 500, now: dt.datetime | None = None
    ) -> Iterator[AggregateRow]: ...
    def get(self, agg_id: str) -> AggregateRow | None: ...
    def with_cases(
        self, rows: Iterable[AggregateRow], cases_limit: int | None
    ) -> Iterator[tuple[AggregateRow, Iterator[Case]]]: ...
    def iter_cases(
        self,
        agg_id: str,
        *,
        limit: int | None = None,
        after: tuple[dt.datetime, str, str] | None = None,
    ) -> Iterator[Case]: ...
    def iter_all_cases(self, *, chunk: int = 5000) -> Iterator[tuple[str, Case]]: ...


class StoreWriter(StoreReader, Protocol):
    """One write transaction (``writing.SqlWriter``): visible at commit, or not at all."""

    @property
    def streaming(self) -> bool:
        """Galera streams this transaction: no savepoints, a failed part aborts it all."""
        ...

    def savepoint(self) -> AbstractContextManager[None]: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def record_rules(self, version: str, default_rules: str, label: str) -> None: ...
    def save_state(self, state: SourceState) -> None: ...
    def record_run(
        self,
        *,
        started_at: dt.datetime,
        finished_at: dt.datetime,
        trigger: str,
        ok: bool,
        report: dict[str, Any],
    ) -> None: ...
    def add_override(self, override: Override) -> int: ...
    def remove_override(self, override_id: int, *, by: str, at: dt.datetime) -> bool: ...
    def has_cases(self, source: str) -> bool: ...
    def drop_cases(self, source: str) -> None: ...
    def write_batch(
        self, batch: CaseBatch, *, tracker: SyncTracker, changes: MembershipLog
    ) -> BatchResult: ...
    def start_full_read(self, tracker: SyncTracker) -> None: ...
    def remove_unseen(self, tracker: SyncTracker, changes: MembershipLog) -> int: ...
    def aggregates(self, agg_ids: Sequence[str]) -> dict[str, AggregateRow]: ...
    def spellings(self, agg_ids: Sequence[str]) -> dict[str, dict[str, int]]: ...
    def bounds(self, agg_id: str) -> tuple[dt.datetime, dt.datetime]: ...
    def write_aggregates(
        self,
        rows: Sequence[AggregateRow],
        deleted: Collection[str],
        spellings: Mapping[str, Mapping[str, int]],
    ) -> None: ...
    def move_cases(self, moves: Sequence[tuple[str, str, str]]) -> None: ...
    def retire(self, departed: Mapping[str, Sequence[tuple[str, str]]]) -> None: ...
    def carry_work(self, successors: Mapping[str, str], now: dt.datetime) -> None: ...
    def regress(self, agg_ids: Sequence[str], now: dt.datetime) -> list[str]: ...


class Store(SqlDatabase, Protocol):
    """Where the hub keeps its data; :class:`~supporthub.store.sql.SqlStore` is the one there is.

    It is a :class:`SqlDatabase` too: the outbox opens its own transactions
    on it (``outbox.transaction``).
    """

    @property
    def display_url(self) -> str:
        """The database URL without its password."""
        ...

    def upgrade(self) -> None:
        """Create the schema, or migrate it to the current revision."""
        ...

    def revision(self) -> str | None:
        """The schema revision in the database; ``None`` when it has no schema."""
        ...

    def check_schema(self, *, create_if_empty: bool) -> None:
        """Make sure the schema is current, creating it in an empty database if asked.

        :raises StorageError: the database cannot be reached, or its schema is
            older or newer than this code and needs ``supporthub db upgrade``.
        """
        ...

    def reader(self) -> AbstractContextManager[StoreReader]:
        """A consistent snapshot to read from."""
        ...

    def list_reader(self) -> AbstractContextManager[StoreReader]:
        """A snapshot for the list views: on the read replica when there is one."""
        ...

    def list_versions(self) -> tuple[str | None, str | None]:
        """``(data_version, work_version)`` as :meth:`list_reader` would see them now, cheaply."""
        ...

    def reader_on(self, connection: sa.Connection) -> StoreReader:
        """A reader inside a transaction the caller opened (``outbox.transaction``)."""
        ...

    def writer(self, *, stamp: str = "data_version") -> AbstractContextManager[StoreWriter]:
        """One transaction to write in; it stamps a new token under ``stamp``."""
        ...

    def cursor_secret(self) -> bytes:
        """The secret that signs paging cursors, shared by every process on the database."""
        ...

    def refresh_lock(self, timeout: float | None) -> AbstractContextManager[bool]:
        """Hold the refresh lock; yields whether another refresh held it first.

        :raises RefreshInProgress: not acquired within ``timeout`` seconds.
        """
        ...

    def is_refreshing(self) -> bool:
        """Whether a refresh holds the lock now, in any process."""
        ...

    def ping(self) -> bool:
        """Whether the database answers."""
        ...

    def close(self) -> None:
        """Close every connection."""
        ...
