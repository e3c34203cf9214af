"""Fixtures of the reliability tests: both CRMs simulated, a hub configured for both."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import reliability_kit as kit

import supporthub


@pytest.fixture
def crms() -> Iterator[tuple[Any, Any]]:
    """A running Banana tenant and Strawberry account, 200 cases each."""
    banana, strawberry = kit.sims()
    with banana, strawberry:
        yield banana, strawberry


@pytest.fixture
def hooks() -> kit.PageHooks:
    return kit.PageHooks()


@pytest.fixture
def make_hub(database_url: str, hooks: kit.PageHooks) -> Iterator[Any]:
    """Build hubs on the test database, both shipped adapters registered, fast retries."""
    hubs: list[supporthub.Hub] = []

    def make(env: dict[str, str], **kwargs: Any) -> supporthub.Hub:
        environ = {
            "SUPPORTHUB_DATABASE_URL": database_url,
            "SUPPORTHUB_MIN_REFRESH_AGE_MINUTES": "0",
            **kit.FAST_HTTP,
            **env,
        }
        kwargs.setdefault("transport_factory", hooks.transport)
        hub = supporthub.Hub.from_env(environ, plugins=kit.plugin_manager(), **kwargs)
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.close()
