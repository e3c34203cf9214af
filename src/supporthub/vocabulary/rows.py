"""What storage and grouping share: a case as a stored row, an aggregated case as stored.

Vocabulary, like ``vocabulary.models``: no rules, no I/O. The store reads and writes
these shapes; grouping (``grouping.consolidate``, ``grouping.replay``) computes them; the
listing pages by :class:`Position` and :class:`SortPosition`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from supporthub.vocabulary.models import AggregatedCase, Case, Status
from supporthub.vocabulary.work import Work, lifecycle_of

__all__ = [
    "AGG_ID",
    "CREATED_AT",
    "IS_OPEN",
    "PROVIDER",
    "SOURCE_ID",
    "UPDATED_AT",
    "AggregateRow",
    "CaseRow",
    "Position",
    "SortPosition",
]

#: A case as a row of the ``cases`` table: (source, source_id, agg_id, number,
#: subject, is_open, priority, provider, error_code, created_at, updated_at, url).
CaseRow = tuple[Any, ...]
SOURCE_ID, AGG_ID, IS_OPEN, PROVIDER, CREATED_AT, UPDATED_AT = 1, 2, 5, 7, 9, 10


@attrs.define
class AggregateRow:
    """An aggregated case as stored, without its cases."""

    id: str
    provider_key: str | None
    error_code_key: str | None
    key_extra: tuple[tuple[str, str], ...]
    provider: str | None
    case_count: int
    open_case_count: int
    first_created_at: dt.datetime
    last_updated_at: dt.datetime
    rules_version: str
    first_seen_at: dt.datetime
    regressed_at: dt.datetime | None = None

    @property
    def status(self) -> Status:
        """Open while at least one member is open."""
        return Status.OPEN if self.open_case_count > 0 else Status.CLOSED

    def to_aggregated_case(
        self,
        cases: tuple[Case, ...] = (),
        *,
        now: dt.datetime,
        work: Work | None = None,
        recent_case_count: int = 0,
    ) -> AggregatedCase:
        """The public view of this row, with the given members embedded.

        :param now: the time of reading: ``lifecycle`` moves with it.
        :param work: the work recorded on it (default: nobody, untriaged).
        :param recent_case_count: its cases created in the last 24 hours.
        """
        work = work or Work()
        return AggregatedCase(
            id=self.id,
            provider=self.provider,
            error_code=self.error_code_key,
            status=self.status,
            case_count=self.case_count,
            open_case_count=self.open_case_count,
            first_created_at=self.first_created_at,
            last_updated_at=self.last_updated_at,
            cases=cases,
            provider_key=self.provider_key,
            rules_version=self.rules_version,
            first_seen_at=self.first_seen_at,
            owner=work.owner,
            state=work.state,
            tracker_url=work.tracker_url,
            note=work.note,
            recent_case_count=recent_case_count,
            lifecycle=lifecycle_of(work.state, self.first_seen_at, now),
        )


@attrs.frozen
class Position:
    """A place in the listing order: open first, biggest first, then id."""

    is_open: bool
    case_count: int
    id: str


@attrs.frozen
class SortPosition:
    """A place in a sorted listing: the sort key's value (descending), then id."""

    sort: str
    value: int | str
    id: str
