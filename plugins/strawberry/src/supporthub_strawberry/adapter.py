"""The Strawberry CRM adapter: REST API v1 tickets become hub cases.

One sync, as ``strawberry-crm-api.md`` asks, every request with ``X-Api-Key``::

    GET /v1/ticket_fields                      custom field ids, matched by key
    GET /v1/tickets?updated_after=S&limit=1000 the incremental export, then
    GET /v1/tickets?cursor=C&limit=1000        while meta.has_more

Each page becomes one :class:`~supporthub.Batch`; what a ticket becomes (a
case, a tombstone, or a skipped record) is :mod:`supporthub_strawberry.tickets`.

**The cursor** the hub stores is the newest ``updated_at`` read so far, in
Unix seconds. The next sync asks ``updated_after`` that second (inclusive),
so a change made in the same second as the last one read is not lost, and a
sync that fails half-way (the hub keeps nothing of it) starts again from
there. Strawberry's own ``after_cursor`` lives only within one sync: it may
expire, and a rejected one fails the sync in words.

**Failures** go through the core's :class:`~supporthub.HttpClient`: ``429``
waits ``Retry-After``, 5xx and resets are retried; ``400``, ``401`` and
``404`` fail at once, and this module says what to fix.

**A write** (:meth:`StrawberryAdapter.write_case`) is one update::

    PUT /v1/tickets/{id}   Idempotency-Key: <hub key>
    {"ticket": {"comment": {"body", "public"}, "status": "pending" | "solved"}}

Strawberry remembers the key 24 hours and answers a repeat with the same body
``Idempotent-Replayed: true`` without applying it again, so the core's
retries and the hub's (after a crash or a lost answer) never make a second
comment. The body is built the same way from the same write, so a repeat is
the same bytes. Updates are limited to 100 a minute per account: a
per-process :class:`~supporthub_strawberry.ratelimit.WriteLimiter` keeps to
it (:meth:`StrawberryAdapter.write_wait` tells how long until the next).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
from collections.abc import Iterator, Mapping
from typing import Any, Final

from supporthub import (
    Adapter,
    Batch,
    BatchBuilder,
    Case,
    CaseWrite,
    CaseWriteResult,
    ConfigurationError,
    MalformedPage,
    MalformedRecord,
    Setting,
    SourceRejected,
    SourceUnavailable,
    read_timestamp,
)
from supporthub_strawberry.ratelimit import WriteLimiter, limiter_for
from supporthub_strawberry.tickets import FIELDS_PATH, FieldIds, TicketReader

__all__ = ["PAGE_LIMIT", "TICKETS_PATH", "StrawberryAdapter", "parse_cursor"]

log = logging.getLogger("supporthub.strawberry")

#: The largest page Strawberry serves: fewest round trips.
PAGE_LIMIT: Final = 1000
#: The incremental export.
TICKETS_PATH: Final = "/v1/tickets"


class StrawberryAdapter(Adapter):
    """Strawberry CRM, REST API v1, as described in ``strawberry-crm-api.md``.

    Settings: ``SUPPORTHUB_STRAWBERRY_URL`` (the account's base URL; it may
    carry a path) and ``SUPPORTHUB_STRAWBERRY_API_KEY`` (secret).
    """

    name = "strawberry"
    title = "Strawberry"
    settings = (
        Setting("url", "Base URL of the Strawberry account (the part before /v1)", http_url=True),
        Setting("api_key", "API key, sent as the X-Api-Key header", secret=True),
        Setting(
            "writes_per_minute",
            "Updates a minute this process sends at most (Strawberry allows 100 per account)",
            required=False,
            default="100",
        ),
    )

    def write_case(self, write: CaseWrite) -> CaseWriteResult:
        """One ``PUT`` with the comment (and status), keyed by ``Idempotency-Key``.

        Every attempt, the core's retries included, waits for the client-side
        write limit first.

        :raises SourceRejected: the ticket is unknown or deleted (404), closed
            (422 TicketClosed), the key may only read (403), the body was
            refused (400), or the idempotency key was used for another update
            (422 IdempotencyKeyReused, a bug of the caller).
        :raises SourceUnavailable: transient failures outlasted the retries,
            with the CRM's ``Retry-After`` when it gave one.
        """
        key = write.idempotency_key
        if not (1 <= len(key) <= 64 and key.isascii() and key.isprintable()):
            raise SourceRejected(
                f"Strawberry cannot take idempotency key {key!r} (1 to 64 printable ASCII)"
            )
        if not (write.case_id.isascii() and write.case_id.isdigit()):
            raise SourceRejected(f"{write.case_id!r} is not a Strawberry ticket id")
        update: dict[str, Any] = {"comment": {"body": write.message, "public": write.public}}
        if write.set_status is not None:
            update["status"] = write.set_status  # Strawberry's own pending and solved
        headers = {"X-Api-Key": self._api_key(), "Idempotency-Key": key}
        limiter = self.write_limiter()
        try:
            response = self.http.request(
                "PUT",
                f"{TICKETS_PATH}/{write.case_id}",
                headers=headers,
                json={"ticket": update},
                before_attempt=limiter.acquire,  # retries count against the limit too
            )
        except SourceUnavailable as error:
            if error.retry_after is not None:
                limiter.hold(error.retry_after)
            raise
        except SourceRejected as refusal:
            raise _write_refused(refusal, write.case_id, key) from None
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
        account = hashlib.sha256(self._api_key().encode()).hexdigest()
        return limiter_for(self.http.base_url, account, int(raw))

    def fetch(self, cursor: str | None) -> Iterator[Batch]:
        """Yield one batch per export page of the tickets changed since ``cursor``.

        :param cursor: Unix seconds of the newest ``updated_at`` read by the
            last successful sync (read again, inclusive), or ``None`` for all.
        :raises SourceError: the account is misconfigured, the CRM refused a
            request or stayed unavailable, a page was not JSON, or the
            export cursor was rejected half-way.
        """
        headers = {"X-Api-Key": self._api_key()}
        since = parse_cursor(cursor)
        fields = FieldIds.from_answer(self._get(FIELDS_PATH, {}, headers))
        log.debug(
            "Strawberry: field ids provider=%d error_code=%d; export from updated_after=%d",
            fields.provider,
            fields.error_code,
            since,
        )
        reader = TicketReader(fields, self.http.base_url, self.name)
        builder = BatchBuilder(self.name)
        newest: dt.datetime | None = None
        for tickets in self._export(since, headers):
            newest = _collect(reader, tickets, builder, newest)
            yield builder.build(None if newest is None else str(_seconds(newest)))

    def _export(self, since: int, headers: Mapping[str, str]) -> Iterator[list[Any]]:
        """The tickets of each export page from ``updated_after=since``, page by page."""
        params: dict[str, Any] = {"updated_after": since, "limit": PAGE_LIMIT}
        pages = 0
        while True:
            tickets, has_more, after_cursor = _page(self._get(TICKETS_PATH, params, headers))
            pages += 1
            stuck = not tickets and after_cursor == params.get("cursor")
            yield tickets  # consumed by the caller
            if not has_more:
                log.debug("Strawberry: export done in %d pages", pages)
                return
            if stuck:
                raise MalformedPage(
                    "Strawberry answered an empty page with has_more and the same cursor; "
                    "the export would never end"
                )
            params = {"cursor": after_cursor, "limit": PAGE_LIMIT}

    def _api_key(self) -> str:
        key = self.config["api_key"]
        if not key.isascii() or not key.isprintable():
            # The value itself is never shown: it is a secret.
            raise ConfigurationError(
                "SUPPORTHUB_STRAWBERRY_API_KEY must be printable ASCII, as HTTP headers are"
            )
        return key

    def _get(self, path: str, params: Mapping[str, Any], headers: Mapping[str, str]) -> Any:
        """GET a JSON answer; a refusal comes back in words that say what to fix."""
        try:
            return self.http.get_json(path, params=params, headers=headers)
        except SourceRejected as refusal:
            raise _explained(refusal, path, params) from None


def _collect(
    reader: TicketReader,
    tickets: list[Any],
    builder: BatchBuilder,
    newest: dt.datetime | None,
) -> dt.datetime | None:
    """Read one page of tickets into ``builder``; return the newest ``updated_at`` so far.

    The page is consumed: each ticket is let go as soon as it is read, while
    it is still in the CPU's cache, and its memory serves the next case.
    Freeing the whole page at the end instead costs a tenth of the sync.

    A skipped ticket counts for the newest time too when its ``updated_at``
    parses: every ticket before it in the export order was read.
    """
    read, add_case, add_tombstone = reader.read, builder.add_case, builder.add_tombstone
    moment: dt.datetime | None
    for index, ticket in enumerate(tickets):
        tickets[index] = None
        try:
            record = read(ticket)
        except MalformedRecord as problem:
            builder.skip(str(problem), _shown_id(ticket))
            moment = _updated_at_if_any(ticket)
        else:
            if isinstance(record, Case):
                add_case(record)
                moment = record.updated_at
            else:
                add_tombstone(record)
                moment = record.deleted_at
        if moment is not None and (newest is None or moment > newest):
            newest = moment
    return newest


def _updated_at_if_any(ticket: Any) -> dt.datetime | None:
    """A skipped ticket's ``updated_at``, when it has a usable one."""
    if not isinstance(ticket, dict):
        return None
    try:
        return read_timestamp(ticket, "updated_at")
    except MalformedRecord:
        return None


