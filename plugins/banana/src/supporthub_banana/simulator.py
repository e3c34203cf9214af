"""A simulator of Banana CRM's REST API v2, faithful to ``banana-crm-api.md``.

::

    with BananaSimulator(n=1000, seed=1) as sim:
        token = httpx.post(sim.url + "/oauth/token", data={
            "grant_type": "client_credentials",
            "client_id": sim.client_id, "client_secret": sim.client_secret,
        }).json()["access_token"]
        ...

What it serves (all below :attr:`~BananaSimulator.url`, which may carry a
path prefix):

* ``POST /oauth/token``: client credentials, form-encoded; tokens expire
  after :attr:`~BananaSimulator.token_ttl` seconds and can be revoked
  mid-sync (:meth:`~BananaSimulator.revoke_all_tokens`,
  :meth:`~BananaSimulator.revoke_tokens_after`);
* ``GET /api/v2/cases`` with ``modifiedSince``, ``pageSize`` and
  ``includeDeleted``, paged by query locators
  (``GET /api/v2/cases/next/<locator>``), valid for
  :attr:`~BananaSimulator.locator_ttl` seconds after the page that issued
  them;
* ``POST /api/v2/cases/{Id}/comments`` (``ExternalId`` unique per case:
  ``201 created:true``, then ``200 created:false``),
  ``GET /api/v2/cases/{Id}/comments`` and ``PATCH /api/v2/cases/{Id}``
  (``Status``); every write bumps ``LastModifiedDate``. What clients wrote is
  in :attr:`~BananaSimulator.comments`; :attr:`~BananaSimulator.read_only`
  takes the ``cases:write`` scope away (``403 insufficient_scope``);
  :attr:`~BananaSimulator.statuses` is the tenant's status list;
* ``GET /ui/cases/{Id}``: a tiny HTML page.

Run it on its own with ``python -m supporthub_banana.simulator --n 1000``.
"""

from __future__ import annotations

import argparse
import hmac
import html
import math
import random
import re
import secrets
import threading
import time
import zlib
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final
from urllib.parse import parse_qs

import attrs
import orjson

from supporthub.testing.sim import (
    DEFAULT_ANCHOR,
    CaseSpec,
    Comment,
    Interception,
    JSONRecord,
    MalformedKind,
    RecordId,
    SimRequest,
    SimResponse,
    Simulator,
    add_common_arguments,
    format_offset_ms,
    format_retry_after,
    parse_offset_ms,
    parse_z_ns,
    serve_until_signalled,
)

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "BananaSimulator",
    "case_id",
    "main",
]

#: Demo credentials, for a simulator nobody else can reach.
DEFAULT_CLIENT_ID: Final = "banana-demo-client"
DEFAULT_CLIENT_SECRET: Final = "banana-demo-secret"  # noqa: S105

MAX_PAGE_SIZE: Final = 2000
DEFAULT_PAGE_SIZE: Final = 200

STOCK_OPEN_STATUSES: Final = ("New", "Working", "Escalated", "On Hold")
STOCK_CLOSED_STATUSES: Final = ("Resolved", "Closed")
#: Statuses this simulated tenant added; ``IsClosed`` says which side they are on.
CUSTOM_OPEN_STATUSES: Final = ("Waiting on Provider", "Pending Customer")
CUSTOM_CLOSED_STATUSES: Final = ("Closed – Duplicate",)  # noqa: RUF001 (tenants type en dashes)
PRIORITIES: Final = ("Low", "Medium", "High", "Critical")
ORIGINS: Final = ("Email", "Phone", "Web", "Chat", "API")

# Status shares by CaseSpec.status_choice (0..999).
_OPEN_CUT: Final = (250, 700, 850, 1000)  # New, Working, Escalated, On Hold
_CLOSED_CUT: Final = (400, 1000)  # Resolved, Closed

