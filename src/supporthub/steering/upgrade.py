"""Moving a database to a new default rule set (``supporthub db upgrade``), losing nothing.

The hub keeps every case's raw provider and error code, so the new rules
regroup every stored case without the CRMs (the same plan as any rule
change: :func:`~supporthub.grouping.replay.plan_regroup`). The operators' overrides
name keys made by the old rules (an alias from ``acme s a``, a merge of
``(acme s a, 1042)``); they are carried over to the keys the new rules make
for the same cases, so each keeps its effect. An override that the new
rules make pointless (both sides now share a key) is retired, and one that
would close a cycle with another is retired too, each saying so.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Sequence

import attrs

from supporthub.grouping.consolidate import KeyPipeline
from supporthub.grouping.overrides import Override, OverrideKind, OverrideRule
from supporthub.grouping.replay import ReplayDiff, plan_regroup
from supporthub.grouping.rulesets import RuleSet
from supporthub.vocabulary.errors import InvalidQuery
from supporthub.vocabulary.models import AggregationKey, Case

__all__ = [
    "CarriedOverride",
    "RulesUpgrade",
    "carry_overrides",
    "plan_upgrade",
    "replacements",
]


@attrs.frozen
class CarriedOverride:
    """How one override reads under the new rules.

    :ivar becomes: the overrides that replace it (empty: it is retired, as
        ``reason`` says); ``(original,)`` when nothing changes.
    """

    original: Override
    becomes: tuple[Override, ...]
    reason: str = ""

    @property
    def changed(self) -> bool:
        """Whether the override is rewritten or retired."""
        return self.becomes != (self.original,)


@attrs.frozen
class RulesUpgrade:
    """A pending (or applied) move from one default rule set to another.

    :ivar from_rules: the default rule set the stored cases are grouped by.
    :ivar to_rules: the one this version of the hub brings.
    :ivar diff: how the stored cases regroup (empty when nothing is pending).
    :ivar overrides: how each active override is carried over.
    """

    from_rules: str
    to_rules: str
    diff: ReplayDiff
    overrides: tuple[CarriedOverride, ...] = ()
    applied: bool = False

    @property
    def pending(self) -> bool:
        """Whether the database is grouped by an older default rule set."""
        return self.from_rules != self.to_rules and not self.applied


class _KeyMap:
    """For each key part under the old rules, the parts the new rules make of the same cases."""

    def __init__(self, new_key: RuleSet) -> None:
        self.providers: dict[str | None, collections.Counter[str | None]] = {}
        self.codes: dict[str | None, collections.Counter[str | None]] = {}
        self.new_key = new_key

    def add(self, old: AggregationKey, new: AggregationKey) -> None:
        self.providers.setdefault(old.provider_key, collections.Counter())[new.provider_key] += 1
        self.codes.setdefault(old.error_code_key, collections.Counter())[new.error_code_key] += 1

    @staticmethod
    def _ranked(counts: collections.Counter[str | None] | None) -> list[str | None]:
        if not counts:
            return []
        return sorted(counts, key=lambda part: (-counts[part], part is None, part or ""))

    def providers_of(self, old: str | None) -> list[str | None]:
        """Every provider key the cases of ``old`` get, most cases first."""
        found = self._ranked(self.providers.get(old))
        # No stored case carries it: the key of the key is the best guess.
        return found or [old if old is None else self.new_key.provider_key(old)]

    def codes_of(self, old: str | None) -> list[str | None]:
        found = self._ranked(self.codes.get(old))
        return found or [old if old is None else self.new_key.error_code_key(old)]

    def keys_of(self, old: AggregationKey) -> list[AggregationKey]:
        return [
            AggregationKey(p, e, old.extra)
            for p in self.providers_of(old.provider_key)
            for e in self.codes_of(old.error_code_key)
        ]

    def key_of(self, old: AggregationKey) -> AggregationKey:
        return self.keys_of(old)[0]


def _carry(override: Override, keys: _KeyMap) -> tuple[list[Override], str]:
    if override.kind is OverrideKind.ALIAS:
        assert isinstance(override.subject, str)
        assert isinstance(override.target, str)
        target = keys.providers_of(override.target)[0]
        spellings = [s for s in keys.providers_of(override.subject) if s not in (target, None)]
        if target is None or not spellings:
            return [], "the new rules give both spellings one key already"
        return [attrs.evolve(override, subject=s, target=target) for s in spellings], ""
    assert isinstance(override.target, AggregationKey)
    target_key = keys.key_of(override.target)
    if override.kind is OverrideKind.MOVE:
        return [attrs.evolve(override, target=target_key)], ""
    assert isinstance(override.subject, AggregationKey)
    subjects = [k for k in keys.keys_of(override.subject) if k != target_key]
    if not subjects:
        return [], "the new rules group both aggregated cases together already"
    return [attrs.evolve(override, subject=s, target=target_key) for s in subjects], ""


def carry_overrides(
    stored: Iterable[Case], old: KeyPipeline, new: KeyPipeline, active: Sequence[Override]
) -> list[CarriedOverride]:
    """Carry ``active`` (made under ``old``) over to ``new``, keeping their effect.

    :param old: the rules without overrides, under the old default rule set.
    :param new: the same rules under the new default rule set.
    """
    keys = _KeyMap(new.rule_set)
    for case in stored:
        keys.add(old.key_for(case), new.key_for(case))
    carried: list[CarriedOverride] = []
    kept: list[Override] = []
    for override in active:
        made, reason = _carry(override, keys)
        if made and made != [override]:
            try:
                OverrideRule([*kept, *made])
            except InvalidQuery:
                made, reason = [], "it would form a cycle with another override under the new rules"
        kept.extend(made)
        carried.append(CarriedOverride(override, tuple(made), reason))
    return carried


def plan_upgrade(
    stored: Callable[[], Iterable[tuple[str, Case]]],
    existing: Iterable[str],
    base: KeyPipeline,
    active: Sequence[Override],
    to_rules: RuleSet,
) -> tuple[RulesUpgrade, KeyPipeline]:
    """What moving ``base`` (rules without overrides) to ``to_rules`` does.

    :param stored: gives every stored ``(aggregated case id, case)``, each
        call afresh (two passes: the overrides, then the regroup).
    :returns: the upgrade and the pipeline (overrides carried over) it groups by.
    """
    new_base = base.under(to_rules)
    carried = carry_overrides((case for _, case in stored()), base, new_base, active)
    overrides = [o for c in carried for o in c.becomes]
    pipeline = KeyPipeline([*new_base.rules, OverrideRule(overrides)]) if overrides else new_base
    diff = plan_regroup(stored(), existing, pipeline).diff
    upgrade = RulesUpgrade(base.rule_set.name, to_rules.name, diff, tuple(carried))
    return upgrade, pipeline


def replacements(carried: Iterable[CarriedOverride]) -> list[Override]:
    """The overrides that replace the changed ones (they keep the original who, when, why)."""
    return [
        attrs.evolve(o, id=None, reason=f"{o.reason} (carried over from override {c.original.id})")
        for c in carried
        if c.changed
        for o in c.becomes
    ]
