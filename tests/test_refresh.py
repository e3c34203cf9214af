"""Refreshes end to end on both databases: the fake CRM → normalization → store."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
import supporthub_fakecrm

import supporthub
from supporthub import RefreshNotDue, Status
from supporthub.ingest.prepare import MembershipChanges, prepare
from supporthub.ingest.regroup import apply_aggregate_changes
from supporthub.ingest.spool import SpoolSet
from supporthub.store import writing
from supporthub.store.writing import SqlWriter, SyncTracker


def dump(hub: supporthub.Hub) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the data tables, to compare states exactly."""
    tables = ["cases", "aggregated_cases", "provider_spellings"]
    with hub.store.engine.connect() as connection:
        return {
            t: sorted(tuple(r) for r in connection.execute(sa.text(f"SELECT * FROM {t}")))
            for t in tables
        }


def by_key(hub: supporthub.Hub) -> dict[tuple[str | None, str | None], supporthub.AggregatedCase]:
    return {(a.provider_key, a.error_code): a for a in hub.all().aggregated_cases}


def consistent(hub: supporthub.Hub) -> None:
    """Stored aggregated cases equal a consolidation of the stored cases from scratch."""
    with hub.store.reader() as reader:
        members = [case for _, case in reader.iter_all_cases()]
    expected = supporthub.consolidate(members, hub.pipeline)
    # What moves with time or only with §7 work, which consolidation knows nothing of.
    lifecycle = {"first_seen_at": None, "lifecycle": None, "recent_case_count": 0}
    found = {a.id: attrs.evolve(a, **lifecycle) for a in hub.all().aggregated_cases}
    assert found == expected


NOW = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)


class OtherAdapter(supporthub_fakecrm.FakeAdapter):
    name = "other"
    title = "Other CRM"


class OtherPlugin:
    @supporthub.hookimpl
    def register_adapters(self, register: Any) -> None:
        register(OtherAdapter)


@pytest.fixture(autouse=True)
def _reset_cursors() -> None:
    supporthub_fakecrm.FakeAdapter.cursors = []
    OtherAdapter.cursors = []


def test_spelling_variants_from_two_sources_land_in_one(
    make_hub, fake_crm, plugin_manager, tmp_path
) -> None:
    plugin_manager.register(OtherPlugin(), name="other")
    other = type(fake_crm)(tmp_path / "other.json")
    fake_crm.put("b1", provider="Acme Payments, Inc.", error_code="E-1042")
    other.put("s1", provider="ACME PAYMENTS", error_code=" 1042 ")
    other.put("s2", provider="Globex", error_code="1042")
    hub = make_hub(SUPPORTHUB_OTHER_URL=str(other.path), SUPPORTHUB_OTHER_TOKEN="t0ken-other")
    report = hub.refresh(force=True)
    assert report.ok and set(report.sources) == {"fake", "other"}
    groups = by_key(hub)
    acme = groups[("acme payments", "1042")]
    assert acme.case_count == 2
    assert {(c.source, c.source_id) for c in acme.cases} == {("fake", "b1"), ("other", "s1")}
    assert groups[("globex", "1042")].case_count == 1
    plugin_manager.unregister(name="other")


def test_nulls_form_their_own_aggregated_cases(make_hub, fake_crm) -> None:
    fake_crm.put("1", provider=None, error_code=None)
    fake_crm.put("2", provider="  ", error_code="E-")
    fake_crm.put("3", provider="Acme", error_code=None)
    fake_crm.put("4", provider=None, error_code="1042")
    hub = make_hub()
    hub.refresh(force=True)
    groups = by_key(hub)
    assert {k: a.case_count for k, a in groups.items()} == {
        (None, None): 2,
        ("acme", None): 1,
        (None, "1042"): 1,
    }
    assert groups[(None, None)].provider is None and groups[(None, None)].error_code is None
    consistent(hub)


