"""The spool: batches come back in order and exactly as they were, spilled or not."""

from __future__ import annotations

import datetime as dt
import fractions
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supporthub.ingest import spool as _spool
from supporthub.ingest.prepare import PreparedBatch
from supporthub.ingest.spool import Spool

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
    assert _spool._pack(odd)[0] is None and _spool._pack(plain)[0] is not None
    assert drain([odd, plain, odd]) == [odd, plain, odd]
