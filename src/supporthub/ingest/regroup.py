"""Grouping written through the store: a refresh's changes, or every case regrouped.

Grouping decides (``grouping.consolidate.apply_changes``, ``grouping.replay.plan_regroup``,
both pure); the store's writer reads and writes rows (``store.base``).
This module joins the two, so that neither knows the other.
"""

from __future__ import annotations

import datetime as dt

from supporthub.grouping.consolidate import AggregateChanges, KeyPipeline, apply_changes
from supporthub.grouping.replay import ReplayDiff, plan_regroup
from supporthub.query.listing import Query
from supporthub.store.base import StoreWriter

__all__ = ["apply_aggregate_changes", "regroup"]


def apply_aggregate_changes(
    writer: StoreWriter, changes: AggregateChanges, rules_version: str, now: dt.datetime
) -> int:
    """Rewrite the aggregated cases ``changes`` touched; return how many.

    A fixed aggregated case that received a new open case becomes regressed
    (contract §7).
    """
    touched = sorted(changes.touched)
    if not touched:
        return 0
    applied = apply_changes(
        changes,
        writer.aggregates(touched),
        writer.spellings(touched),
        writer.bounds,
        rules_version=rules_version,
        now=now,
    )
    writer.write_aggregates(applied.rows, applied.deleted, applied.spellings)
    writer.regress(sorted(changes.arrivals - applied.deleted), now)
    return len(touched)


def regroup(writer: StoreWriter, pipeline: KeyPipeline, now: dt.datetime) -> ReplayDiff:
    """Regroup every stored case under ``pipeline`` and record it; return what moved.

    Used when the rules changed (aliases edited, a plug-in rule added or
    upgraded, an override made or undone): old and new cases then follow
    the same rules.
    """
    existing = {row.id: row for row in writer.iter_rows(Query())}
    plan = plan_regroup(writer.iter_all_cases(), existing, pipeline)
    writer.move_cases(plan.moves)
    rows = [
        row for row in plan.rows(existing, pipeline.version, now) if row != existing.get(row.id)
    ]
    changed = {row.id for row in rows} | set(plan.diff.vanished)
    writer.write_aggregates(
        rows,
        frozenset(plan.diff.vanished),
        {
            agg_id: dict(plan.totals[agg_id].spellings) if agg_id in plan.totals else {}
            for agg_id in changed
        },
    )
    writer.retire(plan.departed)
    # The work of an aggregated case regrouped away follows its cases.
    writer.carry_work(plan.successors(), now)
    writer.record_rules(pipeline.version, pipeline.rule_set.name, pipeline.label)
    return plan.diff
