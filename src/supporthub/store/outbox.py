"""The replies and their outbox in SQL: stored in one transaction, claimed under a lease.

A delivery row is sent by whoever *claims* it: an atomic conditional
``UPDATE`` that takes the lease only when the row is pending, due and not
leased (or its lease has run out), checked by its row count. So on SQLite
and MariaDB alike, within one process or across many, no two deliverers
send one row at once, and a row whose deliverer died is taken over once
its lease expires.

The functions take a connection inside a transaction; :func:`transaction`
opens one on the outbox alone (it does not touch the data version that
keeps cached listings valid: replies are not part of them).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa

from supporthub.store.database import SqlDatabase, storage_error
from supporthub.store.reading import chunked
from supporthub.store.schema import aggregated_cases, cases, replies, reply_deliveries, work
from supporthub.vocabulary.replies import Delivery, Reply, ReplyRequest, idempotency_key
from supporthub.vocabulary.work import WorkState

__all__ = [
    "DueDelivery",
    "Outcome",
    "add_auto_reply_targets",
    "after_membership_change",
    "auto_reply_ends",
    "claim",
    "claim_batch",
    "due",
    "end_auto_replies",
    "fail_pending",
    "finish",
    "finish_many",
    "follow_regrouped",
    "insert_reply",
    "pending_count",
    "pending_sources",
    "read_replies",
    "read_reply",
    "release",
    "state_counts",
    "stop",
    "target_counts",
    "transaction",
]

#: Given a source name, why its adapter cannot write (``None``: it can).
Unwritable = Callable[[str], str | None]

_d = reply_deliveries
_r = replies
_INSERT_CHUNK = 1000


@contextlib.contextmanager
def transaction(store: SqlDatabase) -> Iterator[sa.Connection]:
    """One write transaction on the store, rolled back when it raises."""
    try:
        with store.engine.connect() as connection:
            if store.dialect_name == "sqlite":
                connection.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            with connection.begin():
                yield connection
    except sa.exc.SQLAlchemyError as error:
        raise storage_error(error) from None


def _targets(connection: sa.Connection, agg_id: str, *, open_only: bool) -> list[tuple[str, str]]:
    statement = sa.select(cases.c.source, cases.c.source_id).where(cases.c.agg_id == agg_id)
    if open_only:
        statement = statement.where(cases.c.is_open.is_(True))
    ordered = statement.order_by(cases.c.source, cases.c.source_id)
    return [(source, source_id) for source, source_id in connection.execute(ordered)]


def target_counts(connection: sa.Connection, agg_id: str, *, open_only: bool) -> dict[str, int]:
    """How many cases a reply to ``agg_id`` would target, per source."""
    statement = sa.select(cases.c.source, sa.func.count()).where(cases.c.agg_id == agg_id)
    if open_only:
        statement = statement.where(cases.c.is_open.is_(True))
    return {
        source: int(count)
        for source, count in connection.execute(statement.group_by(cases.c.source))
    }


def _insert_deliveries(
    connection: sa.Connection,
    reply_id: str,
    targets: Iterable[tuple[str, str]],
    unwritable: Unwritable,
    now: dt.datetime,
) -> int:
    count = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        if batch:
            connection.execute(sa.insert(_d), batch)
            batch.clear()

    for source, case_id in targets:
        reason = unwritable(source)
        batch.append(
            {
                "reply_id": reply_id,
                "source": source,
                "case_id": case_id,
                "idempotency_key": idempotency_key(reply_id, source, case_id),
                "state": "pending" if reason is None else "failed",
                "attempts": 0,
                "error": reason,
                "created_at": now,
                "next_attempt_at": now,
                "lease_owner": None,
                "lease_until": None,
                "delivered_at": None,
                "comment_id": None,
            }
        )
        count += 1
        if len(batch) >= _INSERT_CHUNK:
            flush()
    flush()
    return count


def insert_reply(
    connection: sa.Connection,
    reply_id: str,
    agg_id: str,
    request: ReplyRequest,
    *,
    unwritable: Unwritable,
    now: dt.datetime,
) -> int:
    """Store a reply and one delivery row per target case; return how many targets."""
    connection.execute(
        sa.insert(_r).values(
            id=reply_id,
            agg_id=agg_id,
            message=request.message,
            created_by=request.by,
            created_at=now,
            public=request.public,
            set_status=request.set_status,
            scope=request.scope,
            auto_reply=request.auto_reply,
        )
    )
    # Read whole first: the inserts then run on a connection with no open result.
    targets = _targets(connection, agg_id, open_only=request.scope == "open")
    return _insert_deliveries(connection, reply_id, targets, unwritable, now)


# -- reading ------------------------------------------------------------------


def _counts(connection: sa.Connection, reply_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {i: {} for i in reply_ids}
    for chunk in chunked(reply_ids):
        statement = (
            sa.select(_d.c.reply_id, _d.c.state, sa.func.count())
            .where(_d.c.reply_id.in_(chunk))
            .group_by(_d.c.reply_id, _d.c.state)
        )
        for reply_id, state, count in connection.execute(statement):
            found[reply_id][state] = int(count)
    return found


def _reply(row: Any, counts: Mapping[str, int], deliveries: tuple[Delivery, ...] = ()) -> Reply:
    return Reply(
        id=row.id,
        aggregated_case_id=row.agg_id,
        message=row.message,
        by=row.created_by,
        created_at=row.created_at,
        public=bool(row.public),
        set_status=row.set_status,
        scope=row.scope,
        auto_reply=bool(row.auto_reply),
        stopped_at=row.stopped_at,
        stopped_by=row.stopped_by,
        targets=sum(counts.values()),
        delivered=counts.get("delivered", 0),
        pending=counts.get("pending", 0),
        failed=counts.get("failed", 0),
        cases=deliveries,
    )


def read_reply(
    connection: sa.Connection, reply_id: str, *, with_cases: bool = True
) -> Reply | None:
    """One reply with its progress (and every target case), or ``None``."""
    row = connection.execute(sa.select(_r).where(_r.c.id == reply_id)).first()
    if row is None:
        return None
    deliveries: tuple[Delivery, ...] = ()
    if with_cases:
        statement = (
            sa.select(_d.c.source, _d.c.case_id, _d.c.state, _d.c.attempts, _d.c.error)
            .where(_d.c.reply_id == reply_id)
            .order_by(_d.c.source, _d.c.case_id)
        )
        deliveries = tuple(Delivery(*r) for r in connection.execute(statement))
    return _reply(row, _counts(connection, [reply_id])[reply_id], deliveries)


def read_replies(connection: sa.Connection, agg_id: str) -> list[Reply]:
    """The replies of one aggregated case, newest first, with their counts."""
    rows = connection.execute(
        sa.select(_r).where(_r.c.agg_id == agg_id).order_by(_r.c.created_at.desc(), _r.c.id)
    ).all()
    counts = _counts(connection, [row.id for row in rows])
    return [_reply(row, counts[row.id]) for row in rows]


def stop(connection: sa.Connection, reply_id: str, by: str, now: dt.datetime) -> bool:
    """End a reply's auto-reply for good; ``False`` when it had ended already."""
    return bool(
        connection.execute(
            sa.update(_r)
            .where(_r.c.id == reply_id, _r.c.stopped_at.is_(None))
            .values(stopped_at=now, stopped_by=by)
        ).rowcount
    )