def test_ids_stay_stable_and_come_back(make_hub, fake_crm) -> None:
    fake_crm.put("1", provider="Acme", error_code="1")
    fake_crm.put("2", provider="Globex", error_code="2")
    hub = make_hub()
    hub.refresh(force=True)
    before = {k: a.id for k, a in by_key(hub).items()}
    fake_crm.put("3", provider="ACME INC", error_code="E-1")
    fake_crm.delete("2")
    hub.refresh(force=True)
    after = {k: a.id for k, a in by_key(hub).items()}
    assert after == {("acme", "1"): before[("acme", "1")]}
    fake_crm.put("4", provider="globex", error_code="2")  # the key comes back
    hub.refresh(force=True)
    assert by_key(hub)[("globex", "2")].id == before[("globex", "2")]
    consistent(hub)


def test_same_batch_twice_changes_nothing(make_hub, fake_crm) -> None:
    hub = make_hub()
    hub.refresh(force=True)  # creates the schema and the rules version
    cases = [
        supporthub.Case(
            "fake",
            str(i),
            str(i),
            "s",
            Status.OPEN,
            None,
            "Acme",
            "1",
            dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
            dt.datetime(2026, 11, 2, i, tzinfo=dt.UTC),
            None,
        )
        for i in range(5)
    ]
    batch = supporthub.Batch(cases=tuple(cases), tombstones=(supporthub.Tombstone("9"),), fetched=6)
    results = []
    for _ in range(2):
        with hub.store.writer() as writer:
            assert isinstance(writer, SqlWriter)
            from supporthub.grouping.consolidate import AggregateChanges

            changes = AggregateChanges()
            prepared = prepare(batch, "fake", hub.pipeline)
            results.append(
                writer.write_batch(
                    prepared,
                    tracker=SyncTracker("fake"),
                    changes=MembershipChanges(changes, prepared.keys),
                )
            )
            apply_aggregate_changes(writer, changes, hub.pipeline.version, NOW)
        if len(results) == 1:
            first = dump(hub)
    assert results[0].written == 5
    assert results[1].written == 0 and results[1].deleted == 0
    assert dump(hub) == first
    consistent(hub)


def test_an_older_repeat_never_replaces_the_newer_case(make_hub, fake_crm) -> None:
    hub = make_hub()
    hub.refresh(force=True)
    t = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    newer = supporthub.Case("fake", "1", "1", "new", Status.CLOSED, None, "Acme", "1", t, t, None)
    older = supporthub.Case(
        "fake",
        "1",
        "1",
        "old",
        Status.OPEN,
        None,
        "Globex",
        "1",
        t,
        t - dt.timedelta(hours=1),
        None,
    )
    from supporthub.grouping.consolidate import AggregateChanges

    for batch in (
        supporthub.Batch(cases=(newer,)),
        supporthub.Batch(cases=(older,)),
        supporthub.Batch(cases=(older, newer, older)),
    ):
        with hub.store.writer() as writer:
            changes = AggregateChanges()
            prepared = prepare(batch, "fake", hub.pipeline)
            writer.write_batch(
                prepared,
                tracker=SyncTracker("fake"),
                changes=MembershipChanges(changes, prepared.keys),
            )
            apply_aggregate_changes(writer, changes, hub.pipeline.version, NOW)
    (only,) = hub.all().aggregated_cases
    assert only.provider == "Acme" and only.cases[0].subject == "new"
    consistent(hub)


