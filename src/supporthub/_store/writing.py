"""Writing one refresh inside one transaction.

The write path is the hub's hot path, so rows go to the database through the
driver's bulk ``executemany`` (PyMySQL rewrites it into multi-row INSERTs;
sqlite3 loops in C), with a statement compiled once by SQLAlchemy. Only rows
that changed are written, and only the aggregated cases they touch are
rewritten.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import mysql as mysql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from supporthub._adapter import Batch
from supporthub._consolidate import (
    AggregateChanges,
    AggregateRow,
    KeyPipeline,
    Member,
    apply_changes,
    display_provider,
    spelling_of,
)
from supporthub._models import AggregationKey, Case, SourceState
from supporthub._store.reading import (
    CASE_COLUMNS,
    SqlReader,
    case_from_row,
    chunked,
    row_from_db,
)
from supporthub._store.schema import (
    aggregated_cases,
    cases,
    meta,
    provider_spellings,
    refresh_runs,
    sources,
)

if TYPE_CHECKING:
    from supporthub._store.sql import SqlStore

__all__ = ["BatchResult", "SqlWriter", "SyncTracker"]

# Rows per executemany call: big enough to amortize round trips, small
# enough to stay under max_allowed_packet.
_WRITE_CHUNK = 5000
# Refresh reports kept for /health and operators.
_RUNS_KEPT = 1000
_SEEN_TABLE = "supporthub_seen"
_NAMED = re.compile(r"%\((\w+)\)s")


class _BulkInsert:
    """A compiled INSERT (optionally an upsert) fed through the driver's executemany."""

    def __init__(
        self,
        dialect: sa.Dialect,
        table: sa.Table,
        *,
        upsert_keys: Sequence[str] = (),
        ignore_duplicates: bool = False,
    ) -> None:
        columns = list(table.columns)
        values: dict[str, Any] = {column.name: sa.bindparam(column.name) for column in columns}
        statement: Any
        update = [c.name for c in columns if c.name not in upsert_keys]
        if dialect.name == "sqlite":
            statement = sqlite_dialect.insert(table).values(values)
            if upsert_keys:
                statement = statement.on_conflict_do_update(
                    index_elements=list(upsert_keys),
                    set_={name: statement.excluded[name] for name in update},
                )
            elif ignore_duplicates:
                statement = statement.on_conflict_do_nothing()
        else:
            statement = mysql_dialect.insert(table).values(values)
            if upsert_keys:
                statement = statement.on_duplicate_key_update(
                    {name: statement.inserted[name] for name in update}
                )
            elif ignore_duplicates:
                statement = statement.prefix_with("IGNORE")
        compiled = statement.compile(dialect=dialect)
        sql = str(compiled)
        names = list(compiled.positiontup or ())
        if not names:
            # A named paramstyle (PyMySQL's pyformat): rewrite to positional
            # so that rows can stay tuples on the hot path.
            names = _NAMED.findall(sql)
            sql = _NAMED.sub("%s", sql)
        self.sql = sql
        index = {column.name: i for i, column in enumerate(columns)}
        order = [index[name] for name in names]
        self._order = None if order == list(range(len(columns))) else order
        self._processors = [
            (i, processor)
            for i, column in enumerate(columns)
            if (processor := column.type.dialect_impl(dialect).bind_processor(dialect))
        ]

    def execute(self, connection: sa.Connection, rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows``, tuples in the table's column order."""
        if not rows:
            return
        processors, order = self._processors, self._order
        prepared: list[Sequence[Any]] = []
        for row in rows:
            values = list(row)
            for i, processor in processors:
                values[i] = processor(values[i])
            prepared.append(tuple(values) if order is None else tuple(values[i] for i in order))
        for chunk in chunked(prepared, _WRITE_CHUNK):
            connection.exec_driver_sql(self.sql, list(chunk))


@attrs.define
class _Stored:
    """A case as it is stored now, and its share in its aggregated case."""

    row: tuple[Any, ...]
    member: Member


@attrs.define
class SyncTracker:
    """What one source's sync must remember across its batches.

    :ivar tombstones: ids deleted earlier in this sync, with the deletion
        time, so that an older repeat of the record does not resurrect it.
    :ivar track_seen: a full read: remember every id, to remove the cases
        the CRM no longer lists at the end.
    """

    source: str
    track_seen: bool = False
    tombstones: dict[str, dt.datetime | None] = attrs.field(factory=dict)


@attrs.frozen
class BatchResult:
    """What writing one batch did."""

    written: int
    deleted: int


def _row(case: Case, agg_id: str) -> tuple[Any, ...]:
    # The column order of the cases table (CASE_COLUMNS).
    return (
        case.source,
        case.source_id,
        agg_id,
        case.number,
        case.subject,
        case.is_open,
        case.priority,
        case.provider,
        case.error_code,
        case.created_at,
        case.updated_at,
        case.url,
    )


def _member(case: Case, agg_id: str) -> Member:
    return Member(agg_id, case.is_open, spelling_of(case), case.created_at, case.updated_at)


def _newest_per_id(batch: Batch) -> tuple[dict[str, Case], dict[str, dt.datetime | None]]:
    """One case per id (the latest), and the tombstones that are not older than it."""
    latest: dict[str, Case] = {}
    for case in batch.cases:
        previous = latest.get(case.source_id)
        if previous is None or case.updated_at >= previous.updated_at:
            latest[case.source_id] = case
    dead: dict[str, dt.datetime | None] = {}
    for tombstone in batch.tombstones:
        at = tombstone.deleted_at
        if tombstone.source_id in dead:
            known = dead[tombstone.source_id]
            at = None if at is None or known is None else max(at, known)
        dead[tombstone.source_id] = at
    for source_id, at in list(dead.items()):
        alive = latest.get(source_id)
        if alive is None:
            continue
        if at is None or at >= alive.updated_at:
            del latest[source_id]
        else:  # the record came back to life after this deletion
            del dead[source_id]
    return latest, dead


class SqlWriter(SqlReader):
    """Writes one refresh; everything becomes visible at commit, or not at all."""

    def __init__(self, connection: sa.Connection, store: SqlStore) -> None:
        super().__init__(connection, store)
        dialect = connection.dialect
        self._upsert_cases = _BulkInsert(dialect, cases, upsert_keys=("source", "source_id"))
        self._upsert_aggregates = _BulkInsert(dialect, aggregated_cases, upsert_keys=("id",))
        self._insert_spellings = _BulkInsert(dialect, provider_spellings)

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo everything written inside when it raises (one source's part)."""
        with self.connection.begin_nested():
            yield

    # -- small state ----------------------------------------------------------

    def set_meta(self, key: str, value: str) -> None:
        """Set a value of the ``meta`` table."""
        updated = self.connection.execute(
            sa.update(meta).where(meta.c.key == key).values(value=value)
        ).rowcount
        if not updated:
            self.connection.execute(sa.insert(meta).values(key=key, value=value))

    def save_state(self, state: SourceState) -> None:
        """Store one source's sync state."""
        values = {
            "cursor": state.cursor,
            "last_success_at": state.last_success_at,
            "last_attempt_at": state.last_attempt_at,
            "consecutive_failures": state.consecutive_failures,
            "last_error": state.last_error,
        }
        exists = self.connection.execute(
            sa.select(sources.c.name).where(sources.c.name == state.name)
        ).first()
        if exists:
            self.connection.execute(
                sa.update(sources).where(sources.c.name == state.name).values(values)
            )
        else:
            self.connection.execute(sa.insert(sources).values(name=state.name, **values))

    def record_run(
        self,
        *,
        started_at: dt.datetime,
        finished_at: dt.datetime,
        trigger: str,
        ok: bool,
        report: dict[str, Any],
    ) -> None:
        """Keep a refresh's report (the last thousand are kept)."""
        result = self.connection.execute(
            sa.insert(refresh_runs).values(
                started_at=started_at,
                finished_at=finished_at,
                trigger=trigger,
                ok=ok,
                report=orjson.dumps(report).decode(),
            )
        )
        run_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
        if run_id is not None and run_id > _RUNS_KEPT:
            self.connection.execute(
                sa.delete(refresh_runs).where(refresh_runs.c.id <= run_id - _RUNS_KEPT)
            )

    def has_cases(self, source: str) -> bool:
        """Whether ``source`` has any case in the hub."""
        return (
            self.connection.execute(
                sa.select(cases.c.source_id).where(cases.c.source == source).limit(1)
            ).first()
            is not None
        )

    # -- cases ----------------------------------------------------------------

    def _stored(self, source: str, ids: Sequence[str]) -> dict[str, _Stored]:
        found: dict[str, _Stored] = {}
        for chunk in chunked(ids):
            statement = sa.select(*CASE_COLUMNS).where(
                cases.c.source == source, cases.c.source_id.in_(chunk)
            )
            for row in self.connection.execute(statement):
                values = tuple(row)
                found[row[1]] = _Stored(values, _member(case_from_row(row), row[2]))
        return found

    def write_batch(
        self,
        batch: Batch,
        *,
        tracker: SyncTracker,
        pipeline: KeyPipeline,
        changes: AggregateChanges,
    ) -> BatchResult:
        """Store one batch of one source: upsert what changed, delete tombstones.

        Unchanged cases and older repeats are not written; every case that
        joins or leaves an aggregated case is recorded in ``changes``.
        """
        source = tracker.source
        latest, dead = _newest_per_id(batch)
        for source_id in [i for i in latest if i in tracker.tombstones]:
            deleted_at = tracker.tombstones[source_id]
            if deleted_at is None or deleted_at >= latest[source_id].updated_at:
                del latest[source_id]
        stored = self._stored(source, [*latest, *dead])

        rows: list[tuple[Any, ...]] = []
        for source_id, case in latest.items():
            if case.source != source:
                raise ValueError(f"adapter {source!r} produced a case of source {case.source!r}")
            key = pipeline.key_for(case)
            agg_id = pipeline.id_for(key)
            row = _row(case, agg_id)
            old = stored.get(source_id)
            if old is not None:
                if old.row == row or case.updated_at < old.member.updated_at:
                    continue  # unchanged, or an older repeat: the newest stays
                changes.remove(old.member)
            changes.add(_member(case, agg_id), key)
            rows.append(row)

        doomed: list[str] = []
        for source_id, deleted_at in dead.items():
            tracker.tombstones[source_id] = deleted_at
            old = stored.get(source_id)
            if old is None or (deleted_at is not None and deleted_at < old.member.updated_at):
                continue
            changes.remove(old.member)
            doomed.append(source_id)

        self._upsert_cases.execute(self.connection, rows)
        self._delete_cases(source, doomed)
        if tracker.track_seen:
            self._remember_seen(list(latest))
        return BatchResult(written=len(rows), deleted=len(doomed))

    def _delete_cases(self, source: str, ids: Sequence[str]) -> None:
        for chunk in chunked(ids):
            self.connection.execute(
                sa.delete(cases).where(cases.c.source == source, cases.c.source_id.in_(chunk))
            )

    # -- full resync: remove what the CRM no longer lists ---------------------

    def start_full_read(self, tracker: SyncTracker) -> None:
        """Start remembering every id read, in a temporary table."""
        tracker.track_seen = True
        self.connection.exec_driver_sql(
            f"DROP {'TEMPORARY ' if self.store.dialect_name != 'sqlite' else ''}"
            f"TABLE IF EXISTS {_SEEN_TABLE}"
        )
        if self.store.dialect_name == "sqlite":
            self.connection.exec_driver_sql(
                f"CREATE TEMP TABLE {_SEEN_TABLE} (source_id TEXT PRIMARY KEY)"
            )
        else:
            self.connection.exec_driver_sql(
                f"CREATE TEMPORARY TABLE {_SEEN_TABLE} (source_id VARCHAR(255) "
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PRIMARY KEY)"
            )

    def _remember_seen(self, ids: Sequence[str]) -> None:
        verb = "INSERT OR IGNORE" if self.store.dialect_name == "sqlite" else "INSERT IGNORE"
        placeholder = "?" if self.store.dialect_name == "sqlite" else "%s"
        sql = f"{verb} INTO {_SEEN_TABLE} (source_id) VALUES ({placeholder})"
        for chunk in chunked(ids, _WRITE_CHUNK):
            self.connection.exec_driver_sql(sql, [(i,) for i in chunk])

    def remove_unseen(self, tracker: SyncTracker, changes: AggregateChanges) -> int:
        """Delete the source's cases that the full read did not list; return how many."""
        seen = sa.table(_SEEN_TABLE, sa.column("source_id"))
        removed = 0
        while True:
            statement = (
                sa.select(*CASE_COLUMNS)
                .where(
                    cases.c.source == tracker.source,
                    cases.c.source_id.not_in(sa.select(seen.c.source_id)),
                )
                .limit(_WRITE_CHUNK)
            )
            rows = self.connection.execute(statement).all()
            if not rows:
                break
            for row in rows:
                changes.remove(_member(case_from_row(row), row[2]))
            self._delete_cases(tracker.source, [row[1] for row in rows])
            removed += len(rows)
        self.connection.exec_driver_sql(
            f"DROP {'TEMPORARY ' if self.store.dialect_name != 'sqlite' else ''}"
            f"TABLE IF EXISTS {_SEEN_TABLE}"
        )
        tracker.track_seen = False
        return removed

    # -- aggregated cases -----------------------------------------------------

    def _spellings(self, agg_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        found: dict[str, dict[str, int]] = collections.defaultdict(dict)
        for chunk in chunked(agg_ids):
            statement = sa.select(provider_spellings).where(provider_spellings.c.agg_id.in_(chunk))
            for agg_id, spelling, count in self.connection.execute(statement):
                found[agg_id][spelling] = count
        return found

    def _bounds(self, agg_id: str) -> tuple[dt.datetime, dt.datetime]:
        first, last = self.connection.execute(
            sa.select(sa.func.min(cases.c.created_at), sa.func.max(cases.c.updated_at)).where(
                cases.c.agg_id == agg_id
            )
        ).one()
        # func.min/max lose the column type on some dialects: normalize here.
        return _as_utc(first), _as_utc(last)

    def apply_changes(self, changes: AggregateChanges, rules_version: str) -> int:
        """Rewrite the aggregated cases ``changes`` touched; return how many."""
        touched = sorted(changes.touched)
        if not touched:
            return 0
        current: dict[str, AggregateRow] = {}
        for chunk in chunked(touched):
            statement = sa.select(aggregated_cases).where(aggregated_cases.c.id.in_(chunk))
            for row in self.connection.execute(statement):
                current[row.id] = row_from_db(row)
        applied = apply_changes(
            changes, current, self._spellings(touched), self._bounds, rules_version
        )
        self._write_aggregates(applied.rows, applied.deleted, applied.spellings)
        return len(touched)

    def _write_aggregates(
        self,
        rows: Sequence[AggregateRow],
        deleted: Sequence[str] | frozenset[str],
        spellings: dict[str, dict[str, int]] | Any,
    ) -> None:
        for chunk in chunked(sorted(deleted)):
            self.connection.execute(
                sa.delete(aggregated_cases).where(aggregated_cases.c.id.in_(chunk))
            )
        self._upsert_aggregates.execute(
            self.connection,
            [
                (
                    row.id,
                    row.provider_key,
                    row.error_code_key,
                    orjson.dumps(row.key_extra).decode() if row.key_extra else None,
                    row.provider,
                    row.open_case_count > 0,
                    row.case_count,
                    row.open_case_count,
                    row.first_created_at,
                    row.last_updated_at,
                    row.rules_version,
                )
                for row in rows
            ],
        )
        touched = sorted(spellings)
        for chunk in chunked(touched):
            self.connection.execute(
                sa.delete(provider_spellings).where(provider_spellings.c.agg_id.in_(chunk))
            )
        self._insert_spellings.execute(
            self.connection,
            [
                (agg_id, spelling, count)
                for agg_id in touched
                for spelling, count in spellings[agg_id].items()
            ],
        )

    def regroup(self, pipeline: KeyPipeline) -> int:
        """Recompute every case's aggregated case under new rules; return cases moved.

        Used when the rule-set version changed (aliases edited, a plug-in
        rule added or upgraded): old and new cases then follow the same rules.
        """
        moved = 0
        totals: dict[str, _Totals] = {}
        pending: list[tuple[str, str, str]] = []
        for old_agg, case in self.iter_all_cases():
            key = pipeline.key_for(case)
            agg_id = pipeline.id_for(key)
            totals.setdefault(agg_id, _Totals(key)).add(case)
            if agg_id != old_agg:
                pending.append((agg_id, case.source, case.source_id))
        for chunk in chunked(pending, _WRITE_CHUNK):
            self.connection.execute(
                sa.update(cases)
                .where(
                    cases.c.source == sa.bindparam("b_source"),
                    cases.c.source_id == sa.bindparam("b_source_id"),
                )
                .values(agg_id=sa.bindparam("b_agg_id")),
                [{"b_agg_id": a, "b_source": s, "b_source_id": i} for a, s, i in chunk],
            )
            moved += len(chunk)
        existing = [
            agg_id for (agg_id,) in self.connection.execute(sa.select(aggregated_cases.c.id))
        ]
        stale = set(existing) - set(totals)
        self._write_aggregates(
            [t.row(agg_id, pipeline.version) for agg_id, t in totals.items()],
            frozenset(stale),
            {
                **{agg_id: dict(t.spellings) for agg_id, t in totals.items()},
                **{agg_id: {} for agg_id in stale},
            },
        )
        return moved


def _as_utc(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@attrs.define
class _Totals:
    """An aggregated case computed from all its members (for a regroup)."""

    key: AggregationKey
    count: int = 0
    open: int = 0
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    spellings: collections.Counter[str] = attrs.field(factory=collections.Counter)

    def add(self, case: Case) -> None:
        self.count += 1
        self.open += case.is_open
        self.first = case.created_at if self.first is None else min(self.first, case.created_at)
        self.last = case.updated_at if self.last is None else max(self.last, case.updated_at)
        spelling = spelling_of(case)
        if spelling is not None:
            self.spellings[spelling] += 1

    def row(self, agg_id: str, rules_version: str) -> AggregateRow:
        assert self.first is not None
        assert self.last is not None
        return AggregateRow(
            id=agg_id,
            provider_key=self.key.provider_key,
            error_code_key=self.key.error_code_key,
            key_extra=self.key.extra,
            provider=display_provider(self.spellings, self.key.provider_key),
            case_count=self.count,
            open_case_count=self.open,
            first_created_at=self.first,
            last_updated_at=self.last,
            rules_version=rules_version,
        )