_ID_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_PREFIX: Final = "5003000000"  # "500" is the Case key prefix, as in the big CRMs
_ID_DIGITS: Final = 5
_CHECKSUM_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_DIGITS_RE: Final = re.compile(r"[0-9]+", re.ASCII)
_NEXT_PATH: Final = "/api/v2/cases/next/"
_CASE_PATH: Final = re.compile(r"/api/v2/cases/([^/]+)(/comments)?")
_EXTERNAL_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,80}", re.ASCII)
#: Longest comment ``Body`` Banana takes, in characters.
MAX_COMMENT_LENGTH: Final = 4000
#: Most comments ``GET …/comments`` lists.
MAX_COMMENTS_LISTED: Final = 2000
_BROKEN_PAGE: Final = b'{"totalSize": 3, "done": false, "records": [{"Id": "5003000000'


def case_id(seq: int) -> str:
    """The 18-character Banana Id of the case generated as number ``seq``.

    15 characters that grow with ``seq`` in string order, then a 3-character
    case-sensitivity checksum, as the big CRMs build theirs.
    """
    digits = []
    for _ in range(_ID_DIGITS):
        seq, digit = divmod(seq, 62)
        digits.append(_ID_ALPHABET[digit])
    if seq:
        raise ValueError("sequence number too large for a Banana Id")
    body = _ID_PREFIX + "".join(reversed(digits))
    return body + _checksum(body)


def _checksum(body: str) -> str:
    suffix = []
    for start in range(0, 15, 5):
        bits = sum(1 << i for i, ch in enumerate(body[start : start + 5]) if "A" <= ch <= "Z")
        suffix.append(_CHECKSUM_ALPHABET[bits])
    return "".join(suffix)


def _seq_of(record_id: str) -> int | None:
    if len(record_id) != 18 or not record_id.startswith(_ID_PREFIX):
        return None
    body = record_id[:15]
    if _checksum(body) != record_id[15:]:
        return None
    seq = 0
    for ch in body[len(_ID_PREFIX) :]:
        digit = _ID_ALPHABET.find(ch)
        if digit < 0:
            return None
        seq = seq * 62 + digit
    return seq


@attrs.define
class _Query:
    """A listing query the client pages through: what its locators point into."""

    include_deleted: bool
    page_size: int
    total_size: int
    touched: float
    """When the last page was served (monotonic): its locator lives from then."""


