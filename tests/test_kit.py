"""The adapter kit on its own: auth flows, paginators, the watermark, a declared record format."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from supporthub import (
    UNIX_SECONDS_CURSOR,
    ZULU_CURSOR,
    ApiKeyAuth,
    BatchBuilder,
    Case,
    CaseWrite,
    ClientCredentialsAuth,
    CursorPaging,
    CustomFields,
    Field,
    HttpClient,
    Listing,
    MalformedPage,
    MalformedRecord,
    NextLinkPaging,
    RecordFormat,
    RetryPolicy,
    SourceRejected,
    SourceUnavailable,
    Status,
    Tombstone,
    Watermark,
    WriteLimiter,
    WriteRules,
    fetch_pages,
    id_field,
    parse_timestamp,
    reword,
    reworded,
)

BASE = "https://crm.example/t"
POLICY = RetryPolicy(attempts=2, wait_initial=0.0, wait_jitter=0.0, max_wait=0.0)


def client(handler: Callable[[httpx.Request], httpx.Response]) -> HttpClient:
    return HttpClient(BASE, title="Acme", policy=POLICY, transport=httpx.MockTransport(handler))


class TokenCrm:
    """A CRM that issues numbered tokens and refuses the ones in ``refused``."""

    def __init__(self, refused: set[str] = frozenset(), token_status: int = 200) -> None:  # type: ignore[assignment]
        self.refused, self.token_status = set(refused), token_status
        self.issued: list[str] = []
        self.seen: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/t/oauth/token":
            if self.token_status != 200:
                return httpx.Response(self.token_status, json={"error": "invalid_client"})
            self.issued.append(f"token-{len(self.issued) + 1}")
            return httpx.Response(200, json={"access_token": self.issued[-1]})
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.seen.append(token)
        if token in self.refused:
            return httpx.Response(401, json={"error": "invalid_token"})
        return httpx.Response(200, json={"ok": True})


def auth_for(http: HttpClient) -> ClientCredentialsAuth:
    return ClientCredentialsAuth.for_client(http, "/oauth/token", "id", "s3cret-x", hint="CHECK")


def test_the_token_is_fetched_once_and_kept() -> None:
    crm = TokenCrm()
    with client(crm) as http:
        auth = auth_for(http)
        for _ in range(3):
            http.request("GET", "/cases", auth=auth)
    assert crm.issued == ["token-1"]
    assert crm.seen == ["token-1"] * 3


def test_an_invalid_token_is_renewed_once_and_the_request_repeated() -> None:
    crm = TokenCrm(refused={"token-1"})
    with client(crm) as http:
        response = http.request("GET", "/cases", auth=auth_for(http))
    assert response.status_code == 200
    assert crm.issued == ["token-1", "token-2"]
    assert crm.seen == ["token-1", "token-2"]


def test_a_second_invalid_token_fails_the_source() -> None:
    crm = TokenCrm(refused={"token-1", "token-2", "token-3"})
    with client(crm) as http, pytest.raises(SourceRejected, match="freshly issued") as error:
        http.request("GET", "/cases", auth=auth_for(http))
    assert error.value.status == 401
    assert crm.issued == ["token-1", "token-2"], "one renewal, not more"


def test_refused_credentials_are_final_and_name_what_to_check() -> None:
    crm = TokenCrm(token_status=401)
    with (
        client(crm) as http,
        pytest.raises(SourceRejected, match=r"invalid_client.*CHECK") as error,
    ):
        http.request("GET", "/cases", auth=auth_for(http))
    assert "s3cret-x" not in str(error.value)
    assert crm.seen == [], "nothing is sent without a token"


def test_an_api_key_goes_in_its_header() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200)

    with client(handler) as http:
        http.request("GET", "/x", auth=ApiKeyAuth("k3y-1", header="Authorization", prefix="B "))
    assert seen == ["B k3y-1"]


def test_an_api_key_that_is_not_printable_ascii_is_refused_before_sending() -> None:
    with pytest.raises(Exception, match="printable ASCII"):
        ApiKeyAuth("kéy\n")


# -- a declared record format ------------------------------------------------------


def to_item(r: Any, source: str) -> Case | Tombstone:
    updated_at = parse_timestamp(r.updated_at, "updated_at")
    if r.deleted:
        return Tombstone(r.id, updated_at)
    return Case(source, r.id, r.id, r.subject, Status(r.status), None, r.provider, None,
                updated_at, updated_at, "u")  # fmt: skip


FORMAT = RecordFormat(
    "Acme",
    [
        id_field("id"),
        Field("updated_at", "timestamp", core=True),
        Field("deleted", "bool", required=False, default=False, nullable=False),
        Field("status", choices=("open", "closed")),
        Field("subject", required=False),
        Field("provider", required=False, max_length=5),
        Field("tags", "list[str]", required=False),
    ],
    to_item,
    deleted=lambda record: record.get("deleted") is True,
    envelope=[Field("next", required=False)],
)
GOOD = {"id": "a1", "updated_at": "2026-11-20T10:02:11Z", "status": "open", "subject": None}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"id": None}, "id is null, expected a string"),
        ({"id": "  "}, "id is empty"),
        ({"id": 7}, "id is a number, expected a string"),
        ({"status": "gone"}, "status 'gone' is not one of open, closed"),
        ({"status": None}, "status is null"),
        ({"subject": 3}, "subject is a number, expected a string"),
        ({"provider": "PPPPPP"}, "provider is longer than 5 characters"),
        ({"deleted": None}, "deleted is null"),
        ({"tags": "x"}, "tags is not a list of strings"),
        ({"tags": ["x", 1]}, "tags holds an entry that is not a string"),
        ({"updated_at": "2026-11-20T10:02:11"}, "updated_at is not an ISO 8601"),
        ({"updated_at": "2026-W47-5T10:02:11Z"}, "updated_at is not an ISO 8601"),
        ({"updated_at": "2026-02-30T10:02:11Z"}, "not a valid date"),
    ],
)
def test_the_fallback_says_which_field_is_wrong(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(MalformedRecord, match=reason):
        FORMAT.read({**GOOD, **changes}, "acme")


def test_a_tombstone_needs_only_the_core_fields() -> None:
    item = FORMAT.read({"id": "a1", "updated_at": "2026-11-20T10:02:11Z", "deleted": True}, "s")
    assert item == Tombstone("a1", dt.datetime(2026, 11, 20, 10, 2, 11, tzinfo=dt.UTC))


def test_a_clean_page_is_typed_and_a_dirty_one_skips_only_the_bad_record() -> None:
    clean = FORMAT.decode(orjson.dumps({"records": [GOOD, {**GOOD, "id": "a2"}]}), "Acme", "/x")
    assert clean.typed
    batch, newest = FORMAT.read_page(clean, "acme", BatchBuilder("acme"))
    assert [c.source_id for c in batch.cases] == ["a1", "a2"]
    assert (batch.fetched, batch.skipped) == (2, 0)
    assert newest == dt.datetime(2026, 11, 20, 10, 2, 11, tzinfo=dt.UTC)
    dirty = FORMAT.decode(orjson.dumps({"records": [GOOD, {**GOOD, "subject": 3}]}), "Acme", "/x")
    assert not dirty.typed
    batch, _ = FORMAT.read_page(dirty, "acme", BatchBuilder("acme"))
    assert [c.source_id for c in batch.cases] == ["a1"]
    assert (batch.fetched, batch.skipped) == (2, 1)


def test_a_body_that_is_not_a_listing_fails_the_page() -> None:
    with pytest.raises(MalformedPage, match="not JSON"):
        FORMAT.decode(b"<html>", "Acme", "/x")
    with pytest.raises(MalformedPage, match="without a records list"):
        FORMAT.decode(b'{"records": {}}', "Acme", "/x")


# -- paging -------------------------------------------------------------------------


def serve(pages: list[dict[str, Any]]) -> tuple[HttpClient, list[httpx.URL]]:
    asked: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url)
        return httpx.Response(200, json=pages[len(asked) - 1])

    return client(handler), asked


def test_next_links_are_followed_below_the_base_path() -> None:
    http, asked = serve(
        [
            {"records": [GOOD], "done": False, "nextRecordsUrl": "/next/L1"},
            {"records": [], "done": True},
        ]
    )
    paging = NextLinkPaging()
    with http:
        pages = list(fetch_pages(http, "/cases", {"n": 1}, records_with_done(), paging))
    assert len(pages) == 2
    assert [str(u) for u in asked] == [f"{BASE}/cases?n=1", f"{BASE}/next/L1"]


def records_with_done() -> RecordFormat:
    envelope = [Field("done", "bool"), Field("nextRecordsUrl", required=False)]
    return RecordFormat("Acme", FORMAT.fields, to_item, envelope=envelope)


ENVELOPE = [("done", "bool"), ("nextRecordsUrl", "str"), ("meta", "any")]


@pytest.mark.parametrize(
    ("paging", "pages"),
    [
        (
            NextLinkPaging(),
            [
                {"records": [], "done": False, "nextRecordsUrl": "/next/L1"},
                {"records": [], "done": False, "nextRecordsUrl": "/next/L1"},
            ],
        ),
        (
            CursorPaging(),
            [
                {"records": [], "meta": {"has_more": True, "after_cursor": "c1"}},
                {"records": [GOOD], "meta": {"has_more": True, "after_cursor": "c1"}},
            ],
        ),
    ],
)
def test_a_link_or_cursor_that_repeats_fails_instead_of_looping(
    paging: Any, pages: list[dict[str, Any]]
) -> None:
    http, asked = serve([*pages, *pages])
    envelope = [Field(n, kind, required=False) for n, kind in ENVELOPE]  # type: ignore[arg-type]
    fmt = RecordFormat("Acme", FORMAT.fields, to_item, envelope=envelope)
    with http, pytest.raises(MalformedPage, match="would never end"):
        list(fetch_pages(http, "/cases", {}, fmt, paging))
    assert len(asked) == 2


def test_a_next_link_that_leaves_the_crm_is_refused() -> None:
    http, _ = serve([{"records": [], "done": False, "nextRecordsUrl": "//evil.example/x"}])
    with http, pytest.raises(MalformedPage, match="nextRecordsUrl path"):
        list(fetch_pages(http, "/cases", {}, records_with_done(), NextLinkPaging()))


def test_the_next_page_is_asked_for_while_the_caller_still_holds_the_one_before() -> None:
    second_asked = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/next/L1"):
            second_asked.set()
            return httpx.Response(200, json={"records": [], "done": True})
        return httpx.Response(
            200, json={"records": [GOOD], "done": False, "nextRecordsUrl": "/next/L1"}
        )

    with client(handler) as http:
        pages = fetch_pages(http, "/cases", {}, records_with_done(), NextLinkPaging())
        first = next(pages)
        # The caller has not asked for the second page yet; it is on its way all the same.
        assert second_asked.wait(10)
        assert len(first.records) == 1
        assert [len(p.records) for p in pages] == [0]


def test_a_next_page_that_fails_fails_after_the_page_before_was_handed_over() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/next/L1"):
            return httpx.Response(400, json={"error": "INVALID_QUERY_LOCATOR"})
        return httpx.Response(
            200, json={"records": [GOOD], "done": False, "nextRecordsUrl": "/next/L1"}
        )

    with client(handler) as http:
        pages = fetch_pages(
            http,
            "/cases",
            {},
            records_with_done(),
            NextLinkPaging(),
            refused_later={0: "gone after {read}"},
        )
        assert len(next(pages).records) == 1
        with pytest.raises(SourceRejected, match=r"^gone after 1$"):
            next(pages)


def test_a_caller_that_stops_early_leaves_no_request_running() -> None:
    started, release = threading.Event(), threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/next/L1"):
            started.set()
            release.wait(10)
            return httpx.Response(200, json={"records": [], "done": True})
        return httpx.Response(
            200, json={"records": [], "done": False, "nextRecordsUrl": "/next/L1"}
        )

    with client(handler) as http:
        pages = fetch_pages(http, "/cases", {}, records_with_done(), NextLinkPaging())
        next(pages)
        assert started.wait(10)
        threading.Timer(0.2, release.set).start()
        pages.close()  # waits for the request in flight
        assert release.is_set()
        assert not [t for t in threading.enumerate() if t.name.startswith("Acme-pages")]


# -- the watermark and refusals -------------------------------------------------------


def test_the_watermark_keeps_the_newest_and_round_trips() -> None:
    mark = Watermark()
    early = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
    mark.see(early + dt.timedelta(seconds=1), "b")
    mark.see(early, "z")
    mark.see(early + dt.timedelta(seconds=1), "a")
    assert (mark.moment, mark.record_id) == (early + dt.timedelta(seconds=1), "b")
    assert Watermark.load(mark.dump()) == mark
    assert Watermark.load("not a cursor") == Watermark()
    assert Watermark.from_zulu(Watermark.zulu(early)) == early


def test_a_refusal_is_reworded_by_status_and_error() -> None:
    refusal = SourceRejected(
        "Acme rejected the request: HTTP 422 Closed", status=422, error="Closed"
    )
    words = {(422, "Closed"): "case {case} is closed ({code})", 404: "gone"}
    assert str(reword(refusal, words, case="7")) == "case 7 is closed (HTTP 422 Closed)"
    other = SourceRejected("x", status=400)
    assert reword(other, words) is other


def test_a_refusal_template_of_none_keeps_the_refusal() -> None:
    refusal = SourceRejected("Acme rejected the request: HTTP 401", status=401)
    assert reword(refusal, {401: None, 0: "other"}) is refusal
    with pytest.raises(SourceRejected, match=r"^other$"), reworded({401: "x", 0: "other"}):
        raise SourceRejected("Acme rejected the request: HTTP 400", status=400)


# -- listings, cursors, custom fields --------------------------------------------------


def test_a_listing_words_the_first_page_and_the_later_ones_apart() -> None:
    asked: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url)
        if len(asked) == 1:
            return httpx.Response(
                200, json={"records": [GOOD], "done": False, "nextRecordsUrl": "/n"}
            )
        return httpx.Response(400, json={"error": "expired"})

    listing = Listing(
        "/cases",
        records_with_done(),
        NextLinkPaging(),
        refused={0: "first {path}"},
        refused_later={400: "page after {read} records at {path}: {code}"},
    )
    with client(handler) as http, pytest.raises(SourceRejected) as raised:
        list(listing.pages(http, {}))
    assert str(raised.value) == "page after 1 records at /n: HTTP 400 expired"


def test_cursor_paging_carries_named_parameters_of_the_first_request() -> None:
    http, asked = serve(
        [
            {"records": [], "next_page_token": "p2"},
            {"records": [], "next_page_token": None},
        ]
    )
    fmt = RecordFormat(
        "Acme", FORMAT.fields, to_item, envelope=[Field("next_page_token", required=False)]
    )
    paging = CursorPaging(None, None, "next_page_token", "page_token", keep=["limit"])
    with http:
        list(fetch_pages(http, "/cases", {"limit": "7", "since": "x"}, fmt, paging))
    assert [u.params.get("limit") for u in asked] == ["7", "7"]
    assert "since" not in asked[1].params and asked[1].params["page_token"] == "p2"


def test_cursor_formats_round_trip_and_a_foreign_cursor_reads_everything(
    caplog: pytest.LogCaptureFixture,
) -> None:
    moment = dt.datetime(2026, 11, 20, 10, 2, 11, 500_000, tzinfo=dt.UTC)
    assert UNIX_SECONDS_CURSOR.dump(moment) == "1795168931"  # floored: the fraction is read again
    assert UNIX_SECONDS_CURSOR.resume("1795168931", "Acme") == moment.replace(microsecond=0)
    assert ZULU_CURSOR.resume(ZULU_CURSOR.dump(moment), "Acme") == moment
    assert ZULU_CURSOR.resume(None, "Acme") is None
    for foreign in ("MTczMjA5NjgwMDo0ODIxMw==", "99999999999999999999", "-5"):
        assert UNIX_SECONDS_CURSOR.resume(foreign, "Acme") is None
    assert "Acme: the stored cursor is not Unix seconds; reading everything again" in caplog.text


def test_custom_fields_are_picked_by_id_and_checked() -> None:
    fields = CustomFields((30, 31), ("provider", "error_code"))
    entries = [{"id": 9, "value": 1}, {"id": [30], "value": "x"}, {"id": 31, "value": "E1"}]
    assert fields(entries) == [None, "E1"]
    assert fields(None) == [None, None]
    with pytest.raises(MalformedRecord, match="provider is a number, expected a string"):
        fields([{"id": 30, "value": 7}])
    with pytest.raises(MalformedRecord, match="error_code is longer than 255 characters"):
        fields([{"id": 31, "value": "9" * 256}])


# -- writes -----------------------------------------------------------------------------


def write(key: str = "hub-1", case_id: str = "C 1") -> CaseWrite:
    return CaseWrite(case_id, "hello", public=True, idempotency_key=key)


def test_a_write_sends_the_key_on_every_attempt_and_rewords_a_refusal() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Idempotency-Key"))
        if len(seen) == 1:
            return httpx.Response(503)
        if request.url.path.endswith("/gone"):
            return httpx.Response(404, json={"error": "NotFound"})
        return httpx.Response(200, json={"id": 1})

    rules = WriteRules(
        key_header="Idempotency-Key", refused={404: "no case {case} ({code}, {key})"}
    )
    with client(handler) as http:
        assert rules.start(http, write()).send("POST", "/c", {"b": 1}).status_code == 200
        assert seen == ["hub-1", "hub-1"]  # the retry carried the same key
        with pytest.raises(SourceRejected, match=r"^no case C 1 \(HTTP 404 NotFound, hub-1\)$"):
            rules.start(http, write()).send("POST", "/gone", {"b": 1})


def test_a_key_the_crm_cannot_take_is_refused_before_sending() -> None:
    sent: list[httpx.Request] = []
    rules = WriteRules(r"[a-z]{1,4}", "Acme cannot take {key!r}")
    with client(lambda r: sent.append(r) or httpx.Response(200)) as http:
        with pytest.raises(SourceRejected, match="Acme cannot take 'hub-1'"):
            rules.start(http, write())
        with pytest.raises(SourceRejected, match="the CRM cannot take idempotency key"):
            WriteRules().start(http, write(key="ключ"))
    assert sent == []


def test_a_write_waits_for_the_limiter_and_a_429_holds_it() -> None:
    now = [0.0]
    limiter = WriteLimiter(5, window=60, clock=lambda: now[0], sleep=lambda s: None)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "0"})

    with client(handler) as http, pytest.raises(SourceUnavailable) as raised:
        WriteRules().start(http, write(), limiter=limiter).send("PUT", "/c", {})
    assert len(limiter._sent) == POLICY.attempts  # every attempt counted
    assert raised.value.retry_after == 0
