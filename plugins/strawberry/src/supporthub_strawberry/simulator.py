"""A simulator of Strawberry CRM's REST API v1, faithful to ``strawberry-crm-api.md``.

::

    with StrawberrySimulator(n=1000, seed=1) as sim:
        headers = {"X-Api-Key": sim.api_key}
        fields = httpx.get(sim.url + "/v1/ticket_fields", headers=headers).json()
        page = httpx.get(sim.url + "/v1/tickets", params={"limit": 1000},
                         headers=headers).json()

What it serves (all below :attr:`~StrawberrySimulator.url`):

* ``GET /v1/ticket_fields``: the account's fields, whose ids are drawn from
  the seed (never the spec's example ids), so a client must match on
  ``key``; :meth:`~StrawberrySimulator.drop_ticket_field` misconfigures the
  account;
* ``GET /v1/tickets`` with ``updated_after``, ``cursor`` and ``limit``:
  the incremental export, tombstones (``status: deleted``) included;
* ``PUT /v1/tickets/{id}`` (a comment and/or a status) with an optional
  ``Idempotency-Key`` remembered :attr:`~StrawberrySimulator.idempotency_ttl`
  seconds (24 hours): a repeat with the same body answers the first answer
  with ``Idempotent-Replayed: true``, another body ``422
  IdempotencyKeyReused``; ``422 TicketClosed`` for a ``closed`` ticket;
  ``403`` while :attr:`~StrawberrySimulator.read_only`; at most
  :attr:`~StrawberrySimulator.write_rate_limit_per_minute` (100) updates in
  any 60 seconds, else ``429`` with ``Retry-After``. Every update bumps
  ``updated_at``. What clients wrote is in
  :attr:`~StrawberrySimulator.comments`, also served at
  ``GET /v1/tickets/{id}/comments``;
* ``GET /agent/tickets/{id}``: a tiny HTML page.

Every answer carries ``X-Rate-Limit-Remaining``, counting down per minute;
the limit itself is enforced only when asked
(:attr:`~StrawberrySimulator.enforce_rate_limit`), so benchmarks are not
throttled.

Run it on its own with ``python -m supporthub_strawberry.simulator --n 1000``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hmac
import html
import math
import random
import re
import threading
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

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
    format_retry_after,
    format_z_seconds,
    serve_until_signalled,
    typed_error_code,
)

__all__ = [
    "DEFAULT_API_KEY",
    "StrawberrySimulator",
    "main",
    "ticket_id",
]

#: The demo key, for a simulator nobody else can reach.
DEFAULT_API_KEY: Final = "strawberry-demo-key"

MAX_LIMIT: Final = 1000
DEFAULT_LIMIT: Final = 100
RATE_LIMIT_PER_MINUTE: Final = 700
#: Updates (``PUT``) a minute per account, beside the requests.
WRITE_RATE_LIMIT_PER_MINUTE: Final = 100
#: How long an ``Idempotency-Key`` is remembered.
IDEMPOTENCY_TTL_SECONDS: Final = 24 * 3600
#: Longest comment body, in characters.
MAX_COMMENT_LENGTH: Final = 65_000
_TICKET_PATH: Final = re.compile(r"/v1/tickets/([0-9]+)(/comments)?", re.ASCII)

OPEN_STATUSES: Final = ("new", "open", "pending", "hold")
CLOSED_STATUSES: Final = ("solved", "closed")
PRIORITIES: Final = ("low", "normal", "high", "urgent")
CHANNELS: Final = ("email", "phone", "web", "chat", "api")
REGIONS: Final = ("emea", "amer", "apac")

_OPEN_CUT: Final = (200, 700, 900, 1000)  # new, open, pending, hold
_CLOSED_CUT: Final = (550, 1000)  # solved, closed
_ID_BASE: Final = 10_000
_SPEC_EXAMPLE_FIELD_IDS: Final = frozenset({360001, 360002, 360107})
_DIGITS_RE: Final = re.compile(r"[0-9]+", re.ASCII)
_BROKEN_PAGE: Final = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


def ticket_id(seq: int) -> int:
    """The Strawberry id of the ticket generated as number ``seq``."""
    return _ID_BASE + seq


class _RateWindow:
    """Counts answers per fixed one-minute window, for ``X-Rate-Limit-Remaining``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._used = 0

    def _roll(self, now: float) -> None:
        if now - self._started >= 60:
            self._started, self._used = now, 0

    def exhausted(self) -> float | None:
        """Seconds until the window resets when it is used up, else None."""
        with self._lock:
            now = time.monotonic()
            self._roll(now)
            if self._used < self.limit:
                return None
            return max(0.0, 60 - (now - self._started))

    def take(self) -> int:
        """Count one answer; :returns: how many remain in this window."""
        with self._lock:
            self._roll(time.monotonic())
            self._used += 1
            return max(0, self.limit - self._used)

    def reset(self) -> None:
        """Start a fresh window now."""
        with self._lock:
            self._started, self._used = time.monotonic(), 0


