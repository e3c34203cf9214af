"""The Strawberry CRM adapter: REST API v1 (``strawberry-crm-api.md``) on the core's kit.

``X-Api-Key`` on every request; ``/v1/ticket_fields`` gives the custom field ids, then the
export ``/v1/tickets?updated_after=S`` and ``?cursor=C`` while ``meta.has_more``; one batch
per page. The cursor is the newest ``updated_at`` in Unix seconds, floored, read again
inclusive. A ``deleted`` ticket is a tombstone; ``requester`` is personal data: typed,
never read. A write is one ``PUT`` with ``Idempotency-Key`` (a repeat is answered
``Idempotent-Replayed: true``), kept to 100 a minute by the :mod:`.ratelimit` limiter.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterator, Mapping
from typing import Any, Final

import attrs
import msgspec

from supporthub import (
    Adapter,
    ApiKeyAuth,
    Batch,
    Case,
    CaseWrite,
    CaseWriteResult,
    ConfigurationError,
    CursorPaging,
    Field,
    MalformedRecord,
    RecordFormat,
    Setting,
    SourceRejected,
    SourceUnavailable,
    Status,
    Tombstone,
    Watermark,
    custom_field_ids,
    fetch_pages,
    id_field,
    parse_timestamp,
    read_optional_str,
    reword,
)
from supporthub_strawberry.ratelimit import WriteLimiter, limiter_for

__all__ = ["PAGE_LIMIT", "TICKET", "TICKETS_PATH", "FieldIds", "StrawberryAdapter", "TicketReader"]

log = logging.getLogger("supporthub.strawberry")

#: The largest page Strawberry serves: fewest round trips.
PAGE_LIMIT: Final = 1000
#: The incremental export.
TICKETS_PATH: Final = "/v1/tickets"
_KEY_HINT: Final = "SUPPORTHUB_STRAWBERRY_API_KEY"


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
    return read_optional_str({name: value}, name, max_length=255)


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
    if not (provider is None or (type(provider) is str and len(provider) <= 255)):
        provider = _custom(provider, "provider")  # raises, in words
    if not (error_code is None or (type(error_code) is str and len(error_code) <= 255)):
        error_code = _custom(error_code, "error_code")
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


class StrawberryAdapter(Adapter):
    """Strawberry CRM, REST API v1, as described in ``strawberry-crm-api.md``."""

    name = "strawberry"
    title = "Strawberry"
    settings = (
        Setting("url", "Base URL of the Strawberry account (the part before /v1)", http_url=True),
        Setting("api_key", "API key, sent as the X-Api-Key header", secret=True),
        Setting("writes_per_minute", "Updates a minute this process sends at most "
                "(Strawberry allows 100 per account)", required=False, default="100"),
    )  # fmt: skip

    @property
    def auth(self) -> ApiKeyAuth:
        """The ``X-Api-Key`` header."""
        return ApiKeyAuth(self.config["api_key"], hint=_KEY_HINT)

    def fetch(self, cursor: str | None) -> Iterator[Batch]:
        """Yield one batch per export page of the tickets changed since ``cursor``."""
        auth, since = self.auth, parse_cursor(cursor)
        fields = FieldIds.from_answer(self._get_fields(auth))
        log.debug("Strawberry: field ids %s; export from updated_after=%d", fields, since)
        reader = TicketReader(fields, self.http.base_url, self.name)
        params = {"updated_after": since, "limit": PAGE_LIMIT}
        paging = CursorPaging(keep={"limit": PAGE_LIMIT})
        pages = fetch_pages(
            self.http, TICKETS_PATH, params, TICKET, paging, auth=auth, refused=_explained
        )
        yield from TICKET.batches(pages, reader.context, self.name, Watermark(), _seconds)

    def _get_fields(self, auth: ApiKeyAuth) -> Any:
        try:
            return self.http.get_json(FIELDS_PATH, auth=auth)
        except SourceRejected as refusal:
            raise _explained(refusal, FIELDS_PATH) from None

    def write_case(self, write: CaseWrite) -> CaseWriteResult:
        """One ``PUT`` keyed by ``Idempotency-Key``; every attempt waits for the write limit.

        :raises SourceRejected: unknown, deleted or closed ticket, read-only key, refused body.
        """
        key, ticket = write.idempotency_key, write.case_id
        if not (1 <= len(key) <= 64 and key.isascii() and key.isprintable()):
            raise SourceRejected(
                f"Strawberry cannot take idempotency key {key!r} (1 to 64 printable ASCII)"
            )
        if not (ticket.isascii() and ticket.isdigit()):
            raise SourceRejected(f"{ticket!r} is not a Strawberry ticket id")
        update: dict[str, Any] = {"comment": {"body": write.message, "public": write.public}}
        if write.set_status is not None:
            update["status"] = write.set_status  # Strawberry's own pending and solved
        limiter = self.write_limiter()
        try:
            response = self.http.request(
                "PUT", f"{TICKETS_PATH}/{ticket}", headers={"Idempotency-Key": key},
                json={"ticket": update}, auth=self.auth,
                before_attempt=limiter.acquire,  # retries count against the limit too
            )  # fmt: skip
        except SourceUnavailable as error:
            if error.retry_after is not None:
                limiter.hold(error.retry_after)
            raise
        except SourceRejected as refusal:
            raise reword(refusal, _WRITE_REFUSED, ticket=ticket, key=key) from None
        replayed = response.headers.get("Idempotent-Replayed", "").lower() == "true"
        return CaseWriteResult(comment_id=None, replayed=replayed)

    def write_wait(self) -> float:
        """Seconds until the next update keeps to the write rate limit."""
        return self.write_limiter().wait()

    def write_limiter(self) -> WriteLimiter:
        """This process's write limiter for the account (base URL and API key)."""
        raw = self.config["writes_per_minute"]
        if not (raw.isascii() and raw.isdigit() and int(raw) >= 1):
            raise ConfigurationError(
                "SUPPORTHUB_STRAWBERRY_WRITES_PER_MINUTE must be a whole number of at least 1"
            )
        # The key tells accounts apart; only a digest of it is kept.
        account = hashlib.sha256(self.auth.key.encode()).hexdigest()
        return limiter_for(self.http.base_url, account, int(raw))


