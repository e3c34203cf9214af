"""Issue 12 part 1: one typed query path.

A Python caller's bad value is refused in Python words (``cases_limit``); an
HTTP caller's in HTTP words (``casesLimit``); the Hub has no HTTP-shaped
method left but a deprecated alias; the OpenAPI document's query parameters
are the parser's declarations.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

import supporthub
from supporthub import InvalidQuery, SearchQuery, Status, WorkState
from supporthub.query.listing import ParameterError
from supporthub.service import create_app
from supporthub.service._params import (
    CASE_PAGING,
    FILTERS,
    LISTING,
    OVERRIDES_ALL,
    REPLY_SCOPE,
    listing_query,
)

#: Each bad Python call, and the words it must be refused with (the Python name first).
PYTHON_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("search", {"cases_limit": -1}, "cases_limit must be 0 or more, got -1"),
    ("all", {"cases_limit": -1}, "cases_limit must be 0 or more, got -1"),
    ("search", {"cases_limit": "0"}, "cases_limit must be an int, got str"),
    ("search", {"limit": 0}, "limit must be between 1 and 1000, got 0"),
    ("all", {"limit": 1001}, "limit must be between 1 and 1000, got 1001"),
    ("search", {"limit": "10"}, "limit must be an int, got str"),
    ("search", {"limit": True}, "limit must be an int, got bool"),
    ("search", {"cursor": 5}, "cursor must be a str, got int"),
    ("all", {"cursor": "nope"}, "cursor is not one this hub issued"),
    ("search", {"owner": " "}, "owner is empty; give a name"),
    ("search", {"owner": 7}, "owner must be a str, got int"),
    ("search", {"owner": "x" * 201}, "owner is longer than 200 characters (201)"),
    ("search", {"state": "done"}, "state must be one of untriaged, investigating"),
    ("search", {"state": [WorkState.FIXED, "done"]}, "state must be one of"),
    ("search", {"lifecycle": "old"}, "lifecycle must be 'new' or 'regressed', got 'old'"),
    ("search", {"status": "pending"}, "status must be 'open' or 'closed', got 'pending'"),
    ("search", {"status": 1.5}, "status must be a str, got float"),
    ("all", {"sort": "size"}, "sort must be one of recentCases, caseCount, lastUpdated"),
    ("search", {"q": "---"}, "q '---' has no letters or digits"),
    ("search", {"provider": "---"}, "provider '---' has no letters or digits"),
    ("search", {"provider": None, "error_code": " "}, "error_code ' ' is empty once trimmed"),
    ("search", {"error_code": "x" * 201}, "error_code is longer than 200 characters"),
    ("search", {"error_code": b"E1"}, "error_code must be a str, got bytes"),
]


@pytest.fixture
def hub(make_hub: Any, fake_crm: Any) -> supporthub.Hub:
    fake_crm.put("1", provider="Acme Payments", error_code="E-1042", status="open")
    fake_crm.put("2", provider="Acme Payments", error_code="E-1042", status="open")
    fake_crm.put("3", provider="Globex", error_code="7", status="closed")
    built = make_hub()
    assert built.refresh(force=True).ok
    return built


def test_a_python_caller_is_refused_in_python_words(hub: supporthub.Hub) -> None:
    before = hub.all()
    for method, arguments, words in PYTHON_CALLS:
        with pytest.raises(InvalidQuery) as refused:
            getattr(hub, method)(**arguments)
        message = str(refused.value)
        assert message.startswith(words), (method, arguments, message)
        assert isinstance(refused.value, ParameterError)
        assert message.startswith(refused.value.parameter + " ")
        for http_word in ("casesLimit", "errorCode", "casesCursor", "whole number"):
            assert http_word not in message, (arguments, message)
    assert hub.all() == before  # nothing changed


def test_one_aggregated_case_is_paged_in_python_words(hub: supporthub.Hub) -> None:
    agg_id = hub.all().aggregated_cases[0].id
    refusals: list[tuple[Any, str]] = [
        (lambda: hub.get(agg_id, cases_limit=-1), "cases_limit must be 0 or more, got -1"),
        (lambda: hub.get(agg_id, cases_limit="1"), "cases_limit must be an int, got str"),
        (lambda: hub.cases_page(agg_id, cases_limit=0), "cases_limit must be between 1 and 1000"),
        (
            lambda: hub.cases_page(agg_id, cases_limit=5, cases_cursor="nope"),
            "cases_cursor is not one this hub issued for this aggregated case",
        ),
        (
            lambda: hub.cases_page(agg_id, cases_limit=5, cases_cursor=9),
            "cases_cursor must be a str, got int",
        ),
        (
            lambda: next(hub.iter_aggregated_case_json(agg_id, cases_limit=0)),
            "cases_limit must be between 1 and 1000, got 0",
        ),
        (
            lambda: next(hub.iter_aggregated_case_json(agg_id, cases_cursor="nope")),
            "cases_cursor is not one this hub issued",
        ),
    ]
    for call, words in refusals:
        with pytest.raises(InvalidQuery) as refused:
            call()
        assert str(refused.value).startswith(words), str(refused.value)
    assert len(hub.get(agg_id, cases_limit=1).cases) == 1
    assert len(hub.get(agg_id, cases_limit=10**12).cases) == 2  # beyond any count: all


def test_good_python_values_still_work(hub: supporthub.Hub) -> None:
    # Enums or strings in any case, one value or several, ints for codes (as before).
    assert hub.search(status=Status.OPEN).total == 1
    assert hub.search(status=["OPEN", "closed"]).total == 2
    assert hub.search(error_code=1042).total == 1
    assert hub.search(owner="none", state=("untriaged",), cases_limit=0).total == 2
    assert hub.page(SearchQuery(provider="ACME PAYMENTS INC")).total == 1
    assert b'"total":2' in b"".join(hub.iter_json(SearchQuery(limit=1, cases_limit=0)))
    walked, cursor = [], None
    while True:
        page = hub.all(limit=1, cursor=cursor, cases_limit=0)
        walked += [a.id for a in page.aggregated_cases]
        if (cursor := page.next_cursor) is None:
            break
    assert walked == [a.id for a in hub.all().aggregated_cases]


def test_the_typed_query_checks_itself() -> None:
    query = SearchQuery(status="OPEN", owner=["alice", "none"], error_code=["E1", "E1"], limit=5)
    assert query.status == (Status.OPEN,)
    assert query.owner == ("alice", None)
    assert query.error_code == ("E1",)
    with pytest.raises(ParameterError, match=r"^cases_limit must be 0 or more, got -1$"):
        SearchQuery(cases_limit=-1)


#: Each bad HTTP request, and the answer's words: the HTTP names, as the contract says.
HTTP_CALLS: list[tuple[str, str]] = [
    ("/search?casesLimit=-1", "casesLimit must be a whole number, got '-1'"),
    ("/get-all?casesLimit=x", "casesLimit must be a whole number, got 'x'"),
    ("/get-all?limit=0", "limit must be between 1 and 1000, got 0"),
    ("/search?errorCode=%20", "errorCode ' ' is empty once trimmed; give an error code"),
    ("/search?errorCode=" + "x" * 201, "errorCode is longer than 200 characters (201)"),
    ("/search?errorcode=1", "unknown parameter 'errorcode' (did you mean 'errorCode'?)"),
    ("/get-all?cases_limit=1", "unknown parameter 'cases_limit' (did you mean 'casesLimit'?)"),
    ("/search?limit=1&limit=2", "limit may be given only once"),
    ("/search?status=pending", "status must be 'open' or 'closed', got 'pending'"),
    ("/search?owner=%20", "owner is empty; give a name, or 'none' for the unowned"),
    ("/get-all?cursor=nope", "cursor is not one this hub issued; start again without it"),
]


def test_an_http_caller_is_refused_in_http_words(hub: supporthub.Hub) -> None:
    agg_id = hub.all().aggregated_cases[0].id
    calls = [
        *HTTP_CALLS,
        (f"/aggregated-cases/{agg_id}?casesLimit=0", "casesLimit must be between 1 and 1000"),
        (f"/aggregated-cases/{agg_id}?casesLimit=a", "casesLimit must be a whole number"),
        (
            f"/aggregated-cases/{agg_id}?casesCursor=nope",
            "casesCursor is not one this hub issued for this aggregated case",
        ),
        (f"/aggregated-cases/{agg_id}?casesCursor=a&casesCursor=b", "casesCursor may be given"),
        (f"/aggregated-cases/{agg_id}?cases_limit=1", "unknown parameter 'cases_limit' (did you"),
    ]
    with TestClient(create_app(hub, scheduler=False)) as client:
        for url, words in calls:
            answer = client.get(url)
            assert answer.status_code == 400, (url, answer.text)
            assert answer.json()["error"].startswith(words), (url, answer.json())
        assert client.get("/search?casesLimit=99999999999&limit=1").json()["count"] == 1


def test_the_hub_has_no_http_shaped_method_but_a_deprecated_alias(hub: supporthub.Hub) -> None:
    for name, method in inspect.getmembers(supporthub.Hub, inspect.isfunction):
        if name.startswith("_") or name == "parse_query":
            continue
        for parameter in inspect.signature(method).parameters.values():
            annotation = str(parameter.annotation)
            assert "tuple[str, str]" not in annotation, (name, parameter)
            assert parameter.name not in ("params", "filters"), (name, parameter)
    with pytest.warns(DeprecationWarning, match="parse_query is deprecated"):
        query = hub.parse_query([("status", "open"), ("casesLimit", "0")], filters=True)
    assert query == hub.resolve_query(SearchQuery(status="open", cases_limit=0))
    with (
        pytest.warns(DeprecationWarning, match="deprecated"),
        pytest.raises(InvalidQuery, match=r"^casesLimit"),
    ):
        hub.parse_query([("casesLimit", "-1")], filters=False)


def test_the_parser_takes_what_is_declared_and_nothing_else() -> None:
    with pytest.raises(InvalidQuery) as refused:
        listing_query([("nope", "1")], filters=True)
    known = ", ".join(param.http for param in (*LISTING, *FILTERS))
    assert str(refused.value).endswith(f"known: {known}")
    for param in (*LISTING, *FILTERS):
        value = "5" if param.kind == "integer" else (param.enum or ("x",))[0]
        query = listing_query([(param.http, value)], filters=True)
        assert getattr(query, param.python) not in (None, ()), param


def test_the_openapi_parameters_are_the_declarations(hub: supporthub.Hub) -> None:
    with TestClient(create_app(hub, scheduler=False)) as client:
        document = client.get("/openapi.json").json()
    components = document["components"]["parameters"]
    paths = document["paths"]
    for path, declared in (("/get-all", LISTING), ("/search", LISTING + FILTERS)):
        refs = [p["$ref"].rsplit("/", 1)[1] for p in paths[path]["get"]["parameters"]]
        assert refs == [param.http for param in declared]
        for param in declared:
            assert components[param.http] == param.openapi()
    one = paths["/aggregated-cases/{id}"]["get"]["parameters"]
    assert [p for p in one if p["in"] == "query"] == [param.openapi() for param in CASE_PAGING]
    assert paths["/overrides"]["get"]["parameters"] == [OVERRIDES_ALL.openapi()]
    preview = paths["/aggregated-cases/{id}/replies/preview"]["get"]["parameters"]
    assert REPLY_SCOPE.openapi() in preview


@given(st.integers(min_value=-(10**6), max_value=10**6), st.sampled_from(["limit", "casesLimit"]))
def test_http_and_python_agree_on_every_number(number: int, http: str) -> None:
    python = {"limit": "limit", "casesLimit": "cases_limit"}[http]
    outcomes: list[Any] = []
    for build in (
        lambda: listing_query([(http, str(number))], filters=False),
        lambda: SearchQuery(**{python: number}),
    ):
        try:
            outcomes.append(getattr(build(), python))
        except ParameterError as refused:
            outcomes.append(refused)
    from_http, from_python = outcomes
    if isinstance(from_python, ParameterError):
        assert isinstance(from_http, ParameterError)
        assert str(from_python).startswith(f"{python} must be ")
        assert str(from_http).startswith(f"{http} must be ")
        if number >= 0:  # a negative number is not a whole number in a URL
            assert from_http.problem == from_python.problem
    else:
        assert from_http == from_python == number
