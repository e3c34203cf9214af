"""Which aggregated case took over an id that a regroup retired.

When a regroup (a new default rule set, changed aliases, an override)
empties an aggregated case, its id is retired with the cases it held. Those
cases keep living in the ``cases`` table wherever later regroups put them,
so the successor of an old id is simply the aggregated case that holds most
of its former cases now (ties: the smallest id): chains of regroups resolve
by themselves, and an id none of whose cases remain has no successor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import sqlalchemy as sa

from supporthub.store.schema import aggregated_cases, cases, retired_ids

__all__ = ["retire", "successor", "successors"]

_CHUNK = 2000


def successors(connection: sa.Connection, old_id: str) -> list[tuple[str, int]]:
    """Where the former cases of ``old_id`` are now: ``(aggregated case id, count)``.

    Most cases first, ties by the smallest id; empty when ``old_id`` was
    never retired or none of its cases remain.
    """
    count = sa.func.count().label("n")
    statement = (
        sa.select(cases.c.agg_id, count)
        .select_from(
            retired_ids.join(
                cases,
                sa.and_(
                    cases.c.source == retired_ids.c.source,
                    cases.c.source_id == retired_ids.c.source_id,
                ),
            )
        )
        .where(retired_ids.c.old_id == old_id)
        .group_by(cases.c.agg_id)
        .order_by(count.desc(), cases.c.agg_id)
    )
    return [(str(agg_id), int(n)) for agg_id, n in connection.execute(statement)]


def successor(connection: sa.Connection, old_id: str) -> str | None:
    """The aggregated case that took over ``old_id``: it holds most of its former cases.

    ``None`` when ``old_id`` exists itself, was never retired, or none of
    its cases remain.
    """
    exists = connection.execute(
        sa.select(aggregated_cases.c.id).where(aggregated_cases.c.id == old_id)
    ).first()
    if exists is not None:
        return None
    found = successors(connection, old_id)
    return found[0][0] if found else None


def retire(connection: sa.Connection, departed: Mapping[str, Sequence[tuple[str, str]]]) -> None:
    """Record that each id of ``departed`` is gone, with the ``(source, source id)`` it held."""
    ids = list(departed)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        # An id that came back and went again is retired afresh.
        connection.execute(sa.delete(retired_ids).where(retired_ids.c.old_id.in_(chunk)))
    rows: Iterable[dict[str, str]] = (
        {"old_id": old_id, "source": source, "source_id": source_id}
        for old_id, members in departed.items()
        for source, source_id in members
    )
    batch: list[dict[str, str]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= _CHUNK:
            connection.execute(sa.insert(retired_ids), batch)
            batch = []
    if batch:
        connection.execute(sa.insert(retired_ids), batch)
