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
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from supporthub.store.base import BatchResult, CaseBatch, MembershipLog, SyncTracker
from supporthub.store.bulk import bulk_insert
from supporthub.store.database import SqlDatabase
from supporthub.store.loaddata import (
    MIN_LOAD_ROWS,
    LoadDataReplace,
    load_data_refusal,
    tell_once,
)
from supporthub.store.reading import (
    CASE_COLUMNS,
    SqlReader,
    chunked,
    row_from_db,
)
from supporthub.store.schema import (
    aggregated_cases,
    cases,
    meta,
    overrides,
    provider_spellings,
    refresh_runs,
    rule_sets,
    sources,
)
from supporthub.store.search_terms import TermIndex
from supporthub.store.succession import retire
from supporthub.store.work import carry_work, regress, worked_ids
from supporthub.vocabulary.models import SourceState
from supporthub.vocabulary.override_records import Override, encode_part
from supporthub.vocabulary.rows import SOURCE_ID, UPDATED_AT, AggregateRow, CaseRow

__all__ = ["BatchResult", "SqlWriter", "SyncTracker"]

# Rows per executemany call: big enough to amortize round trips, small
# enough to stay under max_allowed_packet.
_WRITE_CHUNK = 5000
# Refresh reports kept for /health and operators.
_RUNS_KEPT = 1000
_SEEN_TABLE = "supporthub_seen"


