"""The spool: batches come back in order and exactly as they were, spilled or not."""

from __future__ import annotations

import datetime as dt
import fractions
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supporthub.ingest import batch_wire
from supporthub.ingest import spool as _spool
from supporthub.ingest.prepare import PreparedBatch
from supporthub.ingest.spool import Spool
from supporthub.vocabulary.models import AggregationKey

WHEN = dt.datetime(2026, 11, 20, 10, 2, 11, 123456, tzinfo=dt.UTC)
texts = st.one_of(st.none(), st.text(st.characters(exclude_categories=("Cs",))))
rows = st.tuples(
    st.just("banana"), st.text(min_size=1), st.text(min_size=32, max_size=32),
    texts, texts, st.booleans(), texts, texts, texts,
    st.datetimes(min_value=dt.datetime(1000, 1, 1), timezones=st.just(dt.UTC)),
    st.datetimes(min_value=dt.datetime(1000, 1, 1), timezones=st.just(dt.UTC)),
    texts,
)  # fmt: skip


def drain(batches: list[PreparedBatch]) -> list[PreparedBatch]:
    spool = Spool("banana", threading.Condition())
    for batch in batches:
        spool.put(batch)
    spool.finish()
    return list(spool)


@pytest.fixture
def spill_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_spool, "_IN_MEMORY_ROWS", 0)


@settings(deadline=None)  # a temporary file per example, on a shared machine
@given(st.lists(st.lists(rows, max_size=5), min_size=1, max_size=4))
def test_spilled_batches_come_back_exactly(batches: list[list[tuple[object, ...]]]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_spool, "_IN_MEMORY_ROWS", 0)
        prepared = [
            PreparedBatch(
                rows=tuple(b), tombstones=(("gone", WHEN), ("x", None)), fetched=i, cursor=str(i)
            )
            for i, b in enumerate(batches)
        ]
        back = drain(prepared)
    assert back == prepared
    for batch, original in zip(back, prepared, strict=True):
        for row, before in zip(batch.rows, original.rows, strict=True):
            assert [type(v) for v in row] == [type(v) for v in before]
            assert row[9].tzinfo is dt.UTC


def test_rows_msgpack_cannot_carry_are_pickled(spill_all: None) -> None:
    odd = PreparedBatch(rows=(("banana", "1", fractions.Fraction(1, 3)),))
    plain = PreparedBatch(rows=(("banana", "2", WHEN),))
    assert batch_wire.pack(odd)[:1] == b"p" and batch_wire.pack(plain)[:1] == b"m"
    assert drain([odd, plain, odd]) == [odd, plain, odd]


def test_packed_batches_keep_their_place_among_the_others() -> None:
    # A fetch process's batches arrive packed; the writer takes them in order.
    first, second, third = (
        PreparedBatch(rows=(("banana", str(i), WHEN),), cursor=str(i)) for i in range(3)
    )
    spool = Spool("banana", threading.Condition())
    spool.put(first)
    spool.put_packed(batch_wire.pack(second), 1)
    spool.put(third)
    spool.finish()
    assert list(spool) == [first, second, third]


def test_a_cancelled_spool_runs_what_stops_its_fetch() -> None:
    spool = Spool("banana", threading.Condition())
    stopped: list[str] = []
    spool.when_cancelled(lambda: stopped.append("first"))
    spool.cancel()
    spool.when_cancelled(lambda: stopped.append("late"))  # at once: already cancelled
    assert stopped == ["first", "late"]
    with pytest.raises(_spool.SpoolCancelled):
        spool.put_packed(b"m", 0)


# -- the bytes a spilled batch, or a fetch process's batch, is --------------------------

hostile = st.text(st.characters(exclude_categories=("Cs",)))
hostile_texts = st.one_of(
    st.none(),
    hostile,
    st.sampled_from(["'\"\\", "a\tb\nc\r\n", "nul\x00here", "emoji 🙂🚀", "x" * 32_000]),
)
moments = st.datetimes(min_value=dt.datetime(1000, 1, 1), timezones=st.just(dt.UTC))
hostile_rows = st.tuples(
    st.just("banana"), st.text(min_size=1), st.text(min_size=32, max_size=32),
    hostile_texts, hostile_texts, st.booleans(), hostile_texts, hostile_texts, hostile_texts,
    moments, moments, hostile_texts,
)  # fmt: skip
keys = st.builds(
    AggregationKey,
    hostile_texts,
    hostile_texts,
    st.lists(st.tuples(hostile, hostile), max_size=2).map(tuple),
)


@settings(deadline=None, max_examples=60)
@given(
    st.lists(hostile_rows, max_size=6),
    st.dictionaries(st.text(min_size=1), keys, max_size=4),
    st.lists(st.tuples(st.text(min_size=1), st.one_of(st.none(), moments)), max_size=3),
    st.one_of(st.none(), hostile),
)
def test_a_batch_comes_back_from_its_bytes_exactly(batch_rows, batch_keys, tombstones, cursor):
    batch = PreparedBatch(
        rows=tuple(batch_rows),
        keys=batch_keys,
        tombstones=tuple(tombstones),
        fetched=len(batch_rows) + 3,
        skipped=2,
        cursor=cursor,
    )
    back = batch_wire.unpack(batch_wire.pack(batch))
    assert back == batch
    for row, before in zip(back.rows, batch.rows, strict=True):
        assert [type(v) for v in row] == [type(v) for v in before]
        assert row[9].tzinfo is not None and row[9] == before[9]