def test_an_adapter_failing_mid_stream_leaves_every_row(
    make_hub, fake_crm, plugin_manager, tmp_path
) -> None:
    plugin_manager.register(OtherPlugin(), name="other")
    other = type(fake_crm)(tmp_path / "other.json")
    for i in range(10):
        fake_crm.put(str(i), provider=f"P{i % 3}", error_code="1")
    other.put("x", provider="Other", error_code="2")
    env = {"SUPPORTHUB_OTHER_URL": str(other.path), "SUPPORTHUB_OTHER_TOKEN": "t0ken-other"}
    hub = make_hub(**env)
    hub.refresh(force=True)
    before = dump(hub)
    for i in range(10):
        fake_crm.put(str(i), provider="Changed", error_code="9")
    fake_crm.delete("3")
    failing = make_hub(SUPPORTHUB_FAKE_FAIL_AFTER="7", **env)
    other.put("y", provider="Other", error_code="2")
    report = failing.refresh(force=True)
    assert not report.sources["fake"].ok
    assert "broke after 7 records" in (report.sources["fake"].error or "")
    assert report.sources["other"].ok and report.sources["other"].written == 1
    after = dump(failing)
    fake_rows = lambda d: [r for r in d["cases"] if r[0] == "fake"]  # noqa: E731
    assert fake_rows(after) == fake_rows(before)  # the failing source kept its cases
    assert len(after["cases"]) == len(before["cases"]) + 1
    health = failing.health().sources["fake"]
    assert health.consecutive_failures == 1 and "broke" in (health.last_error or "")
    consistent(failing)
    plugin_manager.unregister(name="other")


def test_incremental_refresh_asks_only_for_changes_and_touches_only_their_keys(
    make_hub, fake_crm, monkeypatch
) -> None:
    for i in range(30):
        fake_crm.put(str(i), provider=f"Provider {i % 6}", error_code=str(i % 2))
    hub = make_hub()
    first = hub.refresh(force=True)
    assert supporthub_fakecrm.FakeAdapter.cursors == [None]
    assert first.sources["fake"].written == 30
    with hub.store.reader() as reader:
        cursor = reader.states()["fake"].cursor
    before = {a.id: a for a in hub.all().aggregated_cases}

    touched: list[frozenset[str]] = []
    original = supporthub.ingest.refresh.apply_aggregate_changes

    def spy(writer: Any, changes: Any, version: str, now: dt.datetime) -> int:
        touched.append(changes.touched)
        return original(writer, changes, version, now)

    monkeypatch.setattr(supporthub.ingest.refresh, "apply_aggregate_changes", spy)
    fake_crm.put("0", provider="Provider 1")  # moves from (provider 0, 0) to (provider 1, 0)
    fake_crm.put("7", status="closed")  # stays in (provider 1, 1)
    second = hub.refresh(force=True)
    assert supporthub_fakecrm.FakeAdapter.cursors == [None, cursor]
    # inclusive cursor: the boundary record comes again and changes nothing
    assert second.sources["fake"].fetched == 3 and second.sources["fake"].written == 2
    ids = {a.provider_key + "/" + a.error_code: a.id for a in before.values()}
    new_id = supporthub.AggregationKey("provider 1", "0").id  # a key that did not exist
    assert new_id not in before
    assert touched == [frozenset({ids["provider 0/0"], new_id, ids["provider 1/1"]})]
    after = {a.id: a for a in hub.all().aggregated_cases}
    for agg_id in set(before) - touched[0]:  # untouched: nothing changes
        assert after[agg_id] == before[agg_id]
    consistent(hub)


def test_tombstones_remove_cases(make_hub, fake_crm) -> None:
    fake_crm.put("1", provider="Acme", error_code="1")
    fake_crm.put("2", provider="Acme", error_code="1")
    hub = make_hub()
    hub.refresh(force=True)
    fake_crm.delete("1")
    report = hub.refresh(force=True)
    assert report.sources["fake"].deleted == 1
    (only,) = hub.all().aggregated_cases
    assert [c.source_id for c in only.cases] == ["2"]
    fake_crm.delete("2")
    hub.refresh(force=True)
    assert hub.all().aggregated_cases == ()
    consistent(hub)


