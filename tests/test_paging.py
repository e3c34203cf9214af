"""Paging through the listing with cursors, and listings longer than one read chunk."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

import supporthub


def test_cursor_pages_and_long_listings_cover_every_aggregated_case(make_hub, fake_crm) -> None:
    # 620 aggregated cases, open and closed, of several sizes: more than one
    # chunk of the unpaged listing (500) and both sides of the open/closed
    # boundary for the cursor.
    for i in range(700):
        group = i if i < 600 else i % 20
        fake_crm.records[str(i)] = {
            "id": str(i),
            "provider": f"Provider {group}",
            "error_code": "1",
            "status": "open" if group % 3 == 0 else "closed",
            "updated_at": "2026-11-20T10:00:00Z",
        }
    fake_crm.save()
    hub = make_hub()
    assert hub.refresh(force=True).ok

    everything = hub.all(cases_limit=0)
    assert everything.count == everything.total == 600
    walked: list[supporthub.AggregatedCase] = []
    cursor = None
    while True:
        page = hub.all(limit=70, cursor=cursor, cases_limit=0)
        walked.extend(page.aggregated_cases)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert walked == list(everything.aggregated_cases)
    statuses = [a.status for a in walked]
    assert statuses == sorted(statuses, key=lambda s: s is not supporthub.Status.OPEN)
    assert len(set(statuses)) == 2


def test_later_pages_reuse_the_total_until_the_data_or_the_work_changes(make_hub, fake_crm) -> None:
    for i in range(30):
        fake_crm.put(str(i), provider=f"Provider {i}", error_code="1")
    hub = make_hub()
    assert hub.refresh(force=True).ok
    counted: list[str] = []

    @sa.event.listens_for(hub.store.engine, "before_cursor_execute")
    def keep(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        # Filtered counts only: how many there are in all is kept too (MariaDB
        # reads it to choose between walking the order index and sorting).
        counts = "count(*)" in statement.lower() and "FROM aggregated_cases" in statement
        if counts and "WHERE" in statement:
            counted.append(statement)

    first = hub.search(owner="none", limit=10, cases_limit=0)
    second = hub.search(owner="none", limit=10, cursor=first.next_cursor, cases_limit=0)
    assert first.total == second.total == 30
    assert len(counted) == 1  # the second page, another question, kept the total
    hub.claim(first.aggregated_cases[0].id, by="ana")  # a new work version
    assert hub.search(owner="none", limit=10, cases_limit=0).total == 29
    fake_crm.put("30", provider="Provider 30", error_code="1")
    assert hub.refresh(force=True).ok  # a new data version
    assert hub.search(owner="none", limit=10, cases_limit=0).total == 30
    assert len(counted) == 3
