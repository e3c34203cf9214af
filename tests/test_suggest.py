"""Suggestions: planted typos found (precision and recall), groups of uncoded cases."""

from __future__ import annotations

import collections
import itertools
from collections.abc import Iterator
from typing import Any

import pytest

import supporthub
from supporthub import Adapter, Batch, Case, Status, hookimpl, provider_key
from supporthub.testing.sim import CaseGenerator

SEED, N = 7, 3000


class GeneratedAdapter(Adapter):
    """The simulators' generated data set, served without HTTP."""

    name = "generated"
    title = "Generated"

    def fetch(self, cursor: str | None) -> Iterator[Batch]:
        specs = CaseGenerator(seed=SEED).specs(N)
        while chunk := list(itertools.islice(specs, 1000)):
            yield Batch(
                cases=tuple(
                    Case(
                        "generated",
                        str(s.seq),
                        str(s.seq),
                        s.subject,
                        Status.OPEN if s.is_open else Status.CLOSED,
                        None,
                        s.provider,
                        s.error_code,
                        s.created_at,
                        s.updated_at,
                        None,
                    )
                    for s in chunk
                ),
                fetched=len(chunk),
                cursor="done",
            )


class GeneratedPlugin:
    @hookimpl
    def register_adapters(self, register: Any) -> None:
        register(GeneratedAdapter)


@pytest.fixture
def generated(database_url: str) -> Iterator[supporthub.Hub]:
    manager = supporthub.make_plugin_manager(entry_points=False)
    manager.register(GeneratedPlugin())
    hub = supporthub.Hub.from_env(
        {"SUPPORTHUB_DATABASE_URL": database_url, "SUPPORTHUB_GENERATED_URL": "x"}, plugins=manager
    )
    hub.refresh(force=True)
    yield hub
    hub.close()


def _kind(typo: str, canonical: str) -> str:
    if not typo.isascii():
        return "another script"
    if sorted(typo.casefold().split()) == sorted(canonical.casefold().split()):
        return "word order"
    return "typos"


def test_alias_suggestions_find_the_planted_variants(generated: supporthub.Hub) -> None:
    """What the rules cannot decide (typos, word order, other scripts) is suggested."""
    truth = CaseGenerator(seed=SEED).planted_misspellings()
    planted = {(provider_key(typo), provider_key(canonical)) for typo, canonical in truth.items()}
    suggested = {(s.spelling, s.provider) for s in generated.suggestions().aliases}
    hits = planted & suggested
    precision = len(hits) / len(suggested) if suggested else 0.0
    recall = len(hits) / len(planted)
    by_kind = collections.defaultdict(list)
    for typo, canonical in truth.items():
        by_kind[_kind(typo, canonical)].append((provider_key(typo), provider_key(canonical)))
    kinds = ", ".join(
        f"{kind} {len(set(pairs) & hits)}/{len(pairs)}" for kind, pairs in sorted(by_kind.items())
    )
    print(
        f"alias suggestions: precision {precision:.2f}, recall {recall:.2f} "
        f"({len(hits)} of {len(planted)} planted, {len(suggested)} suggested; {kinds})"
    )
    assert set(by_kind) == {"typos", "word order", "another script"}
    assert precision >= 0.9
    assert recall >= 0.8


def test_accepting_an_alias_suggestion_merges_and_it_is_no_longer_suggested(
    generated: supporthub.Hub,
) -> None:
    first = generated.suggestions().aliases[0]

    def cases_of(provider: str) -> int:
        return sum(a.case_count for a in generated.search(provider=provider).aggregated_cases)

    before = cases_of(first.provider)
    preview = generated.accept_suggestion(first.id, by="ops", reason="typo", dry_run=True)
    change = generated.accept_suggestion(first.id, by="ops", reason="typo")
    assert change.diff == preview.diff and change.diff.moved_cases == first.case_count
    assert cases_of(first.provider) == before + first.case_count
    # the typo now finds the provider's aggregated cases
    assert generated.search(provider=first.spelling) == generated.search(provider=first.provider)
    assert first.id not in {s.id for s in generated.suggestions().aliases}
    with pytest.raises(supporthub.NotFound, match="no current suggestion"):
        generated.accept_suggestion(first.id, by="ops", reason="again")


def test_group_suggestions_gather_uncoded_near_duplicates(generated: supporthub.Hub) -> None:
    groups = generated.suggestions().groups
    assert groups, "the generated data has cases without an error code sharing subjects"
    group = groups[0]
    assert len(group.cases) >= 2
    change = generated.accept_suggestion(group.id, by="ops", reason="same complaint")
    assert change.applied and change.diff.moved_cases >= 1
    target = change.overrides[0].target
    assert all(o.target == target for o in change.overrides)
    (landed,) = [a for a in generated.all().aggregated_cases if a.id == target.id]
    members = {(c.source, c.source_id) for c in landed.cases}
    assert {(r.source, r.source_id) for r in group.cases} <= members


def test_names_that_differ_only_in_their_numbers_are_not_aliases(make_hub, fake_crm) -> None:
    for number, provider in enumerate(
        [
            "Vendor 01",
            "Vendor 02",
            "Vendor 02",
            "Vendor 1",
            "Vendor 12",
            "Region 7 Bank",
            "Acme Payments",
            "Acme Payments",
            "Acme Paymnts",
        ]
    ):
        fake_crm.put(str(number), provider=provider, error_code="E-1")
    hub = make_hub()
    hub.refresh(force=True)
    suggested = {(s.spelling, s.provider) for s in hub.suggestions().aliases}
    assert suggested == {("acme paymnts", "acme payments")}


def test_an_accepted_group_is_not_suggested_again(make_hub, fake_crm) -> None:
    fake_crm.put("1", provider="Globex", error_code=None, subject="Login page times out")
    fake_crm.put("2", provider="Globex", error_code=None, subject="login page times out!")
    fake_crm.put("3", provider="Globex", error_code=None, subject="Invoice PDF is blank")
    hub = make_hub()
    hub.refresh(force=True)
    (group,) = hub.suggestions().groups
    hub.accept_suggestion(group.id, by="ops", reason="same complaint")
    assert hub.suggestions().groups == ()
    with pytest.raises(supporthub.NotFound):
        hub.accept_suggestion(group.id, by="ops", reason="again")


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        ("payments acme", "acme payments", True),  # word order
        ("gl\u043ebex pay", "globex pay", True),  # a Cyrillic o
        ("\u0441\u043e\u043dtoso pay", "contoso pay", True),  # three look-alikes
        ("stelring cooper payemnts", "sterling cooper payments", True),  # two typos, long
        ("acme paymnts", "acme payments", True),
        ("acme pymnts", "acme payments", False),  # two typos in a short name
        ("vendor 01", "vendor 02", False),
        ("acme 1 pay", "pay acme 2", False),
        ("acme", "acme bank", False),
        ("\u043c\u043e\u0441\u043a\u0432\u0430", "mockba", True),  # look-alikes all through
        ("\u03c3\u03bf\u03bd\u03b9", "sony", False),  # Greek, but not look-alikes
    ],
)
def test_what_an_alias_suggestion_finds(left: str, right: str, same: bool) -> None:
    from rapidfuzz.distance import OSA

    from supporthub.steering.suggest import _probably_same, _Shape

    assert _probably_same(_Shape.of(left), _Shape.of(right), OSA.distance) is same