class BananaSimulator(Simulator):
    """A Banana CRM tenant with ``n`` generated cases, served over HTTP.

    Beyond the shared :class:`~supporthub.testing.sim.simulator.Simulator`
    surface: the credentials (:attr:`client_id`, :attr:`client_secret`),
    token switches, locator expiry and :meth:`send_offset_timestamps`.
    """

    clock_resolution_ms = 1

    def __init__(
        self,
        n: int = 1000,
        seed: int = 1,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        host: str = "127.0.0.1",
        port: int = 0,
        path_prefix: str = "",
        anchor: datetime = DEFAULT_ANCHOR,
        token_ttl: float = 3600,
        locator_ttl: float = 15 * 60,
    ) -> None:
        """Generate the tenant's cases and prepare the server (see :meth:`start`).

        :param token_ttl: seconds an access token lives (``expires_in``).
            Settable later; 0 makes every new token dead on arrival.
        :param locator_ttl: seconds a ``nextRecordsUrl`` stays valid.
            Settable later.
        """
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl = token_ttl
        self.locator_ttl = locator_ttl
        self._state_lock = threading.Lock()
        self._tokens: dict[str, float] = {}
        self._revoke_countdown: int | None = None
        self._queries: dict[str, _Query] = {}
        self._query_counter = 0
        self._offset_share = 0.0
        self._offset_minutes = 0
        self._comment_counter = 0
        self.statuses: dict[str, bool] = {
            status: status in STOCK_CLOSED_STATUSES + CUSTOM_CLOSED_STATUSES
            for status in STOCK_OPEN_STATUSES
            + CUSTOM_OPEN_STATUSES
            + STOCK_CLOSED_STATUSES
            + CUSTOM_CLOSED_STATUSES
        }
        """The tenant's statuses, each to its ``IsClosed``: what ``PATCH`` accepts."""
        super().__init__(
            n=n, seed=seed, host=host, port=port, path_prefix=path_prefix, anchor=anchor
        )

    # -- the contract suite's view (supporthub.testing.ContractSimulator) ------

    def contract_settings(self) -> dict[str, str]:
        """The adapter's settings that point it at this simulator."""
        return {"url": self.url, "client_id": self.client_id, "client_secret": self.client_secret}

    def personal_values(self) -> set[str]:
        """Every contact e-mail the records carry: never to be logged."""
        return {
            email
            for record in self.current_records()
            if isinstance(email := record.get("ContactEmail"), str)
        }

    # -- switches ----------------------------------------------------------

    def revoke_all_tokens(self) -> None:
        """Revoke every token issued so far: their next use answers ``401 invalid_token``."""
        with self._state_lock:
            self._tokens.clear()
            self._revoke_countdown = None

    def revoke_tokens_after(self, n_requests: int) -> None:
        """Let ``n_requests`` more authenticated calls pass, then revoke every token.

        The call after them answers ``401 invalid_token``; a token fetched
        afterwards works again.
        """
        if n_requests < 0:
            raise ValueError("n_requests must not be negative")
        with self._state_lock:
            self._revoke_countdown = n_requests

    def expire_locators(self) -> None:
        """Invalidate every ``nextRecordsUrl`` handed out so far."""
        with self._state_lock:
            self._queries.clear()

    def send_offset_timestamps(self, share: float, offset_minutes: int = 120) -> None:
        """Send about ``share`` of the records with timestamps at another UTC offset.

        Same instant, other wall time (``…T12:00:00.000+0200`` for 10:00 UTC):
        the spec tells clients to parse any offset. Which records is a pure
        function of the Id. ``share=0`` turns it off.
        """
        if not 0.0 <= share <= 1.0:
            raise ValueError("share must lie between 0 and 1")
        self._offset_share = share
        self._offset_minutes = offset_minutes

    # -- the dialect -----------------------------------------------------

    def _render(self, spec: CaseSpec, modified_ms: int) -> JSONRecord:
        record_id = case_id(spec.seq)
        record: JSONRecord = {
            "Id": record_id,
            "CaseNumber": f"{spec.seq + 1:08d}",
            "Subject": spec.subject,
            "Description": spec.description,
            "Status": _status(spec),
            "IsClosed": not spec.is_open,
            "IsDeleted": False,
            "Priority": None if spec.priority_rank is None else PRIORITIES[spec.priority_rank],
            "Origin": None if spec.channel is None else ORIGINS[spec.channel],
            "Provider__c": spec.provider,
            "Error_Code__c": None if spec.error_code is None else "E-" + spec.error_code,
            "ContactEmail": spec.contact_email,
            "CreatedDate": format_offset_ms(spec.created_ms),
            "LastModifiedDate": format_offset_ms(modified_ms),
        }
        # Unknown extra fields on some records: clients must ignore them.
        quirks = spec.quirks
        if (quirks >> 8) & 0xF == 0:
            record["attributes"] = {"type": "Case", "url": f"/api/v2/cases/{record_id}"}
        if (quirks >> 12) & 0x7 == 0:
            record["Region__c"] = ("EMEA", "AMER", "APAC")[(quirks >> 15) % 3]
            record["SLA_Breached__c"] = bool((quirks >> 17) & 1)
        return record

    def _id_of(self, slot: int) -> RecordId:
        return case_id(slot)

    def _slot_of(self, record_id: RecordId) -> int | None:
        return _seq_of(record_id) if isinstance(record_id, str) else None

    def _set_modified(self, record: JSONRecord, modified_ms: int) -> None:
        record["LastModifiedDate"] = format_offset_ms(modified_ms)

    def _mark_deleted(self, record: JSONRecord) -> None:
        record["IsDeleted"] = True

    def _is_open(self, record: JSONRecord) -> bool:
        return record["IsClosed"] is False

    def _apply_close(self, record: JSONRecord, rng: random.Random) -> None:
        closed = CUSTOM_CLOSED_STATUSES if rng.random() < 0.1 else STOCK_CLOSED_STATUSES
        record["Status"] = rng.choice(closed)
        record["IsClosed"] = True

    def _apply_update(self, record: JSONRecord, fresh: CaseSpec, rng: random.Random) -> None:
        draw = rng.random()
        if draw < 0.35:
            if record["IsClosed"] and rng.random() < 0.3:
                record["Status"], record["IsClosed"] = "Working", False  # reopened
            elif not record["IsClosed"]:
                record["Status"] = rng.choice(STOCK_OPEN_STATUSES + CUSTOM_OPEN_STATUSES)
        elif draw < 0.55:
            record["Priority"] = rng.choice(PRIORITIES)
        elif draw < 0.8:
            # Re-triaged: the case moves to another (provider, error code) group.
            record["Provider__c"] = fresh.provider
            record["Error_Code__c"] = None if fresh.error_code is None else "E-" + fresh.error_code
        else:
            record["Description"] = (record["Description"] or "") + "\n\nCustomer replied."

    def _apply_changes(self, record: JSONRecord, changes: Mapping[str, Any]) -> None:
        for name in ("Id", "LastModifiedDate"):
            if name in changes:
                raise ValueError(f"{name} is kept by the simulator, not set by a test")
        record.update(changes)

    def _malform(self, record: JSONRecord, kind: MalformedKind) -> None:
        if kind == "missing_id":
            record.pop("Id", None)
        elif kind == "wrong_type":
            record["IsClosed"] = "true" if record.get("IsClosed") else "false"
        else:
            record["LastModifiedDate"] = "20/11/2026 10:02"

    def _restyling(self) -> bool:
        return self._offset_share > 0

    def _restyles(self, record_id: RecordId) -> bool:
        share = self._offset_share
        return bool(share) and zlib.crc32(f"offset:{record_id}".encode()) < share * 2**32

    def _restyle(self, record: JSONRecord) -> None:
        for name in ("CreatedDate", "LastModifiedDate"):
            try:
                instant = parse_offset_ms(record[name])
            except (KeyError, TypeError, ValueError):
                continue
            record[name] = format_offset_ms(instant, self._offset_minutes)

    # -- HTTP ------------------------------------------------------------

    def _route(self, request: SimRequest) -> SimResponse:
        path = request.path or ""
        if path == "/oauth/token":
            return self._token(request) if request.method == "POST" else _method_not_allowed()
        if path == "/api/v2/cases":
            return self._list_cases(request) if request.method == "GET" else _method_not_allowed()
        if path.startswith(_NEXT_PATH):
            if request.method != "GET":
                return _method_not_allowed()
            return self._next_page(request, path[len(_NEXT_PATH) :])
        if path.startswith("/ui/cases/") and request.method == "GET":
            return self._ui_page(path[len("/ui/cases/") :])
        match = _CASE_PATH.fullmatch(path)
        if match is not None:
            return self._case_resource(request, match.group(1), match.group(2) is not None)
        return self._not_found(request)

    # -- writing -----------------------------------------------------------

    def _case_resource(self, request: SimRequest, record_id: str, comments: bool) -> SimResponse:
        """``/api/v2/cases/{Id}`` (PATCH) and ``/api/v2/cases/{Id}/comments`` (GET, POST)."""
        allowed = ("GET", "POST") if comments else ("PATCH",)
        if request.method not in allowed:
            return _method_not_allowed()
        refusal = self._unauthorized(request)
        if refusal is not None:
            return refusal
        if request.method != "GET" and self.read_only:
            return _error(403, "insufficient_scope", "the client lacks the cases:write scope")
        slot = _seq_of(record_id)
        if slot is None or slot >= len(self.store) or self.store.is_deleted(slot):
            return _error(404, "NOT_FOUND", "no such case")
        if request.method == "GET":
            listed = self.comments.on(record_id)[:MAX_COMMENTS_LISTED]
            body = {"records": [_comment_json(comment) for comment in listed]}
            return SimResponse(200, orjson.dumps(body), records=len(listed))
        try:
            fields = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            return _error(400, "JSON_PARSER_ERROR", "the body is not JSON")
        if not isinstance(fields, dict):
            return _error(400, "JSON_PARSER_ERROR", "the body is not a JSON object")
        if comments:
            return self._post_comment(slot, record_id, fields)
        return self._patch_status(slot, fields)

    def _post_comment(self, slot: int, record_id: str, fields: dict[str, Any]) -> SimResponse:
        text = fields.get("Body")
        published = fields.get("IsPublished", False)
        external_id = fields.get("ExternalId")
        if not isinstance(text, str) or not 1 <= len(text) <= MAX_COMMENT_LENGTH:
            return _error(
                400, "INVALID_FIELD", f"Body must be 1 to {MAX_COMMENT_LENGTH} characters"
            )
        if not isinstance(published, bool):
            return _error(400, "INVALID_FIELD", "IsPublished must be true or false")
        if external_id is not None and (
            not isinstance(external_id, str) or _EXTERNAL_ID.fullmatch(external_id) is None
        ):
            return _error(
                400, "INVALID_FIELD", "ExternalId must be 1 to 80 characters of [A-Za-z0-9._:-]"
            )
        with self._change_lock:
            if external_id is not None:
                existing = self.comments.by_external_id(record_id, external_id)
                if existing is not None:
                    return SimResponse(200, orjson.dumps({"Id": existing.id, "created": False}))
            record = self._load(slot)
            self._comment_counter += 1
            comment = Comment(
                id=f"00a3000000{self._comment_counter:08d}",
                case_id=record_id,
                body=text,
                public=published,
                created_ms=self._written(slot, record),
                external_id=external_id,
            )
            self.comments.add(comment)
        return SimResponse(201, orjson.dumps({"Id": comment.id, "created": True}))

    def _patch_status(self, slot: int, fields: dict[str, Any]) -> SimResponse:
        status = fields.get("Status")
        if set(fields) != {"Status"} or not isinstance(status, str):
            return _error(400, "INVALID_FIELD", 'the body must be {"Status": "<status>"}')
        if status not in self.statuses:
            return _error(
                400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Status is not one of the tenant's"
            )
        with self._change_lock:
            record = self._load(slot)
            if record["Status"] != status:
                record["Status"], record["IsClosed"] = status, self.statuses[status]
                self._written(slot, record)
        return SimResponse(204)

    def _not_found(self, request: SimRequest) -> SimResponse:
        return _error(404, "NOT_FOUND", "no such resource")

    def _intercepted(self, interception: Interception) -> SimResponse:
        codes = {
            429: "REQUEST_LIMIT_EXCEEDED",
            500: "INTERNAL_ERROR",
            502: "BAD_GATEWAY",
            503: "SERVICE_UNAVAILABLE",
            504: "GATEWAY_TIMEOUT",
        }
        headers: tuple[tuple[str, str], ...] = ()
        if interception.retry_after is not None:
            headers = (("Retry-After", format_retry_after(interception.retry_after)),)
        body = orjson.dumps(
            {"error": codes.get(interception.status, "ERROR"), "message": "simulated fault"}
        )
        return SimResponse(interception.status, body, headers=headers)

    def _token(self, request: SimRequest) -> SimResponse:
        form = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)

        def field(name: str) -> str:
            values = form.get(name)
            return values[0] if values else ""

        if field("grant_type") != "client_credentials":
            return SimResponse(
                400,
                orjson.dumps(
                    {
                        "error": "unsupported_grant_type",
                        "error_description": "grant_type must be client_credentials",
                    }
                ),
            )
        id_ok = hmac.compare_digest(field("client_id").encode(), self.client_id.encode())
        secret_ok = hmac.compare_digest(
            field("client_secret").encode(), self.client_secret.encode()
        )
        if not (id_ok and secret_ok):
            return SimResponse(
                401,
                orjson.dumps(
                    {
                        "error": "invalid_client",
                        "error_description": "client identifier or secret is wrong",
                    }
                ),
            )
        token = secrets.token_urlsafe(32)
        ttl = self.token_ttl
        with self._state_lock:
            self._tokens[token] = time.monotonic() + ttl
        body = {"access_token": token, "token_type": "Bearer", "expires_in": math.ceil(ttl)}
        return SimResponse(200, orjson.dumps(body))

    def _unauthorized(self, request: SimRequest) -> SimResponse | None:
        """None when the request carries a live token, else the 401 to answer."""
        header = request.header("Authorization") or ""
        scheme, _, token = header.partition(" ")
        with self._state_lock:
            expiry = self._tokens.get(token) if scheme.lower() == "bearer" else None
            if expiry is not None and time.monotonic() >= expiry:
                del self._tokens[token]
                expiry = None
            if expiry is not None and self._revoke_countdown is not None:
                if self._revoke_countdown == 0:
                    self._tokens.clear()
                    self._revoke_countdown = None
                    expiry = None
                else:
                    self._revoke_countdown -= 1
        if expiry is not None:
            return None
        return SimResponse(
            401,
            orjson.dumps(
                {"error": "invalid_token", "error_description": "token expired or revoked"}
            ),
        )

    def _list_cases(self, request: SimRequest) -> SimResponse:
        refusal = self._unauthorized(request)
        if refusal is not None:
            return refusal
        page_size = DEFAULT_PAGE_SIZE
        raw_size = request.param("pageSize")
        if raw_size is not None:
            if not _DIGITS_RE.fullmatch(raw_size) or not 1 <= int(raw_size) <= MAX_PAGE_SIZE:
                return _error(400, "INVALID_PAGE_SIZE", f"pageSize must be 1 to {MAX_PAGE_SIZE}")
            page_size = int(raw_size)
        include_deleted = request.param("includeDeleted")
        if include_deleted not in (None, "true", "false"):
            return _error(400, "MALFORMED_QUERY", "includeDeleted must be true or false")
        position = 0
        since = request.param("modifiedSince")
        if since is not None:
            try:
                since_ns = parse_z_ns(since)
            except ValueError:
                return _error(
                    400,
                    "MALFORMED_QUERY",
                    "modifiedSince must look like 2026-11-20T10:00:00Z",
                )
            # Inclusive at the millisecond: a fraction beyond it rounds up.
            position = self.store.first_position(-(-since_ns // 1_000_000))
        query = _Query(
            include_deleted=include_deleted == "true",
            page_size=page_size,
            total_size=self.store.count_from(position, include_deleted=include_deleted == "true"),
            touched=time.monotonic(),
        )
        with self._state_lock:
            self._query_counter += 1
            query_id = "01g" + case_id(self._query_counter)[10:15]
            self._forget_old_queries()
            self._queries[query_id] = query
        return self._answer_page(query_id, query, position)

    def _forget_old_queries(self) -> None:
        now = time.monotonic()
        for query_id, query in list(self._queries.items()):
            if now - query.touched > self.locator_ttl:
                del self._queries[query_id]

    def _next_page(self, request: SimRequest, locator: str) -> SimResponse:
        refusal = self._unauthorized(request)
        if refusal is not None:
            return refusal
        query_id, _, raw_position = locator.partition("-")
        with self._state_lock:
            query = self._queries.get(query_id)
            valid = (
                query is not None
                and time.monotonic() - query.touched <= self.locator_ttl
                and _DIGITS_RE.fullmatch(raw_position) is not None
                and int(raw_position) <= self.store.end
            )
            if query is not None and valid:
                query.touched = time.monotonic()
        if query is None or not valid:
            return _error(400, "INVALID_QUERY_LOCATOR", "the query locator is invalid or expired")
        return self._answer_page(query_id, query, int(raw_position))

    def _answer_page(self, query_id: str, query: _Query, position: int) -> SimResponse:
        if self.faults.take_bad_json_page():
            return SimResponse(200, _BROKEN_PAGE)
        page = self.store.page(position, query.page_size, include_deleted=query.include_deleted)
        records = self._served_records(page)
        next_url = (
            f'"{_NEXT_PATH}{query_id}-{page.next_position}"'.encode() if page.has_more else b"null"
        )
        body = b"".join(
            (
                b'{"totalSize":%d,"done":%s,"nextRecordsUrl":%s,"records":['
                % (query.total_size, b"false" if page.has_more else b"true", next_url),
                b",".join(records),
                b"]}",
            )
        )
        return SimResponse(200, body, records=len(records))

    def _ui_page(self, record_id: str) -> SimResponse:
        slot = _seq_of(record_id)
        if slot is None or slot >= len(self.store):
            return SimResponse(404, b"<!doctype html><title>Not found</title>", "text/html")
        record = self._load(slot)
        page = (
            "<!doctype html><meta charset=utf-8>"
            f"<title>Case {html.escape(record['CaseNumber'])}</title>"
            f"<h1>Case {html.escape(record['CaseNumber'])}</h1>"
            f"<p>{html.escape(record.get('Subject') or '')}</p>"
        )
        return SimResponse(200, page.encode(), "text/html; charset=utf-8")


def _status(spec: CaseSpec) -> str:
    choice = spec.status_choice
    if spec.custom_status:
        statuses = CUSTOM_OPEN_STATUSES if spec.is_open else CUSTOM_CLOSED_STATUSES
        return statuses[choice % len(statuses)]
    if spec.is_open:
        return STOCK_OPEN_STATUSES[bisect_right(_OPEN_CUT, choice)]
    return STOCK_CLOSED_STATUSES[bisect_right(_CLOSED_CUT, choice)]


def _comment_json(comment: Comment) -> JSONRecord:
    return {
        "Id": comment.id,
        "Body": comment.body,
        "IsPublished": comment.public,
        "ExternalId": comment.external_id,
        "CreatedDate": format_offset_ms(comment.created_ms),
    }


def _error(status: int, code: str, message: str) -> SimResponse:
    return SimResponse(status, orjson.dumps({"error": code, "message": message}))


def _method_not_allowed() -> SimResponse:
    return _error(405, "METHOD_NOT_ALLOWED", "method not allowed here")


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a Banana simulator until SIGINT or SIGTERM; print its URL and credentials."""
    parser = argparse.ArgumentParser(
        prog="python -m supporthub_banana.simulator",
        description="Serve a simulated Banana CRM with generated cases.",
    )
    add_common_arguments(parser, default_port=8101)
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    args = parser.parse_args(argv)
    simulator = BananaSimulator(
        n=args.n,
        seed=args.seed,
        client_id=args.client_id,
        client_secret=args.client_secret,
        host=args.host,
        port=args.port,
        path_prefix=args.path_prefix,
    )

    def banner(sim: Simulator) -> list[str]:
        return [
            f"Banana simulator: {args.n} cases at {sim.url}",
            f"client_id={args.client_id}",
            f"client_secret={args.client_secret}",
        ]

    return serve_until_signalled(simulator, banner)


if __name__ == "__main__":
    raise SystemExit(main())
