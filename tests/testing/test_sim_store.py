"""The append-only, (timestamp, slot)-ordered record store."""

from __future__ import annotations

import random

import pytest

from supporthub.testing.sim import RecordStore, encode_record


def record(slot: int, version: int = 0) -> bytes:
    return encode_record({"slot": slot, "v": version})


def loaded(timestamps: list[int], deleted: frozenset[int] = frozenset()) -> RecordStore:
    store = RecordStore()
    store.load((ts, record(slot), slot in deleted) for slot, ts in enumerate(timestamps))
    return store


def read_all(
    store: RecordStore, *, page_size: int = 2, include_deleted: bool = False
) -> list[bytes]:
    out: list[bytes] = []
    position = 0
    while True:
        page = store.page(position, page_size, include_deleted=include_deleted)
        out.extend(page.records)
        if not page.has_more:
            assert page.next_position == store.end
            return out
        assert len(page.records) == page_size
        position = page.next_position


def test_log_is_sorted_by_timestamp_then_slot() -> None:
    store = loaded([30, 10, 20, 10])
    assert read_all(store) == [record(1), record(3), record(2), record(0)]


def test_first_position_is_inclusive() -> None:
    store = loaded([10, 20, 20, 30])
    assert store.first_position(20) == 1
    assert store.first_position(21) == 3
    assert store.first_position(31) == store.end


def test_tombstones_only_when_asked() -> None:
    store = loaded([1, 2, 3], deleted=frozenset({1}))
    assert read_all(store) == [record(0), record(2)]
    assert read_all(store, include_deleted=True) == [record(0), record(1), record(2)]
    assert store.live_count == 2


def test_a_changed_record_moves_to_the_end_and_its_old_entry_goes_stale() -> None:
    store = loaded([1, 2, 3, 4])
    first = store.page(0, 2, include_deleted=False)
    store.write([(0, record(0, 1), False)], timestamp=10)
    rest = read_from(store, first.next_position)
    assert first.records == [record(0), record(1)]
    assert rest == [record(2), record(3), record(0, 1)]
    assert read_all(store) == [record(1), record(2), record(3), record(0, 1)]
    assert store.timestamp_of(0) == 10


def read_from(store: RecordStore, position: int) -> list[bytes]:
    page = store.page(position, 1000, include_deleted=False)
    return page.records


def test_a_batch_shares_one_timestamp_in_slot_order_and_may_add() -> None:
    store = loaded([1, 2, 3])
    store.write([(4 - 1, record(3), False), (1, record(1, 1), False)], timestamp=5)
    assert len(store) == 4
    assert read_all(store) == [record(0), record(2), record(1, 1), record(3)]


def test_writes_must_be_newer_than_the_log() -> None:
    store = loaded([1, 2, 3])
    with pytest.raises(ValueError, match="newer"):
        store.write([(0, record(0, 1), False)], timestamp=3)
    with pytest.raises(ValueError, match="slot"):
        store.write([(7, record(7), False)], timestamp=4)
    with pytest.raises(ValueError, match="once"):
        store.write([(0, record(0), False), (0, record(0), False)], timestamp=4)


def test_deleting_leaves_a_tombstone_at_the_end() -> None:
    store = loaded([1, 2])
    store.write([(0, record(0, 9), True)], timestamp=3)
    assert read_all(store) == [record(1)]
    assert read_all(store, include_deleted=True) == [record(1), record(0, 9)]
    assert store.is_deleted(0)


def test_ghosts_are_served_without_changing_the_record() -> None:
    store = loaded([1, 2])
    store.add_ghost(0, record(0, -1), timestamp=3)
    assert read_all(store) == [record(0), record(1), record(0, -1)]
    assert store.record(0) == record(0)
    assert store.live_count == 2
    assert store.entry(store.end - 1) == (3, 0)


def test_has_more_is_exact_when_the_rest_is_stale() -> None:
    store = loaded([1, 2, 3])
    store.write([(1, record(1, 1), True), (2, record(2, 1), True)], timestamp=4)
    page = store.page(0, 1, include_deleted=False)
    assert page.records == [record(0)]
    assert not page.has_more


def test_counts_match_a_walk_after_random_changes() -> None:
    rng = random.Random(5)
    size = 5000
    store = loaded([rng.randrange(100) for _ in range(size)], deleted=frozenset({7, 8, 9}))
    timestamp = 1000
    for _ in range(50):
        timestamp += 1
        slots = rng.sample(range(len(store)), 40)
        store.write(
            [(slot, record(slot, timestamp), rng.random() < 0.2) for slot in slots], timestamp
        )
        if rng.random() < 0.3:
            timestamp += 1
            store.add_ghost(rng.randrange(len(store)), b"{}", timestamp)
    for position in (0, 1, 1023, 1024, 3000, store.end - 1, store.end):
        for include_deleted in (False, True):
            walked = len(store.page(position, 10**9, include_deleted=include_deleted).records)
            assert store.count_from(position, include_deleted=include_deleted) == walked
    visible = store.page(0, 10**9, include_deleted=False).records
    assert store.live_count == len(visible) - sum(1 for data in visible if data == b"{}")


def test_load_only_fills_an_empty_store() -> None:
    store = loaded([1])
    with pytest.raises(RuntimeError):
        store.load([])


def test_encoded_records_do_not_keep_spare_capacity() -> None:
    import tracemalloc

    tracemalloc.start()
    try:
        kept = [encode_record({"a": "x" * 50, "n": i}) for i in range(1000)]
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert current < 1000 * 200, "about the JSON's size each, not kilobytes"
    assert len(kept) == 1000
