"""From an adapter's batch to rows the store can take, where the fetch runs.

Everything that needs no database happens here, next to the fetch (in its
thread, or its process: :mod:`.fetch_process`) and concurrently with the
writer: cases no store could take are dropped and counted (whatever adapter
made them), each case gets its aggregation key, and a batch keeps one
version per id (the newest) with tombstones resolved.
What reaches the writer is plain tuples, cheap to spool and to write.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence

import attrs

from supporthub.grouping.consolidate import AggregateChanges, KeyPipeline, Member
from supporthub.grouping.normalize import MAX_KEY_LENGTH
from supporthub.kit.adapter import Batch
from supporthub.kit.fields import MAX_FIELD_LENGTH
from supporthub.vocabulary.models import AggregationKey, Case
from supporthub.vocabulary.rows import AGG_ID, CREATED_AT, IS_OPEN, PROVIDER, UPDATED_AT, CaseRow

__all__ = ["CaseRow", "MembershipChanges", "PreparedBatch", "member_of", "prepare"]

log = logging.getLogger("supporthub.refresh")

_MIN_YEAR, _MAX_YEAR = 1000, 9999  # what every supported database can store


@attrs.frozen
class PreparedBatch:
    """One batch, screened, keyed and reduced to one version per id.

    :ivar rows: the newest version of each case, as ``cases`` rows.
    :ivar keys: the aggregation key of every ``agg_id`` in :attr:`rows`.
    :ivar tombstones: deleted ids with their deletion time (``None``: unknown),
        minus those a newer version in this batch brought back.
    """

    rows: tuple[CaseRow, ...] = ()
    keys: Mapping[str, AggregationKey] = attrs.field(factory=dict)
    tombstones: tuple[tuple[str, dt.datetime | None], ...] = ()
    fetched: int = 0
    skipped: int = 0
    cursor: str | None = None


def member_of(row: CaseRow) -> Member:
    """What a stored or incoming row contributes to its aggregated case."""
    provider = row[PROVIDER]
    spelling = provider.strip() or None if provider is not None else None
    return Member(row[AGG_ID], bool(row[IS_OPEN]), spelling, row[CREATED_AT], row[UPDATED_AT])


@attrs.frozen
class MembershipChanges:
    """What the store wrote and deleted, recorded as changes of aggregated cases.

    The writer tells it each row it replaced or removed
    (``store.base.MembershipLog``); grouping decides what that does to
    the aggregated cases.

    :ivar keys: the aggregation key of every ``agg_id`` the rows written
        may carry (the batch's :attr:`PreparedBatch.keys`).
    """

    changes: AggregateChanges
    keys: Mapping[str, AggregationKey] = attrs.field(factory=dict)

    def replaced(self, old: CaseRow | None, new: CaseRow) -> None:
        """``new`` was written over ``old`` (``None``: it is new)."""
        member = member_of(new)
        arrived = member.is_open
        if old is not None:
            before = member_of(old)
            self.changes.remove(before)
            arrived = arrived and not (before.is_open and before.agg_id == member.agg_id)
        self.changes.add(member, self.keys[new[AGG_ID]], arrived_open=arrived)

    def added(self, rows: Sequence[CaseRow]) -> None:
        """``rows`` were written where no case was stored (a first load's every row)."""
        self.changes.add_new(rows, self.keys)

    def removed(self, old: CaseRow) -> None:
        """The stored ``old`` was deleted."""
        self.changes.remove(member_of(old))


def _unencodable(value: str | None) -> bool:
    if value is None or value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _problem(case: Case, source: str, key: AggregationKey) -> str | None:
    """Why the store cannot take ``case``; ``None`` when it can."""
    if case.source != source:
        return f"case of source {case.source!r} from the {source!r} adapter"
    if not case.source_id or len(case.source_id) > MAX_FIELD_LENGTH:
        return "id is empty or longer than 255 characters"
    if (case.provider is not None and len(case.provider) > MAX_FIELD_LENGTH) or (
        case.error_code is not None and len(case.error_code) > MAX_FIELD_LENGTH
    ):
        return f"provider or error code longer than {MAX_FIELD_LENGTH} characters"
    for moment in (case.created_at, case.updated_at):
        if moment.tzinfo is None or not _MIN_YEAR <= moment.year <= _MAX_YEAR:
            return f"a time is naive or outside the years {_MIN_YEAR}-{_MAX_YEAR}"
    if (
        _unencodable(case.source_id)
        or _unencodable(case.number)
        or _unencodable(case.subject)
        or _unencodable(case.priority)
        or _unencodable(case.provider)
        or _unencodable(case.error_code)
        or _unencodable(case.url)
    ):
        return "a text field is not valid Unicode"
    if (
        len(key.provider_key or "") > MAX_KEY_LENGTH
        or len(key.error_code_key or "") > MAX_KEY_LENGTH
    ):
        return "a key is longer than the store allows"
    return None


def prepare(batch: Batch, source: str, pipeline: KeyPipeline) -> PreparedBatch:
    """Screen, key and deduplicate one adapter batch."""
    newest: dict[str, CaseRow] = {}
    keys: dict[str, AggregationKey] = {}
    dropped = 0
    for case in batch.cases:
        try:
            key, agg_id = pipeline.keyed(case)
        except TypeError:  # orjson: a key part that is not Unicode makes no id
            key, agg_id = pipeline.key_for(case), ""
        problem = _problem(case, source, key) or (None if agg_id else "its key is not Unicode")
        if problem is not None:
            dropped += 1
            log.warning("%s: skipped case %s: %s", source, str(case.source_id)[:64], problem)
            continue
        previous = newest.get(case.source_id)
        if previous is not None and case.updated_at < previous[UPDATED_AT]:
            continue
        keys[agg_id] = key
        newest[case.source_id] = (
            source,
            case.source_id,
            agg_id,
            case.number,
            case.subject,
            case.is_open,
            case.priority,
            case.provider,
            case.error_code,
            case.created_at.astimezone(dt.UTC),
            case.updated_at.astimezone(dt.UTC),
            case.url,
        )

    dead: dict[str, dt.datetime | None] = {}
    for tombstone in batch.tombstones:
        at = tombstone.deleted_at
        if at is not None:
            at = at.astimezone(dt.UTC)
        if tombstone.source_id in dead:
            known = dead[tombstone.source_id]
            at = None if at is None or known is None else max(at, known)
        dead[tombstone.source_id] = at
    for source_id, at in list(dead.items()):
        alive = newest.get(source_id)
        if alive is None:
            continue
        if at is None or at >= alive[UPDATED_AT]:
            del newest[source_id]
        else:  # the record came back to life after this deletion
            del dead[source_id]

    return PreparedBatch(
        rows=tuple(newest.values()),
        keys=keys,
        tombstones=tuple(dead.items()),
        fetched=batch.fetched,
        skipped=batch.skipped + dropped,
        cursor=batch.cursor,
    )
