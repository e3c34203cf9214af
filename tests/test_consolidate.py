"""The consolidation engine, pure: keys, aliases, display names, incremental == from scratch."""

from __future__ import annotations

import datetime as dt
import pickle
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supporthub import (
    AggregationKey,
    Case,
    ConfigurationError,
    DefaultKey,
    KeyPipeline,
    KeyRule,
    ProviderAliases,
    Status,
    consolidate,
)
from supporthub.grouping import consolidate as consolidate_module
from supporthub.grouping.consolidate import (
    AggregateChanges,
    AggregateRow,
    Member,
    apply_changes,
    display_provider,
    spelling_of,
)
from supporthub.ingest.prepare import member_of as prepare_member

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
PROVIDERS = ["Acme Payments", "ACME PAYMENTS INC", " acme-payments", "Globex", None, "---"]
CODES = ["E-1042", "1042", "AUTH_FAILED", None]


def case(
    source_id: str,
    provider: str | None = "Acme Payments",
    error_code: str | None = "1042",
    *,
    source: str = "banana",
    status: Status = Status.OPEN,
    created: int = 0,
    updated: int = 0,
) -> Case:
    return Case(
        source=source,
        source_id=source_id,
        number=source_id,
        subject=None,
        status=status,
        priority=None,
        provider=provider,
        error_code=error_code,
        created_at=T0 + dt.timedelta(minutes=created),
        updated_at=T0 + dt.timedelta(minutes=max(created, updated)),
        url=None,
    )


DEFAULT = KeyPipeline([DefaultKey()])


def test_spelling_variants_from_two_sources_meet() -> None:
    groups = consolidate(
        [
            case("b1", "Acme Payments, Inc.", "E-1042", source="banana"),
            case("s1", "ACME PAYMENTS", " 1042 ", source="strawberry"),
            case("s2", " acme-payments ", "1042", source="strawberry"),
        ],
        DEFAULT,
    )
    assert len(groups) == 1
    (aggregated,) = groups.values()
    assert aggregated.case_count == 3
    assert aggregated.error_code == "1042"
    assert aggregated.provider_key == "acme payments"


def test_nulls_form_their_own_aggregated_cases() -> None:
    groups = consolidate(
        [
            case("1", "Acme", None),
            case("2", "ACME", "  "),
            case("3", None, "1042"),
            case("4", "---", "E-1042"),
            case("5", None, None),
            case("6", "", ""),
        ],
        DEFAULT,
    )
    by_key = {(a.provider_key, a.error_code): a.case_count for a in groups.values()}
    assert by_key == {("acme", None): 2, (None, "1042"): 2, (None, None): 2}
    nothing = next(a for a in groups.values() if a.provider_key is None and a.error_code is None)
    assert nothing.provider is None


def test_status_and_counts() -> None:
    groups = consolidate(
        [
            case("1", status=Status.CLOSED, created=5, updated=9),
            case("2", status=Status.CLOSED, created=1, updated=3),
        ],
        DEFAULT,
    )
    (closed,) = groups.values()
    assert closed.status is Status.CLOSED and closed.open_case_count == 0
    assert closed.first_created_at == T0 + dt.timedelta(minutes=1)
    assert closed.last_updated_at == T0 + dt.timedelta(minutes=9)
    assert [c.source_id for c in closed.cases] == ["1", "2"]  # most recently updated first
    reopened = consolidate([*closed.cases, case("3")], DEFAULT)
    assert next(iter(reopened.values())).status is Status.OPEN


def test_id_is_derived_from_the_key_alone() -> None:
    first = consolidate([case("1", "Acme Payments Inc")], DEFAULT)
    second = consolidate([case("99", "ACME payments", source="strawberry")], DEFAULT)
    assert first.keys() == second.keys()
    assert next(iter(first)) == AggregationKey("acme payments", "1042").id
    assert AggregationKey("acme payments", "1042").id != AggregationKey("acme payments", None).id
    assert AggregationKey("Acme", None).id != AggregationKey("acme", None).id


@pytest.mark.parametrize(
    ("spellings", "expected"),
    [
        ({"Acme Payments": 3, "ACME": 2}, "Acme Payments"),
        ({"b": 2, "a": 2}, "a"),  # tie: alphabetically first
        ({"acme": 2, "Acme": 2}, "Acme"),  # by code point
        ({}, "acme"),  # no spelling: the key
    ],
)
def test_display_provider(spellings: dict[str, int], expected: str) -> None:
    assert display_provider(spellings, "acme") == expected


