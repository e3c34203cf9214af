"""The Strawberry CRM adapter: REST API v1 (``strawberry-crm-api.md``) on the core's kit.

``X-Api-Key`` on every request; ``/v1/ticket_fields`` gives the custom field ids, then the
export ``/v1/tickets?updated_after=S`` and ``?cursor=C`` while ``meta.has_more``; one batch
per page. The cursor is the newest ``updated_at`` in Unix seconds, floored, read again
inclusive. A ``deleted`` ticket is a tombstone; ``requester`` is personal data: typed,
never read. A write is one ``PUT`` with ``Idempotency-Key`` (a repeat is answered
``Idempotent-Replayed: true``), kept to 100 a minute by the :mod:`.ratelimit` limiter.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any, Final

from supporthub import (
    UNIX_SECONDS_CURSOR,
    Adapter,
    ApiKeyAuth,
    Batch,
    Case,
    CaseWrite,
    CaseWriteResult,
    CursorPaging,
    CustomFields,
    Field,
    Listing,
    RecordFormat,
    Setting,
    SourceRejected,
    Status,
    Tombstone,
    Watermark,
    WriteLimiter,
    WriteRules,
    account_limiter,
    id_field,
    parse_timestamp,
    reworded,
    write_rate_setting,
)

__all__ = ["PAGE_LIMIT", "TICKET", "TICKETS_PATH", "StrawberryAdapter", "custom_fields"]

log = logging.getLogger("supporthub.strawberry")

#: The largest page Strawberry serves: fewest round trips.
PAGE_LIMIT: Final = 1000
#: The incremental export.
TICKETS_PATH: Final = "/v1/tickets"
#: Where the account's custom fields are listed.
FIELDS_PATH: Final = "/v1/ticket_fields"
_KEY_HINT: Final = "SUPPORTHUB_STRAWBERRY_API_KEY"
#: Strawberry statuses and what they mean to the hub; :data:`DELETED` is a tombstone.
STATUSES: Final[Mapping[str, Status]] = {
    **dict.fromkeys(("new", "open", "pending", "hold"), Status.OPEN),
    **dict.fromkeys(("solved", "closed"), Status.CLOSED),
}
DELETED: Final = "deleted"
#: The source, the ticket URL without the id, and the provider and error code reader.
Context = tuple[str, str, CustomFields]


def _item(t: Any, context: Context) -> Case | Tombstone:
    """A typed ticket as a case, or a tombstone when deleted (the mapping of :data:`TICKET`)."""
    ticket_id, (source, url, custom) = str(t.id), context
    updated_at = parse_timestamp(t.updated_at, "updated_at")
    if t.status == DELETED:
        return Tombstone(ticket_id, updated_at)
    provider, error_code = custom(t.custom_fields)
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
        Field("tags", "list[str]", required=False, wrong_item="is not a list of strings"),
        Field("requester", "object", required=False, wrong="is not an object or null"),
        Field("created_at", "timestamp"),
        Field("custom_fields", "list[object]", required=False),
    ],
    _item,
    deleted=lambda ticket: ticket.get("status") == DELETED,
    records="tickets",
    envelope=[Field("meta", "object")],
    time_field="updated_at",  # a skipped ticket still moves the cursor when its time parses
    not_a_listing="without tickets and meta",
    not_an_object="the ticket is not an object",
)


def custom_fields(body: Any) -> CustomFields:
    """The account's provider and error code fields, from a ``/v1/ticket_fields`` answer."""
    keys = ("provider", "error_code")
    return CustomFields.from_answer(
        body, title="Strawberry", path=FIELDS_PATH, listed="ticket_fields", keys=keys
    )


