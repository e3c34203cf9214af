"""The hub's data: cases in, aggregated cases out, and what a refresh did.

All classes are frozen and slotted attrs classes. Timestamps are aware UTC
datetimes. The camelCase JSON of the contract comes from
:data:`supporthub.converter` (see ``serialize.py``), not from these classes.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
from collections.abc import Mapping
from typing import Literal, TypeVar

import attrs
import orjson

from supporthub.vocabulary.work import Lifecycle, WorkState

_A = TypeVar("_A", bound=attrs.AttrsInstance)

__all__ = [
    "AggregatedCase",
    "AggregationKey",
    "Case",
    "CasesPage",
    "Counts",
    "Health",
    "Page",
    "RefreshReport",
    "SourceHealth",
    "SourceReport",
    "SourceState",
    "Status",
    "Tombstone",
    "Trigger",
    "WorkState",
]


def _set_slots_directly(cls: type[_A]) -> type[_A]:
    """Give a frozen slotted attrs class an ``__init__`` that fills its slots directly.

    attrs' frozen ``__init__`` sets each field through ``object.__setattr__``;
    calling the slots' own descriptors does the same about 20% faster, and an
    adapter makes one :class:`Case` per record of every sync (100,000 on a
    large first one). Only for classes whose fields have no default,
    validator, converter or alias: the signature stays the same.
    """
    fields = attrs.fields(cls)
    if any(
        f.default is not attrs.NOTHING or f.validator or f.converter or f.alias != f.name
        for f in fields
    ):
        raise TypeError(f"{cls.__name__} has fields the direct __init__ cannot fill")
    names = [f.name for f in fields]
    scope = {f"_set_{name}": cls.__dict__[name].__set__ for name in names}
    lines = [f"def __init__(self, {', '.join(names)}):"]
    lines += [f"    _set_{name}(self, {name})" for name in names]
    exec("\n".join(lines), scope)  # noqa: S102 - code built from the field names alone
    init = scope["__init__"]
    original = cls.__init__
    init.__annotations__ = dict(original.__annotations__)
    init.__doc__ = original.__doc__
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    setattr(cls, "__init__", init)  # noqa: B010 - mypy refuses assigning a method
    return cls


class Status(enum.StrEnum):
    """Whether a case, or an aggregated case, still needs work."""

    OPEN = "open"
    CLOSED = "closed"


class Trigger(enum.StrEnum):
    """Who asked for a refresh; decides which sources are due."""

    #: ``/refresh`` or ``supporthub refresh``: obeys the minimum age and the backoff.
    ON_DEMAND = "on_demand"
    #: ``--force``: fetches every enabled source now.
    FORCED = "forced"
    #: the scheduler: fetches sources whose last success is older than the interval.
    SCHEDULED = "scheduled"


@_set_slots_directly
@attrs.frozen
class Case:
    """One support case as a CRM reported it, reduced to what the hub keeps.

    Contact e-mails and requesters are never part of a case. Text fields hold
    exactly what the CRM sent.

    :ivar source: the adapter name (``banana``).
    :ivar source_id: the CRM's own id, always a string.
    :ivar number: the people-facing number (Banana ``CaseNumber``).
    :ivar provider: the raw provider name, before normalization.
    :ivar error_code: the raw error code, before normalization.
    :ivar url: where the case opens in its CRM.
    """

    source: str
    source_id: str
    number: str | None
    subject: str | None
    status: Status
    priority: str | None
    provider: str | None
    error_code: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    url: str | None

    @property
    def is_open(self) -> bool:
        """``True`` while the case still needs work."""
        return self.status is Status.OPEN


@attrs.frozen
class Tombstone:
    """A CRM record that was deleted: its case leaves the hub.

    :ivar deleted_at: when the CRM recorded the deletion, if it says.
    """

    source_id: str
    deleted_at: dt.datetime | None = None


@attrs.frozen
class AggregationKey:
    """What cases must share to be consolidated into one aggregated case.

    The default rule fills :attr:`provider_key` and :attr:`error_code_key`;
    a plug-in rule may change them or add ``extra`` parts (name, value).
    A ``None`` part is a value like any other.

    :ivar extra: further (name, value) parts from plug-in rules or overrides.
    """

    provider_key: str | None
    error_code_key: str | None
    extra: tuple[tuple[str, str], ...] = ()

    @property
    def id(self) -> str:
        """The aggregated case id: derived from the key alone, stable everywhere."""
        canonical = orjson.dumps([self.provider_key, self.error_code_key, list(self.extra)])
        return hashlib.sha256(canonical).hexdigest()[:32]


@attrs.frozen
class AggregatedCase:
    """Cases consolidated under one key, as served to engineers.

    :ivar id: derived from the key alone: stable.
    :ivar status: ``open`` when at least one of its cases is open.
    :ivar provider: display name, the most common trimmed spelling among the
        members (ties: alphabetically first); ``None`` when the key has no provider.
    :ivar error_code: the error code key; ``None`` when the key has none.
    :ivar cases: the members, most recently updated first; may be capped by
        ``cases_limit`` while :attr:`case_count` still counts them all.
    :ivar rules_version: the rule set that produced this aggregated case.
    :ivar first_seen_at: when the hub first stored a case of it (the start of
        the refresh that brought it; not the CRM's ``createdAt``).
    :ivar owner: who works on it (contract §7), or ``None``.
    :ivar state: where the work stands; ``untriaged`` at the start.
    :ivar tracker_url: the bug tracker's ticket, or ``None``.
    :ivar note: the last note left on it, or ``None``.
    :ivar recent_case_count: its cases whose CRM ``createdAt`` is in the 24
        hours before the answer was made.
    :ivar lifecycle: ``regressed`` while :attr:`state` is, else ``new`` while
        first seen less than 24 hours ago, else ``None``.
    """

    id: str
    provider: str | None
    error_code: str | None
    status: Status
    case_count: int
    open_case_count: int
    first_created_at: dt.datetime
    last_updated_at: dt.datetime
    cases: tuple[Case, ...] = ()
    provider_key: str | None = None
    rules_version: str | None = None
    first_seen_at: dt.datetime | None = None
    owner: str | None = None
    state: WorkState = WorkState.UNTRIAGED
    tracker_url: str | None = None
    note: str | None = None
    recent_case_count: int = 0
    lifecycle: Lifecycle | None = None


@attrs.frozen
class CasesPage:
    """One aggregated case with one page of its cases.

    :ivar aggregated_case: the aggregated case; its ``cases`` are this page,
        most recently updated first.
    :ivar next_cases_cursor: pass it back for the next page; ``None`` on the last.
    """

    aggregated_case: AggregatedCase
    next_cases_cursor: str | None


@attrs.frozen
class Page:
    """One answer to a listing or a search.

    :ivar aggregated_cases: open before closed, then ``caseCount``
        descending, then ``id`` (unless a ``sort`` says otherwise).
    :ivar total: how many aggregated cases match over all pages.
    :ivar next_cursor: pass it back to get the next page; ``None`` on the last.
    :ivar refreshed_at: end of the last refresh in which a source succeeded.
    """

    aggregated_cases: tuple[AggregatedCase, ...]
    total: int
    next_cursor: str | None
    refreshed_at: dt.datetime | None

    @property
    def count(self) -> int:
        """How many aggregated cases this page holds."""
        return len(self.aggregated_cases)


@attrs.frozen
class SourceState:
    """What the hub remembers about one source between refreshes.

    :ivar cursor: the adapter's opaque position after the last successful sync.
    :ivar last_success_at: when the last successful fetch started.
    :ivar consecutive_failures: failed attempts since the last success.
    """

    name: str
    cursor: str | None = None
    last_success_at: dt.datetime | None = None
    last_attempt_at: dt.datetime | None = None
    consecutive_failures: int = 0
    last_error: str | None = None


@attrs.frozen
class SourceReport:
    """What one refresh did with one source.

    :ivar due: ``False`` when the source was not fetched this time.
    :ivar fetched: records and tombstones read from the CRM, repeats included.
    :ivar skipped: those among them that could not be used.
    :ivar written: cases inserted or changed in the hub.
    :ivar deleted: cases removed from the hub (tombstones, full resync).
    :ivar error: why the source failed; sent only when it did.
    """

    ok: bool
    due: bool = True
    fetched: int = 0
    skipped: int = 0
    written: int = 0
    deleted: int = 0
    duration_seconds: float | None = None
    error: str | None = None


@attrs.frozen
class RefreshReport:
    """What one refresh did, source by source.

    :ivar refreshed_at: end of this refresh if a source succeeded, else the
        previous value (data served is that old).
    """

    started_at: dt.datetime
    finished_at: dt.datetime
    refreshed_at: dt.datetime | None
    trigger: Trigger
    full: bool
    sources: Mapping[str, SourceReport]

    @property
    def ok(self) -> bool:
        """``True`` when no source failed (sources that were not due count as ok)."""
        return all(report.ok for report in self.sources.values())

    @property
    def nothing_due(self) -> bool:
        """``True`` when no source was fetched at all."""
        return not any(report.due for report in self.sources.values())


@attrs.frozen
class SourceHealth:
    """One source as ``/health`` shows it.

    :ivar refreshable_at: when an on-demand refresh may fetch it again.
    """

    enabled: bool
    last_success_at: dt.datetime | None
    last_attempt_at: dt.datetime | None
    last_error: str | None
    consecutive_failures: int
    refreshable_at: dt.datetime | None


@attrs.frozen
class Health:
    """The hub's health: database, refresh lock, sources.

    :ivar writes_need_token: whether writes (claims, overrides, replies) need
        the API token (``SUPPORTHUB_API_TOKEN`` is set); the page shows its
        write controls only to who can use them.
    """

    database: Literal["ok", "unavailable"]
    refreshing: bool
    min_refresh_age_seconds: float
    refresh_interval_seconds: float
    refreshed_at: dt.datetime | None
    sources: Mapping[str, SourceHealth]
    writes_need_token: bool = False

    @property
    def ok(self) -> bool:
        """``True`` when the database answers."""
        return self.database == "ok"


@attrs.frozen
class Counts:
    """How much the hub holds, for metrics and dashboards.

    :ivar cases: cases in the hub by source name.
    """

    cases: Mapping[str, int]
    open_aggregated_cases: int
    closed_aggregated_cases: int
    #: Open aggregated cases nobody owns.
    unowned_open_aggregated_cases: int = 0
    #: Aggregated cases in state ``regressed``.
    regressed_aggregated_cases: int = 0
