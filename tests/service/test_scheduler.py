"""The scheduled refresh inside ``supporthub serve`` (contract §4, §5)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from starlette.testclient import TestClient

from supporthub.service import create_app
from supporthub.service._scheduler import Scheduler


def refresh_runs(hub: Any) -> list[dict[str, Any]]:
    """The report of every refresh that ran on the hub's database."""
    with hub.store.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT report FROM refresh_runs").scalars().all()
    return [json.loads(row) for row in rows]


def test_at_start_never_fetched_data_is_refreshed_at_once(make_hub, fake_crm) -> None:
    fake_crm.put("1", provider="Acme")
    hub = make_hub()
    scheduler = Scheduler(hub)
    assert scheduler.step() == pytest.approx(1.0)  # refreshed, looks again in a moment
    assert hub.all().total == 1
    wait = scheduler.step()  # fresh now: sleeps (capped, to notice other processes)
    assert wait == pytest.approx(300, abs=1)


def test_stale_data_is_refreshed_fresh_data_waits_for_the_interval(make_hub, fake_crm) -> None:
    fake_crm.put("1", provider="Acme")
    hub = make_hub(SUPPORTHUB_REFRESH_INTERVAL_HOURS="0.01")  # 36 s
    hub.refresh(force=True)
    scheduler = Scheduler(hub)
    assert 30 < scheduler.step() <= 36
    stale = make_hub(SUPPORTHUB_REFRESH_INTERVAL_HOURS="0.01")
    stale.clock = lambda: hub.clock() + dt.timedelta(seconds=40)
    assert Scheduler(stale).step() == pytest.approx(1.0)
    assert sorted(r["trigger"] for r in refresh_runs(hub)) == ["forced", "scheduled"]


def test_processes_sharing_a_database_refresh_once_per_interval(make_hub, fake_crm) -> None:
    for n in range(6):
        fake_crm.put(str(n), provider="Acme")
    hubs = [make_hub(SUPPORTHUB_FAKE_DELAY="0.1") for _ in range(3)]
    hubs[0].upgrade_db()
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda hub: Scheduler(hub).step(), hubs))
    fetching = [r for r in refresh_runs(hubs[0]) if r["sources"]["fake"].get("due", True)]
    assert len(fetching) == 1


def test_a_failure_is_logged_and_tried_again_next_period(make_hub, fake_crm, caplog) -> None:
    hub = make_hub(SUPPORTHUB_REFRESH_INTERVAL_HOURS="0.5")

    def broken() -> None:
        raise RuntimeError("the database went away")

    hub.next_scheduled_refresh = broken
    with caplog.at_level(logging.ERROR, logger="supporthub.scheduler"):
        assert Scheduler(hub).step() == 1800
    assert "the scheduled refresh failed; trying again in 1800 s" in caplog.text


def test_the_thread_keeps_refreshing_and_stops_cleanly(make_hub, fake_crm) -> None:
    fake_crm.put("1", provider="Acme")
    hub = make_hub(SUPPORTHUB_REFRESH_INTERVAL_HOURS="0.0004")  # 1.44 s
    scheduler = Scheduler(hub)
    scheduler.start()
    try:
        deadline = time.monotonic() + 15
        while hub.health().sources["fake"].last_success_at is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        first = hub.health().sources["fake"].last_success_at
        while hub.health().sources["fake"].last_success_at == first:
            assert time.monotonic() < deadline, "no second scheduled refresh"
            time.sleep(0.05)
    finally:
        started = time.monotonic()
        scheduler.stop()
    assert time.monotonic() - started < 5
    assert not any(t.name == "supporthub-scheduler" and t.is_alive() for t in threading.enumerate())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("setting", "runs"), [("off", False), ("on", True)])
def test_the_app_runs_the_scheduler_unless_switched_off(make_hub, setting, runs) -> None:
    hub = make_hub(SUPPORTHUB_SCHEDULER=setting)

    def scheduler_alive() -> bool:
        return any(t.name == "supporthub-scheduler" and t.is_alive() for t in threading.enumerate())

    with TestClient(create_app(hub)):
        assert scheduler_alive() is runs
    assert not scheduler_alive()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_app_renews_its_kept_answers_while_it_runs(make_hub) -> None:
    hub = make_hub(SUPPORTHUB_SCHEDULER="off")

    def renewer_alive() -> bool:
        return any(
            t.name == "supporthub-answer-renewal" and t.is_alive() for t in threading.enumerate()
        )

    with TestClient(create_app(hub)):
        assert renewer_alive()
    assert not renewer_alive()