class _SlidingWindow:
    """At most ``limit`` events in any ``seconds``: the write rate limit.

    Stricter than fixed minutes, so a client that keeps to it keeps to any
    window the real CRM may count in.
    """

    def __init__(self, limit: int, seconds: float = 60.0) -> None:
        self.limit = limit
        self.seconds = seconds
        self._lock = threading.Lock()
        self._events: deque[float] = deque()

    def take(self) -> float | None:
        """Count one event now; or, when the window is full, the seconds until it is not."""
        with self._lock:
            now = time.monotonic()
            while self._events and now - self._events[0] >= self.seconds:
                self._events.popleft()
            if len(self._events) >= self.limit:
                return max(0.0, self.seconds - (now - self._events[0]))
            self._events.append(now)
            return None

    def reset(self) -> None:
        """Forget every event."""
        with self._lock:
            self._events.clear()


class StrawberrySimulator(Simulator):
    """A Strawberry help-desk account with ``n`` generated tickets, served over HTTP.

    Beyond the shared :class:`~supporthub.testing.sim.simulator.Simulator`
    surface: :attr:`api_key`, :attr:`field_ids`, the field switches, the
    rate limit and cursor expiry.
    """

    clock_resolution_ms = 1000

    def __init__(
        self,
        n: int = 1000,
        seed: int = 1,
        *,
        api_key: str = DEFAULT_API_KEY,
        host: str = "127.0.0.1",
        port: int = 0,
        path_prefix: str = "",
        anchor: datetime = DEFAULT_ANCHOR,
        rate_limit_per_minute: int = RATE_LIMIT_PER_MINUTE,
        enforce_rate_limit: bool = False,
        cursor_ttl: float | None = None,
        write_rate_limit_per_minute: int = WRITE_RATE_LIMIT_PER_MINUTE,
    ) -> None:
        """Generate the account's tickets and prepare the server (see :meth:`start`).

        :param rate_limit_per_minute: what ``X-Rate-Limit-Remaining`` counts down from.
        :param enforce_rate_limit: answer ``429`` once the minute's budget is
            used up. Settable later.
        :param cursor_ttl: seconds an ``after_cursor`` stays valid; None:
            forever. Settable later.
        :param write_rate_limit_per_minute: updates allowed in any 60 seconds
            (always enforced). Settable later.
        """
        self.api_key = api_key
        self._write_window = _SlidingWindow(write_rate_limit_per_minute)
        self.idempotency_ttl: float = IDEMPOTENCY_TTL_SECONDS
        """Seconds an ``Idempotency-Key`` is remembered. Settable."""
        self._idempotency: dict[str, tuple[float, str, Any, SimResponse]] = {}
        self._comment_counter = 0
        self.enforce_rate_limit = enforce_rate_limit
        self.cursor_ttl = cursor_ttl
        self._rate_window = _RateWindow(rate_limit_per_minute)
        self._cursor_generation = 0
        self._dropped_fields: set[str] = set()
        self.field_ids = _draw_field_ids(seed)
        """Custom field id by key: ``provider``, ``error_code``, ``region``, ``product``."""
        super().__init__(
            n=n, seed=seed, host=host, port=port, path_prefix=path_prefix, anchor=anchor
        )

    # -- the contract suite's view (supporthub.testing.ContractSimulator) ------

    def contract_settings(self) -> dict[str, str]:
        """The adapter's settings that point it at this simulator."""
        return {"url": self.url, "api_key": self.api_key}

    def personal_values(self) -> set[str]:
        """Every requester's name and e-mail the tickets carry: never to be logged."""
        values: set[str] = set()
        for ticket in self.current_records():
            requester = ticket.get("requester")
            if isinstance(requester, dict):
                values.update(v for v in requester.values() if isinstance(v, str))
        return values

    # -- switches --------------------------------------------------------

    def drop_ticket_field(self, key: str) -> None:
        """Leave a field (``provider``, ``error_code``, ...) out of ``/v1/ticket_fields``.

        A misconfigured account, which a client must refuse to sync. Tickets
        keep their values for the field: it is the field list that is wrong.
        """
        if key not in self.field_ids:
            raise KeyError(key)
        self._dropped_fields.add(key)

    def restore_ticket_fields(self) -> None:
        """Undo every :meth:`drop_ticket_field`."""
        self._dropped_fields.clear()

    def expire_cursors(self) -> None:
        """Invalidate every ``after_cursor`` handed out so far."""
        self._cursor_generation += 1

    def reset_rate_limit(self) -> None:
        """Start a fresh one-minute rate-limit window now (requests and updates)."""
        self._rate_window.reset()
        self._write_window.reset()

    @property
    def write_rate_limit_per_minute(self) -> int:
        """Updates allowed in any 60 seconds."""
        return self._write_window.limit

    @write_rate_limit_per_minute.setter
    def write_rate_limit_per_minute(self, limit: int) -> None:
        self._write_window.limit = limit

    def close_for_good(self, record_id: RecordId) -> datetime:
        """Set a ticket ``closed``: Strawberry refuses every update of it (``422 TicketClosed``)."""
        return self.update(record_id, status="closed")

    def forget_idempotency_keys(self) -> None:
        """Forget every remembered ``Idempotency-Key`` (as 24 hours passing would)."""
        with self._change_lock:
            self._idempotency.clear()

    @property
    def rate_limit_per_minute(self) -> int:
        """The per-minute budget ``X-Rate-Limit-Remaining`` counts down from."""
        return self._rate_window.limit

    @rate_limit_per_minute.setter
    def rate_limit_per_minute(self, limit: int) -> None:
        self._rate_window.limit = limit

    # -- the dialect -----------------------------------------------------

    def _render(self, spec: CaseSpec, modified_ms: int) -> JSONRecord:
        quirks = spec.quirks
        fields = self.field_ids
        custom: list[dict[str, Any]] = []
        # A missing value shows either as a missing entry or as null.
        if spec.provider is not None or (quirks >> 8) & 1:
            custom.append({"id": fields["provider"], "value": spec.provider})
        if spec.error_code is not None or (quirks >> 9) & 1:
            code = spec.error_code
            value = None if code is None else typed_error_code(code, spec.error_code_style)
            custom.append({"id": fields["error_code"], "value": value})
        region = (quirks >> 10) & 3
        if region:
            custom.append({"id": fields["region"], "value": REGIONS[region - 1]})
        if (quirks >> 12) & 3 == 0:
            custom.append({"id": fields["product"], "value": spec.topic.title()})
        if (quirks >> 14) & 1:
            custom.reverse()  # entry order is no promise
        tags = [spec.topic]
        if spec.provider_canonical is not None:
            tags.append("payments")
        if (quirks >> 15) & 7 == 0:
            tags.append("vip")
        ticket: JSONRecord = {
            "id": ticket_id(spec.seq),
            "subject": spec.subject,
            "description": spec.description,
            "status": _status(spec),
            "priority": None if spec.priority_rank is None else PRIORITIES[spec.priority_rank],
            "created_at": format_z_seconds(spec.created_ms),
            "updated_at": format_z_seconds(modified_ms),
            "custom_fields": custom,
            "tags": tags,
            "requester": (
                None
                if spec.contact_email is None
                else {"name": spec.contact_name, "email": spec.contact_email}
            ),
        }
        # Unknown extra fields here and there: clients must ignore them.
        if (quirks >> 18) & 0xF == 0:
            channel = "web" if spec.channel is None else CHANNELS[spec.channel]
            ticket["via"] = {"channel": channel}
        if (quirks >> 22) & 0xF == 0:
            ticket["satisfaction_rating"] = None
            ticket["brand_id"] = 7
        return ticket

    def _id_of(self, slot: int) -> RecordId:
        return ticket_id(slot)

    def _slot_of(self, record_id: RecordId) -> int | None:
        if isinstance(record_id, bool) or not isinstance(record_id, int):
            return None
        return record_id - _ID_BASE if record_id >= _ID_BASE else None

    def _set_modified(self, record: JSONRecord, modified_ms: int) -> None:
        record["updated_at"] = format_z_seconds(modified_ms)

    def _mark_deleted(self, record: JSONRecord) -> None:
        record["status"] = "deleted"

    def _is_open(self, record: JSONRecord) -> bool:
        return record["status"] in OPEN_STATUSES

    def _apply_close(self, record: JSONRecord, rng: random.Random) -> None:
        record["status"] = rng.choice(CLOSED_STATUSES)

    def _apply_update(self, record: JSONRecord, fresh: CaseSpec, rng: random.Random) -> None:
        draw = rng.random()
        if draw < 0.35:
            if record["status"] in CLOSED_STATUSES:
                if rng.random() < 0.3:
                    record["status"] = "open"  # reopened
            else:
                record["status"] = rng.choice(OPEN_STATUSES)
        elif draw < 0.55:
            record["priority"] = rng.choice(PRIORITIES)
        elif draw < 0.8:
            # Re-triaged: the ticket moves to another (provider, error code) group.
            code = fresh.error_code
            self._set_custom(record, "provider", fresh.provider)
            self._set_custom(
                record,
                "error_code",
                None if code is None else typed_error_code(code, fresh.error_code_style),
            )
        else:
            record["description"] = (record["description"] or "") + "\n\nCustomer replied."

    def _apply_changes(self, record: JSONRecord, changes: Mapping[str, Any]) -> None:
        for name in ("id", "updated_at"):
            if name in changes:
                raise ValueError(f"{name} is kept by the simulator, not set by a test")
        for name, value in changes.items():
            if name in self.field_ids:
                self._set_custom(record, name, value)
            else:
                record[name] = value

    def _set_custom(self, record: JSONRecord, key: str, value: Any) -> None:
        """Set custom field ``key`` (``provider``, ...) of a ticket; None stores a null."""
        field_id = self.field_ids[key]
        for entry in record["custom_fields"]:
            if entry.get("id") == field_id:
                entry["value"] = value
                return
        record["custom_fields"].append({"id": field_id, "value": value})

    def _malform(self, record: JSONRecord, kind: MalformedKind) -> None:
        if kind == "missing_id":
            record.pop("id", None)
        elif kind == "wrong_type":
            record["subject"] = 12345  # a number where the spec allows string or null
        else:
            record["updated_at"] = "yesterday, about noon"

    # -- HTTP ------------------------------------------------------------

    def _route(self, request: SimRequest) -> SimResponse:
        path = request.path or ""
        if path in ("/v1/tickets", "/v1/ticket_fields"):
            refusal = self._refusal(request)
            if refusal is not None:
                return refusal
            return self._list_tickets(request) if path == "/v1/tickets" else self._ticket_fields()
        if path.startswith("/agent/tickets/") and request.method == "GET":
            return self._agent_page(path[len("/agent/tickets/") :])
        match = _TICKET_PATH.fullmatch(path)
        if match is not None:
            comments = match.group(2) is not None
            refusal = self._refusal(request, "GET" if comments else "PUT")
            if refusal is not None:
                return refusal
            slot = int(match.group(1)) - _ID_BASE
            if not 0 <= slot < len(self.store) or self.store.is_deleted(slot):
                return _error(404, "not_found", "no such ticket")
            if comments:
                return self._list_comments(int(match.group(1)))
            return self._update_ticket(request, slot)
        return self._not_found(request)

    def _refusal(self, request: SimRequest, method: str = "GET") -> SimResponse | None:
        """The answer to an API call that may not proceed: wrong method, rate, key, right."""
        if request.method != method:
            return _error(405, "method_not_allowed")
        if self.enforce_rate_limit:
            retry_after = self._rate_window.exhausted()
            if retry_after is not None:
                return _error(
                    429, "rate_limited", headers=(("Retry-After", str(math.ceil(retry_after))),)
                )
        key = (request.header("X-Api-Key") or "").encode()
        if not hmac.compare_digest(key, self.api_key.encode()):
            return _error(401, "unauthorized")
        if method == "PUT":
            if self.read_only:
                return _error(403, "Forbidden", "this API key may only read")
            wait = self._write_window.take()
            if wait is not None:
                return _error(
                    429,
                    "rate_limited",
                    "over 100 updates a minute",
                    headers=(("Retry-After", str(max(1, math.ceil(wait)))),),
                )
        return None

    # -- writing ---------------------------------------------------------

    def _list_comments(self, record_id: int) -> SimResponse:
        listed = self.comments.on(record_id)
        body = {
            "comments": [
                {
                    "id": c.id,
                    "body": c.body,
                    "public": c.public,
                    "created_at": format_z_seconds(c.created_ms),
                }
                for c in listed
            ]
        }
        return SimResponse(200, orjson.dumps(body), records=len(listed))

    def _update_ticket(self, request: SimRequest, slot: int) -> SimResponse:
        """``PUT /v1/tickets/{id}``: validate, replay by key, refuse closed, apply."""
        key = request.header("Idempotency-Key")
        if key is not None and not (1 <= len(key) <= 64 and key.isascii() and key.isprintable()):
            return _error(400, "invalid_idempotency_key", "1 to 64 printable ASCII characters")
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            return _error(400, "invalid_json", "the body is not JSON")
        problem = _update_problem(body)
        if problem is not None:
            return _error(400, "invalid_ticket", problem)
        with self._change_lock:
            if key is not None:
                remembered = self._idempotency.get(key)
                now = time.monotonic()
                if remembered is not None and now - remembered[0] < self.idempotency_ttl:
                    _, path, first_body, answer = remembered
                    if (path, first_body) != (request.path, body):
                        return _error(
                            422, "IdempotencyKeyReused", "this key was used with another request"
                        )
                    return attrs.evolve(
                        answer, headers=(*answer.headers, ("Idempotent-Replayed", "true"))
                    )
            record = self._load(slot)
            if record["status"] == "closed":
                return _error(422, "TicketClosed", "closed tickets cannot be changed")
            update = body["ticket"]
            if "status" in update:
                record["status"] = update["status"]
            written_ms = self._written(slot, record)
            comment = update.get("comment")
            if comment is not None:
                self._comment_counter += 1
                self.comments.add(
                    Comment(
                        id=self._comment_counter,
                        case_id=record["id"],
                        body=comment["body"],
                        public=comment.get("public", True),
                        created_ms=written_ms,
                    )
                )
            answer = SimResponse(200, orjson.dumps({"ticket": record}))
            if key is not None:
                self._idempotency[key] = (time.monotonic(), request.path or "", body, answer)
            return answer

    def _not_found(self, request: SimRequest) -> SimResponse:
        return _error(404, "not_found")

    def _intercepted(self, interception: Interception) -> SimResponse:
        codes = {429: "rate_limited", 500: "internal_error", 502: "bad_gateway",
                 503: "unavailable", 504: "gateway_timeout"}  # fmt: skip
        headers: tuple[tuple[str, str], ...] = ()
        if interception.retry_after is not None:
            headers = (("Retry-After", format_retry_after(interception.retry_after)),)
        return _error(interception.status, codes.get(interception.status, "error"), headers=headers)

    def _finish(self, request: SimRequest, response: SimResponse) -> SimResponse:
        remaining = self._rate_window.take()
        return attrs.evolve(
            response, headers=(*response.headers, ("X-Rate-Limit-Remaining", str(remaining)))
        )

    def _ticket_fields(self) -> SimResponse:
        titles = {"provider": "Provider", "error_code": "Error code", "region": "Region",
                  "product": "Product"}  # fmt: skip
        fields: list[dict[str, Any]] = []
        for key, field_id in self.field_ids.items():
            if key in self._dropped_fields:
                continue
            field: dict[str, Any] = {
                "id": field_id,
                "key": key,
                "title": titles[key],
                "type": "dropdown" if key == "region" else "text",
            }
            if key == "region":
                field["options"] = [{"value": region} for region in REGIONS]
            fields.append(field)
        return SimResponse(200, orjson.dumps({"ticket_fields": fields}))

    def _list_tickets(self, request: SimRequest) -> SimResponse:
        limit = DEFAULT_LIMIT
        raw_limit = request.param("limit")
        if raw_limit is not None:
            if not _DIGITS_RE.fullmatch(raw_limit) or not 1 <= int(raw_limit) <= MAX_LIMIT:
                return _error(400, "invalid_limit", f"limit must be 1 to {MAX_LIMIT}")
            limit = int(raw_limit)
        cursor = request.param("cursor")
        if cursor is not None:
            decoded = self._decode_cursor(cursor)
            if decoded is None:
                return _error(400, "invalid_cursor", "the cursor is malformed, unknown or expired")
            position = decoded
        else:
            since = request.param("updated_after") or "0"
            if not _DIGITS_RE.fullmatch(since):
                return _error(400, "invalid_updated_after", "updated_after must be Unix seconds")
            position = self.store.first_position(int(since) * 1000)
        if self.faults.take_bad_json_page():
            return SimResponse(200, _BROKEN_PAGE)
        page = self.store.page(position, limit, include_deleted=True)
        records = self._served_records(page)
        body = b"".join(
            (
                b'{"tickets":[',
                b",".join(records),
                b'],"meta":{"has_more":%s,"after_cursor":"%s"}}'
                % (
                    b"true" if page.has_more else b"false",
                    self._encode_cursor(page.next_position).encode(),
                ),
            )
        )
        return SimResponse(200, body, records=len(records))

    def _encode_cursor(self, position: int) -> str:
        """An opaque cursor: where to resume, what precedes it, which generation, when."""
        timestamp, slot = self.store.entry(position - 1) if position > 0 else (0, -1)
        issued_ms = int(time.time() * 1000)
        payload = f"{position}:{timestamp}:{slot}:{self._cursor_generation}:{issued_ms}"
        return base64.urlsafe_b64encode(payload.encode()).decode()

    def _decode_cursor(self, cursor: str) -> int | None:
        """The position a cursor resumes at, or None for one we did not issue (now)."""
        try:
            payload = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii")
            position, timestamp, slot, generation, issued = (int(x) for x in payload.split(":"))
        except (ValueError, UnicodeError, binascii.Error):
            return None
        if generation != self._cursor_generation or not 0 <= position <= self.store.end:
            return None
        if self.cursor_ttl is not None and time.time() - issued / 1000 > self.cursor_ttl:
            return None
        # Log entries never change, so a cursor we issued still matches its entry.
        expected = self.store.entry(position - 1) if position > 0 else (0, -1)
        return position if expected == (timestamp, slot) else None

    def _agent_page(self, raw_id: str) -> SimResponse:
        slot = int(raw_id) - _ID_BASE if _DIGITS_RE.fullmatch(raw_id) else -1
        if not 0 <= slot < len(self.store):
            return SimResponse(404, b"<!doctype html><title>Not found</title>", "text/html")
        record = self._load(slot)
        page = (
            "<!doctype html><meta charset=utf-8>"
            f"<title>Ticket #{record['id']}</title>"
            f"<h1>Ticket #{record['id']}</h1>"
            f"<p>{html.escape(record.get('subject') or '')}</p>"
        )
        return SimResponse(200, page.encode(), "text/html; charset=utf-8")