def _seconds(moment: dt.datetime) -> int:
    # Floor: the next sync asks for this second inclusive, so a fraction
    # cut off is read again rather than skipped.
    return math.floor(moment.timestamp())


def _shown_id(ticket: Any) -> object:
    """What the log may show of a skipped ticket: its id, never its content."""
    return ticket.get("id") if isinstance(ticket, dict) else None


def parse_cursor(cursor: str | None) -> int:
    """The ``updated_after`` to ask for: the stored cursor, ``0`` for everything.

    A cursor this adapter did not write (not Unix seconds) is not trusted:
    the sync reads everything again rather than risk skipping changes.
    """
    if cursor is None:
        return 0
    if cursor.isascii() and cursor.isdigit():
        return int(cursor)
    log.warning("Strawberry: the stored cursor is not Unix seconds; reading every ticket again")
    return 0


def _page(body: Any) -> tuple[list[Any], bool, str | None]:
    """The tickets, ``has_more`` and ``after_cursor`` of an export page.

    :raises MalformedPage: the page has not the spec's shape.
    """
    tickets = body.get("tickets") if isinstance(body, dict) else None
    meta = body.get("meta") if isinstance(body, dict) else None
    if not isinstance(tickets, list) or not isinstance(meta, dict):
        raise MalformedPage(f"Strawberry answered {TICKETS_PATH} without tickets and meta")
    has_more = meta.get("has_more")
    after_cursor = meta.get("after_cursor")
    if not isinstance(has_more, bool):
        raise MalformedPage(f"Strawberry answered {TICKETS_PATH} without a has_more flag")
    if has_more and (not isinstance(after_cursor, str) or not after_cursor):
        raise MalformedPage(f"Strawberry answered {TICKETS_PATH} with has_more but no after_cursor")
    return tickets, has_more, after_cursor if isinstance(after_cursor, str) else None


