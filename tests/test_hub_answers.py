"""What the library gives the service: paging, one aggregated case as JSON, counts, logs."""

from __future__ import annotations

import pytest

from supporthub import InvalidQuery


def fill(fake_crm, groups: int = 9) -> None:
    for n in range(groups):
        for member in range(n % 4 + 1):
            fake_crm.put(f"{n}-{member}", provider=f"P{n}", error_code="1", status=(
                "open" if n % 3 else "closed"
            ))  # fmt: skip


def test_a_paging_walk_returns_every_aggregated_case_once(make_hub, fake_crm) -> None:
    fill(fake_crm)
    hub = make_hub()
    hub.refresh(force=True)
    everything = [a.id for a in hub.all().aggregated_cases]
    for limit in (1, 2, 5):
        walked, cursor = [], None
        while True:
            page = hub.all(limit=limit, cursor=cursor)
            walked += [a.id for a in page.aggregated_cases]
            if (cursor := page.next_cursor) is None:
                break
        assert walked == everything
    open_only = [a.id for a in hub.search(status="open").aggregated_cases]
    first = hub.search(status="open", limit=2)
    rest = hub.search(status="open", cursor=first.next_cursor)
    assert [a.id for a in first.aggregated_cases + rest.aggregated_cases] == open_only


def test_a_cursor_must_be_exactly_what_the_hub_wrote(make_hub, fake_crm) -> None:
    fill(fake_crm)
    hub = make_hub()
    hub.refresh(force=True)
    cursor = hub.all(limit=1).next_cursor
    assert cursor is not None
    body, _, signature = cursor.partition(".")
    # The last base64 character of the 16-byte signature carries 2 spare bits.
    spare = {"A": "B", "Q": "R", "g": "h", "w": "x"}.get(signature[-1], "B")
    for forged in (
        f"{body}.{signature[:-1]}{spare}",
        f"{body}!.{signature}",
        f"{body}.{signature}=",
        f" {cursor}",
    ):
        with pytest.raises(InvalidQuery, match="cursor"):
            hub.all(cursor=forged)
    assert hub.all(cursor=cursor).aggregated_cases