def _update_problem(body: Any) -> str | None:
    """What is wrong with a ``PUT /v1/tickets/{id}`` body, or None."""
    update = body.get("ticket") if isinstance(body, dict) else None
    if not isinstance(update, dict):
        return 'the body must be {"ticket": {...}}'
    if not update.keys() & {"comment", "status"}:
        return "the update has neither a comment nor a status"
    status = update.get("status", "open")
    if status not in OPEN_STATUSES + CLOSED_STATUSES:
        return "status must be a ticket status other than deleted"
    if "comment" in update:
        comment = update["comment"]
        if not isinstance(comment, dict):
            return "comment must be an object"
        text = comment.get("body")
        if not isinstance(text, str) or not 1 <= len(text) <= MAX_COMMENT_LENGTH:
            return f"comment.body must be 1 to {MAX_COMMENT_LENGTH} characters"
        if not isinstance(comment.get("public", True), bool):
            return "comment.public must be true or false"
    return None


def _draw_field_ids(seed: int) -> dict[str, int]:
    """Custom field ids for this account: differ per seed, never the spec's examples."""
    rng = random.Random(f"strawberry-fields-{seed}")  # noqa: S311 (test data, not secrets)
    ids: list[int] = []
    while len(ids) < 4:
        candidate = rng.randrange(100_000, 99_999_999)
        if candidate not in _SPEC_EXAMPLE_FIELD_IDS and candidate not in ids:
            ids.append(candidate)
    return dict(zip(("provider", "error_code", "region", "product"), ids, strict=True))


