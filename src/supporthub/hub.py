"""The :class:`Hub`: the whole hub as a library, without HTTP.

The HTTP service, the scheduler and the command line are thin wrappers over
this class; they hold no rules of their own.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
import warnings
from collections.abc import Callable, Generator, Hashable, Iterable, Iterator, Sequence
from typing import Any, Literal

import attrs
import pluggy

from supporthub.delivery.deliverer import Deliverer, unwritable_reason
from supporthub.grouping.consolidate import AggregateRow, KeyPipeline, KeyRule
from supporthub.grouping.overrides import CaseRef, Override, OverrideRule
from supporthub.grouping.replay import ReplayDiff
from supporthub.grouping.rulesets import UNRECORDED_DEFAULT, rule_set
from supporthub.ingest import due as _due
from supporthub.ingest.plugins import (
    collect_adapters,
    collect_key_pipeline,
    load_plugins,
    source_config,
)
from supporthub.ingest.refresh import Clock, Refresher, Source, TransportFactory, utcnow
from supporthub.ingest.regroup import regroup
from supporthub.kit.adapter import ReplyStatus
from supporthub.query.answer_cache import AnswerCache
from supporthub.query.answer_renewal import (
    MAX_RENEWED_BYTES,
    AnswerRenewer,
    AskedQuestions,
    minute_of,
)
from supporthub.query.listing import (
    MAX_CASES_LIMIT,
    CasePosition,
    CursorCodec,
    Query,
    SearchQuery,
    bounded,
    checked_case_paging,
    resolve,
)
from supporthub.serialize import iter_aggregated_json, iter_listing_json
from supporthub.steering.explain import Explanation, explain
from supporthub.steering.rule_changes import RuleChange, Steering
from supporthub.steering.suggest import AliasSuggestion, Suggestions, suggest
from supporthub.steering.upgrade import RulesUpgrade, plan_upgrade, replacements
from supporthub.store import outbox
from supporthub.store import work as work_store
from supporthub.store.base import Store, StoreReader
from supporthub.store.conflicts import retry_conflicts
from supporthub.store.sql import SCHEMA_REVISION, SqlStore
from supporthub.vocabulary.errors import ConfigurationError, Moved, NotFound, StorageError
from supporthub.vocabulary.models import (
    AggregatedCase,
    AggregationKey,
    CasesPage,
    Counts,
    Health,
    Page,
    RefreshReport,
    SourceHealth,
    SourceState,
    Status,
    Trigger,
    WorkState,
)
from supporthub.vocabulary.redact import register_secrets
from supporthub.vocabulary.replies import (
    Reply,
    ReplyAccepted,
    ReplyPreview,
    ReplyScope,
    checked_reply,
    new_reply_id,
)
from supporthub.vocabulary.settings import Settings
from supporthub.vocabulary.work import RECENT, UNSET, FieldChange, HistoryEntry, WorkChange

__all__ = ["Hub"]

_ParamValue = str | int | Status | Sequence[str | Status] | None


def _existing(reader: StoreReader, agg_id: str) -> AggregateRow:
    """The stored row of ``agg_id``.

    :raises Moved: a regroup retired the id; another aggregated case took over.
    :raises NotFound: no aggregated case has (or had) this id, or none of its cases remain.
    """
    row = reader.get(agg_id)
    if row is None:
        new_id = reader.successor(agg_id)
        if new_id is not None:
            raise Moved(agg_id, new_id)
        raise NotFound(f"no aggregated case has the id {agg_id[:100]!r}")
    return row


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
        store: Store | None = None,
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
        self.store: Store = store or SqlStore(
            self.settings.database_url, read_url=self.settings.read_database_url
        )
        self.clock = clock
        self._steering = Steering(self.store, self._pipeline_with, clock, self._unwritable)
        self._refresher = Refresher(
            store=self.store,
            sources=self.sources,
            pipeline=lambda reader: self._pipeline_with(reader.overrides(), reader.default_rules()),
            settings=self.settings,
            plugins=self.plugins,
            transport_factory=transport_factory,
            clock=clock,
            unwritable=self._unwritable,
        )
        self._transport_factory = transport_factory
        self._schema_ready = False
        self._schema_lock = threading.Lock()
        #: Bounded answers by data version: a repeated list view costs one query.
        self._answers = AnswerCache()
        #: The questions with kept answers asked lately: what a renewer renews.
        self._asked = AskedQuestions()

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

    def _pipeline_with(
        self, overrides: Sequence[Override], default_rules: str | None = None
    ) -> KeyPipeline:
        """The configured rules under the named default rule set, then ``overrides``.

        :param default_rules: what the database is grouped by (``None``: current).
        """
        under = rule_set(default_rules)
        rules = [rule.for_rule_set(under) for rule in self.rules]
        active = [o for o in overrides if o.active]
        return KeyPipeline([*rules, OverrideRule(active)] if active else rules)

    def _pipeline_of(self, reader: StoreReader) -> KeyPipeline:
        return self._pipeline_with(reader.overrides(), reader.default_rules())

    @property
    def pipeline(self) -> KeyPipeline:
        """The key rules in force now: configuration, plug-ins, then overrides."""
        self._ready()
        with self.store.reader() as reader:
            return self._pipeline_of(reader)

    # -- the database -------------------------------------------------------------

    def upgrade_db(self) -> RulesUpgrade:
        """Create the schema, or migrate it to this version (``supporthub db upgrade``).

        A database grouped by an older default rule set is then regrouped
        under the current one, in one transaction: every stored case stays,
        the overrides are carried over to the new keys, and the ids that
        vanish answer with their successor (:class:`Moved`). See
        :meth:`preview_upgrade` for what it will do.
        """
        self.store.upgrade()
        self._schema_ready = True
        self._answers.clear()
        with self.store.refresh_lock(None):
            # Run again when another cluster node's commit won (Galera).
            upgrade = retry_conflicts(self._upgrade_rules, what="the rule upgrade")
        self._answers.clear()
        return upgrade

    def _upgrade_rules(self) -> RulesUpgrade:
        with self.store.writer() as writer:
            upgrade, pipeline = self._plan_upgrade(writer)
            if not upgrade.pending:
                return upgrade
            now = self.clock()
            for carried in upgrade.overrides:
                if carried.changed and carried.original.id is not None:
                    writer.remove_override(
                        carried.original.id,
                        by=f"supporthub db upgrade to {upgrade.to_rules}",
                        at=now,
                    )
            for override in replacements(upgrade.overrides):
                writer.add_override(override)
            regroup(writer, pipeline, now)
        return attrs.evolve(upgrade, applied=True)

    def preview_upgrade(self) -> RulesUpgrade:
        """What ``supporthub db upgrade`` would do to the grouping: nothing pending, or the diff.

        Works on a database whose schema is older too (it changes nothing).
        """
        revision = self.store.revision()
        if revision is None:
            target = rule_set(None).name
            return RulesUpgrade(target, target, ReplayDiff())
        if revision == SCHEMA_REVISION:
            self._ready()
        with self.store.reader() as reader:
            return self._plan_upgrade(reader, older_schema=revision != SCHEMA_REVISION)[0]

    def _plan_upgrade(
        self, reader: StoreReader, *, older_schema: bool = False
    ) -> tuple[RulesUpgrade, KeyPipeline]:
        target = rule_set(None)
        stored = reader.default_rules()
        if stored is None and older_schema and reader.source_case_counts():
            stored = UNRECORDED_DEFAULT  # what the migration will record
        stored = stored or target.name
        if stored == target.name:
            return RulesUpgrade(stored, target.name, ReplayDiff()), self._pipeline_of(reader)
        existing = [row.id for row in reader.iter_rows(Query())]
        return plan_upgrade(
            reader.iter_all_cases,
            existing,
            self._pipeline_with((), stored),
            reader.overrides(),
            target,
        )

    def successor(self, agg_id: str) -> str | None:
        """The aggregated case that took over ``agg_id`` when a regroup retired it.

        ``None`` when ``agg_id`` exists (it was not retired), was never an
        id, or none of its former cases remain. Work recorded on an old id
        follows it here.
        """
        self._ready()
        with self.store.reader() as reader:
            return reader.successor(agg_id)

    def _ready(self) -> None:
        # An empty database gets the schema (zero set-up with SQLite); an
        # older one needs a deliberate `supporthub db upgrade`.
        # One thread creates it while the others wait: on MariaDB, DDL is not
        # transactional, so a second thread (the deliverer beside a request)
        # would see a half-made schema and call it foreign.
        if not self._schema_ready:
            with self._schema_lock:
                if not self._schema_ready:
                    self.store.check_schema(create_if_empty=True)
                    self._schema_ready = True

    # -- refreshing ---------------------------------------------------------------

    @property
    def enabled_sources(self) -> list[str]:
        """Names of the sources whose URL is set."""
        return [name for name, source in self.sources.items() if source.enabled]

    def no_source_message(self) -> str:
        """What :meth:`refresh` says when no source is enabled: the variables to set."""
        names = ", ".join(
            f"SUPPORTHUB_{name.upper()}_{source.adapter.enabling.upper()}"
            for name, source in self.sources.items()
        )
        return "no source is enabled; set one of: " + (
            names or "none: no adapter plug-in is installed (pip install supporthub-banana …)"
        )

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
        :raises ConfigurationError: no source is enabled (:meth:`no_source_message`).
            A hub without sources is still built, for reading a database that
            other processes refresh; only refreshing it is an error.
        :raises RefreshNotDue: on demand, and no source may be fetched yet.
        :raises RefreshInProgress: another refresh outlasted ``timeout``.
        :raises StorageError: the database failed; nothing was written.
        """
        if not self.enabled_sources:
            raise ConfigurationError(self.no_source_message())
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
        """Deprecated: HTTP parameters belong to the service; build a :class:`SearchQuery`.

        ``hub.parse_query([("status", "open")], filters=True)`` is
        ``hub.resolve_query(SearchQuery(status="open"))`` in Python words.
        Kept as a thin alias of the service's parser (it needs the
        ``service`` extra); it will go in a later release.
        """
        warnings.warn(
            "Hub.parse_query is deprecated: pass a SearchQuery to Hub.page/iter_json "
            "(or Hub.resolve_query); HTTP parameters are the service's concern",
            DeprecationWarning,
            stacklevel=2,
        )
        # The one place the library reaches up into the service: a deprecated alias.
        from supporthub.service._params import listing_query  # noqa: PLC0415

        return self.resolve_query(listing_query(params, filters=filters))

    def resolve_query(self, search: SearchQuery) -> Query:
        """The :class:`Query` that runs ``search``: spellings as keys, the cursor as a position.

        Keys follow the rule set the database is grouped by (aliases applied).

        :raises InvalidQuery: a spelling has no key (``provider="---"``), or the
            cursor is not ours or belongs to another sort; the message names
            the Python parameter.
        """
        return resolve(
            search,
            provider_key=self._search_provider_key,
            codec=self._codec,
            text_keys=self._text_keys,
        )

    def _query(self, query: Query | SearchQuery) -> Query:
        return self.resolve_query(query) if isinstance(query, SearchQuery) else query

    def _text_keys(self, raw: str) -> tuple[str | None, str | None]:
        # Free text is keyed by the rule set the database is grouped by.
        keys = self.pipeline.rule_set
        return keys.provider_key(raw), keys.error_code_key(raw)

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
        sort: str | None = None,
    ) -> Page:
        """Every aggregated case (a page of them with ``limit``), in the contract's order.

        :param limit: page size, 1 to 1000; ``None``: every aggregated case.
        :param cursor: the previous page's ``next_cursor``.
        :param cases_limit: embed at most this many cases per aggregated case.
        :param sort: ``"recentCases"``, ``"caseCount"`` or ``"lastUpdated"``
            (descending, ties by id) instead of the contract's order.
        :raises InvalidQuery: a parameter is out of range, of a wrong type, or
            the cursor is not ours; the message names the Python parameter.
        """
        search = SearchQuery(limit=limit, cursor=cursor, cases_limit=cases_limit, sort=sort)
        return self.page(search)

    def search(
        self,
        *,
        provider: _ParamValue = None,
        error_code: _ParamValue = None,
        status: _ParamValue = None,
        owner: _ParamValue = None,
        state: _ParamValue = None,
        lifecycle: _ParamValue = None,
        q: _ParamValue = None,
        limit: int | None = None,
        cursor: str | None = None,
        cases_limit: int | None = None,
        sort: str | None = None,
    ) -> Page:
        """Aggregated cases matching every given filter (several values: any of them).

        ``provider`` and ``error_code`` compare by key, so ``"ACME PAYMENTS INC"``
        finds ``Acme Payments`` and ``"E-1042"`` finds ``1042``. ``owner`` is
        exact (``"none"``: nobody owns it); ``state`` is a
        :class:`~supporthub.WorkState`; ``lifecycle`` is ``"new"`` (first seen
        less than 24 hours ago) or ``"regressed"``. ``q`` is what people type
        in a search box: ``"naka trad"`` finds ``Nakatomi Trading`` (whole-word
        prefixes of the provider key, in a run), and ``"104"`` finds error code
        ``1042`` (part of the error code key).

        Paging (``limit``, ``cursor``, ``cases_limit``, ``sort``) works as
        for :meth:`all`. The same query as an object is a :class:`SearchQuery`
        (``hub.page(SearchQuery(...))``).

        :raises InvalidQuery: a value is empty, too long, of a wrong type, or not
            one of the known ones; the message names the Python parameter
            (``error_code``, ``cases_limit``).
        """
        search = SearchQuery(
            provider=provider,
            error_code=error_code,
            status=status,
            owner=owner,
            state=state,
            lifecycle=lifecycle,
            q=q,
            limit=limit,
            cursor=cursor,
            cases_limit=cases_limit,
            sort=sort,
        )
        return self.page(search)

    def _listing(
        self, reader: StoreReader, query: Query, now: dt.datetime
    ) -> tuple[Iterator[tuple[AggregatedCase, Iterator[Any]]], int, str | None]:
        total = reader.count(query, now=now)
        next_cursor = None
        if query.limit is None:
            rows: Iterable[Any] = reader.iter_rows(query, now=now)
        else:
            fetched = reader.rows(query, after=query.after, limit=query.limit + 1, now=now)
            rows = fetched[: query.limit]
            if len(fetched) > query.limit:
                last = fetched[query.limit - 1]
                next_cursor = self._codec().encode(reader.position(last, query, now))
        return self._views(reader, rows, query.cases_limit, now), total, next_cursor

    @staticmethod
    def _views(
        reader: StoreReader, rows: Iterable[AggregateRow], cases_limit: int | None, now: dt.datetime
    ) -> Iterator[tuple[AggregatedCase, Iterator[Any]]]:
        """Each row as the public object (its work and recent cases added), with its cases."""
        since = now - RECENT
        iterator = iter(rows)
        while chunk := list(itertools.islice(iterator, 500)):
            ids = [row.id for row in chunk]
            works = work_store.work_of(reader.connection, ids)
            recent = work_store.recent_counts(reader.connection, ids, since)
            for row, members in reader.with_cases(chunk, cases_limit):
                aggregated = row.to_aggregated_case(
                    now=now, work=works.get(row.id), recent_case_count=recent.get(row.id, 0)
                )
                yield aggregated, members

    def _answer_key(
        self, reader: StoreReader, parts: tuple[Any, ...], now: dt.datetime
    ) -> tuple[Any, ...] | None:
        """What a kept answer is kept by: both data tokens and the minute (it moves with time)."""
        return self._key_at(reader.data_version(), reader.work_version(), parts, now)

    @staticmethod
    def _key_at(
        version: str | None, work_version: str | None, parts: tuple[Any, ...], now: dt.datetime
    ) -> tuple[Any, ...] | None:
        if version is None:
            return None
        return (*parts, version, work_version, minute_of(now))

    def list_tokens(self) -> tuple[str | None, str | None]:
        """The data tokens a list view reads now: what kept answers are checked against.

        ``(data_version, work_version)``, read with one small query (see
        :meth:`kept_json`); any write replaces one of them with its data.
        """
        self._ready()
        return self.store.list_versions()

    def _kept(self, tokens: tuple[str | None, str | None] | None, *parts: Any) -> bytes | None:
        now = self.clock()
        key = self._key_at(*(tokens or self.list_tokens()), parts, now)
        answer = None if key is None else self._answers.get(key)
        if answer is not None:
            self._asked.note(parts, now)
        return answer

    def kept_json(
        self, search: SearchQuery, tokens: tuple[str | None, str | None] | None = None
    ) -> bytes | None:
        """The kept answer :meth:`iter_json` would give for ``search``, else ``None``.

        The cheap path of a repeated list view: the question as asked is the
        key, so nothing is resolved and the database is asked for its two
        data tokens only. ``None`` costs nothing to correctness: ask
        :meth:`iter_json`.

        :param tokens: :meth:`list_tokens` read after the question was asked
            (the service shares one reading among the requests that came
            before it); ``None`` reads them now. With them nothing here
            touches the database.
        """
        if search.limit is None or search.cases_limit is None:
            return None  # unbounded: never kept
        return self._kept(tokens, "search", search)

    def kept_aggregated_case_json(
        self,
        agg_id: str,
        *,
        cases_limit: int | None = None,
        cases_cursor: str | None = None,
        tokens: tuple[str | None, str | None] | None = None,
    ) -> bytes | None:
        """The kept answer :meth:`iter_aggregated_case_json` would give, else ``None``.

        :param tokens: as for :meth:`kept_json`.
        :raises InvalidQuery: as :meth:`iter_aggregated_case_json` for the paging values.
        """
        cases_limit, cases_cursor = checked_case_paging(cases_limit, cases_cursor)
        return self._kept(tokens, "aggregated", agg_id, cases_limit, cases_cursor)

    def answer_renewer(self) -> AnswerRenewer:
        """A renewer of the kept answers, for a process serving list views (the service).

        Started, it builds in the last seconds of each minute the next
        minute's answers to the questions asked in this one, so that no
        reader waits for the minute to turn (:mod:`supporthub.query.answer_renewal`).
        Stop it before closing the hub.
        """
        return AnswerRenewer(self._asked, self._renew_answer, self.clock)

    def _renew_answer(self, question: Hashable, at: dt.datetime) -> bool:
        """Build and keep the answer to ``question`` as of ``at``.

        ``False`` when it is kept already, or when the minute before keeps
        no answer to it of at most :data:`MAX_RENEWED_BYTES` under the same
        tokens: a whole aggregated case of thousands of cases is not worth
        building ahead (nor one the cache would not keep).
        """
        parts: tuple[Any, ...] = question  # type: ignore[assignment]
        tokens = self.list_tokens()
        key = self._key_at(*tokens, parts, at)
        if key is None or self._answers.get(key) is not None:
            return False
        current = self._answers.get(self._key_at(*tokens, parts, at - dt.timedelta(minutes=1)))
        if current is None or len(current) > MAX_RENEWED_BYTES:
            return False
        if parts[0] == "aggregated":
            chunks = self._aggregated_json(parts, at, asked=False)
        else:
            chunks = self._listing_json(parts, self._query(parts[1]), at, asked=False)
        for _ in chunks:  # kept as it goes through
            pass
        return True

    def page(self, query: Query | SearchQuery) -> Page:
        """Run a query; the answer is held in memory (see :meth:`iter_json`).

        :raises InvalidQuery: see :meth:`resolve_query`.
        """
        self._ready()
        query = self._query(query)
        with self.store.list_reader() as reader:
            items, total, next_cursor = self._listing(reader, query, self.clock())
            found = tuple(
                attrs.evolve(aggregated, cases=tuple(members)) for aggregated, members in items
            )
            return Page(found, total, next_cursor, reader.refreshed_at())

    def iter_json(self, query: Query | SearchQuery) -> Generator[bytes, None, None]:
        """Run a query and stream the contract's JSON answer in chunks.

        One snapshot serves the whole answer; memory stays flat however many
        cases it holds. Close the iterator to stop early.

        :raises InvalidQuery: see :meth:`resolve_query` (by the first ``next()``).
        """
        self._ready()
        # Kept by the question as asked when there is one (see kept_json).
        parts = ("search", query) if isinstance(query, SearchQuery) else ("listing", query)
        yield from self._listing_json(parts, self._query(query), self.clock(), asked=True)

    def _listing_json(
        self, parts: tuple[Any, ...], query: Query, now: dt.datetime, *, asked: bool
    ) -> Iterator[bytes]:
        """:meth:`iter_json` as of ``now``; ``asked``: by a reader (noted for renewal)."""
        with self.store.list_reader() as reader:
            # A page with a casesLimit is bounded: kept for its data version.
            bounded = query.limit is not None and query.cases_limit is not None
            key = self._answer_key(reader, parts, now) if bounded else None
            if key is not None and asked:
                self._asked.note(parts, now)
            if key is not None and (answer := self._answers.get(key)) is not None:
                yield answer
                return
            with self._answers.building(key):
                if key is not None and (answer := self._answers.get(key)) is not None:
                    yield answer  # built meanwhile by the one we waited for
                    return
                items, total, next_cursor = self._listing(reader, query, now)
                chunks = iter_listing_json(
                    items, total=total, next_cursor=next_cursor, refreshed_at=reader.refreshed_at()
                )
                yield from chunks if key is None else self._answers.through(key, chunks)

    def get(
        self, agg_id: str, *, cases_limit: int | None = None, follow: bool = True
    ) -> AggregatedCase:
        """One aggregated case with its cases (most recently updated first).

        An id a regroup retired leads to its successor: the answer's ``id``
        then differs from ``agg_id`` (that is how a caller tells it moved).

        :param cases_limit: embed at most this many cases (0 or more); ``None``: all.
        :param follow: ``False`` raises :class:`Moved` instead of following.
        :raises NotFound: no aggregated case has this id (or took it over).
        :raises InvalidQuery: ``cases_limit`` is not an int of 0 or more.
        """
        if cases_limit is not None:
            bounded("cases_limit", cases_limit, 0, None)
            if cases_limit > MAX_CASES_LIMIT:
                cases_limit = None
        self._ready()
        with self.store.list_reader() as reader:
            try:
                row = _existing(reader, agg_id)
            except Moved as moved:
                if not follow:
                    raise
                row = _existing(reader, moved.new_id)
            agg_id = row.id
            members = tuple(reader.iter_cases(agg_id, limit=cases_limit))
            ((aggregated, _),) = self._views(reader, [row], 0, self.clock())
            return attrs.evolve(aggregated, cases=members)

    def cases_page(
        self, agg_id: str, *, cases_limit: int, cases_cursor: str | None = None
    ) -> CasesPage:
        """One aggregated case with one page of its cases (most recently updated first).

        So a person can open an aggregated case of 100,000 cases a page at a time.

        :param cases_limit: cases per page, 1 to 1000.
        :param cases_cursor: the previous page's ``next_cases_cursor``.
        :raises NotFound: no aggregated case has this id.
        :raises InvalidQuery: ``cases_limit`` is out of range, or the cursor was
            not issued by this hub for this aggregated case.
        """
        limit, cursor = checked_case_paging(cases_limit, cases_cursor)
        assert limit is not None
        self._ready()
        codec = self._codec()
        after = None if cursor is None else codec.decode_cases(cursor, agg_id)
        with self.store.list_reader() as reader:
            row = _existing(reader, agg_id)
            return self._cases_page(reader, row, codec, limit, after, self.clock())

    def _cases_page(  # noqa: PLR0917 - one page as of one moment
        self,
        reader: StoreReader,
        row: AggregateRow,
        codec: CursorCodec,
        limit: int,
        after: CasePosition | None,
        now: dt.datetime,
    ) -> CasesPage:
        start = None if after is None else (after.updated_at, after.source, after.source_id)
        # One case more than asked tells whether another page follows.
        members = list(reader.iter_cases(row.id, limit=limit + 1, after=start))
        next_cursor = None
        if len(members) > limit:
            del members[limit:]
            last = members[-1]
            next_cursor = codec.encode_cases(
                CasePosition(row.id, last.updated_at, last.source, last.source_id)
            )
        ((aggregated, _),) = self._views(reader, [row], 0, now)
        return CasesPage(attrs.evolve(aggregated, cases=tuple(members)), next_cursor)

    def iter_aggregated_case_json(
        self, agg_id: str, *, cases_limit: int | None = None, cases_cursor: str | None = None
    ) -> Generator[bytes, None, None]:
        """One aggregated case with its cases as the contract's JSON, in chunks.

        Without paging the cases are read and encoded as they go, so even an
        aggregated case with a great many cases never sits in memory whole.
        With ``cases_limit`` the answer is one page and carries
        ``nextCasesCursor``; a ``cases_cursor`` alone streams the rest.

        :raises Moved: a regroup retired this id (by the first ``next()``).
        :raises NotFound: no aggregated case has this id (raised by the first
            ``next()``, before any chunk).
        :raises InvalidQuery: ``cases_limit`` is not 1 to 1000, or the cursor is
            not one this hub issued for it (by the first ``next()``).
        """
        cases_limit, cases_cursor = checked_case_paging(cases_limit, cases_cursor)
        self._ready()
        parts = ("aggregated", agg_id, cases_limit, cases_cursor)
        yield from self._aggregated_json(parts, self.clock(), asked=True)

    def _aggregated_json(
        self, parts: tuple[Any, ...], now: dt.datetime, *, asked: bool
    ) -> Iterator[bytes]:
        """:meth:`iter_aggregated_case_json` as of ``now`` (``parts``: its checked arguments)."""
        _, agg_id, cases_limit, cases_cursor = parts
        codec = self._codec()
        after = None if cases_cursor is None else codec.decode_cases(cases_cursor, agg_id)
        with self.store.list_reader() as reader:
            key = self._answer_key(reader, parts, now)
            if key is not None and asked:
                self._asked.note(parts, now)
            if key is not None and (answer := self._answers.get(key)) is not None:
                yield answer
                return
            with self._answers.building(key):
                if key is not None and (answer := self._answers.get(key)) is not None:
                    yield answer  # built meanwhile by the one we waited for
                    return
                chunks = self._aggregated_chunks(reader, agg_id, codec, cases_limit, after, now)
                yield from chunks if key is None else self._answers.through(key, chunks)

    def _aggregated_chunks(  # noqa: PLR0917 - one answer as of one moment
        self,
        reader: StoreReader,
        agg_id: str,
        codec: CursorCodec,
        cases_limit: int | None,
        after: CasePosition | None,
        now: dt.datetime,
    ) -> Iterator[bytes]:
        row = _existing(reader, agg_id)
        if cases_limit is not None:
            page = self._cases_page(reader, row, codec, cases_limit, after, now)
            return iter_aggregated_json(
                page.aggregated_case,
                page.aggregated_case.cases,
                extra={"nextCasesCursor": page.next_cases_cursor},
            )
        ((aggregated, _),) = self._views(reader, [row], 0, now)
        start = None if after is None else (after.updated_at, after.source, after.source_id)
        members = reader.iter_cases(agg_id, after=start)
        extra = None if after is None else {"nextCasesCursor": None}
        return iter_aggregated_json(aggregated, members, extra=extra)

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
                unowned_open_aggregated_cases=reader.count(
                    Query(statuses=(Status.OPEN,), owners=(None,))
                ),
                regressed_aggregated_cases=reader.count(Query(states=(WorkState.REGRESSED,))),
            )

    def health(self) -> Health:
        """The database, the refresh lock and every source, as ``/health`` shows them."""
        min_age = self.settings.min_refresh_age
        states: dict[str, SourceState] = {}
        refreshed_at = None
        database: Literal["ok", "unavailable"] = "ok"
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
            writes_need_token=self.settings.api_token is not None,
        )

    # -- working an aggregated case (contract §7) ----------------------------------

    def update_work(
        self,
        agg_id: str,
        *,
        by: str,
        owner: str | Any | None = UNSET,
        state: WorkState | str | Any = UNSET,
        tracker_url: str | Any | None = UNSET,
        note: str | Any | None = UNSET,
        claim: bool = False,
    ) -> AggregatedCase:
        """Change the work on an aggregated case; return it (without its cases).

        Leave a field out to keep it; ``None`` clears ``owner`` (releases it),
        ``tracker_url`` and ``note``. With ``claim=True`` the owner becomes
        ``by`` only if nobody owns it (or ``by`` does already). Every change
        is kept in :meth:`history`.

        :param by: who makes the change (required).
        :raises InvalidQuery: a value is wrong (nothing changed).
        :raises NotFound: no aggregated case has this id.
        :raises ClaimConflict: a claim, and somebody else owns it (nothing changed).
        """
        change = WorkChange.checked(
            by=by, owner=owner, state=state, tracker_url=tracker_url, note=note, claim=claim
        )
        self._ready()
        with self.store.reader() as reader:
            _existing(reader, agg_id)
            exists = bool(work_store.work_of(reader.connection, [agg_id]))
        now = self.clock()

        def ensure() -> None:
            with self.store.writer(stamp="work_version") as writer:
                work_store.ensure_work_row(writer.connection, agg_id, now)

        def apply() -> None:
            with self.store.writer(stamp="work_version") as writer:
                after = work_store.change_work(writer.connection, agg_id, change, now)
                if after.state is WorkState.FIXED:
                    # Contract §7: a fixed aggregated case ends its auto-replies for good.
                    outbox.end_auto_replies(writer.connection, agg_id, change.by, now)

        # On Galera two nodes' changes certify one after the other: the one
        # that lost runs again and sees the winner's (a claim: ClaimConflict).
        if not exists:
            retry_conflicts(ensure)
        retry_conflicts(apply)
        return self.get(agg_id, cases_limit=0)

    def claim(self, agg_id: str, *, by: str, note: str | Any | None = UNSET) -> AggregatedCase:
        """Take an aggregated case: ``by`` becomes its owner unless somebody else is.

        :raises ClaimConflict: somebody else owns it; its ``owner`` says who.
        """
        return self.update_work(agg_id, by=by, note=note, claim=True)

    def history(self, agg_id: str) -> list[HistoryEntry]:
        """Every change of the work on an aggregated case, newest first.

        :raises NotFound: no aggregated case has this id.
        """
        self._ready()
        with self.store.reader() as reader:
            _existing(reader, agg_id)
            return work_store.history_of(reader.connection, agg_id)

    def trend(self, agg_id: str, *, days: int = 14) -> list[tuple[dt.date, int]]:
        """Cases created per UTC day over the last ``days`` days (today last), for a sparkline.

        :raises NotFound: no aggregated case has this id.
        """
        today = self.clock().astimezone(dt.UTC).date()
        first = today - dt.timedelta(days=days - 1)
        since = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
        self._ready()
        with self.store.reader() as reader:
            _existing(reader, agg_id)
            counts = work_store.daily_counts(reader.connection, agg_id, since)
        return [
            (day, counts.get(day, 0)) for day in (first + dt.timedelta(days=n) for n in range(days))
        ]

    def carry_work(self, old_ids: Sequence[str], new_id: str) -> None:
        """Carry the work of aggregated cases whose ids went away into ``new_id``.

        Regrouping by overrides and rules does this itself; call it from any
        other place that maps old ids to new ones.
        """
        self._ready()
        with self.store.writer(stamp="work_version") as writer:
            work_store.carry_work(writer.connection, old_ids, new_id, at=self.clock())

    # -- steering the grouping ------------------------------------------------------

    def explain(self, agg_id: str) -> Explanation:
        """Why the aggregated case ``agg_id`` holds its cases: key, rules, raw values, overrides.

        :raises NotFound: no aggregated case has this id.
        """
        self._ready()
        with self.store.reader() as reader:
            _existing(reader, agg_id)
            return explain(reader, self._pipeline_of(reader), agg_id)

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
        if not dry_run:
            # Built again under the lock: the same override made twice at once
            # (two processes, two cluster nodes) is made once, as one after the other.
            return self._steering.apply((), remove, by=by, build=build)
        with self.store.reader() as reader:
            made = list(build(reader)) if build is not None else []
            diff = self._steering.preview(reader, made, remove)
            return RuleChange(
                diff=diff, applied=False, overrides=tuple(made), removed=tuple(remove)
            )

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
            lambda reader: [
                self._steering.alias(
                    spelling, provider, by, reason, rule_set(reader.default_rules()).provider_key
                )
            ],
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

        def build(reader: StoreReader) -> list[Override]:
            into: str | AggregationKey = group.into_id or self._steering.new_group(
                reader, group.cases, group.id
            )
            return [self._steering.move(reader, ref, into, by, reason) for ref in group.cases]

        return self._change(build, by=by, dry_run=dry_run)

    # -- replies to every customer (contract §7) -------------------------------------

    def _unwritable(self, source: str) -> str | None:
        return unwritable_reason(self.sources, source)

    def reply(
        self,
        agg_id: str,
        *,
        message: str,
        by: str,
        public: bool = True,
        set_status: ReplyStatus | None = None,
        scope: ReplyScope = "open",
        auto_reply: bool = False,
    ) -> ReplyAccepted:
        """Answer every customer of an aggregated case: store the reply and its outbox.

        The reply and one delivery row per target case (its open cases, or
        all with ``scope="all"``) are stored in one transaction; deliverers
        (``supporthub serve``, ``supporthub reply``, :meth:`deliver`) then
        post the comment on each, exactly once. Targets in a source whose
        adapter cannot write are ``failed`` at once, with the reason.

        :param public: a comment the customer sees; ``False``: an internal note.
        :param set_status: also set each case to ``"pending"`` (waiting on
            the customer) or ``"solved"``.
        :param auto_reply: also send it to every open case that joins the
            aggregated case later, until :meth:`stop_reply`.
        :raises InvalidQuery: a value is wrong (empty or oversized message, no author).
        :raises NotFound: no aggregated case has this id.
        """
        request = checked_reply(
            message=message,
            by=by,
            public=public,
            set_status=set_status,
            scope=scope,
            auto_reply=auto_reply,
        )
        self._ready()
        reply_id = new_reply_id()
        with outbox.transaction(self.store) as connection:
            _existing(self.store.reader_on(connection), agg_id)
            now = self.clock()
            targets = outbox.insert_reply(
                connection, reply_id, agg_id, request, unwritable=self._unwritable, now=now
            )
            # Every write names its author and is kept in the history (§7).
            change = FieldChange("reply", None, f"{reply_id} ({targets} cases)")
            work_store.record(connection, agg_id, [change], by=request.by, at=now)
        return ReplyAccepted(id=reply_id, targets=targets)

    def preview_reply(self, agg_id: str, *, scope: ReplyScope = "open") -> ReplyPreview:
        """Who a reply would reach now: target cases per source, and the sources that
        cannot be written to.

        :raises InvalidQuery: an unknown scope.
        :raises NotFound: no aggregated case has this id.
        """
        checked_reply(message="-", by="-", scope=scope)
        self._ready()
        with self.store.reader() as reader:
            _existing(reader, agg_id)
            counts = outbox.target_counts(reader.connection, agg_id, open_only=scope == "open")
        unwritable = {
            name: reason for name in counts if (reason := self._unwritable(name)) is not None
        }
        return ReplyPreview(
            aggregated_case_id=agg_id,
            scope=scope,
            targets=sum(counts.values()),
            by_source=dict(sorted(counts.items())),
            unwritable=unwritable,
        )

    def reply_status(self, reply_id: str) -> Reply:
        """A reply and the progress of its delivery, with every target case.

        :raises NotFound: no reply has this id.
        """
        self._ready()
        with self.store.reader() as reader:
            found = outbox.read_reply(reader.connection, reply_id)
        if found is None:
            raise NotFound(f"no reply has the id {reply_id[:100]!r}")
        return found

    def replies(self, agg_id: str) -> list[Reply]:
        """The replies of one aggregated case, newest first (without their target lists).

        :raises NotFound: no aggregated case has this id, and no reply names it.
        """
        self._ready()
        with self.store.reader() as reader:
            found = outbox.read_replies(reader.connection, agg_id)
            if not found:
                _existing(reader, agg_id)
        return found

    def stop_reply(self, reply_id: str, *, by: str) -> Reply:
        """End a reply's auto-reply for good (deliveries already queued still go out).

        :raises InvalidQuery: no author.
        :raises NotFound: no reply has this id.
        """
        checked_reply(message="-", by=by)
        self._ready()
        with outbox.transaction(self.store) as connection:
            reply = outbox.read_reply(connection, reply_id, with_cases=False)
            if reply is None:
                raise NotFound(f"no reply has the id {reply_id[:100]!r}")
            now = self.clock()
            outbox.stop(connection, reply_id, by, now)
            change = FieldChange("autoReply", reply_id, None)
            work_store.record(connection, reply.aggregated_case_id, [change], by=by, at=now)
        return self.reply_status(reply_id)

    def delivery_counts(self) -> dict[tuple[str, str], int]:
        """Delivery rows of all replies by ``(source, state)``, for metrics."""
        self._ready()
        with self.store.reader() as reader:
            return outbox.state_counts(reader.connection)

    def deliverer(self, *, poll: float = 2.0) -> Deliverer:
        """A deliverer for this hub's sources; ``start()`` it to send in the background.

        Making it touches no database: a service starts while the database
        is down, and its deliverer begins once the database answers.
        """
        return Deliverer(
            ready=self._ready,
            store=self.store,
            sources=self.sources,
            policy=self.settings.http,
            transport_factory=self._transport_factory,
            clock=self.clock,
            lease=self.settings.delivery_lease.total_seconds(),
            poll=poll,
        )

    def deliver(
        self,
        reply_id: str | None = None,
        *,
        timeout: float | None = None,
        progress: Callable[[Reply], None] | None = None,
        poll: float = 0.5,
    ) -> Reply | None:
        """Deliver in this process, alongside any other, until a reply (or the outbox) is done.

        :param reply_id: follow this reply until none of its targets is
            pending; ``None``: until no pending row is left that this
            process can send.
        :param timeout: give up waiting after this many seconds (delivery
            goes on in other processes, or the next time).
        :param progress: called with the reply (its counts; no cases) each
            time its progress is read.
        :return: the reply as it ended (``None`` without ``reply_id``).
        :raises NotFound: no reply has this id.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        deliverer = self.deliverer(poll=poll)
        if reply_id is not None:
            self.reply_status(reply_id)
        deliverer.start()
        try:
            while True:
                if reply_id is not None:
                    # Counts only while it runs: reading every case each poll
                    # would cost more than the delivery of a large reply.
                    with self.store.reader() as reader:
                        current = outbox.read_reply(reader.connection, reply_id, with_cases=False)
                    assert current is not None
                    if progress is not None:
                        progress(current)
                    finished = current.pending == 0
                else:
                    with self.store.reader() as reader:
                        left = outbox.pending_count(reader.connection, deliverer.writable_sources())
                    finished = left == 0
                if finished or (deadline is not None and time.monotonic() >= deadline):
                    return None if reply_id is None else self.reply_status(reply_id)
                deliverer.wait_idle(poll)  # at once when nothing is left to send
        finally:
            deliverer.stop()
