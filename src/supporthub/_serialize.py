"""The one converter between the hub's attrs classes and the contract's JSON.

Field names become camelCase, timestamps become UTC strings with ``Z``, and a
case's ``source_id`` is published as ``id`` (always a string). The same
converter reads that JSON back (:func:`from_json_dict`) for the classes
registered both ways (the refresh reports, source states and health): one
set of renames serves both directions, so they cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
import orjson
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from supporthub._explain import ExplainedValues, ExplainStep, Explanation
from supporthub._models import (
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
from supporthub._overrides import CaseRef, Override, OverrideKind
from supporthub._replay import ReplayDiff
from supporthub._replies import Delivery, Reply, ReplyAccepted, ReplyPreview
from supporthub._steering import RuleChange
from supporthub._suggest import AliasSuggestion, GroupSuggestion, Suggestions
from supporthub._upgrade import CarriedOverride, RulesUpgrade
from supporthub._work import FieldChange, HistoryEntry, Lifecycle, WorkState

__all__ = [
    "converter",
    "format_timestamp",
    "from_json_dict",
    "iter_aggregated_json",
    "iter_listing_json",
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
converter.register_unstructure_hook(Status, lambda status: status.value)
converter.register_unstructure_hook(Trigger, lambda trigger: trigger.value)
converter.register_unstructure_hook(OverrideKind, lambda kind: kind.value)
converter.register_unstructure_hook(WorkState, lambda state: state.value)
converter.register_unstructure_hook(Lifecycle, lambda lifecycle: lifecycle.value)
converter.register_unstructure_hook(
    FieldChange, lambda change: {"field": change.field, "from": change.before, "to": change.after}
)


def _unstructure_key(key: AggregationKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "providerKey": key.provider_key,
        "errorCodeKey": key.error_code_key,
        "extra": [list(part) for part in key.extra],
    }


converter.register_unstructure_hook(AggregationKey, _unstructure_key)


def _register_camel(cls: type[Any], *, both_ways: bool = False, **overrides: Any) -> None:
    """camelCase names for ``cls``; with ``both_ways`` the JSON structures back too."""
    renames: dict[str, Any] = {
        field.name: override(rename=_camel(field.name)) for field in attrs.fields(cls)
    }
    renames.update(overrides)
    converter.register_unstructure_hook(cls, make_dict_unstructure_fn(cls, converter, **renames))
    if both_ways:
        converter.register_structure_hook(cls, make_dict_structure_fn(cls, converter, **renames))


_register_camel(Case, source_id=override(rename="id"))
_register_camel(AggregatedCase)
_register_camel(SourceState, both_ways=True)
_register_camel(
    SourceReport,
    both_ways=True,
    error=override(omit_if_default=True),
    duration_seconds=override(rename="durationSeconds", omit_if_default=True),
)
_register_camel(SourceHealth, both_ways=True)
_register_camel(Health, both_ways=True)
_register_camel(Override)
_register_camel(CaseRef, source_id=override(rename="id"))
_register_camel(ReplayDiff)
_register_camel(RuleChange)
_register_camel(ExplainStep)
_register_camel(ExplainedValues)
_register_camel(Explanation)
_register_camel(AliasSuggestion)
_register_camel(GroupSuggestion)
_register_camel(Suggestions)
_register_camel(CarriedOverride)


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
_register_camel(HistoryEntry)
_register_camel(Delivery)
_register_camel(ReplyAccepted)
_register_camel(ReplyPreview)
_register_camel(Reply)
_reply_fields = converter.get_unstructure_hook(Reply)


def _unstructure_reply(reply: Reply) -> dict[str, Any]:
    data: dict[str, Any] = _reply_fields(reply)
    data["state"] = reply.state
    data["autoReplyActive"] = reply.auto_reply_active
    return data


converter.register_unstructure_hook(Reply, _unstructure_reply)


def _unstructure_page(page: Page) -> dict[str, Any]:
    return {
        "aggregatedCases": [converter.unstructure(item) for item in page.aggregated_cases],
        "count": page.count,
        "total": page.total,
        "nextCursor": page.next_cursor,
        "refreshedAt": None if page.refreshed_at is None else format_timestamp(page.refreshed_at),
    }


def _unstructure_report(report: RefreshReport) -> dict[str, Any]:
    return {
        "refreshedAt": (
            None if report.refreshed_at is None else format_timestamp(report.refreshed_at)
        ),
        "startedAt": format_timestamp(report.started_at),
        "finishedAt": format_timestamp(report.finished_at),
        "trigger": report.trigger.value,
        "full": report.full,
        "ok": report.ok,
        "sources": {name: converter.unstructure(r) for name, r in report.sources.items()},
    }


converter.register_unstructure_hook(Page, _unstructure_page)
converter.register_unstructure_hook(RefreshReport, _unstructure_report)
_report_names: dict[str, Any] = {
    field.name: override(rename=_camel(field.name)) for field in attrs.fields(RefreshReport)
}
_structure_report_fields = make_dict_structure_fn(RefreshReport, converter, **_report_names)


def _structure_report(data: Mapping[str, Any], cls: type[RefreshReport]) -> RefreshReport:
    # ``ok`` is derived, so it is not read. Older stored reports may lack
    # ``full`` (they were not full resyncs) and ``refreshedAt`` (nothing yet).
    return _structure_report_fields({"full": False, "refreshedAt": None, **data}, cls)


converter.register_structure_hook(RefreshReport, _structure_report)


def to_json_dict(value: Any) -> Any:
    """Unstructure any of the hub's classes into the contract's JSON shape."""
    return converter.unstructure(value)


_T = TypeVar("_T")


def from_json_dict(data: Any, cls: type[_T]) -> _T:
    """Structure the contract's JSON shape back into ``cls`` (registered both ways).

    :raises cattrs.BaseValidationError: ``data`` is not what ``cls`` unstructures to.
    """
    return converter.structure(data, cls)


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