class SqlWriter(SqlReader):
    """Writes one refresh; everything becomes visible at commit, or not at all."""

    def __init__(self, connection: sa.Connection, store: SqlDatabase) -> None:
        super().__init__(connection, store)
        dialect = connection.dialect
        self._upsert_cases = bulk_insert(dialect, cases, upsert_keys=("source", "source_id"))
        self._upsert_aggregates = bulk_insert(dialect, aggregated_cases, upsert_keys=("id",))
        self._insert_spellings = bulk_insert(dialect, provider_spellings)
        #: Galera streaming replication is on: no savepoints (see :meth:`savepoint`).
        self.streaming = False
        #: The bulk-load path for large batches of cases, once asked for
        #: (``False``: not usable on this connection, see :mod:`.loaddata`).
        self._load_cases: LoadDataReplace | bool | None = None
        #: The word index of free text, kept with every aggregated case written.
        self._terms = TermIndex()

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo everything written inside when it raises (one source's part).

        Not while streaming on Galera: a ``ROLLBACK TO SAVEPOINT`` after
        fragments were streamed left the other nodes holding an unfinished
        transaction (MariaDB 10.11, Galera 4; tests/cluster). There, what
        raises inside aborts the whole transaction and the caller runs it
        again without the failed part.
        """
        if self.streaming:
            yield
            return
        try:
            with self.connection.begin_nested():
                try:
                    yield
                finally:
                    self.settle()  # the bulk load in flight belongs inside the savepoint
        except BaseException:
            self._terms.forget()  # the index rows added inside are gone too
            raise

    # -- small state ----------------------------------------------------------

    def set_meta(self, key: str, value: str) -> None:
        """Set a value of the ``meta`` table."""
        updated = self.connection.execute(
            sa.update(meta).where(meta.c.key == key).values(value=value)
        ).rowcount
        if not updated:
            self.connection.execute(sa.insert(meta).values(key=key, value=value))
        if self._meta is not None:
            self._meta[key] = value

    def record_rules(self, version: str, default_rules: str, label: str) -> None:
        """Record that the stored cases are now grouped by rules ``version``, in words too."""
        self.set_meta("rules_version", version)
        self.set_meta("default_rules", default_rules)
        if self.rule_set_label(version) is None:
            self.connection.execute(
                sa.insert(rule_sets).values(
                    version=version,
                    default_rules=default_rules,
                    label=label,
                )
            )

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

    def add_override(self, override: Override) -> int:
        """Store an override; return its id."""
        result = self.connection.execute(
            sa.insert(overrides).values(
                kind=override.kind.value,
                subject=encode_part(override.kind, override.subject),
                target=encode_part(override.kind, override.target),
                created_at=override.created_at,
                created_by=override.created_by,
                reason=override.reason,
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def remove_override(self, override_id: int, *, by: str, at: dt.datetime) -> bool:
        """Mark an override undone; ``False`` when there is no such active override."""
        updated = self.connection.execute(
            sa.update(overrides)
            .where(overrides.c.id == override_id, overrides.c.removed_at.is_(None))
            .values(removed_at=at, removed_by=by)
        ).rowcount
        return bool(updated)

    def has_cases(self, source: str) -> bool:
        """Whether ``source`` has any case in the hub."""
        return (
            self.connection.execute(
                sa.select(cases.c.source_id).where(cases.c.source == source).limit(1)
            ).first()
            is not None
        )

    def drop_cases(self, source: str) -> None:
        """Delete every case of ``source`` (a first load that failed half-way)."""
        self.settle()
        self.connection.execute(sa.delete(cases).where(cases.c.source == source))

    # -- cases ----------------------------------------------------------------

    def _stored(self, source: str, ids: Sequence[str]) -> dict[str, CaseRow]:
        self.settle()  # the rows of the batches before count
        found: dict[str, CaseRow] = {}
        for chunk in chunked(ids):
            statement = sa.select(*CASE_COLUMNS).where(
                cases.c.source == source, cases.c.source_id.in_(chunk)
            )
            for row in self.connection.execute(statement):
                found[row[1]] = tuple(row)
        return found

    def write_batch(
        self, batch: CaseBatch, *, tracker: SyncTracker, changes: MembershipLog
    ) -> BatchResult:
        """Store one batch of one source: upsert what changed, delete tombstones.

        Unchanged cases and older repeats are not written; every row written
        and every stored row deleted is told to ``changes``.
        """
        source = tracker.source
        incoming = [row for row in batch.rows if not tracker.deleted_since(row)]
        candidates = [row[SOURCE_ID] for row in incoming] + [i for i, _ in batch.tombstones]
        if tracker.written is not None:
            # Remembered now, before they are written: a superset is harmless.
            candidates = tracker.written.remember(candidates)
        stored = self._stored(source, candidates) if candidates else {}

        rows: list[CaseRow] = []
        if stored:
            for row in incoming:
                old = stored.get(row[SOURCE_ID])
                if old is not None and (old == row or row[UPDATED_AT] < old[UPDATED_AT]):
                    continue  # unchanged, or an older repeat: the newest stays
                changes.replaced(old, row)
                rows.append(row)
        else:
            rows = incoming  # all new: a first load's usual batch
            changes.added(rows)

        doomed: list[str] = []
        for source_id, deleted_at in batch.tombstones:
            tracker.tombstones[source_id] = deleted_at
            old = stored.get(source_id)
            if old is None or (deleted_at is not None and deleted_at < old[UPDATED_AT]):
                continue
            changes.removed(old)
            doomed.append(source_id)

        self._write_cases(rows)
        self._delete_cases(source, doomed)
        if tracker.track_seen:
            self._remember_seen([row[SOURCE_ID] for row in incoming])
        return BatchResult(written=len(rows), deleted=len(doomed))

    def _write_cases(self, rows: Sequence[CaseRow]) -> None:
        """Upsert cases: large batches by the bulk-load path where the server allows it."""
        if len(rows) >= MIN_LOAD_ROWS:
            loader = self._loader()
            if loader is not None:
                loader.execute(self.connection, rows)  # goes on while the writer does
                return
        self.settle()
        self._upsert_cases.execute(self.connection, rows)

    def settle(self) -> None:
        """Wait for a bulk load still running and raise its error, if it failed.

        Before anything else uses the connection: the connection would wait
        too, but the error is clearest here.
        """
        if isinstance(self._load_cases, LoadDataReplace):
            self._load_cases.settle(self.connection)

    def close(self) -> None:
        """Wait for a bulk load still running (the writer ends on another error)."""
        if isinstance(self._load_cases, LoadDataReplace):
            self._load_cases.close(self.connection)

    def _loader(self) -> LoadDataReplace | None:
        if self._load_cases is None:
            refusal = (
                "SQLite has its own bulk path"
                if self.store.dialect_name == "sqlite"
                else load_data_refusal(self.connection, galera=self.store.is_galera())
            )
            if refusal is None:
                self._load_cases = LoadDataReplace(cases, ("source", "source_id"))
            else:
                if self.store.dialect_name != "sqlite":
                    tell_once(refusal)
                self._load_cases = False
        return self._load_cases if isinstance(self._load_cases, LoadDataReplace) else None

    def _delete_cases(self, source: str, ids: Sequence[str]) -> None:
        if ids:
            self.settle()
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
        self.settle()
        for chunk in chunked(ids, _WRITE_CHUNK):
            self.connection.exec_driver_sql(sql, [(i,) for i in chunk])

    def remove_unseen(self, tracker: SyncTracker, changes: MembershipLog) -> int:
        """Delete the source's cases that the full read did not list; return how many."""
        self.settle()
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
                changes.removed(tuple(row))
            self._delete_cases(tracker.source, [row[1] for row in rows])
            removed += len(rows)
        self.connection.exec_driver_sql(
            f"DROP {'TEMPORARY ' if self.store.dialect_name != 'sqlite' else ''}"
            f"TABLE IF EXISTS {_SEEN_TABLE}"
        )
        tracker.track_seen = False
        return removed

    # -- aggregated cases -----------------------------------------------------

    def aggregates(self, agg_ids: Sequence[str]) -> dict[str, AggregateRow]:
        """The stored rows of these aggregated cases, by id (absent ones left out)."""
        current: dict[str, AggregateRow] = {}
        for chunk in chunked(agg_ids):
            statement = sa.select(aggregated_cases).where(aggregated_cases.c.id.in_(chunk))
            for row in self.connection.execute(statement):
                current[row.id] = row_from_db(row)
                self._terms.stored(row.provider_key, row.error_code_key)
        return current

    def spellings(self, agg_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """The stored provider spellings of these aggregated cases, counted."""
        found: dict[str, dict[str, int]] = collections.defaultdict(dict)
        for chunk in chunked(agg_ids):
            statement = sa.select(provider_spellings).where(provider_spellings.c.agg_id.in_(chunk))
            for agg_id, spelling, count in self.connection.execute(statement):
                found[agg_id][spelling] = count
        return found

    def bounds(self, agg_id: str) -> tuple[dt.datetime, dt.datetime]:
        """``(first created, last updated)`` of an aggregated case's cases as stored now."""
        first, last = self.connection.execute(
            sa.select(sa.func.min(cases.c.created_at), sa.func.max(cases.c.updated_at)).where(
                cases.c.agg_id == agg_id
            )
        ).one()
        # func.min/max lose the column type on some dialects: normalize here.
        return _as_utc(first), _as_utc(last)

    def write_aggregates(
        self,
        rows: Sequence[AggregateRow],
        deleted: Collection[str],
        spellings: Mapping[str, Mapping[str, int]],
    ) -> None:
        """Delete the aggregated cases ``deleted``, upsert ``rows``, replace their spellings.

        ``spellings`` holds the new counts of every aggregated case whose
        spellings changed (an empty mapping: none left).
        """
        for chunk in chunked(sorted(deleted)):
            self.connection.execute(
                sa.delete(aggregated_cases).where(aggregated_cases.c.id.in_(chunk))
            )
        # Before the rows: free text finds them as soon as they are there.
        self._terms.add(self.connection, ((row.provider_key, row.error_code_key) for row in rows))
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
                    row.first_seen_at,
                    row.regressed_at,
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

    def move_cases(self, moves: Sequence[tuple[str, str, str]]) -> None:
        """Put cases into other aggregated cases: ``(new agg_id, source, source_id)`` each."""
        for chunk in chunked(moves, _WRITE_CHUNK):
            self.connection.execute(
                sa.update(cases)
                .where(
                    cases.c.source == sa.bindparam("b_source"),
                    cases.c.source_id == sa.bindparam("b_source_id"),
                )
                .values(agg_id=sa.bindparam("b_agg_id")),
                [{"b_agg_id": a, "b_source": s, "b_source_id": i} for a, s, i in chunk],
            )

    def retire(self, departed: Mapping[str, Sequence[tuple[str, str]]]) -> None:
        """Retire the ids regrouped away, each with the ``(source, source id)`` it held.

        What :meth:`successor` later follows (:mod:`supporthub.store.succession`).
        """
        retire(self.connection, departed)

    def carry_work(self, successors: Mapping[str, str], now: dt.datetime) -> None:
        """The work of each old aggregated case follows to its successor (old id → new id)."""
        # A rules upgrade may retire many ids; only those with work cost queries.
        worked = worked_ids(self.connection, list(successors)) if successors else set()
        taken_over: dict[str, list[str]] = collections.defaultdict(list)
        for old_id in sorted(worked):
            taken_over[successors[old_id]].append(old_id)
        for new_id, old_ids in sorted(taken_over.items()):
            carry_work(self.connection, old_ids, new_id, at=now)

    def regress(self, agg_ids: Sequence[str], now: dt.datetime) -> list[str]:
        """Contract §7: the ``fixed`` ones among ``agg_ids`` become ``regressed``."""
        return regress(self.connection, agg_ids, now)


def _as_utc(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