def test_full_resync_removes_cases_the_crm_no_longer_lists(make_hub, fake_crm) -> None:
    for i in range(5):
        fake_crm.put(str(i), provider="Acme", error_code=str(i % 2))
    hub = make_hub()
    hub.refresh(force=True)
    fake_crm.forget("0")
    fake_crm.forget("2")
    fake_crm.forget("4")  # the whole (acme, 0) aggregated case
    incremental = hub.refresh(force=True)
    assert incremental.sources["fake"].deleted == 0
    assert sum(a.case_count for a in hub.all().aggregated_cases) == 5
    full = hub.refresh(force=True, full=True)
    assert full.full and full.sources["fake"].deleted == 3
    assert supporthub_fakecrm.FakeAdapter.cursors[-1] is None
    assert {k: a.case_count for k, a in by_key(hub).items()} == {("acme", "1"): 2}
    consistent(hub)


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def test_minimum_age_guards_on_demand_refresh(make_hub, fake_crm) -> None:
    clock = Clock()
    fake_crm.put("1", provider="Acme")
    hub = make_hub(SUPPORTHUB_MIN_REFRESH_AGE_MINUTES="15")
    hub._refresher.clock = hub.clock = clock
    assert hub.refresh().sources["fake"].ok  # never fetched: due
    clock.advance(minutes=5)
    with pytest.raises(RefreshNotDue) as not_due:
        hub.refresh()
    assert not_due.value.retry_after == dt.timedelta(minutes=10)
    assert not_due.value.data_age == dt.timedelta(minutes=5)
    assert hub.health().sources["fake"].refreshable_at == clock.now + dt.timedelta(minutes=10)
    assert hub.refresh(force=True).sources["fake"].due  # --force ignores it
    clock.advance(minutes=15)
    assert hub.refresh().sources["fake"].due


def test_a_failing_source_is_retried_on_demand_only_after_its_backoff(make_hub, fake_crm) -> None:
    clock = Clock()
    fake_crm.put("1", provider="Acme")
    hub = make_hub(SUPPORTHUB_MIN_REFRESH_AGE_MINUTES="3", SUPPORTHUB_FAKE_FAIL_AFTER="0")
    hub._refresher.clock = hub.clock = clock
    waits = []
    for _ in range(4):
        report = hub.refresh()
        assert not report.sources["fake"].ok
        with pytest.raises(RefreshNotDue) as not_due:
            hub.refresh()
        waits.append(not_due.value.retry_after)
        clock.advance(seconds=not_due.value.retry_after.total_seconds() - 1)
        with pytest.raises(RefreshNotDue):
            hub.refresh()
        clock.advance(seconds=1)
    # 1 minute, doubling, capped at the minimum age (3 minutes)
    assert waits == [dt.timedelta(minutes=m) for m in (1, 2, 3, 3)]
    assert hub.health().sources["fake"].consecutive_failures == 4
    assert hub.refresh(force=True).sources["fake"].due  # --force still tries


def test_a_misconfigured_source_fails_in_every_report(
    make_hub, fake_crm, plugin_manager, tmp_path
) -> None:
    plugin_manager.register(OtherPlugin(), name="other")
    other = type(fake_crm)(tmp_path / "other.json")
    other.put("x", provider="Other")
    fake_crm.put("1", provider="Acme")
    hub = make_hub(SUPPORTHUB_OTHER_URL=str(other.path))  # no SUPPORTHUB_OTHER_TOKEN
    for _ in range(2):
        report = hub.refresh()
        assert not report.sources["other"].ok
        assert "SUPPORTHUB_OTHER_TOKEN" in (report.sources["other"].error or "")
    assert report.sources["fake"].ok
    assert OtherAdapter.cursors == []  # it never ran
    plugin_manager.unregister(name="other")


def test_changed_aliases_regroup_stored_cases(make_hub, fake_crm) -> None:
    fake_crm.put("1", provider="Acme Pay", error_code="1")
    fake_crm.put("2", provider="Acme Payments", error_code="1")
    hub = make_hub()
    hub.refresh(force=True)
    assert len(hub.all().aggregated_cases) == 2
    aliased = make_hub(SUPPORTHUB_PROVIDER_ALIASES='{"ACME PAY": "acme payments inc"}')
    aliased.refresh(force=True)  # nothing new from the CRM, yet history follows the rules
    (merged,) = aliased.all().aggregated_cases
    assert merged.case_count == 2 and merged.provider_key == "acme payments"
    assert aliased.search(provider="Acme Pay").total == 1
    consistent(aliased)


