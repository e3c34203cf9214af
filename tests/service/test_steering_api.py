"""Issue 9 over HTTP, on SQLite and MariaDB: explain, overrides, undo, replay, lifecycle,
suggestions, and the API token on every write endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from supporthub.service import create_app

API = "api-token-Zq81m"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def seed(fake_crm: Any) -> None:
    fake_crm.put("1", provider="Acme Payments", error_code="1042")
    fake_crm.put("2", provider="acme payments, inc.", error_code="E-1042")
    fake_crm.put("3", provider="Acme Paymnts", error_code="1042")  # a typo
    fake_crm.put("4", provider="Globex", error_code="AUTH_FAILED", status="closed")
    fake_crm.put("5", provider="Globex", error_code=None, subject="Login page times out")
    fake_crm.put("6", provider="Globex", error_code=None, subject="login page times out!")
    fake_crm.put("10", provider="Globex", error_code=None, subject="Invoice PDF is blank")


@pytest.fixture
def hub(make_hub: Any, fake_crm: Any) -> Any:
    seed(fake_crm)
    built = make_hub()
    assert built.refresh(force=True).ok
    return built


@pytest.fixture
def client(hub: Any) -> Iterator[TestClient]:
    with TestClient(create_app(hub, scheduler=False)) as test_client:
        yield test_client


def ids(client: TestClient) -> dict[tuple[str | None, str | None], str]:
    """(provider key-ish display, error code) → aggregated case id."""
    listed = client.get("/get-all", params={"casesLimit": 0}).json()["aggregatedCases"]
    return {(a["provider"], a["errorCode"]): a["id"] for a in listed}


def grouping(client: TestClient) -> dict[str, list[tuple[str, str]]]:
    """Aggregated case id → its members."""
    listed = client.get("/get-all").json()["aggregatedCases"]
    return {a["id"]: sorted((c["source"], c["id"]) for c in a["cases"]) for a in listed}


def state(client: TestClient, headers: dict[str, str] | None = None) -> Any:
    """Everything a write could change, as the API shows it."""
    return (
        client.get("/get-all", headers=headers).json(),
        client.get("/overrides", params={"all": "true"}, headers=headers).json(),
    )


def merge_body(from_id: str, into_id: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "merge", "from": from_id, "into": into_id, "by": "alice", "reason": "typo"} | (
        extra
    )


# -- explain -----------------------------------------------------------------------------


def test_explain_says_why_cases_are_together(client) -> None:
    acme = ids(client)[("Acme Payments", "1042")]
    answer = client.get(f"/aggregated-cases/{acme}/explain")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["id"] == acme
    assert body["key"] == {
        "id": acme,
        "providerKey": "acme payments",
        "errorCodeKey": "1042",
        "extra": [],
    }
    assert body["rules"] == ["default@2"]
    values = {(v["provider"], v["errorCode"]): v for v in body["values"]}
    assert set(values) == {("Acme Payments", "1042"), ("acme payments, inc.", "E-1042")}
    assert values[("acme payments, inc.", "E-1042")]["steps"][-1]["key"]["id"] == acme
    assert body["overrides"] == []

    missing = client.get("/aggregated-cases/nope/explain")
    assert missing.status_code == 404 and "nope" in missing.json()["error"]
    assert client.get(f"/aggregated-cases/{acme}/explain?x=1").status_code == 400


# -- merge, move, alias, undo --------------------------------------------------------------


def test_a_merge_survives_ten_refreshes_and_new_matching_cases(client, fake_crm) -> None:
    groups = ids(client)
    typo, acme = groups[("Acme Paymnts", "1042")], groups[("Acme Payments", "1042")]
    answer = client.post("/overrides", json=merge_body(typo, acme))
    assert answer.status_code == 200, answer.text
    change = answer.json()
    assert change["applied"] is True
    assert change["diff"]["vanished"] == [typo]
    (made,) = change["overrides"]
    assert (made["kind"], made["createdBy"], made["reason"]) == ("merge", "alice", "typo")

    for round_ in range(10):
        fake_crm.put(f"new{round_}", provider="acme paymnts", error_code="E-1042")
        report = client.post("/refresh")
        assert report.status_code == 200 and report.json()["ok"], report.text
    after = client.get("/get-all").json()["aggregatedCases"]
    merged = {a["id"]: a for a in after}
    assert typo not in merged
    assert merged[acme]["caseCount"] == 3 + 10
    explanation = client.get(f"/aggregated-cases/{acme}/explain").json()
    assert [o["id"] for o in explanation["overrides"]] == [made["id"]]
    listed = client.get("/overrides").json()["overrides"]
    assert [o["id"] for o in listed] == [made["id"]]


def test_undo_restores_the_exact_previous_grouping(client, fake_crm) -> None:
    # A later refresh, so that the seeded aggregated cases are no longer "new".
    fake_crm.put("11", provider="Initech", error_code="500")
    assert client.post("/refresh").json()["ok"]
    before, before_answer = grouping(client), client.get("/get-all").json()
    groups = ids(client)
    merged = client.post(
        "/overrides",
        json=merge_body(groups[("Globex", None)], groups[("Globex", "AUTH_FAILED")]),
    ).json()
    moved = client.post(
        "/overrides",
        json={"kind": "move", "source": "fake", "caseId": "1", "by": "bob", "reason": "other"},
    ).json()
    assert grouping(client) != before
    for change in (moved, merged):
        override_id = change["overrides"][0]["id"]
        answer = client.delete(f"/overrides/{override_id}", params={"by": "bob"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["removed"] == [override_id]
    assert grouping(client) == before
    # Not only the members: every field, lifecycle included (no false "new").
    assert client.get("/get-all").json() == before_answer
    assert {a["state"] for a in before_answer["aggregatedCases"]} == {"untriaged"}
    assert client.get("/overrides").json() == {"overrides": []}
    history = client.get("/overrides", params={"all": "true"}).json()["overrides"]
    assert [o["removedBy"] for o in history] == ["bob", "bob"]


def test_an_alias_applies_to_old_and_new_cases(client, fake_crm) -> None:
    body = {"kind": "alias", "spelling": "Acme Paymnts", "provider": "Acme Payments"}
    answer = client.post("/overrides", json=body | {"by": "carol", "reason": "typo"})
    assert answer.status_code == 200, answer.text
    fake_crm.put("7", provider="ACME PAYMNTS", error_code="1042")
    client.post("/refresh")
    groups = client.get("/search", params={"provider": "Acme Paymnts"}).json()
    (only,) = groups["aggregatedCases"]
    assert only["caseCount"] == 4


# -- replay --------------------------------------------------------------------------------


def test_a_dry_run_equals_what_applying_then_does(client) -> None:
    groups = ids(client)
    body = merge_body(groups[("Acme Paymnts", "1042")], groups[("Acme Payments", "1042")])
    before = state(client)
    preview = client.post("/overrides", json=body | {"dryRun": True})
    assert preview.status_code == 200 and preview.json()["applied"] is False
    assert state(client) == before
    applied = client.post("/overrides", json=body).json()
    assert applied["applied"] is True
    assert applied["diff"] == preview.json()["diff"]

    override_id = applied["overrides"][0]["id"]
    undo_preview = client.delete(f"/overrides/{override_id}", params={"by": "x", "dryRun": "true"})
    assert undo_preview.status_code == 200
    undone = client.delete(f"/overrides/{override_id}", params={"by": "x"}).json()
    assert undone["diff"] == undo_preview.json()["diff"]


def test_the_rules_preview_equals_what_applying_them_does(hub, make_hub) -> None:
    # The same database, now with an alias configured: the stored grouping is stale.
    configured = make_hub(SUPPORTHUB_PROVIDER_ALIASES='{"Acme Paymnts": "Acme Payments"}')
    with TestClient(create_app(configured, scheduler=False)) as client:
        before = grouping(client)
        preview = client.get("/rules/preview")
        assert preview.status_code == 200, preview.text
        diff = preview.json()["diff"]
        assert diff["movedCases"] == 1 and len(diff["vanished"]) == 1
        assert grouping(client) == before
        applied = client.post("/rules/apply")
        assert applied.status_code == 200, applied.text
        assert applied.json()["diff"] == diff
        assert grouping(client) != before
        assert client.get("/rules/preview").json()["diff"]["movedCases"] == 0
        assert client.get("/rules/preview?x=1").status_code == 400
        assert client.post("/rules/apply", json={"force": True}).status_code == 400


# -- lifecycle ------------------------------------------------------------------------------


def test_a_regressed_aggregated_case_is_flagged_on_the_refresh_that_reopens_it(
    client, fake_crm
) -> None:
    globex = ids(client)[("Globex", "AUTH_FAILED")]
    assert client.get("/search", params={"lifecycle": "regressed"}).json()["total"] == 0
    fixed = client.patch(f"/aggregated-cases/{globex}", json={"state": "fixed", "by": "bob"})
    assert fixed.status_code == 200, fixed.text
    fake_crm.put("8", provider="Globex", error_code="E-AUTH_FAILED", status="open")
    assert client.post("/refresh").json()["ok"]
    regressed = client.get("/search", params={"lifecycle": "regressed"}).json()
    assert [a["id"] for a in regressed["aggregatedCases"]] == [globex]
    assert regressed["aggregatedCases"][0]["lifecycle"] == "regressed"
    assert client.get(f"/aggregated-cases/{globex}").json()["state"] == "regressed"
    new = client.get("/search", params={"lifecycle": "new"}).json()["aggregatedCases"]
    assert globex not in {a["id"] for a in new}
    bad = client.get("/search", params={"lifecycle": "old"})
    assert bad.status_code == 400 and "lifecycle" in bad.json()["error"]


# -- suggestions -----------------------------------------------------------------------------


def test_accepting_a_suggestion_makes_an_override(client) -> None:
    suggestions = client.get("/suggestions").json()
    (group,) = suggestions["groups"]
    assert {c["id"] for c in group["cases"]} == {"5", "6"}
    preview = client.post(
        f"/suggestions/{group['id']}/accept", json={"by": "d", "reason": "same", "dryRun": True}
    )
    assert preview.status_code == 200 and preview.json()["applied"] is False
    answer = client.post(f"/suggestions/{group['id']}/accept", json={"by": "d", "reason": "same"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["diff"] == preview.json()["diff"]
    assert len(client.get("/overrides").json()["overrides"]) == 2
    again = client.post(f"/suggestions/{group['id']}/accept", json={"by": "d", "reason": "x"})
    assert again.status_code == 404


# -- bad requests: 400 or 404 in words, never a 5xx, nothing changed ---------------------------

BAD_OVERRIDES: list[Any] = [
    None,
    [],
    "merge",
    {},
    {"kind": "glue"},
    {"kind": ["merge"]},
    {"kind": "merge", "from": "a", "by": "x", "reason": "y"},
    {"kind": "merge", "from": 1, "into": "b", "by": "x", "reason": "y"},
    {"kind": "merge", "from": "a", "into": "b", "by": "x", "reason": "y", "dryRun": "yes"},
    {"kind": "merge", "from": "a", "into": "b", "by": "x", "reason": "y", "extra": 1},
    {"kind": "move", "source": "fake", "by": "x", "reason": "y"},
    {"kind": "alias", "spelling": "---", "provider": "Acme", "by": "x", "reason": "y"},
    {"kind": "alias", "spelling": "Acme Inc", "provider": "ACME", "by": "x", "reason": "y"},
    # U+FDFA is 18 characters after NFKC: 200 of them make a key no column holds.
    {
        "kind": "alias",
        "spelling": "Acme Paymnts",
        "provider": "\ufdfa" * 200,
        "by": "x",
        "reason": "y",
    },
]


def test_bad_requests_get_400_in_words_and_change_nothing(client) -> None:
    groups = ids(client)
    a, b = groups[("Acme Paymnts", "1042")], groups[("Acme Payments", "1042")]
    before = state(client)
    for body in BAD_OVERRIDES:
        answer = client.post("/overrides", json=body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["error"]
    for body in [
        merge_body(a, a),
        merge_body(a, b, by=""),
        merge_body(a, b, by="   "),
        merge_body(a, b, reason=""),
        merge_body(a, b, by="x" * 256),
        merge_body(a, b, reason="x" * 1001),
    ]:
        answer = client.post("/overrides", json=body)
        assert answer.status_code == 400, (body, answer.text)
    for raw in [b"{", b"\xff", b'{"kind": "\\ud800"}', b"x" * 70_000]:
        answer = client.post(
            "/overrides", content=raw, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 400, answer.text
    text = client.post("/overrides", content=b"{}", headers={"Content-Type": "text/plain"})
    assert text.status_code == 400 and "application/json" in text.json()["error"]
    assert client.post("/overrides?dryRun=true", json=merge_body(a, b)).status_code == 400
    for path, params in [
        ("/overrides/abc", {"by": "x"}),
        ("/overrides/-1", {"by": "x"}),
        ("/overrides/1" + "0" * 30, {"by": "x"}),
        ("/overrides/1", {}),
        ("/overrides/1", {"by": ""}),
        ("/overrides/1", {"by": "x", "why": "y"}),
        ("/overrides/1", {"by": "x", "dryRun": "maybe"}),
    ]:
        answer = client.delete(path, params=params)
        assert answer.status_code in (400, 404), (path, params, answer.text)
        assert answer.status_code == 400 or path == "/overrides/1", (path, params)
    assert client.get("/overrides", params={"all": "maybe"}).status_code == 400
    assert client.get("/overrides", params={"include": "all"}).status_code == 400
    assert client.post("/suggestions/x/accept", json={"by": "x"}).status_code == 400
    assert state(client) == before


def test_unknown_ids_get_404_and_change_nothing(client) -> None:
    a = ids(client)[("Acme Payments", "1042")]
    before = state(client)
    for body in [
        merge_body("nope", a),
        merge_body(a, "nope"),
        {"kind": "move", "source": "fake", "caseId": "nope", "by": "x", "reason": "y"},
        {"kind": "move", "source": "fake", "caseId": "1", "into": "nope", "by": "x", "reason": "y"},
    ]:
        answer = client.post("/overrides", json=body)
        assert answer.status_code == 404, (body, answer.text)
        assert "nope" in answer.json()["error"]
    assert client.delete("/overrides/12345", params={"by": "x"}).status_code == 404
    accept = client.post("/suggestions/nope/accept", json={"by": "x", "reason": "y"})
    assert accept.status_code == 404
    assert state(client) == before


# -- the API token -----------------------------------------------------------------------------


def write_requests(client: TestClient) -> list[tuple[str, str, dict[str, Any]]]:
    """One valid request to every write endpoint, as (method, path, keyword arguments)."""
    groups = ids(client)
    typo, acme = groups[("Acme Paymnts", "1042")], groups[("Acme Payments", "1042")]
    (suggestion,) = client.get("/suggestions").json()["groups"]
    return [
        ("POST", "/overrides", {"json": merge_body(typo, acme)}),
        ("DELETE", "/overrides/1", {"params": {"by": "x"}}),
        ("POST", "/rules/apply", {}),
        ("POST", f"/suggestions/{suggestion['id']}/accept", {"json": {"by": "x", "reason": "y"}}),
        ("POST", "/refresh", {}),
        ("GET", "/refresh", {}),
    ]


def test_write_endpoints_refuse_a_missing_or_wrong_token_and_change_nothing(
    make_hub, fake_crm
) -> None:
    seed(fake_crm)
    hub = make_hub(SUPPORTHUB_API_TOKEN=API)
    hub.refresh(force=True)
    with TestClient(create_app(hub, scheduler=False)) as client:
        requests = write_requests(client)
        fake_crm.put("9", provider="Initech", error_code="500")  # a refresh would change state
        before = state(client)
        for method, path, kwargs in requests:
            for headers in ({}, bearer("wrong"), {"Authorization": API}, bearer(API + "x")):
                answer = client.request(method, path, headers=headers, **kwargs)
                assert answer.status_code == 401, (method, path, headers, answer.text)
                assert answer.headers["WWW-Authenticate"].startswith("Bearer")
            assert state(client) == before, (method, path)
        # Reads need no token; with the right one, each write goes through.
        for path in ("/overrides", "/suggestions", "/rules/preview"):
            assert client.get(path).status_code == 200
        for method, path, kwargs in requests:
            answer = client.request(method, path, headers=bearer(API), **kwargs)
            assert answer.status_code in (200, 404), (method, path, answer.text)
        assert state(client) != before


def test_without_a_token_writes_are_open(client) -> None:
    for method, path, kwargs in write_requests(client):
        answer = client.request(method, path, **kwargs)
        assert answer.status_code in (200, 404), (method, path, answer.text)


def test_who_and_why_keep_every_character_up_to_their_limits(client) -> None:
    groups = ids(client)
    typo, acme = groups[("Acme Paymnts", "1042")], groups[("Acme Payments", "1042")]
    who, why = "é" * 255, "typo 🙂 " * 100
    answer = client.post("/overrides", json=merge_body(typo, acme, by=who, reason=why))
    assert answer.status_code == 200, answer.text
    (override,) = client.get("/overrides").json()["overrides"]
    assert (override["createdBy"], override["reason"]) == (who, why.strip())
    # Undoing with a name that is too long is refused, and the override stays.
    before = state(client)
    refused = client.delete(f"/overrides/{override['id']}", params={"by": "x" * 256})
    assert refused.status_code == 400 and "255" in refused.json()["error"]
    assert state(client) == before
    undone = client.delete(f"/overrides/{override['id']}", params={"by": who})
    assert undone.status_code == 200
    assert (
        client.get("/overrides", params={"all": "true"}).json()["overrides"][0]["removedBy"] == who
    )


def test_the_read_token_guards_the_steering_reads(make_hub, fake_crm) -> None:
    seed(fake_crm)
    hub = make_hub(SUPPORTHUB_READ_TOKEN="read-1", SUPPORTHUB_API_TOKEN=API)
    hub.refresh(force=True)
    with TestClient(create_app(hub, scheduler=False)) as client:
        agg_id = hub.all().aggregated_cases[0].id
        for path in (
            "/overrides",
            "/suggestions",
            "/rules/preview",
            f"/aggregated-cases/{agg_id}/explain",
        ):
            assert client.get(path).status_code == 401, path
            assert client.get(path, headers=bearer("read-1")).status_code == 200, path
            assert client.get(path, headers=bearer(API)).status_code == 200, path
        # The read token does not change the grouping.
        assert client.post("/rules/apply", headers=bearer("read-1")).status_code == 401