def _write_refused(refusal: SourceRejected, ticket: str, key: str) -> SourceRejected:
    """A final refusal of an update, in words that say why a retry will not help."""
    status, error = refusal.status, refusal.error
    detail = f"HTTP {status}" + (f" {error}" if error else "")
    if status == 404:
        words = f"Strawberry has no ticket {ticket} (deleted or unknown; {detail})"
    elif status == 403:
        words = (
            f"Strawberry refused the update of ticket {ticket}: the API key may only read "
            f"({detail}); give SUPPORTHUB_STRAWBERRY_API_KEY write access"
        )
    elif status == 422 and error == "TicketClosed":
        words = f"Strawberry ticket {ticket} is closed and cannot be changed ({detail})"
    elif status == 422 and error == "IdempotencyKeyReused":
        words = (
            f"Strawberry already took idempotency key {key!r} for a different update "
            f"({detail}): a repeat must send the same body; not retried"
        )
    elif status == 401:
        words = f"Strawberry refused the API key ({detail}): check SUPPORTHUB_STRAWBERRY_API_KEY"
    else:
        words = str(refusal).replace(
            "rejected the request", f"rejected the update of ticket {ticket}"
        )
    return SourceRejected(words, status=status, error=error)


def _explained(refusal: SourceRejected, path: str, params: Mapping[str, Any]) -> SourceRejected:
    """The CRM's refusal, said so that an operator knows what to fix."""
    status, error = refusal.status, refusal.error
    detail = f"HTTP {status}" + (f" {error}" if error else "")
    if status == 401:
        words = f"Strawberry refused the API key ({detail}): check SUPPORTHUB_STRAWBERRY_API_KEY"
    elif status == 404:
        words = (
            f"Strawberry has no {path} ({detail}): check SUPPORTHUB_STRAWBERRY_URL, "
            "the account's base URL before /v1"
        )
    elif status == 400 and "cursor" in params:
        words = (
            f"Strawberry rejected the export cursor half-way through the sync ({detail}); "
            "nothing of this sync is kept, the next refresh reads again from the stored "
            "updated_after"
        )
    else:
        return refusal
    return SourceRejected(words, status=status, error=error)
