"""The one cattrs converter between the hub's attrs classes and the contract's JSON.

Field names become camelCase, timestamps become UTC strings with ``Z``, and a
case's ``source_id`` is published as ``id`` (always a string). The same
converter reads that JSON back (:func:`from_json_dict`) for the classes
registered both ways (the refresh reports, source states and health): one
set of renames serves both directions, so they cannot drift apart.

The vocabulary's own classes are declared here, below every layer, so that a
refresh can store its report without knowing the layers above;
:mod:`supporthub.serialize` declares the rest (steering's answers, the
listing's streamed JSON) on the same converter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from supporthub.vocabulary.models import (
    AggregatedCase,
    AggregationKey,
    Case,
    Health,
    Page,
    RefreshReport,
    SourceHealth,
    SourceReport,
    SourceState,
    Status,
    Trigger,
)
from supporthub.vocabulary.override_records import CaseRef, Override, OverrideKind
from supporthub.vocabulary.replies import Delivery, Reply, ReplyAccepted, ReplyPreview
from supporthub.vocabulary.work import FieldChange, HistoryEntry, Lifecycle, WorkState

__all__ = [
    "SENT",
    "Sent",
    "converter",
    "declare",
    "format_timestamp",
    "from_json_dict",
    "parse_timestamp",
    "to_json_dict",
]


def format_timestamp(value: dt.datetime) -> str:
    """Format an aware datetime as the contract's UTC string, ``…T10:02:11Z``.

    Sub-second parts are kept when present (milliseconds when they suffice).
    """
    value = value.astimezone(dt.UTC)
    if not value.microsecond:
        spec = "seconds"
    elif value.microsecond % 1000 == 0:
        spec = "milliseconds"
    else:
        spec = "microseconds"
    return value.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def parse_timestamp(value: str) -> dt.datetime:
    """Read a timestamp :func:`format_timestamp` wrote (``…Z``) back, aware UTC.

    :raises ValueError: not such a timestamp (naive ones included).
    """
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value[:40]!r} has no offset")
    return parsed.astimezone(dt.UTC)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


converter = cattrs.Converter()
"""Unstructures the hub's classes into the contract's camelCase JSON dicts, and back."""

converter.register_unstructure_hook(dt.datetime, format_timestamp)
converter.register_structure_hook(dt.datetime, lambda value, _: parse_timestamp(value))
converter.register_unstructure_hook(dt.date, dt.date.isoformat)
converter.register_unstructure_hook(Status, lambda status: status.value)
converter.register_unstructure_hook(Trigger, lambda trigger: trigger.value)
converter.register_unstructure_hook(OverrideKind, lambda kind: kind.value)
converter.register_unstructure_hook(WorkState, lambda state: state.value)
converter.register_unstructure_hook(Lifecycle, lambda lifecycle: lifecycle.value)


@attrs.frozen
class Sent:
    """How the converter sends one attrs class: the one declaration of its JSON shape.

    Every field is sent under its camelCase name unless :attr:`renames` says
    otherwise, and always, unless it is in :attr:`omit_if_default`. The
    read-only properties named in :attr:`properties` are sent too. The
    OpenAPI document's schemas are derived from the same declaration
    (``service/_schemas.py``), so a field cannot be sent one way and
    described another.
    """

    renames: Mapping[str, str] = attrs.field(factory=dict)
    omit_if_default: frozenset[str] = frozenset()
    properties: tuple[str, ...] = ()

    def json_name(self, name: str) -> str:
        """The JSON name of attribute or property ``name``."""
        return self.renames.get(name) or _camel(name)


#: Every class the contract's JSON carries, and how it is sent (see :func:`declare`).
SENT: dict[type[Any], Sent] = {
    Case: Sent(renames={"source_id": "id"}),
    AggregatedCase: Sent(),
    AggregationKey: Sent(properties=("id",)),
    Page: Sent(properties=("count",)),
    SourceState: Sent(),
    SourceReport: Sent(omit_if_default=frozenset({"error", "duration_seconds"})),
    RefreshReport: Sent(properties=("ok",)),
    SourceHealth: Sent(),
    Health: Sent(),
    Override: Sent(),
    CaseRef: Sent(renames={"source_id": "id"}),
    FieldChange: Sent(renames={"before": "from", "after": "to"}),
    HistoryEntry: Sent(),
    Delivery: Sent(),
    ReplyAccepted: Sent(),
    ReplyPreview: Sent(),
    Reply: Sent(properties=("state", "auto_reply_active")),
}


def _register(cls: type[Any], sent: Sent) -> None:
    fields: dict[str, Any] = {
        field.name: override(
            rename=sent.json_name(field.name),
            omit_if_default=field.name in sent.omit_if_default,
        )
        for field in attrs.fields(cls)
    }
    unstructure_fields = make_dict_unstructure_fn(cls, converter, **fields)
    if not sent.properties:
        converter.register_unstructure_hook(cls, unstructure_fields)
        return
    names = [(name, sent.json_name(name)) for name in sent.properties]

    def unstructure(value: Any) -> dict[str, Any]:
        data: dict[str, Any] = unstructure_fields(value)
        for name, json_name in names:
            data[json_name] = converter.unstructure(getattr(value, name))
        return data

    converter.register_unstructure_hook(cls, unstructure)


for _cls, _sent in SENT.items():
    _register(_cls, _sent)


def declare(cls: type[Any], sent: Sent) -> None:
    """Add ``cls`` to :data:`SENT` (the service's own answers) and send it so."""
    SENT[cls] = sent
    _register(cls, sent)


# An aggregation key keeps a hand-written hook over the declared one: the
# values differ (its parts as lists), the shape is the declared one, which the
# service tests check on every answer.
def _unstructure_key(key: AggregationKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "providerKey": key.provider_key,
        "errorCodeKey": key.error_code_key,
        "extra": [list(part) for part in key.extra],
    }


converter.register_unstructure_hook(AggregationKey, _unstructure_key)


# What the hub reads back (stored refresh reports, health), structured by the
# same declaration it is sent by: one path both ways.
def _register_structure(cls: type[Any], **defaults: Any) -> None:
    sent = SENT[cls]
    fields: dict[str, Any] = {
        field.name: override(rename=sent.json_name(field.name)) for field in attrs.fields(cls)
    }
    structure_fields = make_dict_structure_fn(cls, converter, **fields)
    if not defaults:
        converter.register_structure_hook(cls, structure_fields)
        return

    def structure(data: Mapping[str, Any], cls: type[Any]) -> Any:
        return structure_fields({**defaults, **data}, cls)

    converter.register_structure_hook(cls, structure)


for _cls in (SourceState, SourceReport, SourceHealth, Health):
    _register_structure(_cls)
# ``ok`` is derived, so it is not read. Older stored reports may lack
# ``full`` (they were not full resyncs) and ``refreshedAt`` (nothing yet).
_register_structure(RefreshReport, full=False, refreshedAt=None)


def to_json_dict(value: Any) -> Any:
    """Unstructure any of the hub's classes into the contract's JSON shape."""
    return converter.unstructure(value)


_T = TypeVar("_T")


def from_json_dict(data: Any, cls: type[_T]) -> _T:
    """Structure the contract's JSON shape back into ``cls`` (registered both ways).

    :raises cattrs.BaseValidationError: ``data`` is not what ``cls`` unstructures to.
    """
    return converter.structure(data, cls)