def state_counts(connection: sa.Connection) -> dict[tuple[str, str], int]:
    """Deliveries per (source, state), for the metrics."""
    statement = sa.select(_d.c.source, _d.c.state, sa.func.count()).group_by(
        _d.c.source, _d.c.state
    )
    return {(source, state): int(n) for source, state, n in connection.execute(statement)}


# -- delivering -----------------------------------------------------------------


@attrs.frozen
class DueDelivery:
    """A claimed delivery row with what to send."""

    reply_id: str
    source: str
    case_id: str
    idempotency_key: str
    attempts: int
    message: str
    public: bool
    set_status: Any


def _claimable(now: dt.datetime | sa.BindParameter[Any]) -> Any:
    return sa.and_(
        _d.c.state == "pending",
        _d.c.next_attempt_at <= now,
        sa.or_(_d.c.lease_until.is_(None), _d.c.lease_until < now),
    )


def due(
    connection: sa.Connection, source: str, now: dt.datetime, limit: int
) -> list[tuple[str, str]]:
    """``(reply_id, case_id)`` of up to ``limit`` rows of ``source`` that may be claimed now."""
    statement = (
        sa.select(_d.c.reply_id, _d.c.case_id)
        .where(_d.c.source == source, _claimable(now))
        .order_by(_d.c.next_attempt_at)
        .limit(limit)
    )
    return [(reply_id, case_id) for reply_id, case_id in connection.execute(statement)]


def pending_sources(connection: sa.Connection) -> list[str]:
    """The sources that have pending delivery rows."""
    statement = sa.select(_d.c.source).where(_d.c.state == "pending").distinct()
    return [source for (source,) in connection.execute(statement)]