def test_display_provider_uses_trimmed_spellings() -> None:
    groups = consolidate([case("1", "  Acme  "), case("2", "Acme"), case("3", "ACME Inc")], DEFAULT)
    assert next(iter(groups.values())).provider == "Acme"


def test_aliases_compare_both_sides_by_key() -> None:
    pipeline = KeyPipeline([DefaultKey(), ProviderAliases({"Acme Pay": "ACME Payments, Inc."})])
    groups = consolidate(
        [case("1", "acme-pay"), case("2", "Acme Payments"), case("3", "Globex")], pipeline
    )
    assert sorted(a.case_count for a in groups.values()) == [1, 2]
    merged = next(a for a in groups.values() if a.case_count == 2)
    assert merged.provider_key == "acme payments"
    assert pipeline.search_provider_key("ACME PAY") == "acme payments"
    assert pipeline.search_provider_key("---") is None


def test_alias_chains_resolve_and_cycles_are_refused() -> None:
    chain = ProviderAliases({"a": "b", "b": "c"})
    assert chain.aliases == {"a": "c", "b": "c"}
    with pytest.raises(ConfigurationError, match="cycle"):
        ProviderAliases({"a": "b", "b": "a"})
    with pytest.raises(ConfigurationError, match="provider key"):
        ProviderAliases({"---": "acme"})


def test_rule_set_version_follows_the_rules() -> None:
    assert KeyPipeline([DefaultKey()]).version == DEFAULT.version
    aliased = KeyPipeline([DefaultKey(), ProviderAliases({"a": "b"})])
    assert aliased.version != DEFAULT.version
    assert aliased.version != KeyPipeline([DefaultKey(), ProviderAliases({"a": "c"})]).version


class RegionRule(KeyRule):
    """A plug-in rule that extends the key with the source."""

    name = "by-source"

    def apply(self, case: Case, key: AggregationKey) -> AggregationKey:
        return attrs.evolve(key, extra=(("source", case.source),))


def test_a_rule_can_extend_the_key() -> None:
    pipeline = KeyPipeline([RegionRule(), DefaultKey()])  # sorted by order, not given order
    groups = consolidate(
        [case("1", source="banana"), case("2", source="strawberry"), case("3")], pipeline
    )
    assert sorted(a.case_count for a in groups.values()) == [1, 2]


class SourceTagRule(KeyRule):
    """Like :class:`RegionRule`, but it says what it reads: its keys are remembered."""

    name = "source-tag"
    applied = 0

    def apply(self, case: Case, key: AggregationKey) -> AggregationKey:
        type(self).applied += 1
        return attrs.evolve(key, extra=(("source", case.source),))

    def reads(self) -> frozenset[str]:
        return frozenset({"source"})


@settings(max_examples=60)
@given(
    st.lists(
        st.tuples(st.sampled_from(PROVIDERS), st.sampled_from(CODES), st.sampled_from(["a", "b"])),
        max_size=40,
    ),
    st.sampled_from(["default", "aliases", "region", "source-tag"]),
    st.booleans(),
)
def test_remembered_keys_are_the_keys_the_rules_make(
    values: list[tuple[str | None, str | None, str]], rules: str, pickled: bool
) -> None:
    pipeline = KeyPipeline(
        {
            "default": [DefaultKey()],
            "aliases": [DefaultKey(), ProviderAliases({"Globex": "Acme Payments"})],
            "region": [DefaultKey(), RegionRule()],  # reads anything: nothing remembered
            "source-tag": [DefaultKey(), SourceTagRule()],
        }[rules]
    )
    if pickled:  # as a fetch process gets it
        pipeline = pickle.loads(pickle.dumps(pipeline))
    for i, (provider, code, source) in enumerate(values):
        c = case(str(i), provider, code, source=source)
        key = pipeline.key_for(c)
        assert pipeline.keyed(c) == (key, key.id)


def test_keys_are_made_once_per_combination_of_what_the_rules_read() -> None:
    pipeline = KeyPipeline([DefaultKey(), SourceTagRule()])
    SourceTagRule.applied = 0
    for i in range(30):
        pipeline.keyed(case(str(i), ["Acme", "Globex"][i % 2], "1", source=["a", "b", "c"][i % 3]))
    assert SourceTagRule.applied == 6
    assert KeyPipeline([DefaultKey(), RegionRule()])._fields is None


# -- incremental bookkeeping against the from-scratch reference ----------------


