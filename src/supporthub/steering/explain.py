"""Why the cases of an aggregated case are together, in terms people can check.

For every distinct raw (provider, error code) pair among the members, the
explanation shows how many cases carry it and the key after each rule that
changed it (default key, aliases, plug-in rules, overrides), ending at the
aggregated case's key. Overrides that shape the aggregated case are listed
with who made them, when and why.
"""

from __future__ import annotations

import datetime as dt

import attrs

from supporthub.grouping.consolidate import KeyPipeline
from supporthub.grouping.overrides import CaseRef, Override, OverrideKind, OverrideRule
from supporthub.store.base import StoreReader
from supporthub.vocabulary.errors import NotFound
from supporthub.vocabulary.models import AggregationKey, Case, Status

__all__ = ["ExplainStep", "ExplainedValues", "Explanation", "explain"]

_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


@attrs.frozen
class ExplainStep:
    """The key right after one rule changed it."""

    rule: str
    key: AggregationKey


@attrs.frozen
class ExplainedValues:
    """Members that share raw values, and the way those values became the key.

    :ivar provider: as the CRMs spelled it.
    :ivar error_code: as the CRMs wrote it.
    :ivar steps: one per rule that changed the key, in order.
    """

    provider: str | None
    error_code: str | None
    case_count: int
    steps: tuple[ExplainStep, ...]


@attrs.frozen
class Explanation:
    """Why an aggregated case holds its cases.

    :ivar rules: the rule set, as ``name@version`` in the order they run.
    :ivar values: the members' raw values, most common first.
    :ivar overrides: the operators' decisions that shape this aggregated case.
    :ivar default_rules: the default rule set the database is grouped by
        (``default@2``), whose legal forms are ``legal_forms``.
    :ivar legal_forms: the legal forms that rule set drops from provider names.
    :ivar made_by: the rules that made this aggregated case, in words: the
        default rule set, then each further rule with a digest of what
        configures it (``default@2, overrides@1 #1a2b3c4d``).
    """

    id: str
    key: AggregationKey
    rules_version: str
    rules: tuple[str, ...]
    values: tuple[ExplainedValues, ...]
    overrides: tuple[Override, ...]
    default_rules: str = ""
    legal_forms: tuple[str, ...] = ()
    made_by: str = ""


def _steps(
    pipeline: KeyPipeline, provider: str | None, error_code: str | None
) -> list[ExplainStep]:
    # Rules see raw values only; a rule that needs more of a case (a move
    # override, a plug-in looking at the subject) is listed as an override
    # or shows no step here.
    probe = Case("", "", None, None, Status.OPEN, None, provider, error_code, _EPOCH, _EPOCH, None)
    key = AggregationKey(None, None)
    steps: list[ExplainStep] = []
    for rule in pipeline.rules:
        after = rule.apply(probe, key)
        if after != key or not steps:
            steps.append(ExplainStep(rule.name, after))
        key = after
    return steps


def _shaping(
    reader: StoreReader, pipeline: KeyPipeline, rule: OverrideRule, key: AggregationKey
) -> list[Override]:
    """The overrides that send cases to ``key``, or moved a case away from it."""
    without = KeyPipeline([r for r in pipeline.rules if r is not rule])
    found = []
    for override in rule.overrides:
        if override.kind is OverrideKind.ALIAS:
            relevant = rule.aliases.get(str(override.subject)) == key.provider_key
        elif override.kind is OverrideKind.MERGE:
            assert isinstance(override.subject, AggregationKey)
            relevant = rule.merges.get(override.subject) == key
        else:
            assert isinstance(override.subject, CaseRef)
            assert isinstance(override.target, AggregationKey)
            landed = rule.merges.get(override.target, override.target)
            stored = reader.case(override.subject.source, override.subject.source_id)
            came_from = stored is not None and without.key_for(stored[1]) == key
            relevant = landed == key or came_from
        if relevant:
            found.append(override)
    return found


def explain(reader: StoreReader, pipeline: KeyPipeline, agg_id: str) -> Explanation:
    """Explain the aggregated case ``agg_id`` as the store holds it now.

    :raises NotFound: no aggregated case has this id.
    """
    row = reader.get(agg_id)
    if row is None:
        raise NotFound(f"no aggregated case has the id {agg_id[:100]!r}")
    key = AggregationKey(row.provider_key, row.error_code_key, row.key_extra)
    values = tuple(
        ExplainedValues(provider, error_code, count, tuple(_steps(pipeline, provider, error_code)))
        for provider, error_code, count in reader.value_counts(agg_id)
    )
    shaping: list[Override] = []
    for rule in pipeline.rules:
        if isinstance(rule, OverrideRule):
            shaping = _shaping(reader, pipeline, rule, key)
    return Explanation(
        id=row.id,
        key=key,
        rules_version=row.rules_version,
        rules=tuple(f"{rule.name}@{rule.version}" for rule in pipeline.rules),
        values=values,
        overrides=tuple(shaping),
        default_rules=pipeline.rule_set.name,
        legal_forms=pipeline.rule_set.legal_forms,
        made_by=reader.rule_set_label(row.rules_version) or f"unrecorded ({row.rules_version})",
    )
