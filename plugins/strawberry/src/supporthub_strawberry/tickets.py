"""What a Strawberry ticket means to the hub: a case, a tombstone, or a skipped record.

:class:`TicketReader` reads a decoded ticket in two ways that always agree:

- :meth:`~TicketReader.read_slowly` is the reference: field by field, with
  the core's ``read_*`` readers, saying in words what is wrong;
- :meth:`~TicketReader.read` is the hot path for the common ticket (integer
  id, ``...Z`` timestamps, a known status, fields of the right types). At
  the first thing it does not expect it hands the ticket to
  :meth:`~TicketReader.read_slowly`, which decides.

A property test holds them equal on generated tickets, so the speed of the
one never changes what the other means.

The rules (``strawberry-crm-api.md``, hub contract §3 and §4):

- ``new``, ``open``, ``pending``, ``hold`` → open; ``solved``, ``closed`` →
  closed; ``deleted`` → a tombstone, which needs only a usable id and
  ``updated_at`` (a deletion is honoured even when the rest is odd);
- a case's id and number are the ticket id as a string, its URL
  ``{base}/agent/tickets/{id}``;
- the provider and error code are the custom fields whose ids the account's
  ``/v1/ticket_fields`` gives for the keys ``provider`` and ``error_code``;
  a missing entry or a null value is ``None``, and the case is still kept;
- malformed: no integer id, a field of a JSON type the spec does not allow,
  a timestamp that does not parse, a status the spec does not know, a
  provider or error code over 255 characters;
- ``requester`` is personal data: it is type-checked, never read, never
  named in an error; unknown extra fields are ignored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

import attrs

from supporthub import (
    Case,
    MalformedPage,
    MalformedRecord,
    SourceError,
    Status,
    Tombstone,
    read_optional_str,
    read_str,
    read_timestamp,
)

__all__ = [
    "DELETED",
    "FIELDS_PATH",
    "MAX_FIELD_LENGTH",
    "STATUSES",
    "FieldIds",
    "TicketReader",
]

#: Longest provider or error code the hub takes (hub contract §4).
MAX_FIELD_LENGTH: Final = 255

#: Where the account's custom fields are listed.
FIELDS_PATH: Final = "/v1/ticket_fields"

#: Strawberry statuses and what they mean to the hub; :data:`DELETED` is a tombstone.
STATUSES: Final[Mapping[str, Status]] = {
    "new": Status.OPEN,
    "open": Status.OPEN,
    "pending": Status.OPEN,
    "hold": Status.OPEN,
    "solved": Status.CLOSED,
    "closed": Status.CLOSED,
}
DELETED: Final = "deleted"

# Bound once: the hot path looks up one global, not an attribute chain.
_fromisoformat = dt.datetime.fromisoformat

_SPEC_STATUSES: Final = ", ".join([*STATUSES, DELETED])


@attrs.frozen
class FieldIds:
    """The ids of the two custom fields the hub reads, in one Strawberry account.

    Ids differ from one account to the next, so they are looked up by
    ``key`` at the start of every sync (:meth:`from_answer`).
    """

    provider: int
    error_code: int

    @classmethod
    def from_answer(cls, body: Any) -> FieldIds:
        """Read the ids from a ``/v1/ticket_fields`` answer, matching on ``key``.

        :raises MalformedPage: the answer has not the spec's shape.
        :raises SourceError: the account lacks the ``provider`` or
            ``error_code`` field, or has two of one: it is misconfigured.
        """
        fields = body.get("ticket_fields") if isinstance(body, dict) else None
        if not isinstance(fields, list):
            raise MalformedPage(f"Strawberry answered {FIELDS_PATH} without a ticket_fields list")
        keys = [f.get("key") if isinstance(f, dict) else None for f in fields]
        ids: dict[str, int] = {}
        for key in ("provider", "error_code"):
            matching = [f.get("id") for f, k in zip(fields, keys, strict=True) if k == key]
            if not matching:
                present = sorted(k for k in keys if isinstance(k, str))
                raise SourceError(
                    f"Strawberry account is misconfigured: no ticket field has the key "
                    f"{key!r} (its keys: {', '.join(present) or 'none'}); without it no "
                    f"case can be consolidated by provider and error code"
                )
            if len(matching) > 1:
                raise SourceError(
                    f"Strawberry account is misconfigured: {len(matching)} ticket fields "
                    f"have the key {key!r}, so which one holds the value is unclear"
                )
            field_id = matching[0]
            if isinstance(field_id, bool) or not isinstance(field_id, int):
                raise MalformedPage(
                    f"Strawberry answered {FIELDS_PATH} with an id of {key!r} that is not a number"
                )
            ids[key] = field_id
        if ids["provider"] == ids["error_code"]:
            raise SourceError(
                "Strawberry account is misconfigured: its provider and error_code ticket "
                "fields have the same id"
            )
        return cls(provider=ids["provider"], error_code=ids["error_code"])


class TicketReader:
    """Turns decoded tickets into cases and tombstones (see the module docstring).

    :param fields: the account's custom field ids.
    :param base_url: the account's base URL; ticket URLs are built on it.
    :param source: the source name cases carry.
    """

    def __init__(self, fields: FieldIds, base_url: str, source: str = "strawberry") -> None:
        self.fields = fields
        self.source = source
        self._provider_id, self._error_code_id = fields.provider, fields.error_code
        self._ticket_url = base_url.rstrip("/") + "/agent/tickets/"

    def read(self, ticket: Any) -> Case | Tombstone:
        """One ticket as a case, or as a tombstone when it is deleted.

        Runs for every ticket of every sync, so it is written for speed: one
        function, subscripts and identity checks, no message built, the case
        made with positional arguments. Whatever it does not expect (a
        missing key, another type, another timestamp form, a deleted
        ticket), :meth:`read_slowly` decides.

        :raises MalformedRecord: the ticket breaks the spec; the message says
            how, without any of its content.
        """
        try:
            ticket_id = ticket["id"]
            status = STATUSES[ticket["status"]]
            subject = ticket["subject"]
            priority = ticket["priority"]
            description = ticket["description"]
            tags = ticket["tags"]
            requester = ticket["requester"]
            custom = ticket["custom_fields"]
            updated = ticket["updated_at"]
            created = ticket["created_at"]
        except (KeyError, TypeError):  # not an object, a key left out, another status
            return self.read_slowly(ticket)
        if (
            type(ticket_id) is not int
            # Timestamps: with 20 characters, "-" at 7, "T" at 10 and ":" at
            # 16, the only form datetime.fromisoformat reads is the spec's
            # YYYY-MM-DDTHH:MM:SSZ (not week dates, other separators, the
            # basic format); the tests hold this against the core's reader.
            or type(updated) is not str
            or len(updated) != 20
            or updated[10] != "T"
            or updated[7] != "-"
            or updated[16] != ":"
            or type(created) is not str
            or len(created) != 20
            or created[10] != "T"
            or created[7] != "-"
            or created[16] != ":"
            # The common type first: a null is the rarer case.
            or (type(subject) is not str and subject is not None)
            or (type(priority) is not str and priority is not None)
            or (type(description) is not str and description is not None)
            or (type(requester) is not dict and requester is not None)
            or type(tags) is not list
            or type(custom) is not list
        ):
            return self.read_slowly(ticket)
        for tag in tags:
            if type(tag) is not str:
                return self.read_slowly(ticket)
        provider = error_code = None
        provider_id, error_code_id = self._provider_id, self._error_code_id
        try:
            for entry in custom:
                field_id = entry["id"]
                if field_id == provider_id:
                    provider = entry["value"]
                elif field_id == error_code_id:
                    error_code = entry["value"]
        except (KeyError, TypeError):  # an entry that is not an {id, value} object
            return self.read_slowly(ticket)
        if (
            provider is not None and (type(provider) is not str or len(provider) > MAX_FIELD_LENGTH)
        ) or (
            error_code is not None
            and (type(error_code) is not str or len(error_code) > MAX_FIELD_LENGTH)
        ):
            return self.read_slowly(ticket)
        try:
            updated_at = _fromisoformat(updated)
            created_at = _fromisoformat(created)
        except ValueError:  # digits that make no date: the 30th of February
            return self.read_slowly(ticket)
        source_id = str(ticket_id)
        # Positional, in Case's field order: keywords cost a tenth of the
        # sync. The property test holds this equal to read_slowly's case.
        return Case(
            self.source,
            source_id,
            source_id,  # the number people see is the id
            subject,
            status,
            priority,
            provider,
            error_code,
            created_at,
            updated_at,
            self._ticket_url + source_id,
        )

    def read_slowly(self, ticket: Any) -> Case | Tombstone:
        """The reference reading of a ticket, one field at a time, in words.

        :raises MalformedRecord: the ticket breaks the spec.
        """
        if not isinstance(ticket, dict):
            raise MalformedRecord("the ticket is not an object")
        ticket_id = ticket.get("id")
        if ticket_id is None:
            raise MalformedRecord("id is missing")
        if isinstance(ticket_id, bool) or not isinstance(ticket_id, int):
            raise MalformedRecord("id is not an integer")
        source_id = str(ticket_id)
        updated_at = read_timestamp(ticket, "updated_at")
        name = read_str(ticket, "status")
        if name == DELETED:
            return Tombstone(source_id, updated_at)
        status = STATUSES.get(name)
        if status is None:
            shown = name if len(name) <= 32 else name[:32] + "…"
            raise MalformedRecord(f"status {shown!r} is not one of {_SPEC_STATUSES}")
        subject = read_optional_str(ticket, "subject")
        priority = read_optional_str(ticket, "priority")
        read_optional_str(ticket, "description")
        _check_tags(ticket.get("tags"))
        requester = ticket.get("requester")
        if requester is not None and not isinstance(requester, dict):
            # Nothing of it is quoted: the requester is personal data.
            raise MalformedRecord("requester is not an object or null")
        created_at = read_timestamp(ticket, "created_at")
        provider, error_code = self._custom_values(ticket.get("custom_fields"))
        return Case(
            source=self.source,
            source_id=source_id,
            number=source_id,
            subject=subject,
            status=status,
            priority=priority,
            provider=provider,
            error_code=error_code,
            created_at=created_at,
            updated_at=updated_at,
            url=self._ticket_url + source_id,
        )

    def _custom_values(self, custom: Any) -> tuple[str | None, str | None]:
        """The provider and error code among ``custom_fields`` (missing: ``None``).

        Entries of other fields are ignored, whatever their value.
        """
        if custom is None:
            return None, None
        if not isinstance(custom, list):
            raise MalformedRecord("custom_fields is not a list")
        values: dict[str, Any] = {}
        for entry in custom:
            if not isinstance(entry, dict):
                raise MalformedRecord("custom_fields holds an entry that is not an object")
            field_id = entry.get("id")
            if field_id == self.fields.provider:
                values["provider"] = entry.get("value")
            elif field_id == self.fields.error_code:
                values["error_code"] = entry.get("value")
        return (
            read_optional_str(values, "provider", max_length=MAX_FIELD_LENGTH),
            read_optional_str(values, "error_code", max_length=MAX_FIELD_LENGTH),
        )


def _check_tags(tags: object) -> None:
    if tags is None:
        return
    if not isinstance(tags, list):
        raise MalformedRecord("tags is not a list of strings")
    for tag in tags:
        if not isinstance(tag, str):
            raise MalformedRecord("tags is not a list of strings")