def _status(spec: CaseSpec) -> str:
    if spec.is_open:
        return OPEN_STATUSES[bisect_right(_OPEN_CUT, spec.status_choice)]
    return CLOSED_STATUSES[bisect_right(_CLOSED_CUT, spec.status_choice)]


def _error(
    status: int,
    code: str,
    description: str | None = None,
    *,
    headers: tuple[tuple[str, str], ...] = (),
) -> SimResponse:
    body: dict[str, str] = {"error": code}
    if description is not None:
        body["description"] = description
    return SimResponse(status, orjson.dumps(body), headers=headers)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a Strawberry simulator until SIGINT or SIGTERM; print its URL and API key."""
    parser = argparse.ArgumentParser(
        prog="python -m supporthub_strawberry.simulator",
        description="Serve a simulated Strawberry help desk with generated tickets.",
    )
    add_common_arguments(parser, default_port=8102)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    args = parser.parse_args(argv)
    simulator = StrawberrySimulator(
        n=args.n,
        seed=args.seed,
        api_key=args.api_key,
        host=args.host,
        port=args.port,
        path_prefix=args.path_prefix,
    )

    def banner(sim: Simulator) -> list[str]:
        return [
            f"Strawberry simulator: {args.n} tickets at {sim.url}",
            f"api_key={args.api_key}",
        ]

    return serve_until_signalled(simulator, banner)


if __name__ == "__main__":
    raise SystemExit(main())
