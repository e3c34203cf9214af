"""Contract §4: /refresh (200, 429, waiting, 409, POST) and /health (fields, 503)."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from starlette.testclient import TestClient

import supporthub
from supporthub.service import create_app

_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_refresh_answers_the_report(client, fake_crm, method) -> None:
    fake_crm.put("new", provider="Acme Payments", error_code="E-1042")
    answer = client.request(method, "/refresh")
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert _TIME.match(report["refreshedAt"])
    source = report["sources"]["fake"]
    assert source["ok"] is True
    assert source["fetched"] >= 1
    assert source["skipped"] == 0
    assert isinstance(source["durationSeconds"], float)
    acme = client.get("/search", params={"provider": "acme payments"}).json()
    assert acme["aggregatedCases"][0]["caseCount"] == 5
    assert acme["refreshedAt"] == report["refreshedAt"]


def test_a_failing_source_is_reported_with_its_error(make_hub, fake_crm) -> None:
    fake_crm.put("1", provider="Acme")
    fake_crm.put("2", provider="Acme")
    hub = make_hub(SUPPORTHUB_FAKE_FAIL_AFTER="1")
    with TestClient(create_app(hub, scheduler=False)) as client:
        report = client.post("/refresh").json()
    assert report["sources"]["fake"]["ok"] is False
    assert report["sources"]["fake"]["error"] == "Fake CRM broke after 1 records"
    assert report["refreshedAt"] is None


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_refresh_while_nothing_is_due_is_429_with_retry_after(make_hub, fake_crm, method) -> None:
    fake_crm.put("1", provider="Acme")
    hub = make_hub(SUPPORTHUB_MIN_REFRESH_AGE_MINUTES="15")
    hub.refresh(force=True)
    with TestClient(create_app(hub, scheduler=False)) as client:
        answer = client.request(method, "/refresh")
    assert answer.status_code == 429
    body = answer.json()
    assert set(body) >= {"error", "dataAgeSeconds", "retryAfterSeconds"}
    assert isinstance(body["error"], str)
    assert body["error"]
    assert isinstance(body["dataAgeSeconds"], int)
    assert 0 <= body["dataAgeSeconds"] < 60
    assert 840 < body["retryAfterSeconds"] <= 900
    assert answer.headers["Retry-After"] == str(body["retryAfterSeconds"])


def test_refresh_takes_no_parameters(client) -> None:
    for query in ("force=true", "full=1"):
        answer = client.get(f"/refresh?{query}")
        assert answer.status_code == 400
        assert "no parameters" in answer.json()["error"]


def slow_hub(make_hub: Any, fake_crm: Any, **env: str) -> supporthub.Hub:
    """A hub whose refresh takes about a second (the fake CRM sleeps per batch)."""
    for n in range(15):
        fake_crm.put(f"s{n}", provider="Slow", error_code=str(n % 2))
    hub: supporthub.Hub = make_hub(SUPPORTHUB_FAKE_DELAY="0.2", **env)
    return hub


def test_requests_during_a_refresh_wait_for_it_and_share_its_report(make_hub, fake_crm) -> None:
    hub = slow_hub(make_hub, fake_crm)
    with TestClient(create_app(hub, scheduler=False)) as client, ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda m: client.request(m, "/refresh"), ["GET", "POST", "GET"]))
    assert [a.status_code for a in answers] == [200, 200, 200]
    reports = [a.json() for a in answers]
    assert reports[0] == reports[1] == reports[2]  # one refresh, one report
    with hub.store.engine.connect() as connection:
        runs = connection.exec_driver_sql("SELECT COUNT(*) FROM refresh_runs").scalar()
    assert runs == 1


def test_a_refresh_that_outlasts_the_wait_is_409(make_hub, fake_crm) -> None:
    hub = slow_hub(make_hub, fake_crm)
    app = create_app(hub, scheduler=False, refresh_wait_seconds=0.2)
    with TestClient(app) as client, ThreadPoolExecutor(2) as pool:
        first = pool.submit(client.post, "/refresh")
        time.sleep(0.1)
        second = client.post("/refresh")
        assert first.result().status_code == 200
    assert second.status_code == 409
    assert "another refresh" in second.json()["error"]


def test_a_refresh_held_by_another_process_is_waited_for_or_409(make_hub, fake_crm) -> None:
    """Two hubs on one database stand for two processes: the lock is the database's."""
    other = slow_hub(make_hub, fake_crm)
    hub = make_hub()
    hub.upgrade_db()  # an empty database would make the first request wait to create it

    def while_other_refreshes(client: TestClient, method: str) -> Any:
        running = threading.Thread(target=other.refresh, kwargs={"force": True})
        running.start()
        deadline = time.monotonic() + 5
        while not client.get("/health").json()["refreshing"]:
            assert time.monotonic() < deadline, "the other refresh never started"
            time.sleep(0.02)
        answer = client.request(method, "/refresh")
        running.join()
        return answer

    with TestClient(create_app(hub, scheduler=False, refresh_wait_seconds=0.2)) as client:
        answer = while_other_refreshes(client, "GET")
    assert answer.status_code == 409
    assert "another refresh" in answer.json()["error"]
    with TestClient(create_app(hub, scheduler=False, refresh_wait_seconds=30)) as client:
        waited = while_other_refreshes(client, "POST")
    assert waited.status_code == 200
    assert waited.json()["trigger"] == "forced"  # the other process's report, no second run


