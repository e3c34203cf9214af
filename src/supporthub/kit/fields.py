"""Strict readers for the fields of a CRM record.

Each raises :class:`MalformedRecord` with a reason in words when a field is
missing or has a JSON type the CRM's spec does not allow, so adapters read a
record in a few lines and skip it cleanly when it is wrong.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from supporthub.vocabulary.errors import MalformedRecord

__all__ = [
    "MAX_FIELD_LENGTH",
    "read_bool",
    "read_id",
    "read_optional_str",
    "read_str",
    "read_timestamp",
]

#: Longest provider or error code the hub accepts (contract §4).
MAX_FIELD_LENGTH = 255

_TIMESTAMP = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?P<fraction>\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})$"
)


def _type_name(value: object) -> str:
    return (
        {
            bool: "a boolean",
            int: "a number",
            float: "a number",
            str: "a string",
            list: "a list",
            dict: "an object",
        }.get(type(value), type(value).__name__)
        if value is not None
        else "null"
    )


def read_id(record: Mapping[str, Any], field: str) -> str:
    """A record id: a non-empty string or an integer, returned as a string."""
    value = record.get(field)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MalformedRecord(f"{field} is {_type_name(value)}, not an id")
    text = str(value)
    if not text.strip():
        raise MalformedRecord(f"{field} is empty")
    if len(text) > MAX_FIELD_LENGTH:
        raise MalformedRecord(f"{field} is longer than {MAX_FIELD_LENGTH} characters")
    return text


def read_str(record: Mapping[str, Any], field: str, *, max_length: int | None = None) -> str:
    """A string field that must be present and not null."""
    value = record.get(field)
    if not isinstance(value, str):
        raise MalformedRecord(f"{field} is {_type_name(value)}, expected a string")
    if max_length is not None and len(value) > max_length:
        raise MalformedRecord(f"{field} is longer than {max_length} characters")
    return value


def read_optional_str(
    record: Mapping[str, Any], field: str, *, max_length: int | None = None
) -> str | None:
    """A string field that may be absent or null."""
    value = record.get(field)
    if value is None:
        return None
    return read_str(record, field, max_length=max_length)


def read_bool(record: Mapping[str, Any], field: str) -> bool:
    """A boolean field that must be present (``IsClosed``)."""
    value = record.get(field)
    if not isinstance(value, bool):
        raise MalformedRecord(f"{field} is {_type_name(value)}, expected a boolean")
    return value


def read_timestamp(record: Mapping[str, Any], field: str) -> dt.datetime:
    """An ISO 8601 timestamp with an offset (``Z``, ``+0000``, ``+02:00``), as aware UTC.

    Fractions beyond microseconds are cut, not rounded.
    """
    value = record.get(field)
    if not isinstance(value, str):
        raise MalformedRecord(f"{field} is {_type_name(value)}, expected a timestamp")
    match = _TIMESTAMP.match(value)
    if match is None:
        raise MalformedRecord(f"{field} is not an ISO 8601 timestamp with an offset")
    fraction = match["fraction"]
    if fraction and len(fraction) > 7:
        value = value.replace(fraction, fraction[:7], 1)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise MalformedRecord(f"{field} is not a valid date and time") from None
    return parsed.astimezone(dt.UTC)
