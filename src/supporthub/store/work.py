"""The work on aggregated cases in SQL: read it, change it, claim it, carry it.

Functions over one connection inside the caller's transaction. Claims are
race-free on every database and across processes: the owner is set by one
conditional ``UPDATE … WHERE owner IS NULL OR owner = :by`` whose row count
says whether this claim won, never by reading and then writing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from supporthub.store.schema import cases, history, work
from supporthub.vocabulary.errors import ClaimConflict
from supporthub.vocabulary.work import (
    HUB_AUTHOR,
    FieldChange,
    HistoryEntry,
    Work,
    WorkChange,
    WorkState,
    apply_change,
    combine,
)

__all__ = [
    "carry_work",
    "change_work",
    "daily_counts",
    "ensure_work_row",
    "history_of",
    "recent_counts",
    "record",
    "regress",
    "work_of",
    "worked_ids",
]

_IDS_PER_QUERY = 1000


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(ids), _IDS_PER_QUERY):
        yield ids[start : start + _IDS_PER_QUERY]


def _work(row: Any) -> Work | None:
    if row is None:
        return None
    return Work(owner=row[1], state=WorkState(row[2]), tracker_url=row[3], note=row[4])


_COLUMNS = (work.c.agg_id, work.c.owner, work.c.state, work.c.tracker_url, work.c.note)


def work_of(connection: sa.Connection, agg_ids: Sequence[str]) -> dict[str, Work]:
    """The recorded work of those of ``agg_ids`` that have any."""
    found: dict[str, Work] = {}
    for chunk in _chunks(agg_ids):
        for row in connection.execute(sa.select(*_COLUMNS).where(work.c.agg_id.in_(chunk))):
            found[row[0]] = Work(row[1], WorkState(row[2]), row[3], row[4])
    return found


def recent_counts(
    connection: sa.Connection, agg_ids: Sequence[str], since: dt.datetime
) -> dict[str, int]:
    """How many cases of each aggregated case were created at or after ``since``."""
    found: dict[str, int] = {}
    for chunk in _chunks(agg_ids):
        statement = (
            sa.select(cases.c.agg_id, sa.func.count())
            .where(cases.c.agg_id.in_(chunk), cases.c.created_at >= since)
            .group_by(cases.c.agg_id)
        )
        found.update({agg_id: int(n) for agg_id, n in connection.execute(statement)})
    return found


def daily_counts(connection: sa.Connection, agg_id: str, since: dt.datetime) -> dict[dt.date, int]:
    """How many of one aggregated case's cases were created each UTC day since ``since``.

    One query over the index ``(agg_id, created_at)``; ``DATE()`` means the
    same on SQLite and MariaDB for the naive UTC times stored.
    """
    day = sa.func.date(cases.c.created_at)
    statement = (
        sa.select(day, sa.func.count())
        .where(cases.c.agg_id == agg_id, cases.c.created_at >= since)
        .group_by(day)
    )
    return {
        value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)): int(n)
        for value, n in connection.execute(statement)
    }


def worked_ids(connection: sa.Connection, agg_ids: Sequence[str]) -> set[str]:
    """Those of ``agg_ids`` that have work or history: the only ones worth carrying."""
    found: set[str] = set()
    for chunk in _chunks(sorted(agg_ids)):
        found.update(
            connection.execute(sa.select(work.c.agg_id).where(work.c.agg_id.in_(chunk))).scalars()
        )
        found.update(
            connection.execute(
                sa.select(history.c.agg_id).where(history.c.agg_id.in_(chunk)).distinct()
            ).scalars()
        )
    return found


def history_of(connection: sa.Connection, agg_id: str) -> list[HistoryEntry]:
    """Every change of one aggregated case's work, newest first."""
    statement = (
        sa.select(
            history.c.at, history.c.by, history.c.changes, history.c.note, history.c.recorded_on
        )
        .where(history.c.agg_id == agg_id)
        .order_by(history.c.id.desc())
    )
    return [
        HistoryEntry(
            at=at,
            by=by,
            changes=tuple(
                FieldChange(c["field"], c["from"], c["to"]) for c in orjson.loads(changes)
            ),
            note=note,
            aggregated_case_id=recorded_on,
        )
        for at, by, changes, note, recorded_on in connection.execute(statement)
    ]


def record(
    connection: sa.Connection,
    agg_id: str,
    changes: Sequence[FieldChange],
    *,
    by: str,
    at: dt.datetime,
    note: str | None = None,
) -> None:
    """Add one entry to an aggregated case's history."""
    connection.execute(
        sa.insert(history).values(
            agg_id=agg_id,
            recorded_on=agg_id,
            at=at,
            by=by,
            changes=orjson.dumps(
                [{"field": c.field, "from": c.before, "to": c.after} for c in changes]
            ).decode(),
            note=note,
        )
    )


def _write(connection: sa.Connection, agg_id: str, value: Work, at: dt.datetime) -> None:
    values = {
        "owner": value.owner,
        "state": value.state.value,
        "tracker_url": value.tracker_url,
        "note": value.note,
        "updated_at": at,
    }
    updated = connection.execute(
        sa.update(work).where(work.c.agg_id == agg_id).values(values)
    ).rowcount
    if not updated:
        connection.execute(sa.insert(work).values(agg_id=agg_id, **values))


