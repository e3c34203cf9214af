"""The Strawberry adapter against supporthub's adapter contract suite, unchanged."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from supporthub_strawberry.adapter import StrawberryAdapter
from supporthub_strawberry.simulator import StrawberrySimulator

from supporthub.testing import AdapterContract


class TestStrawberryContract(AdapterContract):
    adapter = StrawberryAdapter

    @pytest.fixture
    def simulator(self) -> Iterator[StrawberrySimulator]:
        # 2,100 tickets: three pages of Strawberry's 1,000.
        with StrawberrySimulator(n=2100, seed=4) as running:
            yield running
