"""The Strawberry CRM adapter: REST API v1 (``strawberry-crm-api.md``) on the core's kit.

``X-Api-Key`` on every request; ``/v1/ticket_fields`` gives the custom field ids, then the
export ``/v1/tickets?updated_after=S`` and ``?cursor=C`` while ``meta.has_more``; one batch
per page. The cursor is the newest ``updated_at`` in Unix seconds, floored, read again
inclusive. A write is one ``PUT`` with ``Idempotency-Key`` (a repeat is answered
``Idempotent-Replayed: true``), kept to 100 a minute by the :mod:`.ratelimit` limiter.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterator
from typing import Any, Final

from supporthub import (
    Adapter,
    ApiKeyAuth,
    Batch,
    CaseWrite,
    CaseWriteResult,
    ConfigurationError,
    CursorPaging,
    Setting,
    SourceRejected,
    SourceUnavailable,
    Watermark,
    fetch_pages,
    reword,
)
from supporthub_strawberry.ratelimit import WriteLimiter, limiter_for
from supporthub_strawberry.tickets import FIELDS_PATH, TICKET, FieldIds, TicketReader

__all__ = ["PAGE_LIMIT", "TICKETS_PATH", "StrawberryAdapter", "parse_cursor"]

log = logging.getLogger("supporthub.strawberry")

#: The largest page Strawberry serves: fewest round trips.
PAGE_LIMIT: Final = 1000
#: The incremental export.
TICKETS_PATH: Final = "/v1/tickets"
_KEY_HINT: Final = "SUPPORTHUB_STRAWBERRY_API_KEY"


class StrawberryAdapter(Adapter):
    """Strawberry CRM, REST API v1, as described in ``strawberry-crm-api.md``."""

    name = "strawberry"
    title = "Strawberry"
    settings = (
        Setting("url", "Base URL of the Strawberry account (the part before /v1)"),
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
