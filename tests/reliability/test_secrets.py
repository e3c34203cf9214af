"""Secrets and personal data (contract §2): nowhere in logs, errors or answers.

One pass over everything that talks: a full refresh of both sources with
records that get skipped and logged, a token renewal, a rate limit, failed
refreshes with error texts (wrong credentials), then every endpoint of the
service, each with its error answers, while every logger, the HTTP stack's
included, is at DEBUG.
"""

from __future__ import annotations

import logging

import orjson
import pytest
import reliability_kit as kit
from starlette.testclient import TestClient
from supporthub_banana.adapter import BananaAdapter

import supporthub
from supporthub.service import create_app

WRONG_SECRET = "Banana-Wrong-Secret-0c4f"
WRONG_KEY = "sk-Strawberry-wrong-9e33"


def test_no_secret_email_or_requester_anywhere(
    make_hub, crms, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, trial
) -> None:
    monkeypatch.setattr(BananaAdapter, "page_size", 50)  # pages, so the token dies mid-sync
    # The CLI sets the HTTP stack's loggers to WARNING process-wide; a test
    # that ran it earlier in this worker must not quiet this one.
    for name in (None, "httpx", "httpcore", "supporthub", "uvicorn"):
        caplog.set_level(logging.DEBUG, logger=name)
    banana, strawberry = crms
    emails = {r["ContactEmail"] for r in banana.current_records() if r["ContactEmail"]}
    requesters = [t["requester"] for t in strawberry.current_records() if t["requester"]]
    names = {r["name"] for r in requesters if r.get("name")}
    emails |= {r["email"] for r in requesters if r.get("email")}
    assert len(emails) > 100 and len(names) > 50
    banana.faults.malformed_records(share=0.05)
    strawberry.faults.malformed_records(share=0.05)
    banana.revoke_tokens_after(1)
    strawberry.faults.rate_limit_burst(1, retry_after=0.01)

    hub = make_hub(kit.env_for(banana, strawberry))
    reports = [hub.refresh(force=True, full=True)]
    assert reports[0].ok, reports[0].sources
    assert all(s.skipped > 0 for s in reports[0].sources.values()), "skipped records logged"
    assert banana.requests.count(path="/oauth/token", status=200) == 2, "a renewal happened"
    wrong = make_hub(
        kit.env_for(banana, strawberry)
        | {
            "SUPPORTHUB_BANANA_CLIENT_SECRET": WRONG_SECRET,
            "SUPPORTHUB_STRAWBERRY_API_KEY": WRONG_KEY,
        }
    )
    reports.append(wrong.refresh(force=True))
    assert not any(s.ok for s in reports[-1].sources.values())

    answers: list[str] = []
    with TestClient(create_app(hub, scheduler=False)) as client:
        agg_id = hub.all().aggregated_cases[0].id
        for method, path in kit.requests_for(client.app, agg_id):
            answers.append(client.request(method, path).text)
        # Error answers too; the values are the client's own, not the CRMs' data.
        for query in (
            "/get-all?casesLimit=1000",
            "/search?provider=acme&provider=Globex",
            "/search?errorCode=%20",
            "/search?status=pending",
            "/search?nope=1",
            "/aggregated-cases/nope",
            "/get-all?cursor=forged",
            "/get-all?limit=0",
        ):
            answers.append(client.get(query).text)
        banana.faults.error_burst(100, status=502)
        strawberry.faults.error_burst(100, status=500)
        banana.mutate(update=0.05, seed=5)
        answers.append(client.post("/refresh").text)
        assert "answered 502" in answers[-1]
        answers.append(client.get("/health").text)
    with TestClient(create_app(wrong, scheduler=False)) as client:
        answers += [client.get("/health").text, client.get("/get-all").text]

    haystack = "\n".join(
        [
            caplog.text,
            *(repr(record.__dict__) for record in caplog.records),
            *(orjson.dumps(supporthub.to_json_dict(r)).decode() for r in reports),
            *(repr(r) for r in reports),
            *answers,
        ]
    )
    assert any(r.name.startswith("httpcore") for r in caplog.records), "DEBUG is really on"
    assert any("skipped malformed record" in r.getMessage() for r in caplog.records)
    assert "invalid_client" in haystack and "401" in haystack, "the errors are in the haystack"
    assert "/search?status=" in caplog.text, "the access log is in the haystack"
    for secret in (kit.BANANA_SECRET, kit.STRAWBERRY_KEY, WRONG_SECRET, WRONG_KEY):
        assert secret not in haystack
    leaked = sorted(value for value in emails | names if value in haystack)
    assert not leaked, f"personal data leaked: {leaked[:5]}"
    trial.record(
        "secrets and personal data at DEBUG: full refresh, renewal, 429, wrong credentials, "
        "every endpoint and its errors",
        1,
        f"{len(caplog.records)} log records, {len(answers)} answers, {len(reports)} reports: "
        f"none holds one of 4 secrets or {len(emails | names)} e-mails and names",
    )
