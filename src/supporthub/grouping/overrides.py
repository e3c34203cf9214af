"""Operators' decisions about grouping, kept as rules that every refresh applies.

Three kinds, each reversible (undo marks it removed; the grouping it made
is replayed away):

- **alias**: a provider key means another (``acme pay`` → ``acme payments``),
  like ``SUPPORTHUB_PROVIDER_ALIASES`` but decided in the hub, e.g. by
  accepting a suggestion;
- **merge**: every case of one aggregation key goes to another key, so the
  two aggregated cases become one, and new cases of the first key follow;
- **move**: one case leaves its aggregated case, for another one or for an
  aggregated case of its own.

:class:`OverrideRule` applies them as the last key rule, after the default
key, the aliases and plug-in rules: aliases, then moves, then merges
(so a case moved into a merged key follows the merge).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import orjson

from supporthub.grouping.consolidate import KeyRule
from supporthub.vocabulary.errors import InvalidQuery
from supporthub.vocabulary.models import AggregationKey, Case
from supporthub.vocabulary.override_records import (
    CaseRef,
    Override,
    OverrideKind,
    decode_subject,
    decode_target,
    encode_part,
    key_from_json,
    key_to_json,
)

__all__ = [
    "CaseRef",
    "Override",
    "OverrideKind",
    "OverrideRule",
    "decode_subject",
    "decode_target",
    "encode_part",
    "key_from_json",
    "key_to_json",
]


def _resolve(mapping: Mapping[Any, Any], start: Any) -> Any:
    seen = [start]
    current = start
    while current in mapping:
        current = mapping[current]
        if current in seen:
            raise InvalidQuery("these overrides would form a cycle; undo one of them first")
        seen.append(current)
    return current


class OverrideRule(KeyRule):
    """Applies the active overrides; the last rule of every pipeline that has any."""

    name = "overrides"
    order = 10_000

    def __init__(self, overrides: Iterable[Override]) -> None:
        self.overrides = tuple(o for o in overrides if o.active)
        aliases: dict[str, str] = {}
        merges: dict[AggregationKey, AggregationKey] = {}
        self.moves: dict[tuple[str, str], AggregationKey] = {}
        for override in self.overrides:
            if override.kind is OverrideKind.ALIAS:
                assert isinstance(override.subject, str)
                assert isinstance(override.target, str)
                aliases[override.subject] = override.target
            elif override.kind is OverrideKind.MERGE:
                assert isinstance(override.subject, AggregationKey)
                assert isinstance(override.target, AggregationKey)
                merges[override.subject] = override.target
            else:
                assert isinstance(override.subject, CaseRef)
                assert isinstance(override.target, AggregationKey)
                ref = (override.subject.source, override.subject.source_id)
                self.moves[ref] = override.target
        self.aliases = {key: _resolve(aliases, key) for key in aliases}
        self.merges = {key: _resolve(merges, key) for key in merges}

    def apply(self, case: Case, key: AggregationKey) -> AggregationKey:
        if self.aliases and key.provider_key in self.aliases:
            key = attrs.evolve(key, provider_key=self.aliases[key.provider_key])
        if self.moves:
            key = self.moves.get((case.source, case.source_id), key)
        if self.merges:
            key = self.merges.get(key, key)
        return key

    def reads(self) -> frozenset[str] | None:
        # A case moved by hand is found by its source and id: a key per case.
        return None if self.moves else frozenset()

    def fingerprint(self) -> str:
        decisions = sorted(
            (o.kind.value, encode_part(o.kind, o.subject), encode_part(o.kind, o.target))
            for o in self.overrides
        )
        return orjson.dumps(decisions).decode()

    def search_provider_key(self, key: str) -> str:
        return str(self.aliases.get(key, key))
