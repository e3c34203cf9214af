"""A primary and an asynchronous read replica: list views on the replica, writes on the primary."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from galera import PlainNode, primary_and_replica

import supporthub


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[PlainNode, PlainNode]]:
    with primary_and_replica() as nodes:
        yield nodes


def wait_for(check: Any, timeout: float = 30.0) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout
        time.sleep(0.05)
    return time.monotonic() - started


def test_list_views_on_the_replica_read_your_writes_on_the_primary(
    pair: tuple[PlainNode, PlainNode], plugin_manager: Any, fake_crm: Any
):
    primary, replica = pair
    primary.sql("CREATE DATABASE hub CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    environ = {
        "SUPPORTHUB_DATABASE_URL": primary.url("hub"),
        "SUPPORTHUB_READ_DATABASE_URL": replica.url("hub"),
        "SUPPORTHUB_FAKE_URL": str(fake_crm.path),
        "SUPPORTHUB_FAKE_TOKEN": "fake-secret-token-123",
        "SUPPORTHUB_MIN_REFRESH_AGE_MINUTES": "0",
    }
    for i in range(20):
        fake_crm.put(str(i), provider=f"Acme {i % 4}", error_code="E-1")
    hub = supporthub.Hub.from_env(environ, plugins=plugin_manager)
    try:
        hub.upgrade_db()
        assert hub.refresh(force=True).ok
        lag = wait_for(lambda: replica_total(hub) == 4)
        # The replica stops applying: it lags behind the primary from now on.
        replica.sql("STOP SLAVE SQL_THREAD")
        for i in range(20, 30):
            fake_crm.put(str(i), provider="Globex", error_code="E-2")
        assert hub.refresh(force=True).ok
        # Right after its own write, this process answers from the primary.
        assert hub.all().total == 5
        # After the window, from the (lagging) replica: the list views use it.
        hub.store.read_your_writes_seconds = 0
        assert hub.all().total == 4
        # Counts, like refresh decisions, read the primary.
        assert hub.counts().cases == {"fake": 30}
        replica.sql("START SLAVE SQL_THREAD")
        caught_up = wait_for(lambda: hub.all().total == 5)
        print(f"replica: first refresh visible after {lag:.2f} s; caught up in {caught_up:.2f} s")
    finally:
        hub.close()


def replica_total(hub: supporthub.Hub) -> int | None:
    hub.store.read_your_writes_seconds = 0
    try:
        return hub.all().total
    except supporthub.StorageError:
        return None  # the schema has not reached the replica yet
    finally:
        hub.store.read_your_writes_seconds = 10.0
