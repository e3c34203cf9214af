"""An operator's override as a record: what it says, and how it is stored as text.

Vocabulary, below both the store (which keeps overrides) and grouping
(``grouping.overrides.OverrideRule`` applies them): no rules here.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import attrs
import orjson

from supporthub.vocabulary.models import AggregationKey

__all__ = [
    "CaseRef",
    "Override",
    "OverrideKind",
    "Subject",
    "decode_subject",
    "decode_target",
    "encode_part",
    "key_from_json",
    "key_to_json",
]


class OverrideKind(enum.StrEnum):
    """What an override does."""

    ALIAS = "alias"
    MERGE = "merge"
    MOVE = "move"


@attrs.frozen(order=True)
class CaseRef:
    """A case by its source and its id in that source."""

    source: str
    source_id: str


Subject = str | AggregationKey | CaseRef


@attrs.frozen
class Override:
    """One operator decision: who, when, why, and whether it was undone.

    :ivar subject: what it applies to: a provider key (alias), an aggregation
        key (merge), a case (move).
    :ivar target: where that goes: a provider key (alias) or an aggregation key.
    """

    id: int | None
    kind: OverrideKind
    subject: Subject
    target: str | AggregationKey
    created_at: dt.datetime
    created_by: str
    reason: str
    removed_at: dt.datetime | None = None
    removed_by: str | None = None

    @property
    def active(self) -> bool:
        """Not undone."""
        return self.removed_at is None


def key_to_json(key: AggregationKey) -> Any:
    """An aggregation key as JSON-able data."""
    return [key.provider_key, key.error_code_key, [list(part) for part in key.extra]]


def key_from_json(data: Any) -> AggregationKey:
    """An aggregation key back from :func:`key_to_json`'s data."""
    provider, error_code, extra = data
    return AggregationKey(provider, error_code, tuple((str(k), str(v)) for k, v in extra))


def encode_part(kind: OverrideKind, value: Subject) -> str:
    """A subject or target as stored text."""
    if isinstance(value, AggregationKey):
        return orjson.dumps(key_to_json(value)).decode()
    if isinstance(value, CaseRef):
        return orjson.dumps([value.source, value.source_id]).decode()
    return orjson.dumps(value).decode()


def decode_subject(kind: OverrideKind, text: str) -> Subject:
    """A stored subject back."""
    data = orjson.loads(text)
    if kind is OverrideKind.ALIAS:
        return str(data)
    if kind is OverrideKind.MOVE:
        return CaseRef(str(data[0]), str(data[1]))
    return key_from_json(data)


def decode_target(kind: OverrideKind, text: str) -> str | AggregationKey:
    """A stored target back."""
    data = orjson.loads(text)
    return str(data) if kind is OverrideKind.ALIAS else key_from_json(data)
