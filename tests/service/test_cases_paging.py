"""Contract §4: one aggregated case's cases, a page at a time (casesLimit, casesCursor)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

import supporthub
from supporthub.service import create_app

#: One big aggregated case (same provider, same code) and one small one.
BIG = 23


@pytest.fixture
def paged(make_hub: Any, fake_crm: Any) -> tuple[supporthub.Hub, str, str]:
    for number in range(BIG):
        # Equal timestamps in pairs: the order must break ties by source and id.
        stamp = f"2026-11-20T10:{number // 2:02d}:00Z"
        fake_crm.put(
            f"big{number:03d}",
            provider="Acme Payments",
            error_code="E-1042",
            status="open" if number % 4 else "closed",
            updated_at=stamp,
            created_at=stamp,
        )
    fake_crm.put("small1", provider="Globex", error_code="7")
    hub = make_hub()
    assert hub.refresh(force=True).ok
    ids = {a.provider: a.id for a in hub.all(cases_limit=0).aggregated_cases}
    return hub, ids["Acme Payments"], ids["Globex"]


@pytest.fixture
def paged_client(paged: tuple[supporthub.Hub, str, str]) -> Any:
    with TestClient(create_app(paged[0], scheduler=False)) as client:
        yield client


def _walk(client: Any, agg_id: str, limit: int) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    params: dict[str, Any] = {"casesLimit": limit}
    while True:
        answer = client.get(f"/aggregated-cases/{agg_id}", params=params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["caseCount"] == BIG  # still counts them all
        assert len(body["cases"]) <= limit
        cases += body["cases"]
        if body["nextCasesCursor"] is None:
            return cases
        assert len(body["cases"]) == limit
        params = {"casesLimit": limit, "casesCursor": body["nextCasesCursor"]}


@pytest.mark.parametrize("limit", [1, 5, 23, 1000])
def test_walking_the_pages_gives_every_case_once_in_order(paged_client, paged, limit) -> None:
    _, big, _ = paged
    whole = paged_client.get(f"/aggregated-cases/{big}").json()
    assert "nextCasesCursor" not in whole  # unpaged answers stay as they were
    walked = _walk(paged_client, big, limit)
    assert walked == whole["cases"]
    assert len({c["id"] for c in walked}) == BIG


def test_a_page_has_the_aggregated_case_fields(paged_client, paged) -> None:
    _, big, _ = paged
    body = paged_client.get(f"/aggregated-cases/{big}", params={"casesLimit": 3}).json()
    assert body["id"] == big
    assert body["openCaseCount"] == sum(1 for n in range(BIG) if n % 4)
    assert isinstance(body["nextCasesCursor"], str)


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"casesLimit": "0"}, "casesLimit must be between 1 and 1000"),
        ({"casesLimit": "1001"}, "casesLimit must be between 1 and 1000"),
        ({"casesLimit": "ten"}, "casesLimit must be a whole number"),
        ({"casesLimit": "5", "casesCursor": "bogus"}, "casesCursor is not one this hub issued"),
        ({"caseslimit": "5"}, "did you mean 'casesLimit'"),
        ({"limit": "5"}, "unknown parameter 'limit'"),
    ],
)
def test_bad_paging_parameters_are_400_with_words(paged_client, paged, params, words) -> None:
    _, big, _ = paged
    answer = paged_client.get(f"/aggregated-cases/{big}", params=params)
    assert answer.status_code == 400
    assert words in answer.json()["error"]


def test_a_cursor_of_one_aggregated_case_is_refused_by_another(paged_client, paged) -> None:
    _, big, small = paged
    first = paged_client.get(f"/aggregated-cases/{big}", params={"casesLimit": 2}).json()
    answer = paged_client.get(
        f"/aggregated-cases/{small}",
        params={"casesLimit": 2, "casesCursor": first["nextCasesCursor"]},
    )
    assert answer.status_code == 400
    # Nor is a listing cursor a cases cursor.
    listing = paged_client.get("/get-all", params={"limit": 1}).json()
    answer = paged_client.get(
        f"/aggregated-cases/{big}", params={"casesLimit": 2, "casesCursor": listing["nextCursor"]}
    )
    assert answer.status_code == 400


def test_a_cursor_alone_streams_the_rest(paged_client, paged) -> None:
    _, big, _ = paged
    first = paged_client.get(f"/aggregated-cases/{big}", params={"casesLimit": 4}).json()
    rest = paged_client.get(
        f"/aggregated-cases/{big}", params={"casesCursor": first["nextCasesCursor"]}
    ).json()
    assert rest["nextCasesCursor"] is None
    whole = paged_client.get(f"/aggregated-cases/{big}").json()
    assert first["cases"] + rest["cases"] == whole["cases"]


def test_the_library_pages_with_python_words(paged) -> None:
    hub, big, _ = paged
    seen: list[str] = []
    cursor = None
    while True:
        page = hub.cases_page(big, cases_limit=10, cases_cursor=cursor)
        seen += [case.source_id for case in page.aggregated_case.cases]
        cursor = page.next_cases_cursor
        if cursor is None:
            break
    assert seen == [case.source_id for case in hub.get(big).cases]
    with pytest.raises(supporthub.InvalidQuery, match="cases_limit must be between 1 and 1000"):
        hub.cases_page(big, cases_limit=0)
    with pytest.raises(supporthub.InvalidQuery, match="cases_limit must be an int"):
        hub.cases_page(big, cases_limit="5")  # type: ignore[arg-type]
    with pytest.raises(supporthub.NotFound):
        hub.cases_page("nope", cases_limit=5)
