"""Reading inside one snapshot: aggregated cases, their cases, sync state.

A :class:`SqlReader` lives on one connection inside one transaction, so
every query it runs sees the same committed state.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson
import sqlalchemy as sa

# The protocol ``query.listing.Query`` meets: the store does not import the query module.
from supporthub.store.base import ListQuery as Query
from supporthub.store.database import CountCache, SqlDatabase
from supporthub.store.schema import (
    aggregated_cases,
    cases,
    meta,
    overrides,
    refresh_runs,
    rule_sets,
    sources,
    work,
)
from supporthub.store.search_terms import CODE, PROVIDER, candidates
from supporthub.store.succession import successor
from supporthub.store.work import recent_counts
from supporthub.vocabulary.models import Case, SourceState, Status
from supporthub.vocabulary.override_records import (
    Override,
    OverrideKind,
    decode_subject,
    decode_target,
)
from supporthub.vocabulary.rows import AggregateRow, Position, SortPosition
from supporthub.vocabulary.work import RECENT, Lifecycle, WorkState

__all__ = ["CASE_COLUMNS", "CountCache", "SqlReader", "case_from_row", "chunked", "row_from_db"]

#: Cases fetched per query when streaming a big aggregated case.
_CASE_CHUNK = 2000
#: Aggregated cases this small have their cases fetched together, in one query.
_SMALL = 200
#: Ids per ``IN (…)`` list.
ID_CHUNK = 1000
#: Free text whose word index proposes this many keys in a branch is tested on
#: every row instead (:func:`_text_scan`): at a million aggregated cases a scan
#: costs about what joining some 60,000 matches does.
BROAD_KEYS = 10_000

CASE_COLUMNS = (
    cases.c.source,
    cases.c.source_id,
    cases.c.agg_id,
    cases.c.number,
    cases.c.subject,
    cases.c.is_open,
    cases.c.priority,
    cases.c.provider,
    cases.c.error_code,
    cases.c.created_at,
    cases.c.updated_at,
    cases.c.url,
)

# Members are listed most recently updated first; ties in the order of the
# index (agg_id, updated_at, source, source_id) read backwards.
_CASE_ORDER = (cases.c.updated_at.desc(), cases.c.source.desc(), cases.c.source_id.desc())
_AGG_ORDER = (
    aggregated_cases.c.is_open.desc(),
    aggregated_cases.c.case_count.desc(),
    aggregated_cases.c.id.asc(),
)


def chunked(items: Sequence[Any], size: int = ID_CHUNK) -> Iterator[Sequence[Any]]:
    """Consecutive slices of ``items`` of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def case_from_row(row: Sequence[Any]) -> Case:
    """A :class:`Case` from a row of :data:`CASE_COLUMNS`."""
    return Case(
        source=row[0],
        source_id=row[1],
        number=row[3],
        subject=row[4],
        status=Status.OPEN if row[5] else Status.CLOSED,
        priority=row[6],
        provider=row[7],
        error_code=row[8],
        created_at=row[9],
        updated_at=row[10],
        url=row[11],
    )


def row_from_db(row: Any) -> AggregateRow:
    """An :class:`AggregateRow` from a row of the ``aggregated_cases`` table."""
    extra = orjson.loads(row.key_extra) if row.key_extra else []
    return AggregateRow(
        id=row.id,
        provider_key=row.provider_key,
        error_code_key=row.error_code_key,
        key_extra=tuple((str(k), str(v)) for k, v in extra),
        provider=row.provider,
        case_count=row.case_count,
        open_case_count=row.open_case_count,
        first_created_at=row.first_created_at,
        last_updated_at=row.last_updated_at,
        rules_version=row.rules_version,
        first_seen_at=row.first_seen_at,
        regressed_at=row.regressed_at,
    )


