"""Both shipped adapters against both simulators, over real HTTP, into one hub."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from supporthub_banana.simulator import BananaSimulator
from supporthub_strawberry.simulator import StrawberrySimulator

import supporthub


@pytest.fixture
def simulators() -> Iterator[tuple[BananaSimulator, StrawberrySimulator]]:
    with BananaSimulator(n=400, seed=3) as banana, StrawberrySimulator(n=400, seed=4) as berry:
        yield banana, berry


def test_the_same_problem_in_two_crms_is_one_aggregated_case(simulators, database_url) -> None:
    banana, berry = simulators
    banana_id, berry_id = banana.ids()[0], berry.ids()[0]
    banana.update(banana_id, Provider__c="Acme Payments, Inc.", Error_Code__c="E-1042")
    berry.update(berry_id, provider="ACME PAYMENTS", error_code=" 1042 ")
    hub = supporthub.Hub.from_env(
        {
            "SUPPORTHUB_DATABASE_URL": database_url,
            "SUPPORTHUB_BANANA_URL": banana.url,
            "SUPPORTHUB_BANANA_CLIENT_ID": banana.client_id,
            "SUPPORTHUB_BANANA_CLIENT_SECRET": banana.client_secret,
            "SUPPORTHUB_STRAWBERRY_URL": berry.url,
            "SUPPORTHUB_STRAWBERRY_API_KEY": berry.api_key,
        }
    )
    try:
        report = hub.refresh(force=True)
        assert report.ok, report
        assert report.sources["banana"].written == banana.live_count()
        assert report.sources["strawberry"].written == berry.live_count()
        page = hub.search(provider="Acme Payments", error_code="E-1042")
        (acme,) = page.aggregated_cases
        members = {(c.source, c.source_id) for c in acme.cases}
        assert {("banana", str(banana_id)), ("strawberry", str(berry_id))} <= members
        assert {c.source for c in acme.cases} == {"banana", "strawberry"}
        total = sum(a.case_count for a in hub.all(cases_limit=0).aggregated_cases)
        assert total == banana.live_count() + berry.live_count()
    finally:
        hub.close()