def test_health_tells_the_database_the_lock_and_every_source(client, seeded_hub) -> None:
    answer = client.get("/health")
    assert answer.status_code == 200
    health = answer.json()
    assert health["database"] == "ok"
    assert health["refreshing"] is False
    assert health["minRefreshAgeSeconds"] == 0
    assert health["refreshIntervalSeconds"] == 4 * 3600
    assert _TIME.match(health["refreshedAt"])
    fake = health["sources"]["fake"]
    assert {"lastSuccessAt", "lastError", "refreshableAt"} <= set(fake)
    assert _TIME.match(fake["lastSuccessAt"])
    assert fake["lastError"] is None
    assert _TIME.match(fake["refreshableAt"])


def test_health_shows_when_refresh_becomes_possible(make_hub, fake_crm) -> None:
    fake_crm.put("1", provider="Acme")
    hub = make_hub(SUPPORTHUB_MIN_REFRESH_AGE_MINUTES="15")
    hub.refresh(force=True)
    with TestClient(create_app(hub, scheduler=False)) as client:
        fake = client.get("/health").json()["sources"]["fake"]
    assert fake["refreshableAt"] > fake["lastSuccessAt"]


def test_a_database_outage_is_503_without_internals(
    database_url, plugin_manager, fake_crm, tmp_path
) -> None:
    environ = {
        "SUPPORTHUB_DATABASE_URL": database_url,
        "SUPPORTHUB_FAKE_URL": str(fake_crm.path),
        "SUPPORTHUB_FAKE_TOKEN": "fake-secret-token-123",
    }
    folder = tmp_path / "gone"
    folder.mkdir()
    if database_url.startswith("sqlite"):
        environ["SUPPORTHUB_DATABASE_URL"] = f"sqlite:///{folder / 'hub.db'}"
    else:
        environ["SUPPORTHUB_DATABASE_URL"] = "mysql+pymysql://root:pw-9f3k@127.0.0.1:1/nowhere"
    hub = supporthub.Hub.from_env(environ, plugins=plugin_manager)
    folder.rmdir()  # SQLite: the database file can no longer be created or opened
    try:
        with TestClient(create_app(hub, scheduler=False)) as client:
            health = client.get("/health")
            assert health.status_code == 503
            assert health.json()["database"] == "unavailable"
            assert health.json()["sources"]["fake"]["lastSuccessAt"] is None
            for method, path in [
                ("GET", "/get-all"),
                ("GET", "/search?provider=acme"),
                ("GET", "/get-all?limit=2&cursor=abc.def"),
                ("GET", "/aggregated-cases/" + "0" * 32),
                ("GET", "/refresh"),
                ("POST", "/refresh"),
            ]:
                answer = client.request(method, path)
                assert answer.status_code == 503, (path, answer.text)
                assert answer.json() == {"error": "the database is unavailable; try again later"}
            metrics = client.get("/metrics")
            assert metrics.status_code == 200
            assert "supporthub_database_up 0.0" in metrics.text
    finally:
        hub.close()
