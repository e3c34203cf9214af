"""Issue 13 part 4: a database grouped by default@1 moves to newer rules, losing nothing.

The branch's default@2 may still equal default@1, so these tests register a
default@2 that folds what default@1 does not (accents, dotted legal forms,
apostrophes, en dashes) and prove the machinery with it: the preview, the
regroup, the overrides carried over, and old ids that lead to their successor.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
import sqlalchemy as sa

import supporthub
from supporthub import Moved, NotFound
from supporthub.grouping.normalize import LEGAL_SUFFIXES, error_code_key_v1, provider_key_v1
from supporthub.grouping.rulesets import RULE_SETS, RuleSet

# Real-world spellings: default@1 splits each line, the folding rules join it.
SPELLINGS = {
    "1": ("Acme S.A.", "E-1042"),
    "2": ("ACME SA", "1042"),
    "3": ("Acme, Inc.", "E\u20131042"),  # an en dash
    "4": ("Nestlé", "AUTH_FAILED"),
    "5": ("Nestle", "auth_failed"),
    "6": ("Nestlé S.A.", "AUTH_FAILED"),
    "7": ("McDonald's", "500"),
    "8": ("McDonalds", "500"),
    "9": ("Globex", "500"),
    "10": ("Globex Corp", "E-500"),
    "11": ("Initech", "42"),
}


def _folding_provider_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    text = unicodedata.normalize("NFKD", raw)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return provider_key_v1(text.replace(".", "").replace("'", ""))


def _folding_error_code_key(raw: str | None) -> str | None:
    return error_code_key_v1(None if raw is None else raw.replace("\u2013", "-"))


FOLDING = RuleSet(
    "default@2", _folding_provider_key, _folding_error_code_key, tuple(sorted(LEGAL_SUFFIXES))
)


@pytest.fixture
def folding_rules(monkeypatch: pytest.MonkeyPatch) -> RuleSet:
    monkeypatch.setitem(RULE_SETS, "default@2", FOLDING)
    return FOLDING


def pin(hub: supporthub.Hub, name: str) -> None:
    """What migration 0003 records in a database an older release filled."""
    hub.upgrade_db()
    with hub.store.writer() as writer:
        writer.set_meta("default_rules", name)


def members(hub: supporthub.Hub) -> dict[str, set[str]]:
    return {a.id: {c.source_id for c in a.cases} for a in hub.all().aggregated_cases}


def group_of(hub: supporthub.Hub, case_id: str) -> str:
    (found,) = [agg for agg, ids in members(hub).items() if case_id in ids]
    return found


def all_cases(hub: supporthub.Hub) -> list[tuple[Any, ...]]:
    return sorted(
        (c.source, c.source_id, c.subject, c.provider, c.error_code, c.status)
        for a in hub.all().aggregated_cases
        for c in a.cases
    )


@pytest.fixture
def v1_hub(make_hub: Any, fake_crm: Any, folding_rules: RuleSet) -> supporthub.Hub:
    """A database filled under default@1, with overrides made under its keys."""
    for case_id, (provider, code) in SPELLINGS.items():
        fake_crm.put(case_id, provider=provider, error_code=code, subject=f"case {case_id}")
    hub = make_hub()
    pin(hub, "default@1")
    assert hub.refresh(force=True).ok
    groups = members(hub)
    assert len(groups) == 10  # default@1 splits every spelling above but Globex's
    nestle_v1 = group_of(hub, "4")
    hub.merge(group_of(hub, "11"), nestle_v1, by="alice", reason="Initech resells Nestlé")
    hub.add_alias("McDonald's", "Globex", by="bob", reason="same franchise desk")
    hub.move("fake", "3", by="carol", reason="a different Acme")
    assert members(hub)[nestle_v1] == {"4", "11"}
    assert {"7", "9", "10"} in members(hub).values()
    assert {"3"} in members(hub).values()
    return hub


def test_refresh_keeps_the_recorded_rule_set_until_db_upgrade(v1_hub, fake_crm) -> None:
    fake_crm.put("12", provider="Nestle S.A.", error_code="AUTH_FAILED")
    assert v1_hub.refresh(force=True).ok
    assert v1_hub.pipeline.rule_set.name == "default@1"
    assert group_of(v1_hub, "12") != group_of(v1_hub, "5")  # default@1 keeps them apart
    assert v1_hub.explain(group_of(v1_hub, "12")).made_by.startswith("default@1")


def test_preview_shows_the_pending_upgrade_and_changes_nothing(v1_hub) -> None:
    before = members(v1_hub)
    upgrade = v1_hub.preview_upgrade()
    assert (upgrade.from_rules, upgrade.to_rules, upgrade.pending) == (
        "default@1",
        "default@2",
        True,
    )
    acme_sa = group_of(v1_hub, "1")
    nestle = group_of(v1_hub, "5")
    assert acme_sa in upgrade.diff.vanished
    assert set(upgrade.diff.merges[nestle]) >= {group_of(v1_hub, "4"), group_of(v1_hub, "6")}
    assert all(not c.changed or c.becomes for c in upgrade.overrides)
    assert members(v1_hub) == before
    assert v1_hub.preview_upgrade() == upgrade


def test_upgrade_regroups_every_case_and_keeps_the_overrides(v1_hub) -> None:
    cases_before = all_cases(v1_hub)
    old = {case_id: group_of(v1_hub, case_id) for case_id in SPELLINGS}

    upgrade = v1_hub.upgrade_db()

    assert upgrade.applied and not upgrade.pending
    assert all_cases(v1_hub) == cases_before  # the same cases, untouched
    groups = sorted(sorted(ids, key=int) for ids in members(v1_hub).values())
    assert groups == [
        ["1", "2"],  # Acme S.A. = ACME SA
        ["3"],  # moved out under default@1, still on its own
        ["4", "5", "6", "11"],  # Nestlé = Nestle = Nestlé S.A., and the merge
        ["7", "8", "9", "10"],  # McDonald's = McDonalds, and the alias to Globex
    ]
    # Recorded: the new rules made every aggregated case, in words.
    for aggregated in v1_hub.all().aggregated_cases:
        assert v1_hub.explain(aggregated.id).made_by.startswith("default@2")
    assert v1_hub.pipeline.rule_set.name == "default@2"
    # The carried-over overrides are the ones in force; the old ones say why they went.
    active = v1_hub.overrides()
    assert {o.created_by for o in active} == {"alice", "bob", "carol"}
    retired = [o for o in v1_hub.overrides(include_removed=True) if not o.active]
    assert retired and all(o.removed_by == "supporthub db upgrade to default@2" for o in retired)
    # Nothing left to do: a refresh and a second upgrade regroup nothing.
    assert v1_hub.preview_rules().empty
    assert not v1_hub.upgrade_db().pending
    assert v1_hub.refresh(force=True).ok
    assert sorted(sorted(ids, key=int) for ids in members(v1_hub).values()) == groups
    # Old ids lead to the aggregated case that holds most of their cases.
    for case_id, old_id in old.items():
        new_id = group_of(v1_hub, case_id)
        assert v1_hub.get(old_id).id == new_id
        if old_id != new_id:
            assert v1_hub.successor(old_id) == new_id
            with pytest.raises(Moved) as moved:
                v1_hub.get(old_id, follow=False)
            assert moved.value.new_id == new_id


def test_chains_resolve_and_an_id_whose_cases_are_gone_is_not_found(v1_hub, fake_crm) -> None:
    acme_sa_v1, nestle_v1 = group_of(v1_hub, "1"), group_of(v1_hub, "4")
    v1_hub.upgrade_db()
    nestle, globex = group_of(v1_hub, "4"), group_of(v1_hub, "9")
    assert v1_hub.get(nestle_v1).id == nestle
    # A later regroup retires the new id too: the old one follows its cases.
    v1_hub.merge(nestle, globex, by="dave", reason="one desk now")
    assert v1_hub.successor(nestle) == globex
    assert v1_hub.successor(nestle_v1) == globex
    assert v1_hub.get(nestle_v1).id == globex
    # None of Acme S.A.'s cases remain: its old id is unknown, not moved.
    assert v1_hub.successor(acme_sa_v1) == group_of(v1_hub, "2")
    fake_crm.delete("1")
    assert v1_hub.refresh(force=True).ok
    assert v1_hub.successor(acme_sa_v1) is None
    with pytest.raises(NotFound) as missing:
        v1_hub.get(acme_sa_v1)
    assert not isinstance(missing.value, Moved)


def test_a_split_id_goes_to_the_biggest_part_ties_to_the_smallest_id(
    make_hub, fake_crm, folding_rules
) -> None:
    # default@1 gives all three one key; the folding rules split them 2 / 1,
    # and without the third a tie 1 / 1.
    fake_crm.put("m1", provider="McDonald's", error_code="E\u20131")
    fake_crm.put("m2", provider="McDonald S", error_code="E\u20131")
    fake_crm.put("m3", provider="McDonald S", error_code="E\u20131")
    hub = make_hub()
    pin(hub, "default@1")
    hub.refresh(force=True)
    (old,) = members(hub)
    hub.upgrade_db()
    assert old not in members(hub)
    assert hub.successor(old) == group_of(hub, "m2") == group_of(hub, "m3")
    fake_crm.delete("m3")
    hub.refresh(force=True)
    assert hub.successor(old) == min(group_of(hub, "m1"), group_of(hub, "m2"))
    assert group_of(hub, "m1") != group_of(hub, "m2")


def test_migration_0003_marks_a_filled_database_default_1(database_url) -> None:
    from alembic import command
    from alembic.config import Config

    from supporthub.store.sql import _MIGRATIONS

    engine = sa.create_engine(database_url)
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
        connection.execute(
            sa.text(
                "INSERT INTO cases (source, source_id, agg_id, is_open, provider, error_code, "
                "created_at, updated_at) VALUES ('fake', '1', 'x', 1, 'Nestlé', '1', "
                "'2026-11-01 00:00:00', '2026-11-01 00:00:00')"
            )
        )
        connection.execute(sa.text("INSERT INTO meta VALUES ('rules_version', 'abc')"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    with engine.connect() as connection:
        stored = dict(connection.execute(sa.text("SELECT * FROM meta")).all())
        labels = connection.execute(sa.text("SELECT version, default_rules FROM rule_sets")).all()
    engine.dispose()
    assert stored["default_rules"] == "default@1"
    assert [tuple(row) for row in labels] == [("abc", "default@1")]


# -- over HTTP -------------------------------------------------------------------------


def test_http_preview_then_308_from_old_ids_and_their_sub_resources(v1_hub, fake_crm) -> None:
    from starlette.testclient import TestClient

    from supporthub.service import create_app

    acme_sa_v1, nestle_v1 = group_of(v1_hub, "1"), group_of(v1_hub, "4")
    with TestClient(create_app(v1_hub, scheduler=False), follow_redirects=False) as client:
        preview = client.get("/rules/preview")
        assert preview.status_code == 200
        upgrade = preview.json()["upgrade"]
        assert (upgrade["fromRules"], upgrade["toRules"], upgrade["pending"]) == (
            "default@1",
            "default@2",
            True,
        )
        assert acme_sa_v1 in upgrade["diff"]["vanished"]
        before = client.get(f"/aggregated-cases/{nestle_v1}/explain").json()
        assert before["madeBy"].startswith("default@1")
        assert before["defaultRules"] == "default@1"

        v1_hub.upgrade_db()

        assert client.get("/rules/preview").json()["upgrade"]["pending"] is False
        nestle, acme = group_of(v1_hub, "4"), group_of(v1_hub, "2")
        moved = client.get(f"/aggregated-cases/{nestle_v1}")
        assert moved.status_code == 308
        assert moved.headers["location"] == f"/aggregated-cases/{nestle}"
        assert moved.json()["movedTo"] == nestle
        explain = client.get(f"/aggregated-cases/{nestle_v1}/explain")
        assert explain.status_code == 308
        assert explain.headers["location"] == f"/aggregated-cases/{nestle}/explain"
        followed = client.get(f"/aggregated-cases/{nestle_v1}/explain", follow_redirects=True)
        body = followed.json()
        assert followed.status_code == 200 and body["id"] == nestle
        assert body["madeBy"].startswith("default@2") and body["defaultRules"] == "default@2"
        assert "gmbh" in body["legalForms"]
        assert client.get(f"/aggregated-cases/{acme_sa_v1}").headers["location"].endswith(acme)
        fake_crm.delete("1")
        assert v1_hub.refresh(force=True).ok
        gone = client.get(f"/aggregated-cases/{acme_sa_v1}")
        assert gone.status_code == 404 and "error" in gone.json()
        assert client.get(f"/aggregated-cases/{acme_sa_v1}/explain").status_code == 404
        assert client.get("/aggregated-cases/never-an-id").status_code == 404


def test_cli_previews_then_upgrades(v1_hub, database_url, monkeypatch, capsys) -> None:
    from supporthub.cli import main

    monkeypatch.setenv("SUPPORTHUB_DATABASE_URL", database_url)
    before = members(v1_hub)
    assert main(["db", "upgrade", "--preview"]) == 0
    out = capsys.readouterr().out
    assert "grouping rules: default@1 -> default@2: would regroup (preview)" in out
    assert f"vanish: {group_of(v1_hub, '1')}" in out
    assert members(v1_hub) == before
    assert main(["rules", "preview"]) == 0
    assert "default@1 -> default@2" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    out = capsys.readouterr().out
    assert "database schema is current" in out and "default@1 -> default@2: regrouped" in out
    assert len(members(v1_hub)) == 4
    assert main(["db", "upgrade", "--json"]) == 0
    assert '"pending":false' in capsys.readouterr().out
