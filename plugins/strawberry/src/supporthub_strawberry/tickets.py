"""The ticket format and reader, kept importable here; they live in :mod:`.adapter`."""

from supporthub_strawberry.adapter import (
    DELETED,
    FIELDS_PATH,
    STATUSES,
    TICKET,
    FieldIds,
    TicketReader,
)

__all__ = ["DELETED", "FIELDS_PATH", "STATUSES", "TICKET", "FieldIds", "TicketReader"]
