"""The :class:`Hub`: the whole hub as a library, without HTTP.

The HTTP service, the scheduler and the command line are thin wrappers over
this class; they hold no rules of their own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator, Iterable, Iterator, Sequence
from typing import Any

import attrs
import pluggy

from supporthub import _due
from supporthub._answers import AnswerCache
from supporthub._consolidate import AggregateRow, KeyPipeline, KeyRule
from supporthub._errors import NotFound, StorageError
from supporthub._explain import Explanation, explain
from supporthub._models import (
    AggregatedCase,
    AggregationKey,
    Counts,
    Health,
    Page,
    RefreshReport,
    SourceHealth,
    SourceState,
    Status,
    Trigger,
)
from supporthub._overrides import CaseRef, Override, OverrideRule
from supporthub._plugins import (
    collect_adapters,
    collect_key_pipeline,
    load_plugins,
    source_config,
)
from supporthub._query import CursorCodec, Query, parse_params
from supporthub._redact import register_secrets
from supporthub._refresh import Clock, Refresher, Source, TransportFactory, utcnow
from supporthub._replay import ReplayDiff
from supporthub._serialize import iter_aggregated_json, iter_listing_json
from supporthub._settings import Settings
from supporthub._steering import RuleChange, Steering
from supporthub._store.reading import SqlReader, position_of
from supporthub._store.sql import SqlStore
from supporthub._suggest import AliasSuggestion, Suggestions, suggest

__all__ = ["Hub"]

_ParamValue = str | int | Status | Sequence[str | Status] | None


def _existing(reader: SqlReader, agg_id: str) -> AggregateRow:
    row = reader.get(agg_id)
    if row is None:
        raise NotFound(f"no aggregated case has the id {agg_id[:100]!r}")
    return row


def _as_values(value: _ParamValue) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | int):
        return [str(value)]
    return [str(v) for v in value]


class Hub:
    """Pulls cases from the enabled CRMs, consolidates them, and answers queries.

    Build it from the environment with :meth:`from_env`, or from
    :class:`Settings` built in code::

        hub = supporthub.Hub.from_env()
        report = hub.refresh(force=True)
        page = hub.search(provider="acme payments", status="open", limit=50)

    :param plugins: a plug-in manager (default: the installed plug-ins).
    :param transport_factory: gives an httpx transport per source name (tests).
    :param clock: gives the current aware UTC time (tests).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        plugins: pluggy.PluginManager | None = None,
        store: SqlStore | None = None,
        transport_factory: TransportFactory | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.settings = settings or Settings()
        register_secrets(self.settings.secret_values())
        self.plugins = plugins or load_plugins(self.settings)
        self.sources: dict[str, Source] = {}
        for name, adapter in collect_adapters(self.plugins).items():
            config = source_config(adapter, self.settings.environ)
            self.sources[name] = Source(name, adapter, config)
            if config is not None:
                register_secrets(config.values.get(s.name) for s in adapter.settings if s.secret)
        #: The key rules of the configuration and the plug-ins; the operators'
        #: overrides, stored in the database, run after them.
        self.rules: tuple[KeyRule, ...] = collect_key_pipeline(self.plugins, self.settings).rules
        self.store = store or SqlStore(
            self.settings.database_url, read_url=self.settings.read_database_url
        )
        self.clock = clock
        self._steering = Steering(self.store, self._pipeline_with, clock)
        self._refresher = Refresher(
            store=self.store,
            sources=self.sources,
            pipeline=lambda reader: self._pipeline_with(reader.overrides()),
            settings=self.settings,
            plugins=self.plugins,
            transport_factory=transport_factory,
            clock=clock,
        )
        self._schema_ready = False
        #: Bounded answers by data version: a repeated list view costs one query.
        self._answers = AnswerCache()

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **kwargs: Any) -> Hub:
        """A hub configured by ``SUPPORTHUB_*`` variables (default: ``os.environ``).

        :raises ConfigurationError: a variable has a value the hub cannot use.
        """
        return cls(Settings.from_env(environ), **kwargs)

    def __enter__(self) -> Hub:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connections."""
        self.store.close()

    # -- rules ----------------------------------------------------------------------

    def _pipeline_with(self, overrides: Sequence[Override]) -> KeyPipeline:
        active = [o for o in overrides if o.active]
        return KeyPipeline([*self.rules, OverrideRule(active)] if active else self.rules)

    @property
    def pipeline(self) -> KeyPipeline:
        """The key rules in force now: configuration, plug-ins, then overrides."""
        self._ready()
        with self.store.reader() as reader:
            return self._pipeline_with(reader.overrides())

    # -- the database -------------------------------------------------------------

    def upgrade_db(self) -> None:
        """Create the schema, or migrate it to this version (``supporthub db upgrade``)."""
        self.store.upgrade()
        self._schema_ready = True
        self._answers.clear()

    def _ready(self) -> None:
        # An empty database gets the schema (zero set-up with SQLite); an
        # older one needs a deliberate `supporthub db upgrade`.
        if not self._schema_ready:
            self.store.check_schema(create_if_empty=True)
            self._schema_ready = True

    # -- refreshing ---------------------------------------------------------------

    @property
    def enabled_sources(self) -> list[str]:
        """Names of the sources whose URL is set."""
        return [name for name, source in self.sources.items() if source.enabled]

    def refresh(
        self,
        *,
        force: bool = False,
        full: bool = False,
        scheduled: bool = False,
        timeout: float | None = None,
    ) -> RefreshReport:
        """Fetch what changed in the due sources and update the aggregated cases.

        :param force: fetch every enabled source now, ignoring the minimum age
            and the failure backoff.
        :param full: re-read every record and remove the cases the CRM no
            longer lists (a full resync), instead of only the changes.
        :param scheduled: the scheduler's refresh: fetch the sources whose last
            success is older than the refresh interval.
        :param timeout: seconds to wait for a refresh already running
            (``None``: as long as it takes); a waiting on-demand refresh
            returns the report of the one it waited for.
        :raises RefreshNotDue: on demand, and no source may be fetched yet.
        :raises RefreshInProgress: another refresh outlasted ``timeout``.
        :raises StorageError: the database failed; nothing was written.
        """
        self._ready()
        trigger = Trigger.FORCED if force else Trigger.SCHEDULED if scheduled else Trigger.ON_DEMAND
        return self._refresher.run(trigger=trigger, full=full, timeout=timeout)

    def next_scheduled_refresh(self) -> dt.datetime:
        """When the scheduler should run next: the first source due by the interval."""
        self._ready()
        now = self.clock()
        if not self.enabled_sources:
            return now + self.settings.refresh_interval
        with self.store.reader() as reader:
            states = reader.states()
        interval = self.settings.refresh_interval
        return _due.earliest(
            (_due.scheduled_at(states.get(name), interval) for name in self.enabled_sources), now
        )

    # -- reading ------------------------------------------------------------------

    def parse_query(self, params: Iterable[tuple[str, str]], *, filters: bool) -> Query:
        """Validate HTTP-style parameters (``[("status", "open"), …]``) into a query.

        :param filters: accept ``provider``, ``errorCode`` and ``status``.
        :raises InvalidQuery: what is wrong, in words.
        """
        return parse_params(
            params,
            filters=filters,
            provider_key=self._search_provider_key,
            codec=self._codec,
        )

    def _search_provider_key(self, raw: str) -> str | None:
        # Only a query with a provider pays for reading the overrides.
        return self.pipeline.search_provider_key(raw)

    def _codec(self) -> CursorCodec:
        self._ready()
        return CursorCodec(self.store.cursor_secret())

    def all(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        cases_limit: int | None = None,
    ) -> Page:
        """Every aggregated case (a page of them with ``limit``), in the contract's order.

        :param cursor: the previous page's ``next_cursor``.
        :param cases_limit: embed at most this many cases per aggregated case.
        :raises InvalidQuery: a parameter is out of range or the cursor is not ours.
        """
        return self.search(limit=limit, cursor=cursor, cases_limit=cases_limit)

    def search(
        self,
        *,
        provider: _ParamValue = None,
        error_code: _ParamValue = None,
        status: _ParamValue = None,
        lifecycle: _ParamValue = None,
        limit: int | None = None,
        cursor: str | None = None,
        cases_limit: int | None = None,
    ) -> Page:
        """Aggregated cases matching every given filter (several values: any of them).

        ``provider`` and ``error_code`` compare by key, so ``"ACME PAYMENTS INC"``
        finds ``Acme Payments`` and ``"E-1042"`` finds ``1042``. ``lifecycle``
        is ``"new"`` (first seen in the last refresh) or ``"regressed"``.

        :raises InvalidQuery: a value is empty, too long, or not a status.
        """
        params: list[tuple[str, str]] = []
        for name, value in (
            ("provider", provider),
            ("errorCode", error_code),
            ("status", status),
            ("lifecycle", lifecycle),
            ("limit", limit),
            ("cursor", cursor),
            ("casesLimit", cases_limit),
        ):
            params.extend((name, v) for v in _as_values(value))
        return self.page(self.parse_query(params, filters=True))

    def _listing(
        self, reader: SqlReader, query: Query
    ) -> tuple[Iterator[tuple[AggregatedCase, Iterator[Any]]], int, str | None]:
        total = reader.count(query)
        next_cursor = None
        if query.limit is None:
            rows: Iterable[Any] = reader.iter_rows(query)
        else:
            fetched = reader.rows(query, after=query.after, limit=query.limit + 1)
            rows = fetched[: query.limit]
            if len(fetched) > query.limit:
                next_cursor = self._codec().encode(position_of(fetched[query.limit - 1]))
        last_refresh_at = reader.last_refresh_at()
        items = (
            (row.to_aggregated_case(last_refresh_at=last_refresh_at), members)
            for row, members in reader.with_cases(rows, query.cases_limit)
        )
        return items, total, next_cursor

    def page(self, query: Query) -> Page:
        """Run a parsed query; the answer is held in memory (see :meth:`iter_json`)."""
        self._ready()
        with self.store.list_reader() as reader:
            items, total, next_cursor = self._listing(reader, query)
            found = tuple(
                attrs.evolve(aggregated, cases=tuple(members)) for aggregated, members in items
            )
            return Page(found, total, next_cursor, reader.refreshed_at())

    def iter_json(self, query: Query) -> Generator[bytes, None, None]:
        """Run a parsed query and stream the contract's JSON answer in chunks.

        One snapshot serves the whole answer; memory stays flat however many
        cases it holds. Close the iterator to stop early.
        """
        self._ready()
        with self.store.list_reader() as reader:
            # A page with a casesLimit is bounded: kept for its data version.
            bounded = query.limit is not None and query.cases_limit is not None
            version = reader.data_version() if bounded else None
            key = ("listing", version, query)
            if version is not None and (answer := self._answers.get(key)) is not None:
                yield answer
                return
            items, total, next_cursor = self._listing(reader, query)
            chunks = iter_listing_json(
                items, total=total, next_cursor=next_cursor, refreshed_at=reader.refreshed_at()
            )
            yield from chunks if version is None else self._answers.through(key, chunks)

    def get(self, agg_id: str, *, cases_limit: int | None = None) -> AggregatedCase:
        """One aggregated case with its cases (most recently updated first).

        :raises NotFound: no aggregated case has this id.
        """
        self._ready()
        with self.store.list_reader() as reader:
            row = _existing(reader, agg_id)
            members = tuple(reader.iter_cases(agg_id, limit=cases_limit))
            return row.to_aggregated_case(members, last_refresh_at=reader.last_refresh_at())

    def iter_aggregated_case_json(self, agg_id: str) -> Generator[bytes, None, None]:
        """One aggregated case with all its cases as the contract's JSON, in chunks.

        The cases are read and encoded as they go, so even an aggregated case
        with a great many cases never sits in memory whole.

        :raises NotFound: no aggregated case has this id (raised by the first
            ``next()``, before any chunk).
        """
        self._ready()
        with self.store.list_reader() as reader:
            version = reader.data_version()
            key = ("aggregated", version, agg_id)
            if version is not None and (answer := self._answers.get(key)) is not None:
                yield answer
                return
            row = _existing(reader, agg_id)
            aggregated = row.to_aggregated_case(last_refresh_at=reader.last_refresh_at())
            chunks = iter_aggregated_json(aggregated, reader.iter_cases(agg_id))
            yield from chunks if version is None else self._answers.through(key, chunks)

    def counts(self) -> Counts:
        """How many cases each source holds and how many aggregated cases are open/closed.

        :raises StorageError: the database failed.
        """
        self._ready()
        with self.store.reader() as reader:
            return Counts(
                cases=reader.source_case_counts(),
                open_aggregated_cases=reader.count(Query(statuses=(Status.OPEN,))),
                closed_aggregated_cases=reader.count(Query(statuses=(Status.CLOSED,))),
            )

    def health(self) -> Health:
        """The database, the refresh lock and every source, as ``/health`` shows them."""
        min_age = self.settings.min_refresh_age
        states: dict[str, SourceState] = {}
        refreshed_at = None
        database = "ok"
        refreshing = False
        try:
            self._ready()
            with self.store.reader() as reader:
                states = reader.states()
                refreshed_at = reader.refreshed_at()
            refreshing = self.store.is_refreshing()
        except StorageError:
            database = "unavailable"
        now = self.clock()
        sources = {}
        for name in sorted(set(self.sources) | set(states)):
            source, state = self.sources.get(name), states.get(name)
            enabled = source is not None and source.enabled
            problem = source.problem if source else None
            if not enabled:
                refreshable_at = None
            elif problem is not None:  # always "due": it fails at once, touching no CRM
                refreshable_at = now
            else:
                refreshable_at = _due.refreshable_at(state, min_age) or now
            sources[name] = SourceHealth(
                enabled=enabled,
                last_success_at=state.last_success_at if state else None,
                last_attempt_at=state.last_attempt_at if state else None,
                last_error=(state.last_error if state else None) or problem,
                consecutive_failures=state.consecutive_failures if state else 0,
                refreshable_at=refreshable_at,
            )
        return Health(
            database=database,
            refreshing=refreshing,
            min_refresh_age_seconds=min_age.total_seconds(),
            refresh_interval_seconds=self.settings.refresh_interval.total_seconds(),
            refreshed_at=refreshed_at,
            sources=sources,
        )

    # -- steering the grouping ------------------------------------------------------

    def explain(self, agg_id: str) -> Explanation:
        """Why the aggregated case ``agg_id`` holds its cases: key, rules, raw values, overrides.

        :raises NotFound: no aggregated case has this id.
        """
        self._ready()
        with self.store.reader() as reader:
            return explain(reader, self._pipeline_with(reader.overrides()), agg_id)

    def overrides(self, *, include_removed: bool = False) -> list[Override]:
        """The operators' overrides, oldest first (undone ones too, if asked)."""
        self._ready()
        with self.store.reader() as reader:
            return reader.overrides(include_removed=include_removed)

    def _change(
        self,
        build: Any,
        *,
        remove: Sequence[int] = (),
        by: str,
        dry_run: bool,
    ) -> RuleChange:
        self._ready()
        with self.store.reader() as reader:
            made = list(build(reader)) if build is not None else []
            if dry_run:
                diff = self._steering.preview(reader, made, remove)
                return RuleChange(
                    diff=diff, applied=False, overrides=tuple(made), removed=tuple(remove)
                )
        return self._steering.apply(made, remove, by=by)

    def merge(
        self, from_id: str, into_id: str, *, by: str, reason: str, dry_run: bool = False
    ) -> RuleChange:
        """Merge aggregated case ``from_id`` into ``into_id``, now and at every later refresh.

        New cases of ``from_id``'s key land in ``into_id`` too. Undo with :meth:`undo`.

        :param by: who decides (kept with the override).
        :param reason: why (kept with the override).
        :param dry_run: only say what would change.
        :raises NotFound: an id is unknown.
        :raises InvalidQuery: the merge is impossible (same id, a cycle, no reason).
        """
        return self._change(
            lambda reader: [self._steering.merge(reader, from_id, into_id, by, reason)],
            by=by,
            dry_run=dry_run,
        )

    def move(
        self,
        source: str,
        source_id: str,
        *,
        into_id: str | None = None,
        by: str,
        reason: str,
        dry_run: bool = False,
    ) -> RuleChange:
        """Move one case out of its aggregated case, into ``into_id`` or one of its own.

        :raises NotFound: the case or ``into_id`` is unknown.
        """
        case = CaseRef(source, source_id)
        return self._change(
            lambda reader: [self._steering.move(reader, case, into_id, by, reason)],
            by=by,
            dry_run=dry_run,
        )

    def add_alias(
        self, spelling: str, provider: str, *, by: str, reason: str, dry_run: bool = False
    ) -> RuleChange:
        """Make a provider spelling mean another provider, for all cases, old and new."""
        return self._change(
            lambda reader: [self._steering.alias(spelling, provider, by, reason)],
            by=by,
            dry_run=dry_run,
        )

    def undo(self, override_id: int, *, by: str, dry_run: bool = False) -> RuleChange:
        """Undo an override: the grouping goes back to what the other rules make.

        :raises NotFound: no active override has this id.
        """
        return self._change(None, remove=[override_id], by=by, dry_run=dry_run)

    def preview_rules(self) -> ReplayDiff:
        """What regrouping the stored cases under the rules configured now would do.

        Run it with changed ``SUPPORTHUB_PROVIDER_ALIASES`` or plug-ins before a
        deploy; the next refresh (or :meth:`apply_rules`) applies it.
        """
        self._ready()
        with self.store.reader() as reader:
            return self._steering.preview(reader)

    def apply_rules(self) -> RuleChange:
        """Regroup the stored cases under the rules configured now, at once."""
        self._ready()
        return self._steering.apply(by="rules")

    def suggestions(self) -> Suggestions:
        """What is probably the same: provider aliases and groups of uncoded cases.

        Nothing changes until a person accepts one (:meth:`accept_suggestion`).
        """
        self._ready()
        with self.store.reader() as reader:
            aliases, groups = suggest(reader)
        return Suggestions(tuple(aliases), tuple(groups))

    def accept_suggestion(
        self, suggestion_id: str, *, by: str, reason: str, dry_run: bool = False
    ) -> RuleChange:
        """Accept a suggestion: it becomes an alias, or moves, like any override.

        :raises NotFound: no current suggestion has this id (it may have been
            accepted already, or the data changed).
        """
        found = self.suggestions().by_id(suggestion_id)
        if found is None:
            raise NotFound(f"no current suggestion has the id {suggestion_id[:100]!r}")
        if isinstance(found, AliasSuggestion):
            return self.add_alias(
                found.spelling, found.provider, by=by, reason=reason, dry_run=dry_run
            )
        group = found

        def build(reader: SqlReader) -> list[Override]:
            into: str | AggregationKey = group.into_id or self._steering.new_group(
                reader, group.cases, group.id
            )
            return [self._steering.move(reader, ref, into, by, reason) for ref in group.cases]

        return self._change(build, by=by, dry_run=dry_run)
