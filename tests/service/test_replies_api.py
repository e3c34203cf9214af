"""Replies over HTTP, on SQLite and MariaDB: queue, progress, list, preview, stop, bad input."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import supporthub_fakecrm
from starlette.testclient import TestClient

from supporthub.service import create_app

API = "api-token-R3ply"


@pytest.fixture
def hub(make_hub: Any, fake_crm: Any) -> Any:
    for n in range(1, 4):
        fake_crm.put(str(n), provider="Acme", error_code="E-1")
    fake_crm.put("4", provider="Acme", error_code="E-1", status="closed")
    fake_crm.put("5", provider="Globex", error_code="E-2")
    built = make_hub(SUPPORTHUB_API_TOKEN=API)
    assert built.refresh(force=True).ok
    return built


@pytest.fixture
def client(hub: Any) -> Iterator[TestClient]:
    with TestClient(
        create_app(hub, scheduler=False), headers={"Authorization": f"Bearer {API}"}
    ) as test_client:
        yield test_client


def acme(client: TestClient) -> str:
    listed = client.get("/get-all", params={"casesLimit": 0}).json()["aggregatedCases"]
    (found,) = [a["id"] for a in listed if a["provider"] == "Acme"]
    return found


def wait_done(client: TestClient, reply_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        body: dict[str, Any] = client.get(f"/replies/{reply_id}").json()
        if body["state"] != "delivering" or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def test_a_reply_is_accepted_delivered_by_the_service_and_shown(client, fake_crm) -> None:
    agg_id = acme(client)
    preview = client.get(f"/aggregated-cases/{agg_id}/replies/preview")
    assert preview.status_code == 200, preview.text
    assert (preview.json()["targets"], preview.json()["bySource"]) == (3, {"fake": 3})
    assert (
        client.get(f"/aggregated-cases/{agg_id}/replies/preview?scope=all").json()["targets"] == 4
    )
    answer = client.post(
        f"/aggregated-cases/{agg_id}/replies",
        json={"message": "Fixed, please retry", "by": "ana", "setStatus": "pending"},
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["targets"] == 3
    reply_id = answer.json()["id"]
    body = wait_done(client, reply_id)
    assert (body["state"], body["delivered"], body["pending"], body["failed"]) == ("done", 3, 0, 0)
    assert sorted(c["caseId"] for c in body["cases"]) == ["1", "2", "3"]
    assert set(body["cases"][0]) >= {"source", "caseId", "state", "attempts", "error"}
    assert (body["aggregatedCaseId"], body["by"], body["setStatus"]) == (agg_id, "ana", "pending")
    counted = [c["case_id"] for c in supporthub_fakecrm.comments(str(fake_crm.path))]
    assert sorted(counted) == ["1", "2", "3"]
    listed = client.get(f"/aggregated-cases/{agg_id}/replies").json()["replies"]
    assert [(r["id"], r["state"], r["targets"]) for r in listed] == [(reply_id, "done", 3)]
    metrics = client.get("/metrics").text.splitlines()
    assert 'supporthub_reply_deliveries{source="fake",state="delivered"} 3.0' in metrics


def test_stop_ends_auto_reply(client) -> None:
    agg_id = acme(client)
    reply_id = client.post(
        f"/aggregated-cases/{agg_id}/replies",
        json={"message": "Known", "by": "ana", "autoReply": True, "scope": "all", "public": False},
    ).json()["id"]
    assert client.get(f"/replies/{reply_id}").json()["autoReplyActive"] is True
    stopped = client.post(f"/replies/{reply_id}/stop", json={"by": "bob"})
    assert stopped.status_code == 200, stopped.text
    assert (stopped.json()["autoReplyActive"], stopped.json()["stoppedBy"]) == (False, "bob")
    assert client.post(f"/replies/{reply_id}/stop", json={}).status_code == 400
    assert client.post("/replies/nope/stop", json={"by": "bob"}).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"by": "ana"},
        {"message": None, "by": "ana"},
        {"message": "", "by": "ana"},
        {"message": "x" * 4001, "by": "ana"},
        {"message": ["hi"], "by": "ana"},
        {"message": "hi"},
        {"message": "hi", "by": None},
        {"message": "hi", "by": ""},
        {"message": "hi", "by": 7},
        {"message": "hi", "by": "ana", "public": None},
        {"message": "hi", "by": "ana", "public": "true"},
        {"message": "hi", "by": "ana", "setStatus": "closed"},
        {"message": "hi", "by": "ana", "setStatus": 1},
        {"message": "hi", "by": "ana", "scope": None},
        {"message": "hi", "by": "ana", "scope": "some"},
        {"message": "hi", "by": "ana", "autoReply": None},
        {"message": "hi", "by": "ana", "autoReply": "yes"},
        {"message": "hi", "by": "ana", "dryRun": True},
        ["not", "an", "object"],
        None,
    ],
)
def test_bad_bodies_are_400_with_words_and_store_nothing(client, body) -> None:
    agg_id = acme(client)
    answer = client.post(f"/aggregated-cases/{agg_id}/replies", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]
    assert client.get(f"/aggregated-cases/{agg_id}/replies").json() == {"replies": []}


def test_unknown_ids_are_404(client) -> None:
    answer = client.post("/aggregated-cases/nope/replies", json={"message": "hi", "by": "ana"})
    assert answer.status_code == 404
    assert client.get("/replies/nope").status_code == 404
    assert client.get("/aggregated-cases/nope/replies").status_code == 404
    assert client.get("/aggregated-cases/nope/replies/preview").status_code == 404
    preview = client.get(f"/aggregated-cases/{acme(client)}/replies/preview?scope=x")
    assert preview.status_code == 400


def test_writes_need_the_api_token(hub) -> None:
    with TestClient(create_app(hub, scheduler=False, deliver=False)) as anonymous:
        agg_id = acme(anonymous)
        answer = anonymous.post(
            f"/aggregated-cases/{agg_id}/replies", json={"message": "hi", "by": "ana"}
        )
        assert answer.status_code == 401
        assert anonymous.get(f"/aggregated-cases/{agg_id}/replies").json() == {"replies": []}
        assert anonymous.post("/replies/x/stop", json={"by": "a"}).status_code == 401
