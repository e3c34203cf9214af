"""The first load's Bloom filter: never a false "no", rarely a false "maybe"."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from supporthub.store.idfilter import IdFilter


@given(
    st.lists(st.text(), max_size=200, unique=True),
    st.lists(st.text(), max_size=200, unique=True),
)
def test_every_id_given_before_is_maybe(given_ids: list[str], others: list[str]) -> None:
    ids = IdFilter()
    fresh = ids.remember(given_ids)
    assert set(fresh) <= set(given_ids)  # at most a rare false "maybe"
    assert ids.maybe(given_ids) == given_ids
    assert all(i in ids for i in given_ids)
    assert set(ids.maybe(others)) >= set(others) & set(given_ids)
    again = ids.remember(others)
    assert set(again) >= set(others) & set(given_ids)
    assert ids.maybe(others) == others  # remembered now


def test_few_false_maybes_at_a_hundred_thousand() -> None:
    ids = IdFilter()
    assert len(ids.remember(f"case-{i}" for i in range(100_000))) < 100
    strangers = [f"other-{i}" for i in range(100_000)]
    assert len(ids.maybe(strangers)) < 100  # about 0.01 % at this size
    assert len(ids.remember(strangers)) < 100
    assert len(ids.remember(f"case-{i}" for i in range(0, 100_000, 7))) == 14_286