def _provider_match(column: Any, provider: str) -> sa.ColumnElement[bool]:
    """The key holds ``provider`` as a run of whole-word prefixes.

    Keys are words joined by single spaces. Each word occurring somewhere
    (LIKE, cheap) narrows first; then one word is exact as "the key starts
    with it, or holds it after a space" (LIKE again, so no regular
    expression runs: it cost most of a search for a common prefix), and a
    run of words is exact by regular expression (SQLAlchemy registers
    ``regexp`` on SQLite; MariaDB has it).
    """
    words = provider.split(" ")
    conditions = [column.contains(word, autoescape=True) for word in dict.fromkeys(words)]
    if len(words) == 1:
        conditions.append(
            sa.or_(
                column.startswith(words[0], autoescape=True),
                column.contains(" " + words[0], autoescape=True),
            )
        )
    else:
        conditions.append(
            column.regexp_match("(^| )" + "[^ ]* ".join(re.escape(word) for word in words))
        )
    return sa.and_(*conditions)


def _longest_word(provider: str) -> str:
    """The typed word the word index looks up: the longest proposes the fewest keys."""
    return max(provider.split(" "), key=lambda word: len(word.encode()))


def _text_matches(texts: Sequence[tuple[str, str | None]]) -> sa.Subquery:
    """The ids of the aggregated cases that free text matches (provider run, or code part).

    The word index (:mod:`.search_terms`) proposes the keys: the provider
    keys with a word that starts with the longest word typed, the distinct
    error code keys that contain the code typed; the aggregated cases
    holding them are found by their key indexes, and the exact test runs on
    those alone. Before, every free text read every aggregated case.
    """
    matched = aggregated_cases.alias("text_matched")
    branches: list[sa.Select[Any]] = []
    for provider, code in texts:
        keys = candidates(PROVIDER, _longest_word(provider)).subquery()
        branches.append(
            sa.select(matched.c.id)
            .select_from(keys.join(matched, matched.c.provider_key == keys.c.key))
            .where(_provider_match(matched.c.provider_key, provider))
        )
        if code is not None:
            codes = candidates(CODE, code).subquery()
            branches.append(
                sa.select(matched.c.id)
                .select_from(codes.join(matched, matched.c.error_code_key == codes.c.key))
                .where(matched.c.error_code_key.contains(code, autoescape=True))
            )
    return sa.union(*branches).subquery("text_ids")


def _text_filter(texts: Sequence[tuple[str, str | None]]) -> sa.ColumnElement[bool]:
    """Free text as a condition on each row (its key among the proposed ones, then exact).

    For walking the order index when many rows match: the proposed keys are
    read once (the subqueries do not depend on the row).
    """
    conditions = []
    for provider, code in texts:
        conditions.append(
            sa.and_(
                aggregated_cases.c.provider_key.in_(candidates(PROVIDER, _longest_word(provider))),
                _provider_match(aggregated_cases.c.provider_key, provider),
            )
        )
        if code is not None:
            conditions.append(
                sa.and_(
                    aggregated_cases.c.error_code_key.in_(candidates(CODE, code)),
                    aggregated_cases.c.error_code_key.contains(code, autoescape=True),
                )
            )
    return sa.or_(*conditions)


def _text_scan(texts: Sequence[tuple[str, str | None]]) -> sa.ColumnElement[bool]:
    """Free text as the exact test alone, for a text so broad that the word
    index would propose a large share of all keys (:meth:`SqlReader._broad`).

    A scan tests every row once; joining the index's candidates (a union of
    hundreds of thousands of ids for ``q=7`` at a million, 5 s) or testing
    each row against them (a subquery MariaDB runs again per row) costs more.
    """
    conditions: list[sa.ColumnElement[bool]] = []
    for provider, code in texts:
        conditions.append(_provider_match(aggregated_cases.c.provider_key, provider))
        if code is not None:
            conditions.append(aggregated_cases.c.error_code_key.contains(code, autoescape=True))
    return sa.or_(*conditions)


def needs_work(query: Query) -> bool:
    """Whether ``query`` filters on the work recorded on aggregated cases."""
    return bool(query.owners or query.states or query.lifecycle)