def test_a_reader_during_a_refresh_sees_before_or_after(make_hub, fake_crm) -> None:
    for i in range(40):
        fake_crm.put(str(i), provider=f"P{i % 4}", error_code="1")
    hub = make_hub()
    hub.refresh(force=True)
    before = hub.all()
    for i in range(40, 100):
        fake_crm.put(str(i), provider=f"P{i % 5}", error_code="1")
    for i in range(0, 40, 3):
        fake_crm.delete(str(i))
    slow = make_hub(SUPPORTHUB_FAKE_DELAY="0.01")
    seen: list[tuple[int, int]] = []
    done = threading.Event()

    def refresh() -> None:
        try:
            slow.refresh(force=True)
        finally:
            done.set()

    thread = threading.Thread(target=refresh)
    thread.start()
    reader = make_hub()
    while not done.is_set():
        page = reader.all()
        seen.append((page.total, sum(a.case_count for a in page.aggregated_cases)))
        assert all(a.case_count == len(a.cases) for a in page.aggregated_cases)
        time.sleep(0.002)
    thread.join()
    after = hub.all()
    states = {
        (before.total, sum(a.case_count for a in before.aggregated_cases)),
        (after.total, sum(a.case_count for a in after.aggregated_cases)),
    }
    assert len(states) == 2 and len(seen) > 3
    assert set(seen) <= states
    consistent(hub)


def test_rejects_a_case_the_store_cannot_take(make_hub, fake_crm) -> None:
    fake_crm.put("1", provider="Acme", updated_at="0500-01-01T00:00:00Z")
    fake_crm.put("2", provider="Acme")
    report = make_hub().refresh(force=True)
    assert report.sources["fake"].skipped == 1 and report.sources["fake"].written == 1


def test_bad_names_get_a_key_or_none_and_the_refresh_goes_on(make_hub, fake_crm) -> None:
    """Contract §3 on hostile input: a key or null, never a crash or a skipped refresh."""
    fake_crm.put("marks", provider="\u0301" * 255, error_code="\u0301" * 255)
    fake_crm.put("format", provider="\u200b\u00ad\u2060", error_code="\ufeff")
    fake_crm.put("mixed", provider="Acme Ελλάς Москва 東京 सोनी", error_code="E\u2013x\u200b")
    fake_crm.put("surrogate", provider="Acme\ud800", error_code="\udfff")
    fake_crm.put("plain", provider="Acme, Inc.", error_code="E-1")
    report = make_hub().refresh(force=True)
    assert report.ok
    # The lone surrogates get a key, but no database stores them: that case
    # alone is skipped, as every case with text that is not valid Unicode.
    assert report.sources["fake"].written == 4 and report.sources["fake"].skipped == 1
    hub = make_hub()
    assert set(by_key(hub)) == {
        ("\u0301" * 255, "\u0301" * 255),
        (None, None),
        ("acme ελλάσ москва 東京 सोनी", "X"),
        ("acme", "1"),
    }
    consistent(hub)


# -- first loads: a batch at a time as they come, undone alone ------------------
#
# A source with no case stored yet is written a batch at a time, interleaved
# with the other first loads (ingest/source_writes.py); one that fails
# half-way leaves no case behind, while the other sources keep what they
# wrote. MIN_LOAD_ROWS is lowered so that on MariaDB the fake CRM's small
# batches go through the bulk-load path too.

#: Set when the writer has written a batch of the "other" source.
OTHER_WRITTEN = threading.Event()


class WaitingAdapter(supporthub_fakecrm.FakeAdapter):
    """The fake CRM, but after its first batch it waits until "other" has been written."""

    name = "waiting"
    title = "Waiting CRM"

    def fetch(self, cursor: str | None) -> Iterator[Any]:
        for number, batch in enumerate(super().fetch(cursor)):
            if number == 1 and not OTHER_WRITTEN.wait(timeout=20):
                raise supporthub.SourceUnavailable("the other source was never written")
            yield batch


class WaitingPlugin:
    @supporthub.hookimpl
    def register_adapters(self, register: Any) -> None:
        register(WaitingAdapter)


