"""A Strawberry ticket to the hub: its format declared once (:data:`TICKET`) and its mapping.

A ``deleted`` ticket is a tombstone (it needs only id, ``updated_at`` and status); the
provider and error code are the custom fields whose ids ``/v1/ticket_fields`` gives for
the keys ``provider`` and ``error_code``. ``requester`` is personal data: typed, never read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs
import msgspec

from supporthub import (
    Case,
    Field,
    MalformedRecord,
    RecordFormat,
    Status,
    Tombstone,
    custom_field_ids,
    id_field,
    parse_timestamp,
    read_optional_str,
)

__all__ = ["DELETED", "FIELDS_PATH", "STATUSES", "TICKET", "FieldIds", "TicketReader"]

#: Where the account's custom fields are listed.
FIELDS_PATH: Final = "/v1/ticket_fields"
#: Strawberry statuses and what they mean to the hub; :data:`DELETED` is a tombstone.
STATUSES: Final[Mapping[str, Status]] = {
    **dict.fromkeys(("new", "open", "pending", "hold"), Status.OPEN),
    **dict.fromkeys(("solved", "closed"), Status.CLOSED),
}
DELETED: Final = "deleted"
#: The source, the ticket URL without the id, and the provider and error code field ids.
Context = tuple[str, str, int, int]


def _custom(value: Any, name: str) -> str | None:
    if value is None or (type(value) is str and len(value) <= 255):
        return value
    return read_optional_str({name: value}, name, max_length=255)  # raises, in words


def _item(t: Any, context: Context) -> Case | Tombstone:
    """A typed ticket as a case, or a tombstone when deleted (the mapping of :data:`TICKET`)."""
    ticket_id, (source, url, provider_id, error_code_id) = str(t.id), context
    updated_at = parse_timestamp(t.updated_at, "updated_at")
    if t.status == DELETED:
        return Tombstone(ticket_id, updated_at)
    provider = error_code = None
    for entry in t.custom_fields or ():
        field_id = entry.get("id")
        if field_id == provider_id:
            provider = entry.get("value")
        elif field_id == error_code_id:
            error_code = entry.get("value")
    provider, error_code = _custom(provider, "provider"), _custom(error_code, "error_code")
    created_at = parse_timestamp(t.created_at, "created_at")
    return Case(source, ticket_id, ticket_id, t.subject, STATUSES[t.status], t.priority,
                provider, error_code, created_at, updated_at, url + ticket_id)  # fmt: skip


#: A Strawberry ticket, as the spec types it.
TICKET: Final = RecordFormat(
    "Strawberry",
    [
        id_field("id", "int", absent="is missing", wrong="is not an integer"),
        Field("updated_at", "timestamp", core=True),
        Field("status", choices=(*STATUSES, DELETED), core=True),
        *(Field(name, required=False) for name in ("subject", "priority", "description")),
        Field(
            "tags",
            "list[str]",
            required=False,
            wrong="is not a list of strings",
            wrong_item="is not a list of strings",
        ),
        Field("requester", "object", required=False, wrong="is not an object or null"),
        Field("created_at", "timestamp"),
        Field("custom_fields", "list[object]", required=False, wrong="is not a list"),
    ],
    _item,
    deleted=lambda ticket: ticket.get("status") == DELETED,
    records="tickets",
    envelope=[Field("meta", "object")],
    time_field="updated_at",  # a skipped ticket still moves the cursor when its time parses
    not_a_listing="without tickets and meta",
    not_an_object="the ticket is not an object",
)


@attrs.frozen
class FieldIds:
    """The ids of the account's ``provider`` and ``error_code`` custom fields."""

    provider: int
    error_code: int

    @classmethod
    def from_answer(cls, body: Any) -> FieldIds:
        """The ids in a ``/v1/ticket_fields`` answer (:func:`~supporthub.custom_field_ids`)."""
        keys = ("provider", "error_code")
        return cls(*custom_field_ids(body, title="Strawberry", path=FIELDS_PATH,
                                     listed="ticket_fields", keys=keys))  # fmt: skip


class TicketReader:
    """Reads decoded tickets of one account: :meth:`read` typed, :meth:`read_slowly` by field."""

    def __init__(self, fields: FieldIds, base_url: str, source: str = "strawberry") -> None:
        self.fields = fields
        self.context = (source, base_url.rstrip("/") + "/agent/tickets/", *attrs.astuple(fields))

    def read(self, ticket: Any) -> Case | Tombstone:
        """One ticket through the typed struct; what it refuses, :meth:`read_slowly` decides."""
        try:
            return _item(msgspec.convert(ticket, TICKET.struct), self.context)
        except (msgspec.ValidationError, MalformedRecord):
            return self.read_slowly(ticket)

    def read_slowly(self, ticket: Any) -> Case | Tombstone:
        """One ticket checked field by field; :class:`MalformedRecord` says what is wrong."""
        return TICKET.read(ticket, self.context)