def work_filters(query: Query, now: dt.datetime) -> list[sa.ColumnElement[bool]]:
    """The conditions of the §7 filters, over ``aggregated_cases`` outer-joined with ``work``.

    A missing work row reads as NULLs: unowned and untriaged. Each condition
    compares a column of the ``(state, owner)`` index with constants.
    """
    where: list[sa.ColumnElement[bool]] = []
    if query.owners:
        names = [owner for owner in query.owners if owner is not None]
        owners = [work.c.owner.in_(names)] if names else []
        if None in query.owners:
            owners.append(work.c.owner.is_(None))
        where.append(sa.or_(*owners))
    if query.states:
        states: list[sa.ColumnElement[bool]] = [work.c.state.in_([s.value for s in query.states])]
        if WorkState.UNTRIAGED in query.states:
            states.append(work.c.state.is_(None))
        where.append(sa.or_(*states))
    lifecycle: list[sa.ColumnElement[bool]] = []
    if Lifecycle.REGRESSED in query.lifecycle:
        lifecycle.append(work.c.state == WorkState.REGRESSED.value)
    if Lifecycle.NEW in query.lifecycle:
        lifecycle.append(
            sa.and_(
                aggregated_cases.c.first_seen_at > now - RECENT,
                sa.or_(work.c.state.is_(None), work.c.state != WorkState.REGRESSED.value),
            )
        )
    if lifecycle:
        where.append(sa.or_(*lifecycle))
    return where


def _filters(query: Query, now: dt.datetime | None) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    where.extend(work_filters(query, now or dt.datetime.now(dt.UTC)))
    if query.provider_keys:
        where.append(aggregated_cases.c.provider_key.in_(query.provider_keys))
    if query.error_code_keys:
        where.append(aggregated_cases.c.error_code_key.in_(query.error_code_keys))
    if query.statuses:
        where.append(
            aggregated_cases.c.is_open.in_([status is Status.OPEN for status in query.statuses])
        )
    return where


def _select(query: Query, *columns: Any, walk: bool = False, broad: bool = False) -> sa.Select[Any]:
    """``columns`` of the aggregated cases ``query`` filters, with what its filters join.

    :param walk: free text as a condition on each row (for walking the
        order index), instead of the ids it matches joined first.
    :param broad: free text as the exact test alone on each row (a scan;
        see :func:`_text_scan`); implies ``walk``'s shape.
    """
    walk = walk or broad
    source: Any = aggregated_cases
    if query.texts and not walk:
        # Free text narrows first: the ids it matches, joined by primary key.
        found = _text_matches(query.texts)
        source = found.join(aggregated_cases, aggregated_cases.c.id == found.c.id)
    if needs_work(query):
        # An outer join: an aggregated case nobody worked on has no work row.
        source = source.outerjoin(work, work.c.agg_id == aggregated_cases.c.id)
    statement = sa.select(*columns).select_from(source)
    if query.texts and broad:
        statement = statement.where(_text_scan(query.texts))
    elif query.texts and walk:
        statement = statement.where(_text_filter(query.texts))
    elif query.texts:
        # The matched ids first: MariaDB cannot tell how few a substring
        # test of the error codes finds, and scanned every row instead.
        statement = statement.prefix_with("STRAIGHT_JOIN", dialect="mysql")
    return statement


def _after(position: Position) -> sa.ColumnElement[bool]:
    is_open, count, agg_id = (
        aggregated_cases.c.is_open,
        aggregated_cases.c.case_count,
        aggregated_cases.c.id,
    )
    # A bound parameter, not a Python bool: SQLAlchemy refuses `<` against
    # True/False constants, and `=` would become `IS` on some dialects.
    was_open = sa.bindparam("after_is_open", position.is_open, type_=sa.Boolean)
    return sa.or_(
        is_open < was_open,
        sa.and_(
            is_open == was_open,
            sa.or_(
                count < position.case_count,
                sa.and_(count == position.case_count, agg_id > position.id),
            ),
        ),
    )


def _sort_key(sort: str, now: dt.datetime) -> sa.ColumnElement[Any]:
    if sort == "caseCount":
        return aggregated_cases.c.case_count
    if sort == "lastUpdated":
        return aggregated_cases.c.last_updated_at
    # recentCases: counted in the index (agg_id, created_at) for each row.
    return (
        sa.select(sa.func.count())
        .where(cases.c.agg_id == aggregated_cases.c.id, cases.c.created_at >= now - RECENT)
        .scalar_subquery()
    )


