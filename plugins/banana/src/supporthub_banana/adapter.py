"""The Banana CRM adapter: REST API v2 as ``banana-crm-api.md`` describes it.

One sync::

    POST /oauth/token                       client credentials -> bearer token
    GET  /api/v2/cases?pageSize=2000&includeDeleted=true[&modifiedSince=<cursor>]
    GET  /api/v2/cases/next/<locator>       ... while ``done`` is false

Each page becomes one :class:`~supporthub.Batch`. The cursor is the latest
``LastModifiedDate`` read so far, in the ``Z`` form Banana accepts; the next
sync asks ``modifiedSince`` that cursor. The filter is inclusive, so the
records on the boundary come again; the hub's upsert absorbs them, and no
change that shares the boundary's millisecond is ever skipped.

A page is first decoded by a typed decoder (msgspec): the spec's field
types are checked in C while the JSON is parsed, so a clean page costs
about what decoding it costs. A page it refuses, or one with anything
unusual (a blank id, a timestamp without an offset), is decoded again and
read record by record by :func:`read_record`, which skips and counts the
malformed ones and says why. :func:`read_record` is the definition; the
typed path only ever agrees with it, faster (``tests/test_records.py``
holds the property test).

The access token is kept for the adapter's life (one refresh). A call
answered ``401 invalid_token`` gets one new token and one repeat; a second
``401`` fails the source. Every other failure comes from the core's
:class:`~supporthub.HttpClient`: transient answers are retried there, final
ones raise :class:`~supporthub.SourceRejected` at once.

A write (:meth:`BananaAdapter.write_case`)::

    POST  /api/v2/cases/{Id}/comments   {"Body", "IsPublished", "ExternalId": <hub key>}
    PATCH /api/v2/cases/{Id}            {"Status": <mapped status>}   when asked

``ExternalId`` is unique per case at Banana, so every repeat of the comment
(the core's retries, or the hub's after a crash or a lost answer) comes back
``200 created:false`` instead of making a second comment. Setting a status
the case already has is a no-op, so the ``PATCH`` is safe to repeat as is.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any, ClassVar, Final, NoReturn
from urllib.parse import quote

import attrs
import httpx
import msgspec

from supporthub import (
    Adapter,
    Batch,
    BatchBuilder,
    Case,
    CaseWrite,
    CaseWriteResult,
    HttpClient,
    MalformedPage,
    MalformedRecord,
    Setting,
    SourceConfig,
    SourceRejected,
    Status,
    Tombstone,
    read_bool,
    read_id,
    read_optional_str,
    read_str,
    read_timestamp,
)

__all__ = [
    "PAGE_SIZE",
    "BananaAdapter",
    "format_cursor",
    "parse_cursor",
    "read_record",
    "read_typed",
]

log = logging.getLogger("supporthub.banana")

#: The largest page Banana serves: fewest round trips.
PAGE_SIZE: Final = 2000
#: Longest provider, error code or id the hub accepts (hub contract §4).
MAX_FIELD_LENGTH: Final = 255

TOKEN_PATH: Final = "/oauth/token"  # noqa: S105 - a path, not a password
CASES_PATH: Final = "/api/v2/cases"
#: What Banana accepts as a comment's ``ExternalId``.
EXTERNAL_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,80}", re.ASCII)

_CURSOR: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z", re.ASCII)

# Fields the spec types "string or null" and the hub does not keep: checked
# all the same, a wrong JSON type makes the record malformed (contract §4).
_OPTIONAL_TEXT: Final = ("Subject", "Description", "Priority", "Origin", "ContactEmail")
# The hub's aggregation key is made of these: longer than 255 is malformed.
_KEY_TEXT: Final = ("Provider__c", "Error_Code__c")
_OPEN, _CLOSED = Status.OPEN, Status.CLOSED
_fromisoformat = dt.datetime.fromisoformat
_UTC = dt.UTC


def format_cursor(moment: dt.datetime) -> str:
    """The cursor for ``moment``: UTC with ``Z``, as ``modifiedSince`` accepts it.

    Milliseconds when that is exact (Banana's own resolution), else
    microseconds: never rounded up, so the inclusive filter cannot skip the
    record the cursor came from.
    """
    moment = moment.astimezone(_UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return (text[:-3] if moment.microsecond % 1000 == 0 else text) + "Z"


def parse_cursor(cursor: str | None) -> dt.datetime | None:
    """The moment a cursor stands for; ``None`` for no cursor or one this adapter did not write."""
    if cursor is None or _CURSOR.fullmatch(cursor) is None:
        return None
    try:
        return _fromisoformat(cursor[:-1]).replace(tzinfo=_UTC)
    except ValueError:
        return None


def _timestamp(record: Mapping[str, Any], field: str) -> dt.datetime:
    """A timestamp as aware UTC; :class:`MalformedRecord` when it does not parse.

    The text goes straight to the C parser, which takes the spec's shape
    (``2026-11-20T10:00:00.000+0000``) and other ISO 8601 forms with an
    offset. What it refuses, and a result without an offset, goes through
    the core's strict reader, which says what is wrong.
    """
    try:
        parsed = _fromisoformat(record.get(field))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return read_timestamp(record, field)
    zone = parsed.tzinfo
    if zone is _UTC:
        return parsed
    return parsed.astimezone(_UTC) if zone is not None else read_timestamp(record, field)


def _page_url(case_url: str, record_id: str) -> str:
    """``{base}/ui/cases/{Id}``; an id that is not plain letters and digits is quoted."""
    return case_url + (
        record_id if record_id.isascii() and record_id.isalnum() else quote(record_id, safe="")
    )


def _bad_id(record: Mapping[str, Any]) -> NoReturn:
    """Say what is wrong with an ``Id`` that is not a usable string."""
    if type(record.get("Id")) is int:
        raise MalformedRecord("Id is a number, expected a string")
    read_id(record, "Id")  # raises: missing, empty, too long or of another type
    raise MalformedRecord("Id is not usable")


def _bad_field(record: Mapping[str, Any]) -> NoReturn:
    """Say which field of a live record has a type the spec does not allow."""
    if "IsDeleted" in record:
        read_bool(record, "IsDeleted")
    read_bool(record, "IsClosed")
    read_str(record, "CaseNumber")
    read_str(record, "Status")
    for field in _OPTIONAL_TEXT:
        read_optional_str(record, field)
    for field in _KEY_TEXT:
        read_optional_str(record, field, max_length=MAX_FIELD_LENGTH)
    raise MalformedRecord("a field has a type the spec does not allow")


def read_record(record: Any, source: str, case_url: str) -> Case | Tombstone:
    """Turn one Banana record into a case, or a tombstone when it is deleted.

    Every field the spec types is checked; extra fields are ignored. A
    tombstone needs only ``Id`` and ``LastModifiedDate``: a deletion is
    honoured whatever the rest of the record says. ``ContactEmail`` is read
    for its type only and never leaves this function.

    It reads each field once and checks every type in one expression; only
    a record that fails asks the core's ``read_*`` helpers for the reason
    in words.

    :param source: the adapter's name, for the case (``banana``).
    :param case_url: the case page URL without the id (``{base}/ui/cases/``).
    :raises MalformedRecord: the record is unusable; the reason names the
        field, never its value.
    """
    if type(record) is not dict:
        raise MalformedRecord("the record is not a JSON object")
    get = record.get
    record_id = get("Id")
    if (
        type(record_id) is not str
        or not record_id
        or record_id.isspace()
        or len(record_id) > MAX_FIELD_LENGTH
    ):
        _bad_id(record)
    modified = _timestamp(record, "LastModifiedDate")
    deleted = get("IsDeleted", False)
    if deleted is True:
        return Tombstone(record_id, modified)
    is_closed = get("IsClosed")
    number = get("CaseNumber")
    subject = get("Subject")
    priority = get("Priority")
    provider = get("Provider__c")
    error_code = get("Error_Code__c")
    if not (
        deleted is False
        and type(is_closed) is bool
        and type(number) is str
        and type(get("Status")) is str  # free text per tenant: IsClosed decides, not this
        and (subject is None or type(subject) is str)
        and (priority is None or type(priority) is str)
        and (provider is None or (type(provider) is str and len(provider) <= MAX_FIELD_LENGTH))
        and (
            error_code is None or (type(error_code) is str and len(error_code) <= MAX_FIELD_LENGTH)
        )
        and ((text := get("Description")) is None or type(text) is str)
        and ((text := get("Origin")) is None or type(text) is str)
        and ((text := get("ContactEmail")) is None or type(text) is str)
    ):
        _bad_field(record)
    return Case(
        source,
        record_id,
        number,
        subject,
        _CLOSED if is_closed else _OPEN,
        priority,
        provider,
        error_code,
        _timestamp(record, "CreatedDate"),
        modified,
        _page_url(case_url, record_id),
    )


# -- the typed path ---------------------------------------------------------------

_Key = Annotated[str, msgspec.Meta(max_length=MAX_FIELD_LENGTH)]


class _Record(msgspec.Struct, frozen=True, gc=False):
    """A record whose every field has the type the spec gives it; others are ignored."""

    Id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_FIELD_LENGTH)]
    CaseNumber: str
    Status: str
    IsClosed: bool
    CreatedDate: str
    LastModifiedDate: str
    IsDeleted: bool = False
    Subject: str | None = None
    Description: str | None = None
    Priority: str | None = None
    Origin: str | None = None
    Provider__c: _Key | None = None
    Error_Code__c: _Key | None = None
    ContactEmail: str | None = None


class _Page(msgspec.Struct, gc=False):
    """A listing page whose records are all :class:`_Record`."""

    records: list[_Record]
    done: bool
    nextRecordsUrl: str | None = None


_PAGE_DECODER: Final = msgspec.json.Decoder(_Page)


def _decode_typed(body: bytes) -> _Page | None:
    """The page with every record type-checked, or ``None`` when any part is off."""
    try:
        return _PAGE_DECODER.decode(body)
    except (msgspec.DecodeError, ValueError):  # ValueError: bytes that are not UTF-8
        return None


def _utc(text: str) -> dt.datetime | None:
    """An offset timestamp in UTC, or ``None`` when it needs the careful reader."""
    try:
        parsed = _fromisoformat(text)
    except ValueError:
        return None
    zone = parsed.tzinfo
    if zone is _UTC:
        return parsed
    return parsed.astimezone(_UTC) if zone is not None else None


def read_typed(
    records: Sequence[_Record], source: str, case_url: str
) -> tuple[list[Case], list[Tombstone], dt.datetime | None] | None:
    """Cases, tombstones and the newest ``LastModifiedDate`` of type-checked records.

    What :func:`read_record` makes of the same records, when none of them
    is malformed; ``None`` at the first record that needs a closer look.
    """
    cases: list[Case] = []
    tombstones: list[Tombstone] = []
    newest: dt.datetime | None = None
    add_case, add_tombstone = cases.append, tombstones.append
    for record in records:
        record_id = record.Id
        modified = _utc(record.LastModifiedDate)
        if modified is None or record_id.isspace():
            return None
        if newest is None or modified > newest:
            newest = modified
        if record.IsDeleted:
            add_tombstone(Tombstone(record_id, modified))
            continue
        created = _utc(record.CreatedDate)
        if created is None:
            return None
        add_case(
            Case(
                source,
                record_id,
                record.CaseNumber,
                record.Subject,
                _CLOSED if record.IsClosed else _OPEN,
                record.Priority,
                record.Provider__c,
                record.Error_Code__c,
                created,
                modified,
                _page_url(case_url, record_id),
            )
        )
    return cases, tombstones, newest


class BananaAdapter(Adapter):
    """Pulls cases and tombstones from a Banana CRM tenant (REST API v2).

    Settings: ``SUPPORTHUB_BANANA_URL`` (enables the source),
    ``SUPPORTHUB_BANANA_CLIENT_ID`` and ``SUPPORTHUB_BANANA_CLIENT_SECRET``.
    The cursor is the latest ``LastModifiedDate`` read, as
    ``2026-11-20T10:02:11.000Z``.
    """

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

    def __init__(self, config: SourceConfig, http: HttpClient) -> None:
        """Keep the settings and the shared HTTP client; no request is sent yet."""
        super().__init__(config, http)
        self._token: str | None = None

    def fetch(self, cursor: str | None) -> Iterator[Batch]:
        """Yield one batch per page of the changes since ``cursor`` (all when ``None``).

        :raises SourceRejected: wrong credentials, a token refused twice, a
            bad request or an expired query locator.
        :raises SourceUnavailable: transient failures outlasted the retries.
        :raises MalformedPage: an answer is not JSON or not a listing.
        """
        since = parse_cursor(cursor)
        if cursor is not None and since is None:
            log.warning("%s: stored cursor is not one of ours; reading everything", self.title)
        params = {"pageSize": str(self.page_size), "includeDeleted": "true"}
        if since is not None:
            params["modifiedSince"] = format_cursor(since)
        newest = since
        case_url = self.http.base_url + "/ui/cases/"
        builder = BatchBuilder(self.name)
        read = 0
        response = self._get(CASES_PATH, params)
        while True:
            typed = _decode_typed(response.content)
            if typed is not None:
                records: Sequence[Any] = typed.records
                next_url = _next_url(typed.done, typed.nextRecordsUrl, self.title)
            else:
                records, next_url = _listing(self.http.decode(response), self.title)
            read += len(records)
            batch, page_newest = self._read_page(response, typed, records, case_url, builder)
            if page_newest is not None and (newest is None or page_newest > newest):
                newest = page_newest
            log.debug("%s: %d records read", self.title, read)
            # Only what was read moves the cursor; nothing read keeps the old one.
            yield attrs.evolve(batch, cursor=None if newest is None else format_cursor(newest))
            if next_url is None:
                return
            response = self._next_page(next_url, read)

    def _read_page(
        self,
        response: httpx.Response,
        typed: _Page | None,
        records: Sequence[Any],
        case_url: str,
        builder: BatchBuilder,
    ) -> tuple[Batch, dt.datetime | None]:
        """One page as a batch (its cursor still to set) and the newest change it used.

        The typed records when every one of them passes; otherwise every
        record through :func:`read_record`, the malformed ones skipped and
        counted in ``builder``.
        """
        if typed is not None:
            quick = read_typed(typed.records, self.name, case_url)
            if quick is not None:
                cases, tombstones, newest = quick
                batch = Batch(
                    cases=tuple(cases), tombstones=tuple(tombstones), fetched=len(records)
                )
                return batch, newest
            records = _listing(self.http.decode(response), self.title)[0]  # one needs words
        newest = None
        for record in records:
            try:
                item = read_record(record, self.name, case_url)
            except MalformedRecord as error:
                builder.skip(str(error), record.get("Id") if type(record) is dict else None)
                continue
            if type(item) is Case:
                builder.add_case(item)
                modified = item.updated_at
            else:
                assert isinstance(item, Tombstone)
                assert item.deleted_at is not None
                builder.add_tombstone(item)
                modified = item.deleted_at
            if newest is None or modified > newest:
                newest = modified
        return builder.build(None), newest

    # -- writing ----------------------------------------------------------------

    def write_case(self, write: CaseWrite) -> CaseWriteResult:
        """Post a comment keyed by ``ExternalId``, then set the mapped status if asked.

        :raises SourceRejected: the case is unknown or deleted (404), the
            client lacks ``cases:write`` (403), Banana refused the body or
            the status value (400), or the key is not a usable ``ExternalId``.
        :raises SourceUnavailable: transient failures outlasted the retries;
            repeat with the same key.
        """
        if EXTERNAL_ID.fullmatch(write.idempotency_key) is None:
            raise SourceRejected(
                f"{self.title} cannot take idempotency key {write.idempotency_key!r} as an "
                "ExternalId (1 to 80 characters of A-Z a-z 0-9 . _ : -)"
            )
        case_path = f"{CASES_PATH}/{quote(write.case_id, safe='')}"
        try:
            response = self._call("POST", case_path + "/comments", self._comment_body(write))
        except SourceRejected as error:
            raise self._write_refused(error, write.case_id, "the comment") from None
        answer = self.http.decode(response)
        answer = answer if type(answer) is dict else {}
        comment_id = answer.get("Id")
        result = CaseWriteResult(
            comment_id=comment_id if type(comment_id) is str else None,
            replayed=answer.get("created") is False,
        )
        if write.set_status is not None:
            status = self.config[f"{write.set_status}_status"]
            try:
                self._call("PATCH", case_path, {"Status": status})
            except SourceRejected as error:
                setting = f"SUPPORTHUB_BANANA_{write.set_status.upper()}_STATUS"
                raise self._write_refused(
                    error, write.case_id, f"status {status!r} (from {setting})"
                ) from None
        return result

    def _comment_body(self, write: CaseWrite) -> dict[str, Any]:
        """The comment request; ``ExternalId`` is what makes a repeat harmless."""
        return {
            "Body": write.message,
            "IsPublished": write.public,
            "ExternalId": write.idempotency_key,
        }

    def _write_refused(self, error: SourceRejected, case_id: str, what: str) -> SourceRejected:
        """A final refusal of a write, in words that say why it will not work later either."""
        detail = self._detail(error)
        if error.status == 404:
            words = f"{self.title} has no case {case_id} (deleted or unknown): {detail}"
        elif error.status == 403:
            words = (
                f"{self.title} refused {what} on case {case_id}: the client lacks the "
                f"cases:write scope ({detail})"
            )
        else:
            words = f"{self.title} refused {what} on case {case_id}: {detail}"
        return SourceRejected(words, status=error.status, error=error.error)

    # -- requests ---------------------------------------------------------------

    def _next_page(self, next_url: str, read: int) -> httpx.Response:
        try:
            return self._get(next_url)
        except SourceRejected as error:
            if error.status == 401:  # the token, refused twice: already in words
                raise
            raise SourceRejected(
                f"{self.title} refused the next page after {read} records: "
                f"{self._detail(error)}. A query locator lives 15 minutes; the next "
                "refresh starts again from the last stored cursor.",
                status=error.status,
                error=error.error,
            ) from None

    def _detail(self, error: SourceRejected) -> str:
        """The status, error code and description of a refusal, without the preamble."""
        return str(error).removeprefix(f"{self.title} rejected the request: ")

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> httpx.Response:
        """GET with the token; one new token and one repeat on ``401 invalid_token``."""
        return self._call("GET", path, params=params)

    def _call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """A request with the token; one new token and one repeat on ``401 invalid_token``.

        A ``401`` applied nothing, so repeating a write after it is safe.
        """
        token = self._token if self._token is not None else self._fetch_token()
        try:
            return self.http.request(method, path, params=params, headers=_bearer(token), json=body)
        except SourceRejected as error:
            if not _invalid_token(error):
                raise
        log.info("%s: the access token was refused (invalid_token); fetching a new one", self.title)
        token = self._fetch_token()
        try:
            return self.http.request(method, path, params=params, headers=_bearer(token), json=body)
        except SourceRejected as error:
            if not _invalid_token(error):
                raise
            raise SourceRejected(
                f"{self.title} refused a freshly issued access token too (HTTP 401 "
                "invalid_token, twice in a row)",
                status=401,
                error="invalid_token",
            ) from None

    def _fetch_token(self) -> str:
        """Client credentials for a bearer token; wrong credentials fail at once."""
        self._token = None
        form = {
            "grant_type": "client_credentials",
            "client_id": self.config["client_id"],
            "client_secret": self.config["client_secret"],
        }
        try:
            response = self.http.request("POST", TOKEN_PATH, data=form)
        except SourceRejected as error:
            variables = " and ".join(s.variable(self.name) for s in self.settings if s.name in form)
            raise SourceRejected(
                f"{self.title} refused the client credentials: {self._detail(error)}; "
                f"check {variables}",
                status=error.status,
                error=error.error,
            ) from None
        body = self.http.decode(response)
        token = body.get("access_token") if type(body) is dict else None
        if type(token) is not str or not token:
            # The body is not quoted: it may hold a token after all.
            raise MalformedPage(f"{self.title} answered the token request without an access_token")
        self._token = token
        return token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _invalid_token(error: SourceRejected) -> bool:
    return error.status == 401 and error.error == "invalid_token"


def _listing(page: Any, title: str) -> tuple[list[Any], str | None]:
    """The records of one decoded listing page and the path of the next (``None``: done).

    :raises MalformedPage: the page is not a listing.
    """
    if type(page) is not dict or type(page.get("records")) is not list:
        raise MalformedPage(f"{title} answered a listing without a records list")
    return page["records"], _next_url(page.get("done"), page.get("nextRecordsUrl"), title)


def _next_url(done: object, next_url: object, title: str) -> str | None:
    """The path of the next page, ``None`` when the listing is done.

    :raises MalformedPage: ``done`` is not a boolean, or the next link is
        missing or could lead away from the tenant (the bearer token goes with it).
    """
    if done is True:
        return None
    if done is not False:
        raise MalformedPage(f"{title} answered a listing whose done is not a boolean")
    if type(next_url) is not str or not next_url.startswith("/") or next_url.startswith("//"):
        raise MalformedPage(
            f"{title} answered a listing that is not done without a nextRecordsUrl path"
        )
    return next_url