class StrawberryAdapter(Adapter):
    """Strawberry CRM, REST API v1, as described in ``strawberry-crm-api.md``."""

    name = "strawberry"
    title = "Strawberry"
    settings = (
        Setting("url", "Base URL of the Strawberry account (the part before /v1)", http_url=True),
        Setting("api_key", "API key, sent as the X-Api-Key header", secret=True),
        write_rate_setting(100, "Strawberry allows 100 per account"),
    )

    @property
    def auth(self) -> ApiKeyAuth:
        """The ``X-Api-Key`` header."""
        return ApiKeyAuth(self.config["api_key"], hint=_KEY_HINT)

    def fetch(self, cursor: str | None) -> Iterator[Batch]:
        """Yield one batch per export page of the tickets changed since ``cursor``."""
        auth, since = self.auth, UNIX_SECONDS_CURSOR.resume(cursor, self.title)
        with reworded(_READ_REFUSED, path=FIELDS_PATH):
            custom = custom_fields(self.http.get_json(FIELDS_PATH, auth=auth))
        after = 0 if since is None else UNIX_SECONDS_CURSOR.dump(since)
        log.debug("Strawberry: %s; export from updated_after=%s", custom, after)
        context = (self.name, self.http.base_url + "/agent/tickets/", custom)
        params = {"updated_after": after, "limit": PAGE_LIMIT}
        pages = TICKETS.pages(self.http, params, auth=auth)
        yield from TICKET.batches(pages, context, self.name, Watermark(), UNIX_SECONDS_CURSOR.dump)

    def write_case(self, write: CaseWrite) -> CaseWriteResult:
        """One ``PUT`` keyed by ``Idempotency-Key``; every attempt waits for the write limit.

        :raises SourceRejected: unknown, deleted or closed ticket, read-only key, refused body.
        """
        writer = WRITES.start(self.http, write, auth=self.auth, limiter=self.write_limiter())
        ticket = write.case_id
        if not (ticket.isascii() and ticket.isdigit()):
            raise SourceRejected(f"{ticket!r} is not a Strawberry ticket id")
        update: dict[str, Any] = {"comment": {"body": write.message, "public": write.public}}
        if write.set_status is not None:
            update["status"] = write.set_status  # Strawberry's own pending and solved
        response = writer.send("PUT", f"{TICKETS_PATH}/{ticket}", {"ticket": update})
        replayed = response.headers.get("Idempotent-Replayed", "").lower() == "true"
        return CaseWriteResult(comment_id=None, replayed=replayed)

    def write_wait(self) -> float:
        """Seconds until the next update keeps to the write rate limit."""
        return self.write_limiter().wait()

    def write_limiter(self) -> WriteLimiter:
        """This process's write limiter for the account (base URL and API key)."""
        return account_limiter(self)


_READ_REFUSED: Final = {
    401: f"Strawberry refused the API key ({{code}}): check {_KEY_HINT}",
    404: "Strawberry has no {path} ({code}): check SUPPORTHUB_STRAWBERRY_URL, the account's "
    "base URL before /v1",
}
_CURSOR_REFUSED: Final = {
    400: "Strawberry rejected the export cursor half-way through the sync ({code}); nothing "
    "of this sync is kept, the next refresh reads again from the stored updated_after"
}
#: The incremental export: ``?cursor=`` while ``meta.has_more``.
TICKETS: Final = Listing(
    TICKETS_PATH,
    TICKET,
    CursorPaging(keep={"limit": PAGE_LIMIT}),
    refused=_READ_REFUSED,
    refused_later=_CURSOR_REFUSED,
)
#: How Strawberry takes a write: the key in the ``Idempotency-Key`` header, kept 24 hours.
WRITES: Final = WriteRules(
    r"[ -~]{1,64}",  # printable ASCII
    "Strawberry cannot take idempotency key {key!r} (1 to 64 printable ASCII)",
    key_header="Idempotency-Key",
    refused={
        404: "Strawberry has no ticket {case} (deleted or unknown; {code})",
        403: "Strawberry refused the update of ticket {case}: the API key may only read "
        f"({{code}}); give {_KEY_HINT} write access",
        401: _READ_REFUSED[401],
        (422, "TicketClosed"): "Strawberry ticket {case} is closed and cannot be changed ({code})",
        (422, "IdempotencyKeyReused"): "Strawberry already took idempotency key {key!r} for a "
        "different update ({code}): a repeat must send the same body; not retried",
        0: "Strawberry rejected the update of ticket {case}: {detail}",
    },
)