def claim(
    connection: sa.Connection,
    reply_id: str,
    source: str,
    case_id: str,
    *,
    owner: str,
    now: dt.datetime,
    lease_until: dt.datetime,
) -> DueDelivery | None:
    """Take the lease on one row if nobody holds it; ``None`` when another deliverer has it."""
    taken = connection.execute(
        sa.update(_d)
        .where(
            _d.c.reply_id == reply_id,
            _d.c.source == source,
            _d.c.case_id == case_id,
            _claimable(now),
        )
        .values(lease_owner=owner, lease_until=lease_until, attempts=_d.c.attempts + 1)
    ).rowcount
    if taken != 1:
        return None
    row = connection.execute(
        sa.select(_d.c.idempotency_key, _d.c.attempts, _r.c.message, _r.c.public, _r.c.set_status)
        .select_from(_d.join(_r, _r.c.id == _d.c.reply_id))
        .where(_d.c.reply_id == reply_id, _d.c.source == source, _d.c.case_id == case_id)
    ).one()
    return DueDelivery(
        reply_id=reply_id,
        source=source,
        case_id=case_id,
        idempotency_key=row.idempotency_key,
        attempts=int(row.attempts),
        message=row.message,
        public=bool(row.public),
        set_status=row.set_status,
    )


#: One reply's rows of one source among the named cases (an expanding list): the
#: primary key's prefix and then its last column, a range look-up per case.
_AMONG = sa.and_(
    _d.c.reply_id == sa.bindparam("k_reply"),
    _d.c.source == sa.bindparam("k_source"),
    _d.c.case_id.in_(sa.bindparam("k_cases", expanding=True)),
)
_CLAIM = (
    sa.update(_d)
    .where(_AMONG, _claimable(sa.bindparam("k_now")))
    .values(
        lease_owner=sa.bindparam("k_owner"),
        lease_until=sa.bindparam("k_until"),
        attempts=_d.c.attempts + 1,
    )
)
_CLAIMED = (
    sa.select(
        _d.c.case_id,
        _d.c.idempotency_key,
        _d.c.attempts,
        _r.c.message,
        _r.c.public,
        _r.c.set_status,
    )
    .select_from(_d.join(_r, _r.c.id == _d.c.reply_id))
    .where(_AMONG, _d.c.state == "pending", _d.c.lease_owner == sa.bindparam("k_owner"))
)


def claim_batch(
    connection: sa.Connection,
    source: str,
    keys: Sequence[tuple[str, str]],
    *,
    owner: str,
    now: dt.datetime,
    lease_until: dt.datetime,
) -> list[DueDelivery]:
    """Take the lease on those of ``keys`` (due rows of ``source``) that nobody holds.

    One conditional ``UPDATE`` per reply among the keys (nearly always one),
    as :func:`claim` is for one row: a row another deliverer took meanwhile
    is left to it. Returns the rows this owner now holds among them (in no
    particular order). The statements are built once, with bound parameters:
    building expressions per claim cost more than running them.
    """
    by_reply: dict[str, list[str]] = {}
    for reply_id, case_id in keys:
        by_reply.setdefault(reply_id, []).append(case_id)
    claimed: list[DueDelivery] = []
    for reply_id, case_ids in by_reply.items():
        params = {"k_reply": reply_id, "k_source": source, "k_owner": owner}
        for chunk in chunked(case_ids):
            among = {**params, "k_cases": list(chunk)}
            taken = connection.execute(_CLAIM, {**among, "k_now": now, "k_until": lease_until})
            if not taken.rowcount:
                continue
            claimed.extend(
                DueDelivery(
                    reply_id=reply_id,
                    source=source,
                    case_id=row.case_id,
                    idempotency_key=row.idempotency_key,
                    attempts=int(row.attempts),
                    message=row.message,
                    public=bool(row.public),
                    set_status=row.set_status,
                )
                for row in connection.execute(_CLAIMED, among)
            )
    return claimed


def _held(delivery: DueDelivery, owner: str) -> Any:
    """The row of ``delivery``, while still pending and leased by ``owner``."""
    return sa.and_(
        _d.c.reply_id == delivery.reply_id,
        _d.c.source == delivery.source,
        _d.c.case_id == delivery.case_id,
        _d.c.state == "pending",
        _d.c.lease_owner == owner,
    )