def ensure_work_row(connection: sa.Connection, agg_id: str, at: dt.datetime) -> None:
    """Make sure ``agg_id`` has a work row (an untriaged, unowned one), racing nobody.

    Run it in its own short transaction before :func:`change_work`: two
    processes that insert the same row at once then never deadlock, and the
    change that follows locks a row that exists.
    """
    insert = (
        sa.insert(work)
        .values(agg_id=agg_id, state=WorkState.UNTRIAGED.value, updated_at=at)
        .prefix_with("OR IGNORE", dialect="sqlite")
        .prefix_with("IGNORE", dialect="mysql")
        .prefix_with("IGNORE", dialect="mariadb")
    )
    connection.execute(insert)


def change_work(
    connection: sa.Connection, agg_id: str, change: WorkChange, at: dt.datetime
) -> Work:
    """Apply ``change`` to the work of ``agg_id`` (its row exists); return the work after.

    :raises ClaimConflict: a claim, and somebody else owns it; nothing changed.
    """
    locked = connection.execute(
        sa.select(*_COLUMNS).where(work.c.agg_id == agg_id).with_for_update()
    ).first()
    before = _work(locked) or Work()
    if change.claim:
        won = connection.execute(
            sa.update(work)
            .where(
                work.c.agg_id == agg_id,
                sa.or_(work.c.owner.is_(None), work.c.owner == change.by),
            )
            .values(owner=change.by, updated_at=at)
        ).rowcount
        if not won:
            owner = connection.execute(
                sa.select(work.c.owner).where(work.c.agg_id == agg_id)
            ).scalar()
            owner = owner or ""
            raise ClaimConflict(f"{owner[:200]} owns this aggregated case already", owner=owner)
    after, changed = apply_change(before, change)
    if changed:
        _write(connection, agg_id, after, at)
        record(connection, agg_id, changed, by=change.by, at=at, note=change.given_note)
    return after


def regress(connection: sa.Connection, agg_ids: Sequence[str], at: dt.datetime) -> list[str]:
    """Make the ``fixed`` ones among ``agg_ids`` ``regressed``; return their ids.

    Called by a refresh for the aggregated cases that received a new open
    case; recorded in their history with the hub as the author.
    """
    regressed: list[str] = []
    for chunk in _chunks(sorted(agg_ids)):
        fixed = list(
            connection.execute(
                sa.select(work.c.agg_id).where(
                    work.c.agg_id.in_(chunk), work.c.state == WorkState.FIXED.value
                )
            ).scalars()
        )
        if not fixed:
            continue
        connection.execute(
            sa.update(work)
            .where(work.c.agg_id.in_(fixed), work.c.state == WorkState.FIXED.value)
            .values(state=WorkState.REGRESSED.value, updated_at=at)
        )
        change = FieldChange("state", WorkState.FIXED.value, WorkState.REGRESSED.value)
        for agg_id in fixed:
            record(
                connection,
                agg_id,
                [change],
                by=HUB_AUTHOR,
                at=at,
                note="a new open case arrived after the fix",
            )
        regressed.extend(fixed)
    return regressed


def _describe(value: Work) -> str:
    parts = [f"state {value.state.value}"]
    if value.owner is not None:
        parts.append(f"owner {value.owner}")
    if value.tracker_url is not None:
        parts.append(f"tracker {value.tracker_url}")
    return ", ".join(parts)


def carry_work(
    connection: sa.Connection,
    old_ids: Sequence[str],
    new_id: str,
    *,
    at: dt.datetime,
    by: str = HUB_AUTHOR,
) -> Work | None:
    """Carry the work of ``old_ids`` (regrouped away) into ``new_id``, losing nothing.

    Every history entry of the old ids moves to ``new_id``'s history (each
    still names the aggregated case it was made on); the work left on
    ``new_id`` is :func:`~supporthub.vocabulary.work.combine` of its own and theirs,
    and one entry records the merge with what each part held. The old ids'
    work rows go away. Call it wherever regrouping changes ids (overrides,
    rule upgrades, the id mapping of a rules version); ids equal to
    ``new_id`` are ignored. Returns the work on ``new_id`` when anything
    was carried, else ``None``.
    """
    old_ids = sorted({old for old in old_ids if old != new_id})
    if not old_ids:
        return None
    parts = work_of(connection, old_ids)
    moved = connection.execute(
        sa.update(history).where(history.c.agg_id.in_(old_ids)).values(agg_id=new_id)
    ).rowcount
    if not parts and not moved:
        return None
    own = work_of(connection, [new_id]).get(new_id)
    ordered = [parts[old] for old in old_ids if old in parts]
    if own is None and ordered:
        merged = combine(ordered[0], ordered[1:])
    else:
        merged = combine(own or Work(), ordered)
    before = own or Work()
    changed = [
        FieldChange(
            "trackerUrl" if name == "tracker_url" else name,
            None if getattr(before, name) is None else str(getattr(before, name)),
            None if getattr(merged, name) is None else str(getattr(merged, name)),
        )
        for name in ("owner", "state", "tracker_url", "note")
        if getattr(before, name) != getattr(merged, name)
    ]
    changed += [FieldChange("mergedFrom", old, new_id) for old in old_ids]
    held = "; ".join(f"{old}: {_describe(parts[old])}" for old in old_ids if old in parts)
    note = f"merged in {', '.join(old_ids)}" + (f" (they held {held})" if held else "")
    if parts:
        connection.execute(sa.delete(work).where(work.c.agg_id.in_(old_ids)))
    _write(connection, new_id, merged, at)
    record(connection, new_id, changed, by=by, at=at, note=note)
    return merged