@st.composite
def operations(draw: Any) -> list[tuple[str, Case | None]]:
    ops: list[tuple[str, Case | None]] = []
    clock = 0
    for _ in range(draw(st.integers(min_value=1, max_value=60))):
        source_id = str(draw(st.integers(min_value=0, max_value=12)))
        if draw(st.integers(min_value=0, max_value=5)) == 0:
            ops.append((source_id, None))
            continue
        clock += 1
        ops.append(
            (
                source_id,
                case(
                    source_id,
                    draw(st.sampled_from(PROVIDERS)),
                    draw(st.sampled_from(CODES)),
                    status=draw(st.sampled_from(list(Status))),
                    created=draw(st.integers(min_value=0, max_value=clock)),
                    updated=clock,
                ),
            )
        )
    return ops


def member_of(c: Case, pipeline: KeyPipeline) -> tuple[Member, AggregationKey]:
    key = pipeline.key_for(c)
    agg_id = pipeline.id_for(key)
    return Member(agg_id, c.is_open, spelling_of(c), c.created_at, c.updated_at), key


@settings(max_examples=300)
@given(operations(), st.integers(min_value=1, max_value=8))
def test_incremental_equals_from_scratch(ops: list[tuple[str, Case | None]], every: int) -> None:
    pipeline = DEFAULT
    stored: dict[str, Case] = {}
    rows: dict[str, AggregateRow] = {}
    spellings: dict[str, dict[str, int]] = {}
    changes = AggregateChanges()

    def bounds(agg_id: str) -> tuple[dt.datetime, dt.datetime]:
        members = [c for c in stored.values() if member_of(c, pipeline)[0].agg_id == agg_id]
        return min(c.created_at for c in members), max(c.updated_at for c in members)

    def flush() -> None:
        nonlocal changes
        applied = apply_changes(
            changes, rows, spellings, bounds, rules_version=pipeline.version, now=T0
        )
        for agg_id in applied.deleted:
            rows.pop(agg_id, None)
        rows.update({row.id: row for row in applied.rows})
        spellings.update({k: dict(v) for k, v in applied.spellings.items()})
        changes = AggregateChanges()

    for step, (source_id, new) in enumerate(ops, start=1):
        old = stored.get(source_id)
        if old is not None:
            changes.remove(member_of(old, pipeline)[0])
            del stored[source_id]
        if new is not None:
            member, key = member_of(new, pipeline)
            changes.add(member, key)
            stored[source_id] = new
        if step % every == 0:
            flush()
    flush()

    expected = consolidate(stored.values(), pipeline)
    assert set(rows) == set(expected)
    for agg_id, row in rows.items():
        found = row.to_aggregated_case(expected[agg_id].cases, now=row.first_seen_at)
        lifecycle = {"first_seen_at": None, "lifecycle": None}
        assert attrs.evolve(found, **lifecycle) == expected[agg_id]


@settings(max_examples=60)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(PROVIDERS),
            st.sampled_from(CODES),
            st.booleans(),
            st.integers(0, 500),
            st.integers(0, 500),
        ),
        max_size=30,
    ),
    st.integers(0, 5),
)
def test_new_rows_added_at_once_are_their_members_added_one_by_one(
    values: list[tuple[str | None, str | None, bool, int, int]], removed_first: int
) -> None:
    pipeline = KeyPipeline([DefaultKey()])
    one_by_one, at_once = AggregateChanges(), AggregateChanges()
    rows, keys = [], {}
    for i, (provider, code, is_open, created, updated) in enumerate(values):
        c = case(str(i), provider, code, status=Status.OPEN if is_open else Status.CLOSED,
                 created=created, updated=updated)  # fmt: skip
        key, agg_id = pipeline.keyed(c)
        keys[agg_id] = key
        rows.append(("banana", c.source_id, agg_id, None, None, is_open, None, provider, code,
                     c.created_at, c.updated_at, None))  # fmt: skip
    for changes in (one_by_one, at_once):  # a few removals before: deltas that exist
        for row in rows[:removed_first]:
            changes.remove(prepare_member(row))
    for row in rows:
        one_by_one.add(prepare_member(row), keys[row[2]], arrived_open=row[5])
    at_once.add_new(rows, keys)
    assert at_once._deltas == one_by_one._deltas
    assert at_once.keys == one_by_one.keys
    assert at_once.arrivals == one_by_one.arrivals


def test_a_full_memory_of_keys_starts_afresh_and_stays_right(monkeypatch: Any) -> None:
    monkeypatch.setattr(consolidate_module, "_KEYS_REMEMBERED", 4)
    pipeline = KeyPipeline([DefaultKey(), SourceTagRule()])
    for i in range(30):
        c = case(str(i), ["Acme", "Globex"][i % 2], "1", source=["a", "b", "c"][i % 3])
        key = pipeline.key_for(c)
        assert pipeline.keyed(c) == (key, key.id)
        assert len(pipeline._keys) <= 4
