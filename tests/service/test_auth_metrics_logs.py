"""Tokens (contract §2), /metrics and the log lines, on both databases."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.testclient import TestClient

from supporthub.service import create_app
from supporthub.vocabulary.log_setup import JsonFormatter

READ = "read-token-Ab3x9"
API = "api-token-Zq81m"
DATA = ["/get-all", "/search?status=open", "/openapi.json", "/metrics"]
OPEN = ["/health", "/", "/static/app.js", "/static/app.css"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def app_with(make_hub: Any, fake_crm: Any, **tokens: str) -> TestClient:
    fake_crm.put("1", provider="Acme", error_code="E-1")
    hub = make_hub(**tokens)
    hub.refresh(force=True)
    return TestClient(create_app(hub, scheduler=False))


def assert_401(answer: Any) -> None:
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in answer.json()["error"]


def test_without_tokens_everything_is_open(make_hub, fake_crm) -> None:
    with app_with(make_hub, fake_crm) as client:
        for path in [*DATA, *OPEN, "/refresh"]:
            assert client.get(path).status_code == 200, path
        assert client.post("/refresh").status_code == 200


def test_the_read_token_guards_everything_but_health_and_the_page(make_hub, fake_crm) -> None:
    with app_with(make_hub, fake_crm, SUPPORTHUB_READ_TOKEN=READ) as client:
        for path in DATA:
            assert_401(client.get(path))
            assert_401(client.get(path, headers=bearer("wrong")))
            assert_401(client.get(path, headers={"Authorization": READ}))
            assert_401(client.get(path, headers={"Authorization": f"Basic {READ}"}))
            assert client.get(path, headers=bearer(READ)).status_code == 200, path
            assert client.get(path, headers={"Authorization": f"bearer {READ}"}).status_code == 200
        for path in OPEN:
            assert client.get(path).status_code == 200, path
        # Without an API token, refreshing is a request like any other: the read token.
        assert_401(client.post("/refresh"))
        assert client.post("/refresh", headers=bearer(READ)).status_code == 200


def test_the_api_token_guards_refresh(make_hub, fake_crm) -> None:
    with app_with(make_hub, fake_crm, SUPPORTHUB_API_TOKEN=API) as client:
        for path in DATA:
            assert client.get(path).status_code == 200, path
        for method in ("GET", "POST"):
            assert_401(client.request(method, "/refresh"))
            assert_401(client.request(method, "/refresh", headers=bearer("wrong")))
            assert client.request(method, "/refresh", headers=bearer(API)).status_code == 200


def test_with_both_tokens_the_api_token_also_reads(make_hub, fake_crm) -> None:
    with app_with(
        make_hub, fake_crm, SUPPORTHUB_READ_TOKEN=READ, SUPPORTHUB_API_TOKEN=API
    ) as client:
        for path in DATA:
            assert client.get(path, headers=bearer(READ)).status_code == 200
            assert client.get(path, headers=bearer(API)).status_code == 200
            assert_401(client.get(path))
        assert_401(client.post("/refresh", headers=bearer(READ)))
        assert client.post("/refresh", headers=bearer(API)).status_code == 200
        assert client.get("/health").status_code == 200


def test_tokens_never_reach_answers_or_logs(make_hub, fake_crm, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with app_with(
        make_hub, fake_crm, SUPPORTHUB_READ_TOKEN=READ, SUPPORTHUB_API_TOKEN=API
    ) as client:
        answers = [
            client.get("/get-all", headers=bearer(READ)),
            client.get("/get-all", headers=bearer(API + "x")),
            client.post("/refresh", headers=bearer(API)),
            client.get("/health"),
            client.get("/metrics", headers=bearer(API)),
        ]
    text = caplog.text + "".join(a.text for a in answers)
    assert READ not in text
    assert API not in text
    assert "fake-secret-token-123" not in text


def test_every_request_gets_one_structured_log_line(client, caplog) -> None:
    caplog.set_level(logging.INFO, logger="supporthub.access")
    client.get("/search", params={"provider": "Globex"}, headers={"Authorization": "Bearer xyz"})
    client.get("/aggregated-cases/nope")
    client.get("/nowhere")
    lines = [r for r in caplog.records if r.name == "supporthub.access"]
    assert [(r.method, r.path, r.status, r.route) for r in lines] == [  # type: ignore[attr-defined]
        ("GET", "/search", 200, "/search"),
        ("GET", "/aggregated-cases/nope", 404, "/aggregated-cases/{id}"),
        ("GET", "/nowhere", 404, "unmatched"),
    ]
    first = lines[0]
    assert first.query == "provider=Globex"  # type: ignore[attr-defined]
    assert first.durationMs > 0  # type: ignore[attr-defined]
    assert first.getMessage().startswith("GET /search?provider=Globex 200 ")
    entry = json.loads(JsonFormatter().format(first))
    assert entry["event"] == "request"
    assert entry["status"] == 200
    assert "xyz" not in json.dumps(entry)  # headers are never logged


def test_metrics_count_requests_refreshes_and_stored_data(client, fake_crm) -> None:
    client.get("/get-all")
    client.get("/aggregated-cases/nope")
    fake_crm.put("extra", provider="Acme Payments", error_code="1042")
    client.post("/refresh")
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    lines = set(text.splitlines())
    assert any(
        line.startswith("supporthub_http_request_duration_seconds_count{")
        and 'route="/aggregated-cases/{id}"' in line
        and 'status="404"' in line
        for line in lines
    )
    assert 'supporthub_source_refreshes_total{outcome="ok",source="fake"} 1.0' in lines
    assert 'supporthub_source_refresh_duration_seconds_count{source="fake"} 1.0' in lines
    assert any(
        line.startswith('supporthub_source_fetched_records_total{source="fake"}') for line in lines
    )
    assert 'supporthub_cases{source="fake"} 34.0' in lines
    assert 'supporthub_aggregated_cases{status="open"} 17.0' in lines
    assert 'supporthub_aggregated_cases{status="closed"} 10.0' in lines
    assert "supporthub_database_up 1.0" in lines
    assert any(
        line.startswith("supporthub_source_last_success_timestamp_seconds{") for line in lines
    )


def test_openmetrics_is_served_when_asked(client) -> None:
    answer = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    assert answer.text.rstrip().endswith("# EOF")


def test_the_metrics_hook_leaves_with_the_app(seeded_hub) -> None:
    def hooked() -> int:
        return len(seeded_hub.plugins.hook.refresh_finished.get_hookimpls())

    before = hooked()
    with TestClient(create_app(seeded_hub, scheduler=False)):
        assert hooked() == before + 1
    assert hooked() == before


def test_a_failed_refresh_is_counted_as_failed(make_hub, fake_crm) -> None:
    fake_crm.put("1", provider="Acme")
    fake_crm.put("2", provider="Acme")
    with TestClient(
        create_app(make_hub(SUPPORTHUB_FAKE_FAIL_AFTER="1"), scheduler=False)
    ) as client:
        client.post("/refresh")
        text = client.get("/metrics").text
    assert 'supporthub_source_refreshes_total{outcome="failed",source="fake"} 1.0' in text


def test_the_page_is_served_with_a_strict_content_policy(client) -> None:
    page = client.get("/")
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert '<script src="/static/app.js" defer></script>' in page.text
    script = client.get("/static/app.js").text
    assert ".innerHTML" not in script  # its comment names it; no code uses it
    assert "sessionStorage" in script
