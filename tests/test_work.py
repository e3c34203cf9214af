"""Working an aggregated case (contract §7) through the library, on SQLite and MariaDB.

Fields and their defaults, the lifecycle that moves with time, regressions
on the refresh that brings them, changes and claims with every bad value
refused, history, the §7 filters, and work that follows a merge.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import supporthub
from supporthub import ClaimConflict, InvalidQuery, Lifecycle, NotFound, WorkState

START = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


class Clock:
    """A hub clock the test moves by hand."""

    def __init__(self, now: dt.datetime = START) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def by_key(hub: supporthub.Hub) -> dict[tuple[str | None, str | None], supporthub.AggregatedCase]:
    return {(a.provider_key, a.error_code): a for a in hub.all().aggregated_cases}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hub(make_hub, fake_crm, clock) -> supporthub.Hub:
    # Created at 11:00 and 11:30 on the 20th (recent at START), and a month earlier.
    fake_crm.put("1", provider="Acme", error_code="1", created_at="2026-11-20T11:00:00Z")
    fake_crm.put("2", provider="ACME", error_code="E-1", created_at="2026-11-20T11:30:00Z")
    fake_crm.put("3", provider="Acme", error_code="1", created_at="2026-10-20T11:00:00Z")
    fake_crm.put("4", provider="Globex", error_code="2", status="closed")
    fake_crm.put("5", provider="Initech", error_code="3")
    made = make_hub(clock=clock)
    assert made.refresh(force=True).ok
    return made


def ids(hub: supporthub.Hub) -> dict[str, str]:
    return {key[0]: a.id for key, a in by_key(hub).items() if key[0] is not None}


def work_view(hub: supporthub.Hub) -> dict[str, tuple[Any, ...]]:
    """Every §7 field that only a change or a regression may move, with the history."""
    return {
        a.id: (a.owner, a.state, a.tracker_url, a.note, a.first_seen_at, hub.history(a.id))
        for a in hub.all().aggregated_cases
    }


def test_every_aggregated_case_carries_the_fields_with_their_defaults(hub, clock) -> None:
    acme = by_key(hub)[("acme", "1")]
    assert (acme.owner, acme.state, acme.tracker_url, acme.note) == (
        None,
        WorkState.UNTRIAGED,
        None,
        None,
    )
    # First seen when the hub stored it (the refresh), not the CRM's createdAt.
    assert acme.first_seen_at == START
    assert acme.recent_case_count == 2  # the month-old case does not count
    assert acme.lifecycle is Lifecycle.NEW
    got = hub.get(acme.id)
    assert (got.recent_case_count, got.lifecycle, got.first_seen_at) == (2, Lifecycle.NEW, START)
    page = hub.search(provider="acme", limit=1, cases_limit=0)
    assert page.aggregated_cases[0].recent_case_count == 2


def test_recent_cases_and_new_move_with_time_not_with_refreshes(hub, clock, fake_crm) -> None:
    acme_id = ids(hub)["acme"]
    assert hub.refresh(force=True).ok  # a refresh that changes nothing keeps "new"
    assert {a.lifecycle for a in hub.all().aggregated_cases} == {Lifecycle.NEW}
    clock.advance(hours=23, minutes=30)
    # 11:00 + 24 h has passed; 11:30 + 24 h not yet.
    assert hub.get(acme_id).recent_case_count == 1
    assert hub.get(acme_id).lifecycle is Lifecycle.NEW
    assert hub.search(lifecycle="new").total == 3
    clock.advance(hours=1)
    assert hub.get(acme_id).recent_case_count == 0
    assert hub.get(acme_id).lifecycle is None
    assert hub.search(lifecycle="NEW").total == 0
    fake_crm.put("6", provider="Umbrella", error_code="9")
    assert hub.refresh(force=True).ok
    assert [a.provider for a in hub.search(lifecycle="new").aggregated_cases] == ["Umbrella"]


def test_a_refresh_that_changes_nothing_changes_no_work(hub, fake_crm, clock) -> None:
    acme_id, globex_id = ids(hub)["acme"], ids(hub)["globex"]
    hub.claim(acme_id, by="alice")
    hub.update_work(
        acme_id, by="alice", state="investigating", tracker_url="https://bugs/1", note="on it"
    )
    hub.update_work(globex_id, by="bob", state=WorkState.FIXED)
    before = work_view(hub)
    clock.advance(minutes=5)
    assert hub.refresh(force=True).ok
    assert work_view(hub) == before
    # A change to another aggregated case's cases leaves these alone too,
    # and so does an update of an open case that was open already.
    fake_crm.put("5", subject="more words")
    fake_crm.put("1", subject="also more words")
    clock.advance(minutes=5)
    assert hub.refresh(force=True, full=True).ok
    assert work_view(hub) == before


@pytest.mark.parametrize("how", ["new case", "reopened case"])
def test_a_fixed_aggregated_case_regresses_on_the_refresh_that_brings_an_open_case(
    hub, fake_crm, clock, how
) -> None:
    globex_id = ids(hub)["globex"]
    hub.update_work(globex_id, by="bob", state="fixed", note="deployed 1.2")
    clock.advance(days=3)
    if how == "new case":
        fake_crm.put("7", provider="Globex", error_code="E-2")
    else:
        fake_crm.put("4", status="open")
    assert hub.refresh(force=True).ok
    globex = hub.get(globex_id)
    assert globex.state is WorkState.REGRESSED
    assert globex.lifecycle is Lifecycle.REGRESSED
    latest = hub.history(globex_id)[0]
    assert latest.by == "supporthub" and latest.at == clock.now
    assert [(c.field, c.before, c.after) for c in latest.changes] == [
        ("state", "fixed", "regressed")
    ]
    assert [a.id for a in hub.search(lifecycle="regressed").aggregated_cases] == [globex_id]
    assert hub.search(state="REGRESSED").total == 1
    # The next refresh brings nothing: it stays regressed, no new entry.
    assert hub.refresh(force=True).ok
    assert len(hub.history(globex_id)) == 2


def test_only_fixed_ones_regress(hub, fake_crm) -> None:
    acme_id = ids(hub)["acme"]
    hub.update_work(acme_id, by="bob", state="ignored")
    fake_crm.put("8", provider="Acme", error_code="1")
    assert hub.refresh(force=True).ok
    assert hub.get(acme_id).state is WorkState.IGNORED
    assert len(hub.history(acme_id)) == 1


def test_changes_are_kept_in_history_newest_first(hub, clock) -> None:
    acme_id = ids(hub)["acme"]
    hub.update_work(acme_id, by="alice", owner="carol", note="carol knows Acme")
    clock.advance(minutes=1)
    got = hub.update_work(acme_id, by="carol", tracker_url="https://bugs.example/T-9")
    # The note stays until changed or cleared.
    assert (got.owner, got.tracker_url, got.note) == (
        "carol",
        "https://bugs.example/T-9",
        "carol knows Acme",
    )
    # A note is a field: null clears it.
    clock.advance(minutes=1)
    hub.update_work(acme_id, by="carol", owner=None, note=None, tracker_url=None)
    entries = hub.history(acme_id)
    assert [e.by for e in entries] == ["carol", "carol", "alice"]
    assert entries[0].at > entries[1].at > entries[2].at
    assert {(c.field, c.before, c.after) for c in entries[2].changes} == {
        ("owner", None, "carol"),
        ("note", None, "carol knows Acme"),
    }
    assert entries[2].note == "carol knows Acme"
    assert [(c.field, c.after) for c in entries[1].changes] == [
        ("trackerUrl", "https://bugs.example/T-9")
    ]
    assert {c.field for c in entries[0].changes} == {"owner", "trackerUrl", "note"}
    assert entries[0].aggregated_case_id == acme_id
    # A change that changes nothing adds nothing.
    hub.update_work(acme_id, by="carol", owner=None)
    assert len(hub.history(acme_id)) == 3
    with pytest.raises(NotFound):
        hub.history("nope")


BAD_CHANGES: list[tuple[dict[str, Any], str]] = [
    ({"owner": "x" * 201}, "owner is longer than 200"),
    ({"owner": "none"}, "owner cannot be 'none'"),
    ({"owner": " None "}, "owner cannot be 'none'"),
    ({"owner": ""}, "owner is blank"),
    ({"owner": 5}, "owner must be a string"),
    ({"state": "done"}, "state must be one of"),
    ({"state": None}, "state cannot be null"),
    ({"state": ["fixed"]}, "state must be a string"),
    ({"tracker_url": "javascript:alert(1)"}, "http(s) link"),
    ({"tracker_url": "ftp://bugs/1"}, "http(s) link"),
    ({"tracker_url": "https://"}, "http(s) link"),
    ({"tracker_url": 3}, "trackerUrl must be a string"),
    ({"note": "x" * 4001}, "note is longer"),
    ({"note": {"a": 1}}, "note must be a string"),
    ({"claim": None}, "claim must be true or false"),
    ({"claim": "yes"}, "claim must be true or false"),
    ({"claim": True, "owner": "alice"}, "either claim or owner"),
    ({"by": None, "state": "fixed"}, "by cannot be null"),
    ({"by": " ", "state": "fixed"}, "by is blank"),
    ({"by": 7, "state": "fixed"}, "by must be a string"),
]


@pytest.mark.parametrize(("change", "words"), BAD_CHANGES)
def test_a_bad_value_is_refused_in_words_and_changes_nothing(hub, change, words) -> None:
    acme_id = ids(hub)["acme"]
    hub.update_work(acme_id, by="alice", owner="alice", state="investigating")
    before = work_view(hub)
    change = {"by": "alice", "state": "fixed", **change}
    with pytest.raises(InvalidQuery, match=words.replace("(", r"\(").replace(")", r"\)")):
        hub.update_work(acme_id, **change)
    assert work_view(hub) == before
    with pytest.raises(NotFound):
        hub.update_work("nope", by="alice", state="fixed")


def test_a_claim_wins_once_and_names_the_owner_to_the_loser(hub) -> None:
    acme_id = ids(hub)["acme"]
    assert hub.claim(acme_id, by="alice").owner == "alice"
    assert hub.claim(acme_id, by="alice").owner == "alice"  # already hers: fine
    before = work_view(hub)
    with pytest.raises(ClaimConflict, match="alice owns") as lost:
        hub.claim(acme_id, by="bob", note="mine now")
    assert lost.value.owner == "alice"
    assert work_view(hub) == before
    hub.update_work(acme_id, by="alice", owner=None)  # released
    assert hub.claim(acme_id, by="bob").owner == "bob"
    assert [e.by for e in hub.history(acme_id)] == ["bob", "alice", "alice"]


def test_the_search_filters_owner_state_and_lifecycle(hub) -> None:
    found = ids(hub)
    hub.claim(found["acme"], by="alice")
    hub.update_work(found["globex"], by="bob", owner="bob", state="investigating")
    hub.update_work(found["initech"], by="bob", state="investigating")

    def names(**filters: Any) -> list[str | None]:
        return sorted(a.provider_key or "" for a in hub.search(**filters).aggregated_cases)

    assert names(owner="alice") == ["acme"]
    assert names(owner="Alice") == []  # exact
    assert names(owner=["alice", "bob"]) == ["acme", "globex"]
    assert names(owner="none") == ["initech"]
    assert names(owner=["none", "bob"]) == ["globex", "initech"]
    assert names(state="Investigating") == ["globex", "initech"]
    assert names(state="untriaged") == ["acme"]
    assert names(owner="none", state="investigating") == ["initech"]
    assert names(state=["untriaged", "fixed"], lifecycle="new") == ["acme"]
    assert hub.search(owner="none", state="investigating", limit=1).total == 1
    for bad in ({"state": "done"}, {"lifecycle": "old"}, {"owner": ""}, {"owner": "x" * 201}):
        with pytest.raises(InvalidQuery):
            hub.search(**bad)
    counts = hub.counts()
    assert counts.unowned_open_aggregated_cases == 1  # initech (globex's case is closed)


def test_merged_aggregated_cases_keep_every_owner_note_and_history_entry(hub, clock) -> None:
    found = ids(hub)
    acme, globex, initech = found["acme"], found["globex"], found["initech"]
    hub.claim(acme, by="alice", note="alice's note")
    hub.update_work(acme, by="alice", state="fixed", tracker_url="https://bugs/acme")
    hub.claim(globex, by="bob")
    hub.update_work(globex, by="bob", state="investigating", note="bob's note")
    clock.advance(minutes=5)
    hub.merge(acme, globex, by="ops", reason="same outage")
    merged = hub.get(globex)
    # The aggregated case that took over keeps its owner and note; the most
    # urgent state wins; it takes the tracker link it lacked.
    assert (merged.owner, merged.state, merged.tracker_url, merged.note) == (
        "bob",
        WorkState.INVESTIGATING,
        "https://bugs/acme",
        "bob's note",
    )
    entries = hub.history(globex)
    merge_entry = entries[0]
    assert merge_entry.by == "supporthub" and merge_entry.at == clock.now
    assert ("mergedFrom", acme, globex) in {
        (c.field, c.before, c.after) for c in merge_entry.changes
    }
    assert "alice" in (merge_entry.note or "") and "fixed" in (merge_entry.note or "")
    # Every entry of both parts is there, each naming where it was made.
    assert sorted(e.aggregated_case_id for e in entries[1:]) == sorted([acme, acme, globex, globex])
    notes = {e.note for e in entries}
    assert {"alice's note", "bob's note"} <= notes
    # An aggregated case with no work of its own takes the part's work whole.
    hub.merge(globex, initech, by="ops", reason="all one")
    assert hub.get(initech).owner == "bob"
    assert len(hub.history(initech)) == len(entries) + 1


def test_carry_work_is_one_call_for_other_id_mappings(hub) -> None:
    found = ids(hub)
    hub.claim(found["acme"], by="alice")
    hub.update_work(found["acme"], by="alice", state="fixed")
    hub.carry_work([found["acme"]], found["initech"])
    initech = hub.get(found["initech"])
    assert (initech.owner, initech.state) == ("alice", WorkState.FIXED)
    assert hub.get(found["acme"]).owner is None  # its work moved
    hub.carry_work([found["initech"]], found["initech"])  # itself: nothing
    assert len(hub.history(found["initech"])) == 3


_CLAIMER = textwrap.dedent(
    """
    import json, sys, time
    import supporthub
    url, start, ids, who = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
    hub = supporthub.Hub.from_env({"SUPPORTHUB_DATABASE_URL": url})
    hub.counts()  # connected and ready before the start
    time.sleep(max(0.0, start - time.time()))
    won = []
    for agg_id in ids:
        try:
            hub.claim(agg_id, by=who)
            won.append(agg_id)
        except supporthub.ClaimConflict as lost:
            assert lost.owner != who
    print(json.dumps(won))
    """
)


def test_two_processes_claiming_at_once_never_both_win(hub, database_url, tmp_path: Path) -> None:
    targets = list(ids(hub).values())
    script = tmp_path / "claimer.py"
    script.write_text(_CLAIMER)
    start = time.time() + 3
    runs = [
        subprocess.Popen(
            [sys.executable, str(script), database_url, str(start), json.dumps(targets), who],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("alice", "bob")
    ]
    results = []
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
        results.append(set(json.loads(out)))
    alice, bob = results
    assert not alice & bob
    assert alice | bob == set(targets)
    for agg_id in targets:
        owner = hub.get(agg_id).owner
        assert owner == ("alice" if agg_id in alice else "bob")
        assert len(hub.history(agg_id)) == 1


def test_sorts_and_their_cursors(hub) -> None:
    found = ids(hub)
    acme, globex, initech = found["acme"], found["globex"], found["initech"]
    others = sorted([globex, initech])
    expected = {
        "recentCases": [acme, *others],  # 2 recent against 1 and 1
        "caseCount": [acme, *others],
        "lastUpdated": [initech, globex, acme],
    }
    for sort, order in expected.items():
        assert [a.id for a in hub.all(sort=sort).aggregated_cases] == order, sort
        walked, cursor = [], None
        while True:
            page = hub.search(sort=sort, limit=1, cursor=cursor, cases_limit=0)
            walked += [a.id for a in page.aggregated_cases]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert walked == order, sort
    first = hub.all(sort="caseCount", limit=1)
    with pytest.raises(InvalidQuery, match="another sort"):
        hub.all(sort="lastUpdated", limit=1, cursor=first.next_cursor)
    with pytest.raises(InvalidQuery, match="another sort"):
        hub.all(limit=1, cursor=first.next_cursor)
    with pytest.raises(InvalidQuery, match="sort must be one of"):
        hub.all(sort="size")
    assert [a.id for a in hub.search(sort="recentCases", owner="none").aggregated_cases] == [
        acme,
        *others,
    ]


def test_the_trend_counts_cases_per_day_over_14_days(hub, fake_crm, clock) -> None:
    acme_id = ids(hub)["acme"]
    fake_crm.put("9", provider="Acme", error_code="1", created_at="2026-11-08T23:59:59Z")
    fake_crm.put("10", provider="Acme", error_code="1", created_at="2026-11-07T23:59:59Z")
    assert hub.refresh(force=True).ok
    trend = hub.trend(acme_id)
    assert len(trend) == 14
    assert trend[0] == (dt.date(2026, 11, 7), 1) and trend[1] == (dt.date(2026, 11, 8), 1)
    assert trend[-1] == (dt.date(2026, 11, 20), 2)
    assert sum(n for _, n in trend) == 4  # the month-old case is outside
    clock.advance(days=1)
    assert hub.trend(acme_id)[0] == (dt.date(2026, 11, 8), 1)
    with pytest.raises(NotFound):
        hub.trend("nope")
