"""Issue 13 part 5: ``q``, free text for people, on SQLite and MariaDB."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest

import supporthub
from supporthub import InvalidQuery
from supporthub.grouping.normalize import LEGAL_SUFFIXES, error_code_key, provider_key_v1
from supporthub.grouping.rulesets import RULE_SETS, RuleSet

PROVIDERS = {
    "1": ("Nakatomi Trading", "E-1042"),
    "2": ("Nakatomi Plaza", "AUTH_FAILED"),
    "3": ("Trading Nakatomi", "500"),
    "4": ("Okonomi Naka", "7"),
    "5": ("Zeta", "AUTHXFAILED"),
    "6": ("Acme Payments, Inc.", "TIMEOUT"),
    "7": (None, "E-1042-B"),
}


@pytest.fixture
def hub(make_hub: Any, fake_crm: Any) -> supporthub.Hub:
    for case_id, (provider, code) in PROVIDERS.items():
        fake_crm.put(case_id, provider=provider, error_code=code, status="open")
    fake_crm.put("8", provider="Nakatomi Trading", error_code="E-1042", status="closed")
    built = make_hub()
    assert built.refresh(force=True).ok
    return built


def found(hub: supporthub.Hub, **params: Any) -> list[tuple[str | None, str | None]]:
    page = hub.search(cases_limit=0, **params)
    assert page.total == len(page.aggregated_cases)
    return sorted(((a.provider, a.error_code) for a in page.aggregated_cases), key=str)


def test_q_matches_runs_of_whole_word_prefixes(hub) -> None:
    assert found(hub, q="nakatomi") == [
        ("Nakatomi Plaza", "AUTH_FAILED"),
        ("Nakatomi Trading", "1042"),
        ("Trading Nakatomi", "500"),
    ]
    assert found(hub, q="naka trad") == [("Nakatomi Trading", "1042")]
    assert found(hub, q="NAKATOMI TRADING INC.") == [("Nakatomi Trading", "1042")]
    assert found(hub, q="  Naka-Trad ") == [("Nakatomi Trading", "1042")]
    assert found(hub, q="trad naka") == [("Trading Nakatomi", "500")]
    assert found(hub, q="naka") == [
        ("Nakatomi Plaza", "AUTH_FAILED"),
        ("Nakatomi Trading", "1042"),
        ("Okonomi Naka", "7"),
        ("Trading Nakatomi", "500"),
    ]
    assert found(hub, q="akatomi") == []  # inside a word is not a prefix
    assert found(hub, q="nakatomi okonomi") == []
    assert found(hub, q="acme pay") == [("Acme Payments, Inc.", "TIMEOUT")]


def test_q_matches_part_of_the_error_code_key(hub) -> None:
    assert found(hub, q="104") == [("Nakatomi Trading", "1042"), (None, "1042-B")]
    assert found(hub, q="E-1042-b") == [(None, "1042-B")]
    assert found(hub, q="h_f") == [("Nakatomi Plaza", "AUTH_FAILED")]  # `_` is no wildcard
    assert found(hub, q="out") == [("Acme Payments, Inc.", "TIMEOUT")]


def test_q_repeats_and_combines_with_the_other_filters(hub) -> None:
    assert found(hub, q=["naka trad", "zeta"]) == [
        ("Nakatomi Trading", "1042"),
        ("Zeta", "AUTHXFAILED"),
    ]
    assert found(hub, q="plaza", error_code="500") == []
    (trading,) = hub.search(q="naka trad", status="open").aggregated_cases
    assert trading.status is supporthub.Status.OPEN


@pytest.mark.parametrize("bad", ["", "---", " ", "x" * 201])
def test_q_that_has_no_key_or_is_too_long_is_refused(hub, bad) -> None:
    with pytest.raises(InvalidQuery, match="q"):
        hub.search(q=bad)


def test_q_over_http(hub) -> None:
    from starlette.testclient import TestClient

    from supporthub.service import create_app

    with TestClient(create_app(hub, scheduler=False)) as client:
        answer = client.get("/search", params={"q": "naka trad", "limit": 100, "casesLimit": 0})
        assert answer.status_code == 200, answer.text
        assert [a["provider"] for a in answer.json()["aggregatedCases"]] == ["Nakatomi Trading"]
        both = client.get("/search", params=[("q", "zeta"), ("q", "plaza")]).json()
        assert both["total"] == 2
        for bad in ("---", "é" * 201, ""):
            refused = client.get("/search", params={"q": bad})
            assert refused.status_code == 400 and "q" in refused.json()["error"]
        assert client.get("/get-all", params={"q": "naka"}).status_code == 400


def _folding(raw: str | None) -> str | None:
    if raw is None:
        return None
    text = unicodedata.normalize("NFKD", raw.replace("ł", "l").replace("Ł", "L"))
    return provider_key_v1("".join(c for c in text if not unicodedata.combining(c)))


def test_q_uses_the_rule_set_the_database_is_grouped_by(make_hub, fake_crm, monkeypatch) -> None:
    folding = RuleSet("default@2", _folding, error_code_key, tuple(sorted(LEGAL_SUFFIXES)))
    monkeypatch.setitem(RULE_SETS, "default@2", folding)
    fake_crm.put("1", provider="Łódź Płatności", error_code="9")
    hub = make_hub()
    hub.refresh(force=True)
    assert found(hub, q="lodz") == [("Łódź Płatności", "9")]
    assert found(hub, q="ŁÓDŹ PŁAT") == [("Łódź Płatności", "9")]
    assert found(hub, q="platn") == [("Łódź Płatności", "9")]


def test_q_pages_with_a_cursor_like_any_search(hub, fake_crm) -> None:
    for n in range(5):
        fake_crm.put(f"p{n}", provider=f"Nakamura {n}", error_code=f"X{n}")
    hub.refresh(force=True)
    seen, cursor = [], None
    while True:
        page = hub.search(q="naka", limit=2, cursor=cursor, cases_limit=0)
        assert page.total == 9
        seen += [a.id for a in page.aggregated_cases]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 9
    assert seen == [a.id for a in hub.search(q="naka", cases_limit=0).aggregated_cases]
