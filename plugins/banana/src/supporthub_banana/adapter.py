"""The Banana CRM adapter: REST API v2 (``banana-crm-api.md``) on the core's adapter kit.

A sync: a bearer token by client credentials (:class:`~supporthub.ClientCredentialsAuth`),
``GET /api/v2/cases?pageSize=2000&includeDeleted=true[&modifiedSince=<cursor>]``, then the
``nextRecordsUrl`` locators while ``done`` is false; one batch per page. The cursor is the
newest ``LastModifiedDate`` read; ``modifiedSince`` is inclusive, so the boundary comes
again and the hub's upsert absorbs it. A write posts a comment keyed by ``ExternalId`` (a
repeat answers ``200 created:false``) and ``PATCH``es the mapped status when asked.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Final
from urllib.parse import quote

import httpx

from supporthub import (
    Adapter,
    Batch,
    Case,
    CaseWrite,
    CaseWriteResult,
    ClientCredentialsAuth,
    DecodedPage,
    Field,
    NextLinkPaging,
    RecordFormat,
    Setting,
    SourceRejected,
    Status,
    Tombstone,
    Watermark,
    fetch_pages,
    id_field,
    parse_iso_timestamp,
)

__all__ = ["PAGE_SIZE", "RECORD", "BananaAdapter", "format_cursor", "parse_cursor", "read_record"]

log = logging.getLogger("supporthub.banana")

#: The largest page Banana serves: fewest round trips.
PAGE_SIZE: Final = 2000
TOKEN_PATH: Final = "/oauth/token"  # noqa: S105 - a path, not a password
CASES_PATH: Final = "/api/v2/cases"
EXTERNAL_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,80}", re.ASCII)  #: a comment's ExternalId
#: The cursor: ``2026-11-20T10:02:11.000Z``, and back (``None``: not one of ours).
format_cursor, parse_cursor = Watermark.zulu, Watermark.from_zulu


def _item(r: Any, where: tuple[str, str]) -> Case | Tombstone:
    """A typed record as a case or tombstone; ``where``: source name, case page URL base."""
    modified = parse_iso_timestamp(r.LastModifiedDate, "LastModifiedDate")
    if r.IsDeleted:
        return Tombstone(r.Id, modified)
    record_id, (source, url) = r.Id, where
    url += record_id if record_id.isalnum() and record_id.isascii() else quote(record_id, safe="")
    status = (
        Status.CLOSED if r.IsClosed else Status.OPEN
    )  # Status is free text per tenant: IsClosed decides
    created = parse_iso_timestamp(r.CreatedDate, "CreatedDate")
    return Case(source, record_id, r.CaseNumber, r.Subject, status, r.Priority, r.Provider__c,
                r.Error_Code__c, created, modified, url)  # fmt: skip


#: A Banana case record, as the spec types it: declared once.
RECORD: Final = RecordFormat(
    "Banana",
    [
        id_field("Id"),
        Field("LastModifiedDate", "timestamp", core=True, strict=False),
        Field("IsDeleted", "bool", required=False, default=False, nullable=False),
        Field("IsClosed", "bool"),
        Field("CaseNumber"),
        Field("Status"),
        # ContactEmail is type-checked and never read: personal data.
        *(Field(n, required=False) for n in ("Subject", "Description", "Priority", "Origin")),
        Field("ContactEmail", required=False),
        *(Field(n, required=False, max_length=255) for n in ("Provider__c", "Error_Code__c")),
        Field("CreatedDate", "timestamp", strict=False),
    ],
    _item,
    deleted=lambda record: record.get("IsDeleted") is True,
    envelope=[Field("done", "bool"), Field("nextRecordsUrl", required=False)],
)


def read_record(record: Any, source: str, case_url: str) -> Case | Tombstone:
    """One decoded record, checked field by field (:meth:`~supporthub.RecordFormat.read`)."""
    return RECORD.read(record, (source, case_url))


def read_typed(records: Sequence[Any], source: str, case_url: str) -> Any:
    """Typed records as cases and tombstones; ``None`` when one needs a closer look."""
    return RECORD.read_typed(list(records), (source, case_url))


def _decode_typed(body: bytes) -> DecodedPage | None:
    return page if (page := RECORD.decode(body, "Banana", CASES_PATH)).typed else None


class BananaAdapter(Adapter):
    """Pulls cases and tombstones from a Banana CRM tenant (REST API v2)."""

    name = "banana"
    title = "Banana"
    #: Records per page: Banana's largest, for the fewest round trips.
    page_size: ClassVar[int] = PAGE_SIZE
    settings = (
        Setting(
            "url", "Base URL of the Banana tenant, e.g. https://acme.banana.example", http_url=True
        ),
        Setting("client_id", "OAuth2 client id of the hub's Banana connected app"),
        Setting("client_secret", "OAuth2 client secret of that app", secret=True),
        Setting("pending_status", "Banana status a reply sets for 'waiting on the customer'",
                required=False, default="On Hold"),
        Setting("solved_status", "Banana status a reply sets for 'solved'",
                required=False, default="Resolved"),
    )  # fmt: skip

    @functools.cached_property
    def auth(self) -> ClientCredentialsAuth:
        """The token flow, made at the first request and kept for the adapter's life."""
        hint = " and ".join(s.variable(self.name) for s in self.settings[1:3])
        config = self.config
        return ClientCredentialsAuth.for_client(self.http, TOKEN_PATH, config["client_id"],
                                                config["client_secret"], hint=hint)  # fmt: skip

    def fetch(self, cursor: str | None) -> Iterator[Batch]:
        """Yield one batch per page of the changes since ``cursor`` (all when ``None``)."""
        since = parse_cursor(cursor)
        if cursor is not None and since is None:
            log.warning("%s: stored cursor is not one of ours; reading everything", self.title)
        params = {"pageSize": str(self.page_size), "includeDeleted": "true"}
        if since is not None:
            params["modifiedSince"] = format_cursor(since)
        pages = fetch_pages(self.http, CASES_PATH, params, RECORD, NextLinkPaging(),
                            auth=self.auth, refused=self._refused_page)  # fmt: skip
        where = (self.name, self.http.base_url + "/ui/cases/")
        yield from RECORD.batches(pages, where, self.name, Watermark(since), format_cursor)

    def _refused_page(self, error: SourceRejected, path: str, _: Any, read: int) -> SourceRejected:
        if path == CASES_PATH or error.status == 401:  # the first page, or the token: in words
            return error
        return SourceRejected(
            f"{self.title} refused the next page after {read} records: {_detail(error)}. A query "
            "locator lives 15 minutes; the next refresh starts again from the last stored cursor.",
            status=error.status,
            error=error.error,
        )

    def write_case(self, write: CaseWrite) -> CaseWriteResult:
        """Post a comment keyed by ``ExternalId``, then set the mapped status if asked.

        :raises SourceRejected: unknown or deleted case (404), no ``cases:write`` (403), a
            body or status refused (400), or a key that is not a usable ``ExternalId``.
        :raises SourceUnavailable: transient failures outlasted the retries.
        """
        if EXTERNAL_ID.fullmatch(write.idempotency_key) is None:
            raise SourceRejected(
                f"{self.title} cannot take idempotency key {write.idempotency_key!r} as an "
                "ExternalId (1 to 80 characters of A-Z a-z 0-9 . _ : -)"
            )
        path = f"{CASES_PATH}/{quote(write.case_id, safe='')}"
        posted = self._write(write.case_id, "the comment", "POST", f"{path}/comments",
                             self._comment_body(write))  # fmt: skip
        answer = self.http.decode(posted)
        answer = answer if type(answer) is dict else {}
        if write.set_status is not None:
            status = self.config[f"{write.set_status}_status"]
            what = f"status {status!r} (from SUPPORTHUB_BANANA_{write.set_status.upper()}_STATUS)"
            self._write(write.case_id, what, "PATCH", path, {"Status": status})
        comment_id = answer.get("Id")
        replayed = answer.get("created") is False
        return CaseWriteResult(comment_id if type(comment_id) is str else None, replayed)

    def _comment_body(self, write: CaseWrite) -> dict[str, Any]:
        """The comment request; ``ExternalId`` is what makes a repeat harmless."""
        key = write.idempotency_key
        return {"Body": write.message, "IsPublished": write.public, "ExternalId": key}

    def _write(self, case_id: str, what: str, method: str, path: str, body: Any) -> httpx.Response:
        """One write request; a refusal in words that say why a retry will not help."""
        try:
            return self.http.request(method, path, json=body, auth=self.auth)
        except SourceRejected as error:
            words = f"{self.title} refused {what} on case {case_id}: {_detail(error)}"
            if error.status == 404:
                words = f"{self.title} has no case {case_id} (deleted or unknown): {_detail(error)}"
            elif error.status == 403:
                words = words.replace(": ", ": the client lacks the cases:write scope (", 1) + ")"
            raise SourceRejected(words, status=error.status, error=error.error) from None


def _detail(error: SourceRejected) -> str:
    """The status, error code and description of a refusal, without the preamble."""
    return str(error).removeprefix("Banana rejected the request: ")
