"""The contract's JSON for everything the hub answers: one converter, streamed listings.

The converter and the vocabulary's classes are in :mod:`supporthub.vocabulary.converter`
(below every layer); the answers of the layers above it (steering,
explanations, suggestions, rule upgrades) are declared here on the same
converter, and listings are encoded as they are read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson

from supporthub.grouping.replay import ReplayDiff
from supporthub.steering.explain import ExplainedValues, ExplainStep, Explanation
from supporthub.steering.rule_changes import RuleChange
from supporthub.steering.suggest import AliasSuggestion, GroupSuggestion, Suggestions
from supporthub.steering.upgrade import CarriedOverride, RulesUpgrade
from supporthub.vocabulary.converter import (
    SENT,
    Sent,
    converter,
    declare,
    format_timestamp,
    from_json_dict,
    parse_timestamp,
    to_json_dict,
)
from supporthub.vocabulary.models import AggregatedCase, Case

__all__ = [
    "SENT",
    "Sent",
    "converter",
    "declare",
    "format_timestamp",
    "from_json_dict",
    "iter_aggregated_json",
    "iter_listing_json",
    "parse_timestamp",
    "to_json_dict",
]

# In this order: a class is declared after the classes its fields hold.
for _cls, _sent in (
    (ReplayDiff, Sent()),
    (RuleChange, Sent()),
    (ExplainStep, Sent()),
    (ExplainedValues, Sent()),
    (Explanation, Sent()),
    (AliasSuggestion, Sent()),
    (GroupSuggestion, Sent()),
    (Suggestions, Sent()),
    (CarriedOverride, Sent()),
    (RulesUpgrade, Sent(properties=("pending",))),
):
    declare(_cls, _sent)


# A rules upgrade keeps a hand-written hook over the declared one: it sends only
# the carried overrides that changed; the shape is the declared one.
def _unstructure_upgrade(upgrade: RulesUpgrade) -> dict[str, Any]:
    return {
        "fromRules": upgrade.from_rules,
        "toRules": upgrade.to_rules,
        "pending": upgrade.pending,
        "applied": upgrade.applied,
        "diff": converter.unstructure(upgrade.diff),
        "overrides": [converter.unstructure(c) for c in upgrade.overrides if c.changed],
    }


converter.register_unstructure_hook(RulesUpgrade, _unstructure_upgrade)


_CHUNK_BYTES = 64 * 1024


def _encode_aggregated(
    buffer: bytearray, aggregated: AggregatedCase, members: Iterable[Case]
) -> Iterator[bytes]:
    """Append one aggregated case with its cases to ``buffer``, yielding full chunks.

    The cases are encoded one at a time as they are read, so one big
    aggregated case never sits in memory whole.
    """
    head = converter.unstructure(aggregated)
    del head["cases"]
    buffer += orjson.dumps(head)[:-1]
    buffer += b',"cases":['
    first = True
    for case in members:
        if not first:
            buffer += b","
        first = False
        buffer += orjson.dumps(converter.unstructure(case))
        if len(buffer) >= _CHUNK_BYTES:
            yield bytes(buffer)
            buffer.clear()
    buffer += b"]}"


def iter_aggregated_json(
    aggregated: AggregatedCase,
    members: Iterable[Case],
    *,
    extra: Mapping[str, object] | None = None,
) -> Iterator[bytes]:
    """One aggregated case with ``members`` as its cases, as JSON in chunks of about 64 kB.

    :param extra: more top-level fields, after the cases (``nextCasesCursor``).
    """
    buffer = bytearray()
    yield from _encode_aggregated(buffer, aggregated, members)
    if extra:
        buffer[-1:] = b","
        buffer += orjson.dumps(dict(extra))[1:]
    yield bytes(buffer)


def iter_listing_json(
    items: Iterable[tuple[AggregatedCase, Iterable[Case]]],
    *,
    total: int,
    next_cursor: str | None,
    refreshed_at: dt.datetime | None,
) -> Iterator[bytes]:
    """The listing answer of the contract as JSON, in chunks of about 64 kB.

    Aggregated cases and their cases are encoded one at a time as they are
    read, so memory does not grow with the size of the answer.
    """
    buffer = bytearray(b'{"aggregatedCases":[')
    count = 0
    for aggregated, members in items:
        if count:
            buffer += b","
        count += 1
        yield from _encode_aggregated(buffer, aggregated, members)
        if len(buffer) >= _CHUNK_BYTES:
            yield bytes(buffer)
            buffer.clear()
    tail = {
        "count": count,
        "total": total,
        "nextCursor": next_cursor,
        "refreshedAt": None if refreshed_at is None else format_timestamp(refreshed_at),
    }
    buffer += b"],"
    buffer += orjson.dumps(tail)[1:]
    yield bytes(buffer)
