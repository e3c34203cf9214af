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
from collections.abc import Iterator
from typing import Any, ClassVar, Final
from urllib.parse import quote

from supporthub import (
    ZULU_CURSOR,
    Adapter,
    Batch,
    Case,
    CaseWrite,
    CaseWriteResult,
    ClientCredentialsAuth,
    Field,
    Listing,
    NextLinkPaging,
    RecordFormat,
    Setting,
    Status,
    Tombstone,
    Watermark,
    WriteRules,
    case_url,
    id_field,
    parse_iso_timestamp,
)

__all__ = ["PAGE_SIZE", "RECORD", "BananaAdapter", "format_cursor", "parse_cursor"]

#: The largest page Banana serves: fewest round trips.
PAGE_SIZE: Final = 2000
TOKEN_PATH: Final = "/oauth/token"  # noqa: S105 - a path, not a password
CASES_PATH: Final = "/api/v2/cases"
#: The cursor: ``2026-11-20T10:02:11.000Z``, and back (``None``: not one of ours).
format_cursor, parse_cursor = ZULU_CURSOR.dump, ZULU_CURSOR.load


def _item(r: Any, where: tuple[str, str]) -> Case | Tombstone:
    """A typed record as a case or tombstone; ``where``: source name, case page URL base."""
    modified = parse_iso_timestamp(r.LastModifiedDate, "LastModifiedDate")
    if r.IsDeleted:
        return Tombstone(r.Id, modified)
    status = Status.CLOSED if r.IsClosed else Status.OPEN  # Status is free text: IsClosed decides
    created = parse_iso_timestamp(r.CreatedDate, "CreatedDate")
    return Case(where[0], r.Id, r.CaseNumber, r.Subject, status, r.Priority, r.Provider__c,
                r.Error_Code__c, created, modified, case_url(where[1], r.Id))  # fmt: skip


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

#: The case listing: the ``nextRecordsUrl`` locators while not ``done``.
CASES: Final = Listing(
    CASES_PATH,
    RECORD,
    NextLinkPaging(),
    refused_later={
        401: None,  # the token: the auth flow said it in words
        0: "Banana refused the next page after {read} records: {detail}. A query locator "
        "lives 15 minutes; the next refresh starts again from the last stored cursor.",
    },
)


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
        Setting(
            "pending_status",
            "Banana status a reply sets for 'waiting on the customer'",
            required=False,
            default="On Hold",
        ),
        Setting(
            "solved_status",
            "Banana status a reply sets for 'solved'",
            required=False,
            default="Resolved",
        ),
    )

    @functools.cached_property
    def auth(self) -> ClientCredentialsAuth:
        """The token flow, made at the first request and kept for the adapter's life."""
        hint = " and ".join(s.variable(self.name) for s in self.settings[1:3])
        config = self.config
        return ClientCredentialsAuth.for_client(
            self.http, TOKEN_PATH, config["client_id"], config["client_secret"], hint=hint
        )

    def fetch(self, cursor: str | None) -> Iterator[Batch]:
        """Yield one batch per page of the changes since ``cursor`` (all when ``None``)."""
        since = ZULU_CURSOR.resume(cursor, self.title)
        params = {"pageSize": str(self.page_size), "includeDeleted": "true"}
        if since is not None:
            params["modifiedSince"] = format_cursor(since)
        pages = CASES.pages(self.http, params, auth=self.auth)
        where = (self.name, self.http.base_url + "/ui/cases/")
        yield from RECORD.batches(pages, where, self.name, Watermark(since), format_cursor)

    def write_case(self, write: CaseWrite) -> CaseWriteResult:
        """Post a comment keyed by ``ExternalId``, then set the mapped status if asked.

        :raises SourceRejected: unknown or deleted case (404), no ``cases:write`` (403), a
            body or status refused (400), or a key that is not a usable ``ExternalId``.
        :raises SourceUnavailable: transient failures outlasted the retries.
        """
        writer = WRITES.start(self.http, write, auth=self.auth)
        path = f"{CASES_PATH}/{quote(write.case_id, safe='')}"
        body = self._comment_body(write)
        posted = writer.send("POST", f"{path}/comments", body, what="the comment")
        if write.set_status is not None:  # setting a value: safe to repeat without a key
            status = self.config[f"{write.set_status}_status"]
            variable = Setting(f"{write.set_status}_status").variable(self.name)
            what = f"status {status!r} (from {variable})"
            writer.send("PATCH", path, {"Status": status}, what=what)
        answer = self.http.decode(posted)
        answer = answer if type(answer) is dict else {}
        comment_id = answer.get("Id")
        replayed = answer.get("created") is False
        return CaseWriteResult(comment_id if type(comment_id) is str else None, replayed)

    def _comment_body(self, write: CaseWrite) -> dict[str, Any]:
        """The comment; ``ExternalId`` makes a repeat harmless (``200 created:false``)."""
        key = write.idempotency_key
        return {"Body": write.message, "IsPublished": write.public, "ExternalId": key}


#: How Banana takes a write: the key as the comment's ExternalId, refusals in words.
WRITES: Final = WriteRules(
    r"[A-Za-z0-9._:-]{1,80}",
    "Banana cannot take idempotency key {key!r} as an ExternalId (1 to 80 characters of "
    "A-Z a-z 0-9 . _ : -)",
    refused={
        404: "Banana has no case {case} (deleted or unknown): {detail}",
        403: "Banana refused {what} on case {case}: the client lacks the cases:write scope "
        "({detail})",
        0: "Banana refused {what} on case {case}: {detail}",
    },
)