def _sorted_after(position: SortPosition, key: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    value: Any = position.value
    if position.sort == "lastUpdated":
        value = dt.datetime.fromisoformat(str(value))
    return sa.or_(key < value, sa.and_(key == value, aggregated_cases.c.id > position.id))


def position_of(row: AggregateRow) -> Position:
    """Where ``row`` stands in the listing order."""
    return Position(row.open_case_count > 0, row.case_count, row.id)


class SqlReader:
    """Reads one consistent snapshot of the store."""

    def __init__(self, connection: sa.Connection, store: SqlDatabase) -> None:
        self.connection = connection
        self.store = store
        self._meta: dict[str, str] | None = None

    # -- small state ----------------------------------------------------------

    def meta(self, key: str) -> str | None:
        """A value of the ``meta`` table.

        The table is small and one snapshot never sees it change, so it is
        read once per reader (a listing asks for it up to four times).
        """
        if self._meta is None:
            rows = self.connection.execute(sa.select(meta.c.key, meta.c.value))
            self._meta = {row[0]: row[1] for row in rows}
        return self._meta.get(key)

    def refreshed_at(self) -> dt.datetime | None:
        """End of the last refresh in which at least one source succeeded."""
        value = self.meta("refreshed_at")
        return None if value is None else dt.datetime.fromisoformat(value)

    def last_refresh_at(self) -> dt.datetime | None:
        """Start of the last refresh that ran (what was first seen then is new)."""
        value = self.meta("last_refresh_at")
        return None if value is None else dt.datetime.fromisoformat(value)

    def data_version(self) -> str | None:
        """A token every write transaction replaces: equal tokens, equal data.

        ``None`` in a database no refresh or other write has touched yet.
        """
        return self.meta("data_version")

    def work_version(self) -> str | None:
        """Like :meth:`data_version`, for changes of the work on aggregated cases only."""
        return self.meta("work_version")

    def rules_version(self) -> str | None:
        """The rule-set version the stored aggregated cases were built with."""
        return self.meta("rules_version")

    def default_rules(self) -> str | None:
        """The default rule set (``default@1`` …) the stored cases are grouped by.

        ``None`` in a database that has not recorded one: it holds no case
        from before rule sets were recorded (the migration marks those
        ``default@1``), so it takes the current default.
        """
        return self.meta("default_rules")

    def rule_set_label(self, version: str) -> str | None:
        """The rules in words (``default@2, overrides@1 #1a2b3c4d``) of a ``rules_version``."""
        found = self.connection.execute(
            sa.select(rule_sets.c.label).where(rule_sets.c.version == version)
        ).scalar()
        return None if found is None else str(found)

    def successor(self, old_id: str) -> str | None:
        """The aggregated case that took over ``old_id`` after a regroup, if any.

        See :mod:`supporthub.store.succession`: the one that holds most of
        its former cases now (ties: the smallest id); ``None`` when
        ``old_id`` exists, was never retired, or none of its cases remain.
        """
        return successor(self.connection, old_id)

    def states(self) -> dict[str, SourceState]:
        """Every source's sync state, by name."""
        rows = self.connection.execute(sa.select(sources)).all()
        return {
            row.name: SourceState(
                name=row.name,
                cursor=row.cursor,
                last_success_at=row.last_success_at,
                last_attempt_at=row.last_attempt_at,
                consecutive_failures=row.consecutive_failures,
                last_error=row.last_error,
            )
            for row in rows
        }

    def last_run(self) -> dict[str, Any] | None:
        """The JSON report of the last refresh that ran, with its finish time."""
        row = self.connection.execute(
            sa.select(refresh_runs.c.report, refresh_runs.c.finished_at)
            .order_by(refresh_runs.c.id.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        report: dict[str, Any] = orjson.loads(row.report)
        return report

    def overrides(self, *, include_removed: bool = False) -> list[Override]:
        """The operators' overrides, oldest first."""
        statement = sa.select(overrides).order_by(overrides.c.id)
        if not include_removed:
            statement = statement.where(overrides.c.removed_at.is_(None))
        found = []
        for row in self.connection.execute(statement):
            kind = OverrideKind(row.kind)
            found.append(
                Override(
                    id=row.id,
                    kind=kind,
                    subject=decode_subject(kind, row.subject),
                    target=decode_target(kind, row.target),
                    created_at=row.created_at,
                    created_by=row.created_by,
                    reason=row.reason,
                    removed_at=row.removed_at,
                    removed_by=row.removed_by,
                )
            )
        return found

    def value_counts(self, agg_id: str) -> list[tuple[str | None, str | None, int]]:
        """The raw (provider, error code) pairs of an aggregated case's members, counted."""
        statement = (
            sa.select(cases.c.provider, cases.c.error_code, sa.func.count())
            .where(cases.c.agg_id == agg_id)
            .group_by(cases.c.provider, cases.c.error_code)
            .order_by(sa.func.count().desc(), cases.c.provider, cases.c.error_code)
        )
        return [(p, e, int(n)) for p, e, n in self.connection.execute(statement)]

    def case(self, source: str, source_id: str) -> tuple[str, Case] | None:
        """One stored case with its aggregated case id."""
        row = self.connection.execute(
            sa.select(*CASE_COLUMNS).where(cases.c.source == source, cases.c.source_id == source_id)
        ).first()
        return None if row is None else (row[2], case_from_row(row))

    def source_case_counts(self) -> dict[str, int]:
        """How many cases each source has in the hub."""
        rows = self.connection.execute(
            sa.select(cases.c.source, sa.func.count()).group_by(cases.c.source)
        ).all()
        return dict(rows)

    # -- aggregated cases ---------------------------------------------------

    def count(self, query: Query, *, now: dt.datetime | None = None) -> int:
        """How many aggregated cases match ``query``'s filters, over all pages.

        Kept per data version (:class:`CountCache`), so the later pages of a
        listing, and the same filter again, do not count again.

        :param now: the time of reading (``lifecycle=new`` moves with it).
        """
        key = self._count_key(query)
        if key is not None and (found := self.store.counts.get(key)) is not None:
            return found
        statement = _select(query, sa.func.count(), broad=self._broad(query))
        for condition in _filters(query, now):
            statement = statement.where(condition)
        counted = int(self.connection.execute(statement).scalar_one())
        if key is not None:
            self.store.counts.put(key, counted)
        return counted

    def _count_key(self, query: Query) -> tuple[Any, ...] | None:
        """What a count is kept by: the filters and the data tokens they read.

        ``work_version`` only for the filters on work (owner, state,
        lifecycle): claiming an aggregated case changes no other total.
        ``None`` (not kept) for ``lifecycle=new``, which moves with time.
        """
        version = self.data_version()
        if version is None or Lifecycle.NEW in query.lifecycle:
            return None
        # Only the filters count: the same total on every page, in every order.
        filters = (
            query.provider_keys,
            query.error_code_keys,
            query.statuses,
            query.owners,
            query.states,
            query.lifecycle,
            query.texts,
        )
        return (filters, version, self.work_version() if needs_work(query) else None)

    def rows(
        self,
        query: Query,
        *,
        after: Position | SortPosition | None,
        limit: int,
        now: dt.datetime | None = None,
    ) -> list[AggregateRow]:
        """Up to ``limit`` matching aggregated cases after ``after``, in listing order.

        Ids first, then their rows: the filtering and sorting handle the id
        and the sort keys only (the order index holds both), never the wide
        rows, which a sort of many matches would otherwise copy to a
        temporary table; then one primary-key lookup per row of the page.
        """
        dialect = self.store.dialect_name
        walk = self._walks(query, limit, now)
        broad = walk is True and self._broad(query)
        statement = _select(query, aggregated_cases.c.id, walk=walk is True, broad=broad)
        statement = statement.limit(limit)
        for condition in _filters(query, now):
            statement = statement.where(condition)
        if walk is not None:
            statement = statement.with_hint(
                aggregated_cases,
                f"{'FORCE' if walk else 'IGNORE'} INDEX (ix_aggregated_order)",
                dialect_name=dialect,
            )
        if query.sort is None:
            statement = statement.order_by(*_AGG_ORDER)
            if isinstance(after, Position):
                statement = statement.where(_after(after))
        else:
            key = _sort_key(query.sort, now or dt.datetime.now(dt.UTC))
            statement = statement.order_by(key.desc(), aggregated_cases.c.id.asc())
            if isinstance(after, SortPosition):
                statement = statement.where(_sorted_after(after, key))
        ids = list(self.connection.execute(statement).scalars())
        found: dict[str, AggregateRow] = {}
        for chunk in chunked(ids):
            fetch = sa.select(aggregated_cases).where(aggregated_cases.c.id.in_(chunk))
            found.update((row.id, row_from_db(row)) for row in self.connection.execute(fetch))
        return [found[agg_id] for agg_id in ids]

    def _broad(self, query: Query) -> bool:
        """Whether the word index proposes so many keys for ``query``'s free text
        that testing every row is cheaper (MariaDB; :data:`BROAD_KEYS`).

        One bounded count of the candidates per branch, kept per data
        version like the totals.
        """
        if self.store.dialect_name == "sqlite" or not query.texts:
            return False
        key = ("broad", query.texts, self.data_version())
        if key[2] is not None and (found := self.store.counts.get(key)) is not None:
            return bool(found)
        broad = False
        for provider, code in query.texts:
            kinds = [(PROVIDER, _longest_word(provider))]
            if code is not None:
                kinds.append((CODE, code))
            for kind, text in kinds:
                proposed = candidates(kind, text).limit(BROAD_KEYS).subquery()
                counted = sa.select(sa.func.count()).select_from(proposed)
                broad = broad or self.connection.execute(counted).scalar_one() >= BROAD_KEYS
        if key[2] is not None:
            self.store.counts.put(key, int(broad))
        return broad

    def _walks(self, query: Query, limit: int, now: dt.datetime | None) -> bool | None:
        """Whether MariaDB should walk the order index for ``query`` (``None``: its own choice).

        For the filters its statistics cannot judge (free text, the work
        joined), from the counts, which the page's total has kept already:
        walking visits about ``all / matches * limit`` rows in order, while
        sorting visits every match, read at random. With many matches (the
        triage view, a common prefix) walking wins; with few, sorting them.
        """
        if self.store.dialect_name == "sqlite" or query.sort is not None:
            return None
        if not query.texts and not (query.owners or query.states):
            return None
        if Lifecycle.NEW in query.lifecycle:  # its count is not kept
            return None if not query.texts else False
        matches = self.count(query, now=now)
        return matches * matches > self._all_count() * limit

    def _all_count(self) -> int:
        """How many aggregated cases there are, kept per data version like every count."""
        key = ("all", self.data_version())
        if (found := self.store.counts.get(key)) is not None:
            return found
        statement = sa.select(sa.func.count()).select_from(aggregated_cases)
        counted = int(self.connection.execute(statement).scalar_one())
        if key[1] is not None:
            self.store.counts.put(key, counted)
        return counted

    def position(
        self, row: AggregateRow, query: Query, now: dt.datetime | None = None
    ) -> Position | SortPosition:
        """Where ``row`` stands in ``query``'s order (what a cursor after it holds)."""
        if query.sort is None:
            return position_of(row)
        if query.sort == "caseCount":
            return SortPosition(query.sort, row.case_count, row.id)
        if query.sort == "lastUpdated":
            return SortPosition(query.sort, row.last_updated_at.isoformat(), row.id)
        since = (now or dt.datetime.now(dt.UTC)) - RECENT
        recent = recent_counts(self.connection, [row.id], since).get(row.id, 0)
        return SortPosition(query.sort, recent, row.id)

    def iter_rows(
        self, query: Query, *, chunk: int = 500, now: dt.datetime | None = None
    ) -> Iterator[AggregateRow]:
        """Every matching aggregated case from ``query.after`` on, fetched in chunks."""
        after = query.after
        while True:
            rows = self.rows(query, after=after, limit=chunk, now=now)
            yield from rows
            if len(rows) < chunk:
                return
            after = self.position(rows[-1], query, now)

    def get(self, agg_id: str) -> AggregateRow | None:
        """One aggregated case by id."""
        row = self.connection.execute(
            sa.select(aggregated_cases).where(aggregated_cases.c.id == agg_id)
        ).first()
        return None if row is None else row_from_db(row)

    # -- their cases --------------------------------------------------------

    def with_cases(
        self, rows: Iterable[AggregateRow], cases_limit: int | None
    ) -> Iterator[tuple[AggregateRow, Iterator[Case]]]:
        """Each row with an iterator over its cases, most recently updated first.

        Small aggregated cases share one query; a big one streams in chunks,
        so memory stays flat however many cases an aggregated case holds.
        Consume each iterator before advancing to the next row.
        """
        small: list[AggregateRow] = []

        def flush() -> Iterator[tuple[AggregateRow, Iterator[Case]]]:
            if not small:
                return
            grouped = self._cases_of_small([row.id for row in small])
            for row in small:
                members = grouped.get(row.id, [])
                if cases_limit is not None:
                    members = members[:cases_limit]
                yield row, iter(members)
            small.clear()

        for row in rows:
            if cases_limit == 0:
                yield from flush()
                yield row, iter(())
            elif row.case_count <= _SMALL:
                small.append(row)
                if len(small) >= ID_CHUNK // 4:
                    yield from flush()
            else:
                yield from flush()
                yield row, self.iter_cases(row.id, limit=cases_limit)
        yield from flush()

    def _cases_of_small(self, agg_ids: Sequence[str]) -> dict[str, list[Case]]:
        grouped: dict[str, list[Case]] = {}
        statement = (
            sa.select(*CASE_COLUMNS)
            .where(cases.c.agg_id.in_(agg_ids))
            .order_by(cases.c.agg_id, *_CASE_ORDER)
        )
        for row in self.connection.execute(statement):
            grouped.setdefault(row[2], []).append(case_from_row(row))
        return grouped

    def iter_cases(
        self,
        agg_id: str,
        *,
        limit: int | None = None,
        after: tuple[dt.datetime, str, str] | None = None,
    ) -> Iterator[Case]:
        """The cases of one aggregated case, most recently updated first, in chunks.

        :param after: start after this ``(updated_at, source, source_id)``.
        """
        remaining = limit
        last = after
        while remaining is None or remaining > 0:
            size = _CASE_CHUNK if remaining is None else min(_CASE_CHUNK, remaining)
            statement = (
                sa.select(*CASE_COLUMNS)
                .where(cases.c.agg_id == agg_id)
                .order_by(*_CASE_ORDER)
                .limit(size)
            )
            if last is not None:
                updated_at, source, source_id = last
                statement = statement.where(
                    sa.or_(
                        cases.c.updated_at < updated_at,
                        sa.and_(
                            cases.c.updated_at == updated_at,
                            sa.or_(
                                cases.c.source < source,
                                sa.and_(cases.c.source == source, cases.c.source_id < source_id),
                            ),
                        ),
                    )
                )
            batch = [case_from_row(row) for row in self.connection.execute(statement)]
            yield from batch
            if len(batch) < size:
                return
            last = (batch[-1].updated_at, batch[-1].source, batch[-1].source_id)
            if remaining is not None:
                remaining -= len(batch)

    def iter_all_cases(self, *, chunk: int = 5000) -> Iterator[tuple[str, Case]]:
        """Every stored case with its aggregated case id, in primary-key order."""
        last: tuple[str, str] | None = None
        while True:
            statement = (
                sa.select(*CASE_COLUMNS).order_by(cases.c.source, cases.c.source_id).limit(chunk)
            )
            if last is not None:
                statement = statement.where(
                    sa.or_(
                        cases.c.source > last[0],
                        sa.and_(cases.c.source == last[0], cases.c.source_id > last[1]),
                    )
                )
            rows = self.connection.execute(statement).all()
            for row in rows:
                yield row[2], case_from_row(row)
            if len(rows) < chunk:
                return
            last = (rows[-1][0], rows[-1][1])
