"""Operators steer the grouping: explain, merge, move, alias, undo, replay.

The lifecycle (new, regressed) is contract §7's, tested in ``test_work.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

import supporthub
from supporthub import InvalidQuery, NotFound


def grouping(hub: supporthub.Hub) -> dict[str, list[tuple[str, str]]]:
    """Aggregated case id → its members, exactly as stored."""
    return {
        a.id: sorted((c.source, c.source_id) for c in a.cases) for a in hub.all().aggregated_cases
    }


def dump(hub: supporthub.Hub) -> list[tuple[Any, ...]]:
    with hub.store.engine.connect() as connection:
        return sorted(
            tuple(r)
            for r in connection.execute(sa.text("SELECT source, source_id, agg_id FROM cases"))
        )


def by_key(hub: supporthub.Hub) -> dict[tuple[str | None, str | None], supporthub.AggregatedCase]:
    return {(a.provider_key, a.error_code): a for a in hub.all().aggregated_cases}


@pytest.fixture
def seeded(make_hub, fake_crm) -> supporthub.Hub:
    fake_crm.put("1", provider="Acme Payments", error_code="1042")
    fake_crm.put("2", provider="ACME PAYMENTS INC", error_code="E-1042")
    fake_crm.put("3", provider="Acme Paymnts", error_code="1042")  # a typo
    fake_crm.put("4", provider="Globex", error_code="AUTH_FAILED", status="closed")
    fake_crm.put("5", provider="Globex", error_code=None)
    hub = make_hub()
    hub.refresh(force=True)
    return hub


def test_explain_shows_key_rules_and_raw_values(seeded) -> None:
    acme = by_key(seeded)[("acme payments", "1042")]
    explanation = seeded.explain(acme.id)
    assert explanation.key == supporthub.AggregationKey("acme payments", "1042")
    assert explanation.rules == ("default@2",)
    assert explanation.default_rules == "default@2"
    assert "gmbh" in explanation.legal_forms
    # The whole default@2 list (§3), multi-word and attached forms included.
    assert {"pty ltd", "gmbh and co kg", "株式会社"} <= set(explanation.legal_forms)
    assert explanation.made_by == "default@2"
    assert explanation.rules_version == acme.rules_version
    values = {(v.provider, v.error_code): v for v in explanation.values}
    assert set(values) == {("Acme Payments", "1042"), ("ACME PAYMENTS INC", "E-1042")}
    steps = values[("ACME PAYMENTS INC", "E-1042")].steps
    assert [(s.rule, s.key) for s in steps] == [("default", explanation.key)]
    with pytest.raises(NotFound):
        seeded.explain("nope")


def test_merge_survives_ten_refreshes_and_new_cases(seeded, fake_crm) -> None:
    groups = by_key(seeded)
    typo, acme = groups[("acme paymnts", "1042")], groups[("acme payments", "1042")]
    change = seeded.merge(typo.id, acme.id, by="alice", reason="typo of Acme Payments")
    assert change.applied and change.diff.vanished == (typo.id,)
    assert change.diff.merges == {acme.id: tuple(sorted((acme.id, typo.id)))}
    (override,) = seeded.overrides()
    assert (override.created_by, override.reason, override.id) == (
        "alice",
        "typo of Acme Payments",
        change.overrides[0].id,
    )
    for round_ in range(10):
        fake_crm.put(f"new{round_}", provider="acme paymnts", error_code="E-1042")
        seeded.refresh(force=True)
    merged = by_key(seeded)
    assert ("acme paymnts", "1042") not in merged
    assert merged[("acme payments", "1042")].case_count == 3 + 10
    explanation = seeded.explain(acme.id)
    assert [o.id for o in explanation.overrides] == [override.id]
    assert explanation.rules[-1] == "overrides@1"


def test_undo_restores_the_exact_previous_grouping(seeded) -> None:
    before_groups, before_rows = grouping(seeded), dump(seeded)
    groups = by_key(seeded)
    merged = seeded.merge(
        groups[("globex", None)].id,
        groups[("globex", "AUTH_FAILED")].id,
        by="bob",
        reason="same outage",
    )
    moved = seeded.move("fake", "1", by="bob", reason="different issue")
    assert grouping(seeded) != before_groups
    seeded.undo(moved.overrides[0].id, by="bob")
    seeded.undo(merged.overrides[0].id, by="bob")
    assert grouping(seeded) == before_groups
    assert dump(seeded) == before_rows
    history = seeded.overrides(include_removed=True)
    assert [o.removed_by for o in history] == ["bob", "bob"]
    assert seeded.overrides() == []


def test_a_preview_equals_what_applying_then_does(seeded) -> None:
    groups = by_key(seeded)
    before = grouping(seeded)
    preview = seeded.merge(
        groups[("acme paymnts", "1042")].id,
        groups[("acme payments", "1042")].id,
        by="carol",
        reason="typo",
        dry_run=True,
    )
    assert not preview.applied and grouping(seeded) == before and seeded.overrides() == []
    applied = seeded.merge(
        groups[("acme paymnts", "1042")].id,
        groups[("acme payments", "1042")].id,
        by="carol",
        reason="typo",
    )
    assert applied.diff == preview.diff
    move_preview = seeded.move("fake", "2", by="carol", reason="x", dry_run=True)
    assert seeded.move("fake", "2", by="carol", reason="x").diff == move_preview.diff
    undo_preview = seeded.undo(applied.overrides[0].id, by="carol", dry_run=True)
    assert seeded.undo(applied.overrides[0].id, by="carol").diff == undo_preview.diff


def test_moving_a_case_out_and_into_another(seeded) -> None:
    groups = by_key(seeded)
    acme, globex = groups[("acme payments", "1042")], groups[("globex", None)]
    alone = seeded.move("fake", "1", by="dave", reason="not the same problem")
    (new_id,) = alone.diff.appeared
    assert grouping(seeded)[new_id] == [("fake", "1")]
    assert grouping(seeded)[acme.id] == [("fake", "2")]
    # both sides of the move say so
    assert [o.id for o in seeded.explain(new_id).overrides] == [alone.overrides[0].id]
    assert [o.id for o in seeded.explain(acme.id).overrides] == [alone.overrides[0].id]
    into = seeded.move("fake", "2", into_id=globex.id, by="dave", reason="Globex's problem")
    assert into.diff.moved_cases == 1 and into.diff.vanished == (acme.id,)
    assert ("fake", "2") in grouping(seeded)[globex.id]


def test_an_alias_applies_to_history_and_to_searches(seeded) -> None:
    change = seeded.add_alias("Acme Paymnts", "Acme Payments", by="erin", reason="typo")
    assert change.diff.moved_cases == 1
    assert by_key(seeded)[("acme payments", "1042")].case_count == 3
    assert seeded.search(provider="acme paymnts").total == 1


def test_the_same_override_twice_is_stored_once(seeded, make_hub) -> None:
    """Two processes make the same override at once: built again under the lock, made once."""
    first = seeded.add_alias("Acme Paymnts", "Acme Payments", by="erin", reason="typo")
    other = make_hub()  # another process on the same database
    again = other.add_alias("acme paymnts", "ACME PAYMENTS", by="frank", reason="typo too")
    assert again.applied and again.overrides == first.overrides
    assert again.diff.moved_cases == 0
    assert [o.id for o in seeded.overrides()] == [first.overrides[0].id]
    groups = by_key(seeded)
    acme, globex = groups[("acme payments", "1042")], groups[("globex", None)]
    merged = seeded.merge(globex.id, acme.id, by="erin", reason="same outage")
    # The second merge of the same two, built under the lock, finds its subject gone.
    with pytest.raises(NotFound):
        other.merge(globex.id, acme.id, by="frank", reason="same outage")
    assert [o.id for o in seeded.overrides()] == [
        first.overrides[0].id,
        merged.overrides[0].id,
    ]


def test_bad_requests_are_refused_in_words_and_change_nothing(seeded) -> None:
    before = dump(seeded)
    acme = by_key(seeded)[("acme payments", "1042")]
    typo = by_key(seeded)[("acme paymnts", "1042")]
    with pytest.raises(NotFound, match="no aggregated case has the id"):
        seeded.merge("unknown", acme.id, by="x", reason="y")
    with pytest.raises(InvalidQuery, match="cannot be merged into itself"):
        seeded.merge(acme.id, acme.id, by="x", reason="y")
    with pytest.raises(InvalidQuery, match="say who you are and why"):
        seeded.merge(typo.id, acme.id, by=" ", reason="y")
    with pytest.raises(NotFound, match="no case fake/404"):
        seeded.move("fake", "404", by="x", reason="y")
    with pytest.raises(NotFound, match="no active override has the id 99"):
        seeded.undo(99, by="x")
    with pytest.raises(InvalidQuery, match="same provider key"):
        seeded.add_alias("ACME PAYMENTS", "acme payments inc", by="x", reason="y")
    seeded.merge(typo.id, acme.id, by="x", reason="y")
    after_merge = dump(seeded)
    with pytest.raises(NotFound):  # the typo aggregated case is gone: nothing to merge back
        seeded.merge(typo.id, acme.id, by="x", reason="y")
    assert dump(seeded) == after_merge
    assert before != after_merge


def test_alias_cycles_are_refused(seeded) -> None:
    seeded.add_alias("Acme Paymnts", "Acme Payments", by="x", reason="typo")
    before = dump(seeded)
    with pytest.raises(InvalidQuery, match="cycle"):
        seeded.add_alias("Acme Payments", "Acme Paymnts", by="x", reason="the other way round")
    assert dump(seeded) == before
    assert len(seeded.overrides()) == 1


def test_changed_configuration_can_be_previewed_then_applied(seeded, make_hub) -> None:
    aliased = make_hub(SUPPORTHUB_PROVIDER_ALIASES='{"Acme Paymnts": "Acme Payments"}')
    preview = aliased.preview_rules()
    assert preview.moved_cases == 1 and len(preview.vanished) == 1
    assert aliased.apply_rules().diff == preview
    assert aliased.preview_rules().empty