#: :func:`_held` with bound parameters (``h_reply``, ``h_source``, ``h_case``, ``h_owner``),
#: for one statement run once per row (an executemany).
_HELD = sa.and_(
    _d.c.reply_id == sa.bindparam("h_reply"),
    _d.c.source == sa.bindparam("h_source"),
    _d.c.case_id == sa.bindparam("h_case"),
    _d.c.state == "pending",
    _d.c.lease_owner == sa.bindparam("h_owner"),
)
_RELEASE = (
    sa.update(_d)
    .where(_HELD)
    .values(lease_owner=None, lease_until=None, attempts=_d.c.attempts - 1)
)
_DELIVERED = (
    sa.update(_d)
    .where(_HELD)
    .values(
        state="delivered",
        error=None,
        lease_owner=None,
        lease_until=None,
        delivered_at=sa.bindparam("h_now"),
        comment_id=sa.bindparam("h_comment"),
    )
)


def _held_params(delivery: DueDelivery, owner: str) -> dict[str, Any]:
    return {
        "h_reply": delivery.reply_id,
        "h_source": delivery.source,
        "h_case": delivery.case_id,
        "h_owner": owner,
    }


def release(connection: sa.Connection, deliveries: Sequence[DueDelivery], *, owner: str) -> int:
    """Give back claimed rows that were not sent: no lease, the attempt not counted."""
    if not deliveries:
        return 0
    rows = [_held_params(delivery, owner) for delivery in _in_key_order(deliveries)]
    return int(connection.execute(_RELEASE, rows).rowcount)


def _in_key_order(deliveries: Iterable[DueDelivery]) -> list[DueDelivery]:
    """In primary key order, as a claim's range scan takes its row locks (MariaDB):
    two transactions that lock rows in the same order cannot deadlock on them."""
    return sorted(deliveries, key=_key)


def _key(delivery: DueDelivery) -> tuple[str, str, str]:
    return delivery.reply_id, delivery.source, delivery.case_id


@attrs.frozen
class Outcome:
    """How the send of one claimed row went, to be recorded (:func:`finish_many`)."""

    delivery: DueDelivery
    state: str
    error: str | None = None
    comment_id: str | None = None
    next_attempt_at: dt.datetime | None = None


def finish_many(
    connection: sa.Connection, outcomes: Sequence[Outcome], *, owner: str, now: dt.datetime
) -> int:
    """Record a batch of outcomes (as :func:`finish` each); how many rows were still held.

    The delivered rows, nearly all of them, take one statement run once per
    row; the rest take :func:`finish` each. A row whose lease was lost
    meanwhile is left to its new holder (the CRM's idempotency covers the
    overlap): the count is then smaller than ``len(outcomes)``.
    """
    outcomes = sorted(outcomes, key=lambda o: _key(o.delivery))
    delivered = [
        {**_held_params(o.delivery, owner), "h_now": now, "h_comment": o.comment_id}
        for o in outcomes
        if o.state == "delivered"
    ]
    kept = int(connection.execute(_DELIVERED, delivered).rowcount) if delivered else 0
    for outcome in outcomes:
        if outcome.state != "delivered":
            kept += finish(
                connection,
                outcome.delivery,
                owner=owner,
                state=outcome.state,
                now=now,
                error=outcome.error,
                next_attempt_at=outcome.next_attempt_at,
            )
    return kept


def finish(
    connection: sa.Connection,
    delivery: DueDelivery,
    *,
    owner: str,
    state: str,
    now: dt.datetime,
    error: str | None = None,
    comment_id: str | None = None,
    next_attempt_at: dt.datetime | None = None,
) -> bool:
    """Record how a send went (delivered, failed, or pending again) and release the lease.

    Only the lease holder may: ``False`` when the lease was lost meanwhile
    (the row is someone else's now; the CRM's idempotency covers the overlap).
    """
    values: dict[str, Any] = {
        "state": state,
        "error": error,
        "lease_owner": None,
        "lease_until": None,
    }
    if state == "delivered":
        values.update(delivered_at=now, comment_id=comment_id)
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    return bool(
        connection.execute(sa.update(_d).where(_held(delivery, owner)).values(values)).rowcount
    )


def fail_pending(connection: sa.Connection, source: str, reason: str, now: dt.datetime) -> int:
    """Mark every unleased pending row of ``source`` failed with ``reason``; how many."""
    return int(
        connection.execute(
            sa.update(_d)
            .where(
                _d.c.source == source,
                _d.c.state == "pending",
                sa.or_(_d.c.lease_until.is_(None), _d.c.lease_until < now),
            )
            .values(state="failed", error=reason, lease_owner=None, lease_until=None)
        ).rowcount
    )


# -- auto-reply and regrouping: inside the refresh (or regroup) transaction -------


def _active_auto_replies(connection: sa.Connection) -> list[tuple[str, str]]:
    statement = sa.select(_r.c.id, _r.c.agg_id).where(
        _r.c.auto_reply.is_(True), _r.c.stopped_at.is_(None)
    )
    return [(reply_id, agg_id) for reply_id, agg_id in connection.execute(statement)]


