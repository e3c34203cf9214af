"""Contract §7 over HTTP, on SQLite and MariaDB: PATCH, claims, history, filters, token, metrics."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from supporthub.service import create_app

API = "api-token-Zq81m"


def ids(client: TestClient) -> dict[tuple[str | None, str | None], str]:
    listed = client.get("/get-all", params={"casesLimit": 0}).json()["aggregatedCases"]
    return {(a["provider"], a["errorCode"]): a["id"] for a in listed}


def everything(client: TestClient, agg_id: str, headers: dict[str, str] | None = None) -> Any:
    """What a change could touch, as the API shows it."""
    return (
        client.get("/get-all", headers=headers).json(),
        client.get(f"/aggregated-cases/{agg_id}/history", headers=headers).json(),
    )


def test_every_answer_carries_the_work_fields(client) -> None:
    listed = client.get("/get-all").json()["aggregatedCases"]
    searched = client.get("/search", params={"status": "open"}).json()["aggregatedCases"]
    one = client.get(f"/aggregated-cases/{listed[0]['id']}").json()
    for aggregated in [*listed, *searched, one]:
        assert aggregated["owner"] is None and aggregated["state"] == "untriaged"
        assert aggregated["trackerUrl"] is None and aggregated["lifecycle"] == "new"
        assert aggregated["firstSeenAt"].endswith("Z")
        assert isinstance(aggregated["recentCaseCount"], int)
        assert {"new", "regressed", "regressedAt"}.isdisjoint(aggregated)


def test_patch_changes_the_work_and_history_lists_it(client) -> None:
    acme = ids(client)[("Acme Payments", "1042")]
    answer = client.patch(
        f"/aggregated-cases/{acme}",
        json={"by": "alice", "claim": True, "state": "Investigating", "note": "looking"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["owner"], body["state"], body["note"]) == ("alice", "investigating", "looking")
    assert body["caseCount"] == len(body["cases"]) == 4
    tracked = client.patch(
        f"/aggregated-cases/{acme}", json={"by": "bob", "trackerUrl": "https://bugs.example/1"}
    ).json()
    assert tracked["trackerUrl"] == "https://bugs.example/1" and tracked["owner"] == "alice"
    assert client.get(f"/aggregated-cases/{acme}").json()["trackerUrl"] == tracked["trackerUrl"]
    history = client.get(f"/aggregated-cases/{acme}/history").json()["history"]
    assert [entry["by"] for entry in history] == ["bob", "alice"]
    assert history[0]["changes"] == [
        {"field": "trackerUrl", "from": None, "to": "https://bugs.example/1"}
    ]
    assert history[1]["note"] == "looking" and history[1]["aggregatedCaseId"] == acme
    assert {c["field"] for c in history[1]["changes"]} == {"owner", "state", "note"}
    released = client.patch(
        f"/aggregated-cases/{acme}", json={"by": "alice", "owner": None, "trackerUrl": None}
    ).json()
    assert released["owner"] is None and released["trackerUrl"] is None
    assert client.get("/aggregated-cases/nope/history").status_code == 404
    assert client.patch("/aggregated-cases/nope", json={"by": "a"}).status_code == 404
    assert client.get(f"/aggregated-cases/{acme}/history?x=1").status_code == 400


def test_a_lost_claim_is_a_409_naming_the_owner(client) -> None:
    acme = ids(client)[("Acme Payments", "1042")]
    claimed = client.patch(f"/aggregated-cases/{acme}", json={"by": "alice", "claim": True})
    assert claimed.status_code == 200
    before = everything(client, acme)
    lost = client.patch(
        f"/aggregated-cases/{acme}", json={"by": "bob", "claim": True, "state": "fixed"}
    )
    assert lost.status_code == 409
    assert lost.json()["owner"] == "alice" and "alice" in lost.json()["error"]
    assert everything(client, acme) == before
    metrics = client.get("/metrics").text
    assert 'supporthub_claims_total{outcome="won"} 1.0' in metrics
    assert 'supporthub_claims_total{outcome="lost"} 1.0' in metrics


BAD_BODIES: list[tuple[Any, str]] = [
    ({"state": "fixed"}, "'by' is required"),
    ({"by": None, "state": "fixed"}, "by cannot be null"),
    ({"by": 3}, "by must be a string"),
    ({"by": "a", "state": None}, "state cannot be null"),
    ({"by": "a", "state": "done"}, "state must be one of"),
    ({"by": "a", "state": 1}, "state must be a string"),
    ({"by": "a", "claim": None}, "claim must be true or false"),
    ({"by": "a", "claim": 1}, "claim must be true or false"),
    ({"by": "a", "claim": True, "owner": "a"}, "either claim or owner"),
    ({"by": "a", "owner": "none"}, "cannot be 'none'"),
    ({"by": "a", "owner": "NONE"}, "cannot be 'none'"),
    ({"by": "a", "owner": "x" * 201}, "longer than 200"),
    ({"by": "a", "owner": ["a"]}, "owner must be a string"),
    ({"by": "a", "trackerUrl": "file:///etc/passwd"}, "http(s) link"),
    ({"by": "a", "trackerUrl": "bugs.example/1"}, "http(s) link"),
    ({"by": "a", "trackerUrl": False}, "trackerUrl must be a string"),
    ({"by": "a", "note": 1.5}, "note must be a string"),
    ({"by": "a", "colour": "red"}, "unknown: colour"),
    ({"by": "a", "tracker_url": "https://x"}, "unknown: tracker_url"),
    (["by", "a"], "must be a JSON object"),
    ("fixed", "must be a JSON object"),
    (None, "JSON object"),
]


@pytest.mark.parametrize(("body", "words"), BAD_BODIES)
def test_a_bad_body_is_a_400_with_the_reason_and_changes_nothing(client, body, words) -> None:
    acme = ids(client)[("Acme Payments", "1042")]
    client.patch(f"/aggregated-cases/{acme}", json={"by": "alice", "claim": True, "note": "n"})
    before = everything(client, acme)
    answer = client.patch(f"/aggregated-cases/{acme}", json=body)
    assert answer.status_code == 400
    assert words in answer.json()["error"]
    assert everything(client, acme) == before


def test_a_body_that_is_not_json_is_refused(client) -> None:
    acme = ids(client)[("Acme Payments", "1042")]
    before = everything(client, acme)
    for content, kind in [(b"{", "application/json"), (b'{"by":"a"}', "text/plain"), (b"", "")]:
        answer = client.patch(
            f"/aggregated-cases/{acme}", content=content, headers={"Content-Type": kind}
        )
        assert answer.status_code == 400, content
    assert everything(client, acme) == before


def test_the_search_filters_over_http(client) -> None:
    found = ids(client)
    acme, hooli = found[("Acme Payments", "1042")], found[("Hooli", "7")]
    client.patch(f"/aggregated-cases/{acme}", json={"by": "alice", "claim": True})
    client.patch(f"/aggregated-cases/{hooli}", json={"by": "bob", "state": "investigating"})

    def search(query: str) -> list[str]:
        answer = client.get(f"/search?{query}")
        assert answer.status_code == 200, answer.text
        return [a["id"] for a in answer.json()["aggregatedCases"]]

    assert search("owner=alice") == [acme]
    assert search("owner=none&state=investigating&limit=100&casesLimit=0") == [hooli]
    assert acme not in search("owner=none")
    assert search("state=INVESTIGATING&state=fixed") == [hooli]
    assert set(search("owner=alice&owner=none&state=investigating&state=untriaged")) == set(
        found.values()
    )
    assert len(search("lifecycle=New")) == len(found)
    for query in ("state=done", "lifecycle=old", "owner=", "state=", "owners=alice"):
        answer = client.get(f"/search?{query}")
        assert answer.status_code == 400, query
        assert answer.json()["error"]
    metrics = client.get("/metrics").text
    open_unowned = sum(
        1 for a in client.get("/search?status=open&owner=none").json()["aggregatedCases"]
    )
    assert f"supporthub_unowned_open_aggregated_cases {float(open_unowned)}" in metrics
    assert "supporthub_regressed_aggregated_cases 0.0" in metrics


def test_changes_need_the_api_token_when_it_is_set(make_hub, fake_crm) -> None:
    fake_crm.put("1", provider="Acme", error_code="E-1")
    hub = make_hub(SUPPORTHUB_API_TOKEN=API)
    hub.refresh(force=True)
    with TestClient(create_app(hub, scheduler=False)) as client:
        (acme,) = ids(client).values()
        before = everything(client, acme)
        refused = client.patch(f"/aggregated-cases/{acme}", json={"by": "a", "claim": True})
        assert refused.status_code == 401
        assert everything(client, acme) == before
        allowed = client.patch(
            f"/aggregated-cases/{acme}",
            json={"by": "a", "claim": True},
            headers={"Authorization": f"Bearer {API}"},
        )
        assert allowed.status_code == 200 and allowed.json()["owner"] == "a"
        # Reading the history is a read: no token needed when no read token is set.
        assert client.get(f"/aggregated-cases/{acme}/history").status_code == 200


def test_an_aggregated_case_pages_its_cases(client) -> None:
    acme = ids(client)[("Acme Payments", "1042")]
    whole = client.get(f"/aggregated-cases/{acme}").json()
    assert "nextCasesCursor" not in whole and len(whole["cases"]) == 4
    first = client.get(f"/aggregated-cases/{acme}", params={"casesLimit": 3}).json()
    assert first["cases"] == whole["cases"][:3] and first["caseCount"] == 4
    assert first["owner"] is None and first["nextCasesCursor"]
    second = client.get(
        f"/aggregated-cases/{acme}",
        params={"casesLimit": 3, "casesCursor": first["nextCasesCursor"]},
    ).json()
    assert second["cases"] == whole["cases"][3:] and second["nextCasesCursor"] is None
    exact = client.get(f"/aggregated-cases/{acme}", params={"casesLimit": 4}).json()
    assert exact["nextCasesCursor"] is None
    listing_cursor = client.get("/get-all", params={"limit": 1}).json()["nextCursor"]
    for params in (
        {"casesLimit": 0},
        {"casesLimit": 1001},
        {"casesLimit": "x"},
        {"casesLimit": 3, "casesCursor": "bogus"},
        {"casesLimit": 3, "casesCursor": listing_cursor},
        {"limit": 3},
    ):
        answer = client.get(f"/aggregated-cases/{acme}", params=params)
        assert answer.status_code == 400, params
        assert answer.json()["error"]
    assert client.get("/aggregated-cases/nope", params={"casesLimit": 3}).status_code == 404


def test_trend_and_sort_over_http(client) -> None:
    acme = ids(client)[("Acme Payments", "1042")]
    trend = client.get(f"/aggregated-cases/{acme}/trend")
    assert trend.status_code == 200
    days = trend.json()["days"]
    assert len(days) == 14 and all(set(day) == {"date", "cases"} for day in days)
    assert client.get("/aggregated-cases/nope/trend").status_code == 404
    by_update = client.get("/get-all", params={"sort": "lastUpdated", "casesLimit": 0}).json()
    stamps = [a["lastUpdatedAt"] for a in by_update["aggregatedCases"]]
    assert stamps == sorted(stamps, reverse=True)
    page = client.get("/search", params={"sort": "caseCount", "limit": 2}).json()
    assert page["aggregatedCases"][0]["id"] == acme
    again = client.get(
        "/search", params={"sort": "caseCount", "limit": 2, "cursor": page["nextCursor"]}
    )
    assert again.status_code == 200 and acme not in {
        a["id"] for a in again.json()["aggregatedCases"]
    }
    wrong = client.get("/search", params={"limit": 2, "cursor": page["nextCursor"]})
    assert wrong.status_code == 400
    assert client.get("/get-all", params={"sort": "size"}).status_code == 400
