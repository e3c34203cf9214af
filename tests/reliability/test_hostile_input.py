"""Hostile input: query parameters from the outside, records from the CRMs.

HTTP: hypothesis sends every route query strings built from the known
parameters and made-up ones, with SQL metacharacters, Unicode, NUL, 10 kB
values, repeated parameters and broken percent-encoding. Never a 5xx; where
the contract says ``400`` it is a ``400`` whose ``error`` says what is wrong
in words. (schemathesis, in ``tests/service/test_openapi.py``, checks the
answers against the OpenAPI document with values drawn from its schemas;
this adds the raw, hostile strings the schemas do not produce.)

CRM payloads: both adapters read pages of records in random JSON shapes,
wrong types, deep nesting and huge strings next to good records: every bad
record is skipped and counted, every good one kept, nothing raises.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import reliability_kit as kit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from supporthub_banana.adapter import BananaAdapter
from supporthub_strawberry.adapter import StrawberryAdapter

import supporthub
from supporthub import HttpClient, RetryPolicy, SourceConfig
from supporthub.grouping.normalize import provider_key
from supporthub.service import create_app

LISTING_PARAMS = ("limit", "cursor", "casesLimit")
FILTERS = ("provider", "errorCode", "status")
HOSTILE_TEXT = st.one_of(
    st.sampled_from(
        [
            "'; DROP TABLE cases; --",
            '" OR 1=1 --',
            "%",
            "_",
            "\\",
            "\x00",
            "a\x00b",
            "acme%",
            "' UNION SELECT * FROM source_states --",
            "\u202e\u200b",
            "Ａｃｍｅ",
            "ß",
            "\ud7ff\ue000\U0010ffff",
            "1e999",
            "-0",
            "0x10",
            "१२",
            " 5",
            "5 ",
            "+5",
            "open\x00",
            "OPEN",
            "closed",
            "",
            "x" * 201,
            "é" * 200,
            "y" * 10_000,
        ]
    ),
    st.text(max_size=30),
    st.text(min_size=190, max_size=260),
)
NAMES = st.one_of(
    st.sampled_from([*LISTING_PARAMS, *FILTERS]),
    st.sampled_from(["errorcode", "Provider", "status[]", "", "limit ", "\x00", "q" * 300]),
    st.text(max_size=10),
)
RAW_QUERIES = st.sampled_from(
    ["provider=%FF%FE", "provider=%", "%zz=1", "&&&", "=x", "provider", "limit=%00", "a=b=c"]
)


@pytest.fixture
def service(make_hub, crms) -> Iterator[tuple[TestClient, str]]:
    banana, strawberry = crms
    # Not due for an hour: a fuzzed /refresh answers at once, it never syncs.
    hub = make_hub(kit.env_for(banana, strawberry) | {"SUPPORTHUB_MIN_REFRESH_AGE_MINUTES": "60"})
    assert hub.refresh(force=True).ok
    with TestClient(create_app(hub, scheduler=False)) as client:
        yield client, hub.all().aggregated_cases[0].id


def must_be_400(path: str, pairs: list[tuple[str, str]]) -> bool:
    """Whether the contract makes this query a ``400`` (what it leaves open is not judged)."""
    takes = {"/get-all": LISTING_PARAMS, "/search": (*LISTING_PARAMS, *FILTERS)}.get(path)
    if takes is None:
        return path.startswith("/aggregated-cases/") and bool(pairs)
    for name, value in pairs:
        if name not in takes or len(value) > 200:
            return True
        if name == "status" and value.lower() not in {"open", "closed"}:
            return True
        if name == "provider" and provider_key(value) is None:
            return True
        if name == "errorCode" and supporthub.error_code_key(value) is None:
            return True
        if name == "cursor":
            return True  # the hub issued none of these
    return False


def check(answer: httpx.Response, *, expect_400: bool, where: str) -> None:
    assert answer.status_code < 500, (where, answer.status_code, answer.text[:300])
    if expect_400:
        assert answer.status_code == 400, (where, answer.status_code)
    if answer.status_code == 400:
        error = answer.json()["error"]
        assert isinstance(error, str)
        assert sum(ch.isalpha() for ch in error) >= 10, f"not words: {error!r}"


HYPOTHESIS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@HYPOTHESIS
@given(
    pairs=st.lists(st.tuples(NAMES, HOSTILE_TEXT), max_size=4),
    repeat=st.booleans(),
    raw=st.one_of(st.none(), RAW_QUERIES),
)
def test_hostile_query_parameters_never_break_a_route(service, trial, pairs, repeat, raw) -> None:
    client, agg_id = service
    if repeat and pairs:
        pairs = [*pairs, pairs[0]]  # a parameter given twice
    query = "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in pairs)
    if raw is not None:
        query = f"{query}&{raw}" if query else raw
    routes = 0
    for method, path in kit.requests_for(client.app, agg_id):
        if method != "GET" or path.startswith("/static/"):
            continue
        answer = client.get(f"{path}?{query}")
        judged = must_be_400(path, pairs) if raw is None else False
        check(answer, expect_400=judged, where=f"{path}?{query[:200]}")
        routes += 1
    trial.tally(
        "hostile query strings (hypothesis: SQL metacharacters, Unicode, NUL, 10 kB values, "
        "repeated and unknown parameters), each sent to every GET route",
        f"{routes} routes each time: never a 5xx; every invalid parameter a 400 with words",
    )


@HYPOTHESIS
@given(agg_id=HOSTILE_TEXT.filter(lambda text: "/" not in text and text not in {"", ".", ".."}))
def test_a_hostile_aggregated_case_id_is_404_or_400(service, trial, agg_id) -> None:
    client, _ = service
    answer = client.get("/aggregated-cases/" + quote(agg_id, safe=""))
    check(answer, expect_400=False, where=repr(agg_id[:50]))
    assert answer.status_code in {400, 404}
    assert answer.json()["error"]
    trial.tally("hostile aggregated case ids (hypothesis)", "404 or 400 with words, never a 5xx")


# -- CRM payloads ------------------------------------------------------------------

# JSON has no NaN or infinity: json.dumps would write a page that is not JSON
# (the whole source fails, rightly), not a bad record.
FINITE = st.floats(allow_nan=False, allow_infinity=False)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | FINITE | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
HUGE = st.sampled_from(["h" * 100_000, "é" * 40_000, "\x00" * 1_000])


def deep(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"x": [value]}
    return value


BANANA_GOOD = {
    "CaseNumber": "00001026",
    "Subject": "Card payments declined",
    "Description": None,
    "Status": "Working",
    "IsClosed": False,
    "IsDeleted": False,
    "Priority": "High",
    "Origin": "Email",
    "Provider__c": "Acme Payments, Inc.",
    "Error_Code__c": "E-1042",
    "ContactEmail": "jane@example.com",
    "CreatedDate": "2026-11-20T09:58:31.000+0000",
    "LastModifiedDate": "2026-11-20T10:02:11.000+0000",
}
STRAWBERRY_GOOD = {
    "subject": "Payment failed (1042)",
    "description": "Hi",
    "status": "open",
    "priority": "high",
    "created_at": "2026-11-20T09:58:31Z",
    "updated_at": "2026-11-20T10:02:11Z",
    "custom_fields": [{"id": 1, "value": "ACME PAYMENTS"}, {"id": 2, "value": "1042"}],
    "tags": ["payments"],
    "requester": {"name": "Jane Roe", "email": "jane@example.com"},
}
ID_FIELD = {"banana": "Id", "strawberry": "id"}


@st.composite
def bad_record(draw: st.DrawFn, source: str, n: int) -> Any:
    """A record that is broken in some way, or any JSON value at all."""
    good = dict(BANANA_GOOD if source == "banana" else STRAWBERRY_GOOD)
    good[ID_FIELD[source]] = f"B{n}" if source == "banana" else 900_000 + n
    kind = draw(st.sampled_from(["any", "field", "drop", "huge", "deep", "extra"]))
    if kind == "any":
        return draw(JSON_VALUES)
    field = draw(st.sampled_from(sorted(good)))
    if kind == "field":
        good[field] = draw(JSON_VALUES)
    elif kind == "drop":
        del good[field]
    elif kind == "huge":
        good[field] = draw(HUGE)
    elif kind == "deep":
        good[field] = deep(draw(st.integers(10, 200)))
    else:
        good[draw(st.text(max_size=8))] = draw(JSON_VALUES | HUGE)
    return good


def good_record(source: str, n: int) -> dict[str, Any]:
    record = dict(BANANA_GOOD if source == "banana" else STRAWBERRY_GOOD)
    record[ID_FIELD[source]] = f"G{n}" if source == "banana" else 100_000 + n
    return record


def crm_transport(source: str, records: list[Any]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        if path == "/v1/ticket_fields":
            fields = [{"id": 1, "key": "provider"}, {"id": 2, "key": "error_code"}]
            return httpx.Response(200, json={"ticket_fields": fields})
        if source == "banana":
            body = {"totalSize": len(records), "done": True, "records": records}
        else:
            body = {"tickets": records, "meta": {"has_more": False, "after_cursor": "c"}}
        return httpx.Response(200, content=json.dumps(body, allow_nan=False).encode())

    return httpx.MockTransport(answer)


def fetch_all(source: str, records: list[Any]) -> list[supporthub.Batch]:
    base = "https://crm.example"
    values = {"url": base, "client_id": "i", "client_secret": "s", "api_key": "k"}
    adapter_class = BananaAdapter if source == "banana" else StrawberryAdapter
    config = SourceConfig(source, values)
    policy = RetryPolicy(timeout=5, attempts=1)
    transport = crm_transport(source, records)
    with HttpClient(base, title=source, policy=policy, transport=transport) as http:
        return list(adapter_class(config, http).fetch(None))


@pytest.mark.parametrize("source", ["banana", "strawberry"])
@settings(
    max_examples=80,
    deadline=None,
    database=None,
    derandomize=True,
    # `trial` (autouse, function-scoped) counts the examples on purpose.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_bad_crm_records_are_skipped_and_counted_never_a_crash(source: str, trial, data) -> None:
    bad = data.draw(st.lists(bad_record(source, 0), min_size=1, max_size=6), label="bad")
    bad = [
        {**record, ID_FIELD[source]: record[ID_FIELD[source]] if n == 0 else f"B{n}"}
        if isinstance(record, dict) and ID_FIELD[source] in record and n
        else record
        for n, record in enumerate(bad)
    ]
    good = [good_record(source, n) for n in range(3)]
    records = data.draw(st.permutations([*good, *bad]), label="page")

    batches = fetch_all(source, records)

    fetched = sum(batch.fetched for batch in batches)
    skipped = sum(batch.skipped for batch in batches)
    kept = {case.source_id for batch in batches for case in batch.cases}
    kept |= {t.source_id for batch in batches for t in batch.tombstones}
    assert fetched == len(records)
    assert {str(record[ID_FIELD[source]]) for record in good} <= kept, "every good record kept"
    assert skipped + len(kept) <= len(records)
    usable_bad = len(kept) - len(good)
    assert skipped >= len(bad) - usable_bad - _duplicates(bad, source), "bad ones counted"
    assert skipped <= len(bad)
    trial.tally(
        f"hostile {source} pages (hypothesis: random JSON shapes, wrong types, deep nesting, "
        "huge strings)",
        "every good record kept, bad ones skipped and counted, never a crash",
    )


def _duplicates(records: list[Any], source: str) -> int:
    ids = [
        str(r[ID_FIELD[source]]) for r in records if isinstance(r, dict) and ID_FIELD[source] in r
    ]
    return len(ids) - len(set(ids))