def auto_reply_ends(connection: sa.Connection, agg_id: str) -> bool:
    """Whether auto-replies on ``agg_id`` end now, before they reach new cases.

    Contract §7 ends them when the aggregated case becomes ``fixed``; the
    work state is kept elsewhere, so this is where that rule plugs in.
    Stopping a reply (:func:`stop`) and :func:`end_auto_replies` end them too.
    """
    state = connection.execute(sa.select(work.c.state).where(work.c.agg_id == agg_id)).scalar()
    return state == WorkState.FIXED.value


def end_auto_replies(connection: sa.Connection, agg_id: str, by: str, now: dt.datetime) -> int:
    """End every auto-reply of ``agg_id`` for good (it became ``fixed``); how many."""
    return int(
        connection.execute(
            sa.update(_r)
            .where(_r.c.agg_id == agg_id, _r.c.auto_reply.is_(True), _r.c.stopped_at.is_(None))
            .values(stopped_at=now, stopped_by=by)
        ).rowcount
    )


def add_auto_reply_targets(
    connection: sa.Connection,
    touched: Iterable[str] | None,
    unwritable: Unwritable,
    now: dt.datetime,
) -> int:
    """Give the running auto-replies their new targets: open cases not targeted yet.

    :param touched: the aggregated cases whose members changed (``None``:
        all, after a regroup).
    :return: how many delivery rows were added.
    """
    active = _active_auto_replies(connection)
    if not active:
        return 0
    wanted = None if touched is None else set(touched)
    added = 0
    for reply_id, agg_id in active:
        if wanted is not None and agg_id not in wanted:
            continue
        if auto_reply_ends(connection, agg_id):
            end_auto_replies(connection, agg_id, "fixed", now)
            continue
        already = sa.select(_d.c.case_id).where(
            _d.c.reply_id == reply_id,
            _d.c.source == cases.c.source,
            _d.c.case_id == cases.c.source_id,
        )
        statement = sa.select(cases.c.source, cases.c.source_id).where(
            cases.c.agg_id == agg_id, cases.c.is_open.is_(True), ~already.exists()
        )
        fresh = [(source, source_id) for source, source_id in connection.execute(statement)]
        added += _insert_deliveries(connection, reply_id, fresh, unwritable, now)
    return added


def follow_regrouped(connection: sa.Connection) -> int:
    """Move replies whose aggregated case vanished in a regroup to where their cases went.

    Each goes to the aggregated case that now holds most of its target
    cases (ties: the smallest id), as ``GET /aggregated-cases/{oldId}``
    redirects; one none of whose cases remain stays where it was.

    :return: how many replies moved.
    """
    orphans = connection.execute(
        sa.select(_r.c.id).where(
            ~sa.select(aggregated_cases.c.id).where(aggregated_cases.c.id == _r.c.agg_id).exists()
        )
    ).all()
    moved = 0
    for (reply_id,) in orphans:
        statement = (
            sa.select(cases.c.agg_id, sa.func.count().label("n"))
            .select_from(
                _d.join(
                    cases, sa.and_(cases.c.source == _d.c.source, cases.c.source_id == _d.c.case_id)
                )
            )
            .where(_d.c.reply_id == reply_id)
            .group_by(cases.c.agg_id)
            .order_by(sa.desc("n"), cases.c.agg_id)
            .limit(1)
        )
        best = connection.execute(statement).first()
        if best is not None:
            connection.execute(sa.update(_r).where(_r.c.id == reply_id).values(agg_id=best[0]))
            moved += 1
    return moved


def pending_count(connection: sa.Connection, sources: Sequence[str]) -> int:
    """Pending delivery rows of the given sources."""
    if not sources:
        return 0
    statement = sa.select(sa.func.count()).where(
        _d.c.state == "pending", _d.c.source.in_(list(sources))
    )
    return int(connection.execute(statement).scalar_one())


def after_membership_change(
    connection: sa.Connection,
    touched: Iterable[str] | None,
    unwritable: Unwritable,
    now: dt.datetime,
) -> int:
    """Keep replies with their cases after cases joined or left aggregated cases.

    :param touched: the aggregated cases whose members changed; ``None``
        after a regroup, which may also have changed aggregated case ids:
        replies then follow their cases first (:func:`follow_regrouped`).
    :return: how many delivery rows auto-replies added.
    """
    if touched is None:
        follow_regrouped(connection)
    return add_auto_reply_targets(connection, touched, unwritable, now)