@pytest.fixture
def small_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every batch of cases takes the bulk-load path where there is one."""
    monkeypatch.setattr(writing, "MIN_LOAD_ROWS", 1)
    OTHER_WRITTEN.clear()


def source_rows(hub: supporthub.Hub, source: str) -> list[tuple[Any, ...]]:
    with hub.store.engine.connect() as connection:
        return sorted(
            tuple(row)
            for row in connection.execute(
                sa.text("SELECT source_id, agg_id FROM cases WHERE source = :s"), {"s": source}
            )
        )


def other_crm(fake_crm: Any, tmp_path: Any, count: int) -> dict[str, str]:
    """The settings of an "other" source holding ``count`` cases."""
    other = type(fake_crm)(tmp_path / "other.json")
    for i in range(count):
        other.put(f"o{i}", provider=f"Other {i % 4}", error_code="2")
    return {"SUPPORTHUB_OTHER_URL": str(other.path), "SUPPORTHUB_OTHER_TOKEN": "t0ken-o"}


def test_a_first_load_is_written_while_another_source_still_fetches(
    make_hub, fake_crm, plugin_manager, tmp_path, monkeypatch, small_loads
) -> None:
    plugin_manager.register(OtherPlugin(), name="other")
    plugin_manager.register(WaitingPlugin(), name="waiting")
    waiting = type(fake_crm)(tmp_path / "waiting.json")
    for i in range(9):
        waiting.put(f"w{i}", provider="Waiting", error_code="1")
    env = other_crm(fake_crm, tmp_path, 9)
    env["SUPPORTHUB_OTHER_DELAY"] = "0.3"  # the waiting source's first batch comes first
    written: list[str] = []
    original = writing.SqlWriter.write_batch

    def spy(self: Any, batch: Any, **kwargs: Any) -> Any:
        result = original(self, batch, **kwargs)
        written.append(kwargs["tracker"].source)
        if kwargs["tracker"].source == "other":
            OTHER_WRITTEN.set()
        return result

    monkeypatch.setattr(writing.SqlWriter, "write_batch", spy)
    hub = make_hub(
        SUPPORTHUB_FAKE_URL="",  # only the two first loads
        SUPPORTHUB_WAITING_URL=str(waiting.path),
        SUPPORTHUB_WAITING_TOKEN="t0ken-w",
        **env,
    )
    report = hub.refresh(force=True)

    assert report.sources["waiting"].ok, report.sources["waiting"].error
    assert report.sources["other"].ok
    # The other source was written while the waiting one had batches to come.
    last_waiting = max(i for i, source in enumerate(written) if source == "waiting")
    assert written[0] == "waiting" and written.index("other") < last_waiting
    assert len(source_rows(hub, "waiting")) == 9 and len(source_rows(hub, "other")) == 9
    consistent(hub)
    plugin_manager.unregister(name="waiting")
    plugin_manager.unregister(name="other")


def test_a_refresh_started_with_nice_writes_first_loads_one_after_the_other(
    make_hub, fake_crm, plugin_manager, tmp_path, monkeypatch, small_loads
) -> None:
    plugin_manager.register(OtherPlugin(), name="other")
    for i in range(9):
        fake_crm.put(str(i), provider="Fake", error_code="1")
    env = other_crm(fake_crm, tmp_path, 9)
    # Both send a batch every 0.05 s: taken as they come, they would alternate.
    env |= {"SUPPORTHUB_FAKE_DELAY": "0.05", "SUPPORTHUB_OTHER_DELAY": "0.05"}
    written: list[str] = []
    original = writing.SqlWriter.write_batch

    def spy(self: Any, batch: Any, **kwargs: Any) -> Any:
        written.append(kwargs["tracker"].source)
        return original(self, batch, **kwargs)

    monkeypatch.setattr(writing.SqlWriter, "write_batch", spy)
    monkeypatch.setattr(supporthub.ingest.refresh.priority, "niced", lambda: True)
    report = make_hub(**env).refresh(force=True)

    assert report.ok
    assert sorted(written) == ["fake"] * 4 + ["other"] * 4
    assert sum(a != b for a, b in itertools.pairwise(written)) == 1  # one whole, then the other
    plugin_manager.unregister(name="other")


def test_a_first_load_failing_half_way_leaves_none_of_its_cases(
    make_hub, fake_crm, plugin_manager, tmp_path, small_loads
) -> None:
    plugin_manager.register(OtherPlugin(), name="other")
    for i in range(20):
        fake_crm.put(str(i), provider=f"P{i % 3}", error_code="1")
    env = other_crm(fake_crm, tmp_path, 12)
    hub = make_hub(SUPPORTHUB_FAKE_FAIL_AFTER="13", **env)

    report = hub.refresh(force=True)

    fake = report.sources["fake"]
    assert not fake.ok and "broke after 13 records" in (fake.error or "")
    assert fake.written == 12  # four batches went to the database, then were undone
    assert source_rows(hub, "fake") == []
    assert report.sources["other"].ok and len(source_rows(hub, "other")) == 12
    assert {a.provider for a in hub.all().aggregated_cases} == {f"Other {i}" for i in range(4)}
    health = hub.health().sources["fake"]
    assert health.consecutive_failures == 1 and "broke" in (health.last_error or "")
    consistent(hub)

    # The next refresh loads it from scratch, as a first load again.
    report = make_hub(**env).refresh(force=True)
    assert report.ok and report.sources["fake"].written == 20
    assert len(source_rows(hub, "fake")) == 20
    consistent(hub)
    plugin_manager.unregister(name="other")


def test_a_source_with_cases_fails_alone_beside_a_first_load(
    make_hub, fake_crm, plugin_manager, tmp_path, small_loads
) -> None:
    for i in range(10):
        fake_crm.put(str(i), provider=f"P{i % 3}", error_code="1")
    make_hub().refresh(force=True)
    plugin_manager.register(OtherPlugin(), name="other")
    env = other_crm(fake_crm, tmp_path, 8)
    hub = make_hub(**env)
    before = source_rows(hub, "fake")
    for i in range(10):
        fake_crm.put(str(i), provider="Changed", error_code="9")

    report = make_hub(SUPPORTHUB_FAKE_FAIL_AFTER="7", **env).refresh(force=True)

    assert not report.sources["fake"].ok
    assert source_rows(hub, "fake") == before  # rolled back to its savepoint
    assert report.sources["other"].ok and len(source_rows(hub, "other")) == 8
    consistent(hub)
    plugin_manager.unregister(name="other")


def test_a_first_load_fails_alone_beside_a_source_with_cases(
    make_hub, fake_crm, plugin_manager, tmp_path, small_loads
) -> None:
    fake_crm.put("1", provider="Acme", error_code="1")
    make_hub().refresh(force=True)
    plugin_manager.register(OtherPlugin(), name="other")
    env = other_crm(fake_crm, tmp_path, 12)
    fake_crm.put("2", provider="Acme", error_code="1")
    # "other" shares the fake CRM's adapter: its failure switch is its own setting.
    hub = make_hub(SUPPORTHUB_OTHER_FAIL_AFTER="7", **env)

    report = hub.refresh(force=True)

    assert not report.sources["other"].ok and source_rows(hub, "other") == []
    assert report.sources["fake"].ok and len(source_rows(hub, "fake")) == 2
    (acme,) = hub.all().aggregated_cases
    assert acme.case_count == 2
    consistent(hub)
    plugin_manager.unregister(name="other")


def test_the_writer_takes_ready_spools_in_turn() -> None:
    spools = SpoolSet(["a", "b", "c"])
    for name in ("a", "b", "c"):
        spools[name].finish()  # ready: the end is something to take
    pending = {"a", "b", "c"}
    taken = [spools.next_ready(pending).name for _ in range(5)]
    assert taken == ["a", "b", "c", "a", "b"]
    assert spools.next_ready({"a", "c"}).name == "c"  # after "b": the next one round
    assert spools.next_ready({"a", "c"}).name == "a"