def _seconds(moment: Any) -> str:
    # Floor: the next sync asks for this second inclusive, so a fraction is read again.
    return str(math.floor(moment.timestamp()))


def parse_cursor(cursor: str | None) -> int:
    """The ``updated_after`` to ask for: the stored cursor, ``0`` for none or one not ours."""
    if cursor is None:
        return 0
    if cursor.isascii() and cursor.isdigit():
        return int(cursor)
    log.warning("Strawberry: the stored cursor is not Unix seconds; reading every ticket again")
    return 0


_READ_REFUSED: Final = {
    401: f"Strawberry refused the API key ({{code}}): check {_KEY_HINT}",
    404: "Strawberry has no {path} ({code}): check SUPPORTHUB_STRAWBERRY_URL, the account's "
    "base URL before /v1",
}
_CURSOR_REFUSED: Final = {
    400: "Strawberry rejected the export cursor half-way through the sync ({code}); nothing "
    "of this sync is kept, the next refresh reads again from the stored updated_after"
}
_WRITE_REFUSED: Final = {
    404: "Strawberry has no ticket {ticket} (deleted or unknown; {code})",
    403: "Strawberry refused the update of ticket {ticket}: the API key may only read ({code}); "
    f"give {_KEY_HINT} write access",
    401: _READ_REFUSED[401],
    (422, "TicketClosed"): "Strawberry ticket {ticket} is closed and cannot be changed ({code})",
    (422, "IdempotencyKeyReused"): "Strawberry already took idempotency key {key!r} for a "
    "different update ({code}): a repeat must send the same body; not retried",
    0: "Strawberry rejected the update of ticket {ticket}: {detail}",
}


def _explained(
    refusal: SourceRejected, path: str, params: Any = None, _: int = 0
) -> SourceRejected:
    """A refused read in words that say what to fix."""
    words = {**_READ_REFUSED, **(_CURSOR_REFUSED if "cursor" in (params or {}) else {})}
    return reword(refusal, words, path=path)
