"""Kept answers: bounded, least recently used out, and never served across a write."""

from __future__ import annotations

from typing import Any

from supporthub import SearchQuery
from supporthub.query.answer_cache import AnswerCache


def test_an_answer_is_kept_only_when_the_stream_was_read_to_its_end() -> None:
    cache = AnswerCache()
    assert b"".join(cache.through("k", iter([b"ab", b"cd"]))) == b"abcd"
    assert cache.get("k") == b"abcd"
    stream = cache.through("half", iter([b"ab", b"cd"]))
    assert next(stream) == b"ab"
    stream.close()  # the client went away
    assert cache.get("half") is None


def test_big_answers_stream_through_untouched() -> None:
    cache = AnswerCache(max_answer_bytes=3)
    assert b"".join(cache.through("big", iter([b"ab", b"cd"]))) == b"abcd"
    assert cache.get("big") is None and len(cache) == 0


def test_the_least_recently_used_answer_goes_first() -> None:
    cache = AnswerCache(max_answers=2, max_total_bytes=100)
    cache.put("a", b"1")
    cache.put("b", b"2")
    assert cache.get("a") == b"1"  # "b" is now the oldest
    cache.put("c", b"3")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (b"1", None, b"3")


def test_the_total_size_is_bounded() -> None:
    cache = AnswerCache(max_total_bytes=5)
    cache.put("a", b"123")
    cache.put("b", b"456")
    assert cache.get("a") is None and cache.get("b") == b"456"


def test_every_write_gives_the_data_a_new_version(make_hub: Any, fake_crm: Any) -> None:
    hub = make_hub()
    fake_crm.put("1", provider="Acme", error_code="E1")
    hub.refresh(force=True)
    with hub.store.reader() as reader:
        first = reader.data_version()
    listing = SearchQuery(limit=10, cases_limit=0)
    before = b"".join(hub.iter_json(listing))
    assert b"".join(hub.iter_json(listing)) == before  # served again, same data
    fake_crm.put("2", provider="Other", error_code="E2")
    hub.refresh(force=True)
    with hub.store.reader() as reader:
        assert reader.data_version() not in {None, first}
    after = b"".join(hub.iter_json(listing))
    assert after != before and b"Other" in after
