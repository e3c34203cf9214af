"""The word index of ``q`` (``search_terms``): the same answers as reading every key did.

On SQLite and MariaDB: hostile provider names and error codes, every
prefix and part of them searched, compared with the contract's rule
evaluated in Python on the stored keys; and the index kept by every writer
(refresh, a source that fails half-way, rule changes, the migration).
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import attrs
import pytest
import sqlalchemy as sa

import supporthub
from supporthub import SearchQuery
from supporthub.store import reading, writing
from supporthub.store import search_terms as index
from supporthub.store.schema import aggregated_cases
from supporthub.store.schema import search_terms as table

HOSTILE = [
    ("Nakatomi Trading", "E-1042"),
    ("Łódź Płatności", "ÄÖÜ-ß"),
    ("Crème Brûlée Café", "é-1"),
    ("株式会社東京決済", "東京-42"),
    ("東京 決済 サービス", "決済"),
    ("A B C", "A"),
    ("x", "X"),
    ("ǅemal İstanbul ﬁnance", "ﬁ-42"),  # titlecase digraph, dotted I, ligature (NFKC)
    ("Ωmega Ελληνικά", "Ω"),
    ("café 😀 payments", "😀 1"),  # emoji are separators in a provider, kept in a code
    ("o" * 70 + " " + "Ж" * 40, "Z" * 70 + "%_\\"),  # words and codes past the 64 bytes cut
    ("100% off_sale", "50%_x"),  # LIKE's wildcards are plain characters
    ("tab\tand\nnewline", "A\tB C"),
    ("\U0010fffd private", "\U0010fffd\U0010fffd"),  # the highest code points
    ("ÿÿ ÿ", "ÿ"),
    ("a a a", "AA AA"),
    (None, "ONLY-CODE"),
    ("Only Provider", None),
]


def keys_of(hub: supporthub.Hub) -> dict[str, tuple[str | None, str | None]]:
    with hub.store.reader() as reader:
        rows = reader.connection.execute(
            sa.select(
                aggregated_cases.c.id,
                aggregated_cases.c.provider_key,
                aggregated_cases.c.error_code_key,
            )
        )
        return {row[0]: (row[1], row[2]) for row in rows}


def expected(keys: dict[str, tuple[str | None, str | None]], texts: Any) -> set[str]:
    """Contract §4, in Python: a run of whole-word prefixes, or part of the error code key."""
    found = set()
    for agg_id, (provider, code) in keys.items():
        for typed_provider, typed_code in texts:
            words = typed_provider.split(" ")
            run = "(^| )" + "[^ ]* ".join(re.escape(word) for word in words)
            if provider is not None and re.search(run, provider):
                found.add(agg_id)
            if typed_code is not None and code is not None and typed_code in code:
                found.add(agg_id)
    return found


def searched(hub: supporthub.Hub, q: str) -> tuple[set[str], Any]:
    search = SearchQuery(q=q, cases_limit=0)
    texts = hub.resolve_query(search).texts
    page = hub.page(search)
    assert page.total == len(page.aggregated_cases)
    return {a.id for a in page.aggregated_cases}, texts


def typed(keys: dict[str, tuple[str | None, str | None]]) -> list[str]:
    """What people might type: prefixes of every word and run, parts of every code, misses."""
    questions = {"zzz", "o" * 80, "Ж" * 45, "ÿ", "\U0010fffd", "1", "%", "_", "a a", "b c"}
    for provider, code in keys.values():
        if provider:
            words = provider.split(" ")
            for word in words:
                questions.update(word[:n] for n in (1, 2, len(word) - 1, len(word)) if n > 0)
            for start, length in itertools.product(range(len(words)), (2, 3)):
                run = words[start : start + length]
                if len(run) == length:
                    questions.add(" ".join([*run[:-1], run[-1][:1]]))
        if code:
            # Parts of one to four characters: one, two, three bytes or more.
            for start, length in itertools.product(range(len(code)), (1, 2, 3, 4)):
                questions.add(code[start : start + length])
            questions.add(code)
    return sorted(q for q in questions if q.strip() and len(q) <= 200)


@pytest.fixture
def hub(make_hub: Any, fake_crm: Any) -> supporthub.Hub:
    for n, (provider, code) in enumerate(HOSTILE):
        fake_crm.put(str(n), provider=provider, error_code=code, status="open")
    built = make_hub()
    assert built.refresh(force=True).ok
    return built


def assert_indexed(hub: supporthub.Hub) -> None:
    """Every stored key has every one of its terms in the index."""
    with hub.store.reader() as reader:
        stored = {
            (row.kind, bytes(row.term), row.key)
            for row in reader.connection.execute(sa.select(table))
        }
    for provider, code in keys_of(hub).values():
        for kind, key in ((index.PROVIDER, provider), (index.CODE, code)):
            if key:
                missing = {(k, t, key) for k, t in index.terms_of(kind, key)} - stored
                assert not missing, (key, missing)


@pytest.mark.parametrize("broad_keys", [reading.BROAD_KEYS, 0], ids=["index", "broad"])
def test_q_through_the_index_finds_what_the_rule_says_on_hostile_names(
    hub, monkeypatch, broad_keys
) -> None:
    monkeypatch.setattr(reading, "BROAD_KEYS", broad_keys)
    keys = keys_of(hub)
    assert_indexed(hub)
    questions = typed(keys)
    assert len(questions) > 100
    for q in questions:
        try:
            found, texts = searched(hub, q)
        except supporthub.InvalidQuery:
            continue  # no letters or digits: refused, as before
        assert found == expected(keys, texts), q


def test_the_prefix_range_holds_exactly_the_terms_that_start_with_the_text() -> None:
    for text in ["a", "ÿ", "\U0010fffd", "z" * 70, "東京"]:
        low, high = index.prefix_range(text)
        assert high is not None and low < high
        for term in ["", "a", "ab", "ÿa", "\U0010fffd", "z" * 64, "東京都", "東", "{"]:
            raw = term.encode()[: index.TERM_BYTES]
            inside = low <= raw and raw < high
            assert inside == raw.startswith(low), (text, term)


def test_every_writer_keeps_the_index(hub, fake_crm) -> None:
    # A refresh that adds and changes cases.
    fake_crm.put("new", provider="Brand New Provider", error_code="NEW-7")
    fake_crm.put("0", provider="Nakatomi Renamed", error_code="E-9")
    assert hub.refresh(force=True).ok
    assert_indexed(hub)
    assert searched(hub, "brand new")[0]
    # A rule change regroups every case (an alias: a new provider key).
    hub.add_alias("Brand New Provider", "Aliased Name", by="ann", reason="test")
    assert_indexed(hub)
    (aliased,) = searched(hub, "alias")[0]
    assert hub.get(aliased).provider is not None


def test_a_refresh_that_fails_after_writing_leaves_the_index_as_before(
    make_hub, fake_crm, monkeypatch
) -> None:
    fake_crm.put("1", provider="Before", error_code="B-1")
    hub = make_hub()
    assert hub.refresh(force=True).ok
    original = writing.SqlWriter.write_aggregates

    def fail_after_writing(self, rows, deleted, spellings):  # type: ignore[no-untyped-def]
        original(self, rows, deleted, spellings)
        raise RuntimeError("failed after the aggregated cases were written")

    monkeypatch.setattr(writing.SqlWriter, "write_aggregates", fail_after_writing)
    fake_crm.put("2", provider="Rolled Back", error_code="R-1")
    with pytest.raises(RuntimeError):
        hub.refresh(force=True)
    monkeypatch.undo()
    with hub.store.reader() as reader:
        assert not reader.connection.execute(
            sa.select(table).where(table.c.key == "rolled back")
        ).all()
    assert hub.refresh(force=True).ok
    assert_indexed(hub)
    assert len(searched(hub, "rolled")[0]) == 1


def test_a_savepoint_rolled_back_makes_the_writer_index_its_keys_again(hub) -> None:
    (agg_id, *_) = keys_of(hub)
    with hub.store.writer() as writer:
        row = writer.aggregates([agg_id])[agg_id]
        added = attrs.evolve(row, id="f" * 32, provider_key="savepoint words", error_code_key="SP")
        with pytest.raises(RuntimeError), writer.savepoint():
            writer.write_aggregates([added], (), {})
            raise RuntimeError("this source failed")
        # The same keys again, after the savepoint undid their index rows.
        writer.write_aggregates([attrs.evolve(added, id="e" * 32)], (), {})
    assert_indexed(hub)
    assert searched(hub, "savepoint w")[0] == {"e" * 32}


def test_the_migration_indexes_the_keys_stored_before_it(hub) -> None:
    with hub.store.engine.begin() as connection:
        connection.execute(sa.delete(table))
        index.rebuild(connection)
    assert_indexed(hub)
    keys = keys_of(hub)
    found, texts = searched(hub, "naka")
    assert found == expected(keys, texts) and found


def test_the_migrations_build_the_index_that_the_code_builds(hub) -> None:
    """Revisions 0006 and 0007 carry their own copy of the index code: the same rows."""
    from alembic import command
    from alembic.config import Config

    from supporthub.store import sql

    def index_rows() -> set[tuple[str, bytes, bytes, str]]:
        with hub.store.engine.connect() as connection:
            rows = connection.execute(sa.select(table))
            return {(r.kind, bytes(r.term), bytes(r.digest), r.key) for r in rows}

    built = index_rows()
    assert {row[0] for row in built} == {index.PROVIDER, index.GRAM}
    config = Config()
    config.set_main_option("script_location", str(sql._MIGRATIONS))
    with hub.store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")
    with hub.store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    assert index_rows() == built


@pytest.mark.parametrize("broad_keys", [reading.BROAD_KEYS, 0], ids=["index", "broad"])
def test_many_matches_walk_the_order_index_and_give_the_same_pages(
    make_hub, fake_crm, monkeypatch, broad_keys
) -> None:
    # 60 of 70 match: MariaDB walks its order index instead of sorting the matches.
    # broad: every text tested on each row (as for q=7 at a million), same pages.
    monkeypatch.setattr(reading, "BROAD_KEYS", broad_keys)
    for n in range(70):
        provider = f"Common Word {n}" if n < 60 else f"Other {n}"
        for member in range(n % 5 + 1):
            fake_crm.put(f"{n}-{member}", provider=provider, error_code=f"C{n}")
    hub = make_hub()
    assert hub.refresh(force=True).ok
    keys = keys_of(hub)
    for question in ({"q": "comm"}, {"q": "c1"}, {"owner": "none"}, {"q": "wor", "owner": "none"}):
        whole = hub.search(cases_limit=0, **question).aggregated_cases
        walked, cursor = [], None
        while True:
            page = hub.search(limit=3, cursor=cursor, cases_limit=0, **question)
            assert page.total == len(whole)
            walked += page.aggregated_cases
            if (cursor := page.next_cursor) is None:
                break
        assert [a.id for a in walked] == [a.id for a in whole], question
        if "q" in question:
            texts = hub.resolve_query(SearchQuery(q=question["q"])).texts
            assert {a.id for a in whole} == expected(keys, texts)
