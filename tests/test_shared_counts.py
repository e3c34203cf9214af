"""Listing totals: counted once per data version, shared by every process on MariaDB."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

import supporthub
from supporthub import Status
from supporthub.store.shared_counts import SharedCounts, digest


def fill(fake_crm: Any) -> None:
    for n in range(6):
        for member in range(n % 3 + 1):
            status = "open" if n % 2 else "closed"
            fake_crm.put(f"{n}-{member}", provider=f"Prov {n}", error_code="1", status=status)


@contextmanager
def counts_run(hub: supporthub.Hub) -> Iterator[list[str]]:
    """The listing totals ``hub``'s store counts in the block."""
    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().lower().startswith("select count(*)"):
            seen.append(statement)

    engine = hub.store.engine  # type: ignore[attr-defined]
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def test_a_total_counted_by_one_process_is_read_by_another_on_mariadb(
    make_hub: Any, fake_crm: Any
) -> None:
    fill(fake_crm)
    first, second = make_hub(), make_hub()  # two processes' stores on one database
    first.refresh(force=True)
    counted = first.search(status="open", limit=1).total
    assert counted == 3
    shared = second.store.counts.shared is not None  # type: ignore[attr-defined]
    assert shared is (not second.store.engine.url.drivername.startswith("sqlite"))  # type: ignore[attr-defined]
    with counts_run(second) as seen:
        assert second.search(status="open", limit=1).total == counted
    # MariaDB: the second process read the first one's total; SQLite counts in each.
    assert len(seen) == (0 if shared else 1)

    # A refresh makes new tokens: the shared total of the old ones is never read again.
    fake_crm.put("new-1", provider="Prov New", error_code="1", status="open")
    first.refresh(force=True)
    with counts_run(second) as seen:
        assert second.search(status="open", limit=1).total == counted + 1
    assert len(seen) == 1


def test_claiming_changes_the_totals_of_work_filters_only(make_hub: Any, fake_crm: Any) -> None:
    fill(fake_crm)
    hub = make_hub()
    hub.refresh(force=True)
    assert hub.search(status="open", limit=1).total == 3
    assert hub.search(owner="none", limit=1).total == 6
    target = hub.search(status="open", limit=1).aggregated_cases[0].id
    hub.claim(target, by="alice")
    with counts_run(hub) as seen:
        assert hub.search(status="open", limit=1).total == 3  # kept: no work filter
        assert hub.search(owner="none", limit=1).total == 5  # counted again
        assert hub.search(owner="alice", limit=1).total == 1
    assert len(seen) == 2


@pytest.fixture
def mariadb_url(mariadb_databases: Any) -> str:
    url: str = mariadb_databases.create()
    supporthub.Hub.from_env({"SUPPORTHUB_DATABASE_URL": url}).upgrade_db()
    return url


@pytest.mark.mariadb
def test_shared_totals_are_kept_by_digest_and_pruned_by_age(mariadb_url: str) -> None:
    engine = sa.create_engine(mariadb_url, isolation_level="AUTOCOMMIT")
    shared = SharedCounts(engine)
    key = (("acme",), (), (), (), (), (), ()), "data-1", None
    assert shared.get(key) is None
    shared.put(key, 41)
    shared.put(key, 99)  # the same tokens cannot count differently: the first stays
    assert shared.get(key) == 41
    assert shared.get((key[0], "data-2", None)) is None
    # Another process (its own string hashes) makes the same digest of the same filters.
    code = (
        "from supporthub import Status; from supporthub.store.shared_counts import digest; "
        "print(digest(((('acme',), (), (Status.OPEN,)), 'd', None)).hex())"
    )
    for seed in ("1", "2"):
        other = subprocess.run(
            [sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert other.stdout.strip() == digest(((("acme",), (), (Status.OPEN,)), "d", None)).hex()
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE listing_counts SET counted_at = counted_at - INTERVAL 2 HOUR"
        )
    for n in range(300):  # a prune comes with every 256th total written
        shared.put(("other", n), n)
    assert shared.get(key) is None
    assert shared.get(("other", 299)) == 299
    shared.clear()
    assert shared.get(("other", 299)) is None
    engine.dispose()


@pytest.mark.mariadb
def test_a_failing_shared_store_only_means_counting_again(
    mariadb_url: str, make_hub: Any, fake_crm: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fill(fake_crm)
    hub = make_hub(SUPPORTHUB_DATABASE_URL=mariadb_url)
    hub.refresh(force=True)
    with hub.store.engine.begin() as connection:  # type: ignore[attr-defined]
        connection.exec_driver_sql("DROP TABLE listing_counts")
    with caplog.at_level(logging.WARNING, logger="supporthub.store"):
        assert hub.search(status="open", limit=1).total == 3
        assert hub.search(status="closed", limit=1).total == 3
    told = [r for r in caplog.records if "not shared" in r.getMessage()]
    assert len(told) == 1
    assert "listing_counts" in told[0].getMessage()
