"""Replaying rules over all stored history: what a rule change would do.

Grouping is a pure function of the stored cases and the rules, so a change
to the rules (an alias, a plug-in's key, an operator's override) can be
replayed over every case, not only new ones. :func:`plan_regroup` computes
the new grouping and its :class:`ReplayDiff` without writing; previewing a
change and applying it run the very same plan, so the preview is exactly
what applying does.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Iterable, Mapping

import attrs

from supporthub.grouping.consolidate import AggregateRow, KeyPipeline, display_provider, spelling_of
from supporthub.vocabulary.models import AggregationKey, Case

__all__ = ["RegroupPlan", "ReplayDiff", "plan_regroup"]


@attrs.frozen
class ReplayDiff:
    """How a rule change regroups the stored cases.

    :ivar moved_cases: cases whose aggregated case changes.
    :ivar splits: aggregated cases whose cases would go to several others,
        each with the ids they go to.
    :ivar merges: aggregated cases that would receive cases from several,
        each with the ids they come from.
    :ivar appeared: aggregated case ids that do not exist yet.
    :ivar vanished: aggregated case ids that would hold no case any more.
    """

    moved_cases: int = 0
    splits: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    merges: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    appeared: tuple[str, ...] = ()
    vanished: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether the change moves nothing."""
        return self.moved_cases == 0


@attrs.define
class _Totals:
    """An aggregated case computed from all its members."""

    key: AggregationKey
    count: int = 0
    open: int = 0
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    spellings: collections.Counter[str] = attrs.field(factory=collections.Counter)

    def add(self, case: Case) -> None:
        self.count += 1
        self.open += case.is_open
        self.first = case.created_at if self.first is None else min(self.first, case.created_at)
        self.last = case.updated_at if self.last is None else max(self.last, case.updated_at)
        spelling = spelling_of(case)
        if spelling is not None:
            self.spellings[spelling] += 1


@attrs.frozen
class RegroupPlan:
    """The grouping under new rules: the diff, the moves, the new rows.

    :ivar moves: ``(new agg id, source, source id)`` of every case that moves.
    :ivar origins: for every aggregated case id after the regroup, the ids
        its cases were in before.
    :ivar departed: for every id that vanishes, the ``(source, source id)``
        of the cases it held (they say later where its successor is).
    :ivar flows: for every id before the regroup, how many of its cases
        went to each id after it.
    """

    diff: ReplayDiff
    moves: tuple[tuple[str, str, str], ...]
    totals: Mapping[str, _Totals]
    origins: Mapping[str, frozenset[str]] = attrs.field(factory=dict)
    departed: Mapping[str, tuple[tuple[str, str], ...]] = attrs.field(factory=dict)
    flows: Mapping[str, Mapping[str, int]] = attrs.field(factory=dict)

    def successors(self) -> dict[str, str]:
        """For every vanished id, the id that took over: the one holding most
        of its former cases (ties: the smallest id), as contract §3 says."""
        found = {}
        for old in self.diff.vanished:
            counts = self.flows.get(old)
            if counts:
                found[old] = min(counts, key=lambda new: (-counts[new], new))
        return found

    def rows(
        self, current: Mapping[str, AggregateRow], rules_version: str, now: dt.datetime
    ) -> list[AggregateRow]:
        """The aggregated case rows after the regroup.

        An id that exists keeps its lifecycle (first seen, regressed while
        still open). A regroup brings no new case, so an id it makes is as
        old as the oldest aggregated case its cases come from: undoing a
        merge brings the merged-away aggregated case back without a false
        *new*. Only an id with no known origin is first seen ``now``.
        """
        rows = []
        for agg_id, totals in self.totals.items():
            assert totals.first is not None
            assert totals.last is not None
            old = current.get(agg_id)
            seen = [current[o].first_seen_at for o in self.origins.get(agg_id, ()) if o in current]
            first_seen = old.first_seen_at if old is not None else min(seen, default=now)
            rows.append(
                AggregateRow(
                    id=agg_id,
                    provider_key=totals.key.provider_key,
                    error_code_key=totals.key.error_code_key,
                    key_extra=totals.key.extra,
                    provider=display_provider(totals.spellings, totals.key.provider_key),
                    case_count=totals.count,
                    open_case_count=totals.open,
                    first_created_at=totals.first,
                    last_updated_at=totals.last,
                    rules_version=rules_version,
                    first_seen_at=first_seen,
                    regressed_at=old.regressed_at if old is not None and totals.open else None,
                )
            )
        return rows


def plan_regroup(
    stored: Iterable[tuple[str, Case]], existing: Iterable[str], pipeline: KeyPipeline
) -> RegroupPlan:
    """Group ``stored`` (``(current agg id, case)`` pairs) under ``pipeline``.

    :param existing: the aggregated case ids stored now.
    """
    totals: dict[str, _Totals] = {}
    moves: list[tuple[str, str, str]] = []
    targets: dict[str, set[str]] = collections.defaultdict(set)
    sources: dict[str, set[str]] = collections.defaultdict(set)
    left: dict[str, list[tuple[str, str]]] = collections.defaultdict(list)
    flows: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for old_id, case in stored:
        key, new_id = pipeline.keyed(case)
        totals.setdefault(new_id, _Totals(key)).add(case)
        targets[old_id].add(new_id)
        sources[new_id].add(old_id)
        flows[old_id][new_id] += 1
        if new_id != old_id:
            moves.append((new_id, case.source, case.source_id))
            left[old_id].append((case.source, case.source_id))
    before = set(existing)
    diff = ReplayDiff(
        moved_cases=len(moves),
        splits={old: tuple(sorted(new)) for old, new in sorted(targets.items()) if len(new) > 1},
        merges={new: tuple(sorted(old)) for new, old in sorted(sources.items()) if len(old) > 1},
        appeared=tuple(sorted(set(totals) - before)),
        vanished=tuple(sorted(before - set(totals))),
    )
    return RegroupPlan(
        diff=diff,
        moves=tuple(moves),
        totals=totals,
        origins={new: frozenset(old) for new, old in sources.items()},
        departed={old: tuple(left[old]) for old in diff.vanished if old in left},
        flows=flows,
    )
