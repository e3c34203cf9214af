"""The Banana adapter against supporthub's adapter contract suite, unchanged."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from supporthub_banana.adapter import BananaAdapter
from supporthub_banana.simulator import BananaSimulator

from supporthub.testing import AdapterContract


class SmallPagesBanana(BananaAdapter):
    """Banana in pages of 200, so that a small tenant spans several pages."""

    page_size = 200


class TestBananaContract(AdapterContract):
    adapter = SmallPagesBanana

    @pytest.fixture
    def simulator(self) -> Iterator[BananaSimulator]:
        with BananaSimulator(n=450, seed=11) as running:
            yield running
