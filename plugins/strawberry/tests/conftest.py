"""Fixtures for the Strawberry adapter's tests: simulators on loopback, hubs that sync them.

A hub here runs the real refresh: the core's ``HttpClient`` over real HTTP
to a :class:`StrawberrySimulator`, the store on SQLite and on MariaDB
(``database_url``, from supporthub's pytest plug-in).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pluggy
import pytest
import supporthub_strawberry
from supporthub_strawberry.simulator import StrawberrySimulator

import supporthub

#: Distinctive, so that a test can hunt for it in logs, reports and answers.
API_KEY = "sk-test-Strawberry-5f0c2d9a"

#: Retries that keep tests fast: short backoff, few attempts.
FAST_HTTP = {
    "SUPPORTHUB_HTTP_ATTEMPTS": "4",
    "SUPPORTHUB_HTTP_MAX_WAIT_SECONDS": "0.05",
    "SUPPORTHUB_HTTP_TIMEOUT_SECONDS": "5",
}


class Taps:
    """Runs a test's actions right after given answers of the real HTTP transport.

    So a test can change the CRM *during* a sync: after the first export
    page, expire the cursors, break the next page, touch a ticket.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pages = 0
        self._actions: dict[int, list[Callable[[], Any]]] = {}

    def after_page(self, n: int, action: Callable[[], Any]) -> None:
        """Run ``action`` once, after the ``n``-th ``/v1/tickets`` answer (1-based)."""
        with self._lock:
            self._actions.setdefault(self._pages + n, []).append(action)

    def transport(self, source: str) -> httpx.BaseTransport:
        """The hub's ``transport_factory``: a real transport with the taps on it."""
        return _TapTransport(self)

    def _answered(self, request: httpx.Request) -> None:
        if not request.url.path.endswith("/v1/tickets"):
            return
        with self._lock:
            self._pages += 1
            actions = self._actions.pop(self._pages, [])
        for action in actions:
            action()


class _TapTransport(httpx.HTTPTransport):
    def __init__(self, taps: Taps) -> None:
        super().__init__()
        self.taps = taps

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        response.read()  # the whole answer is in before the action changes the CRM
        self.taps._answered(request)
        return response


@pytest.fixture
def api_key() -> str:
    """The key every simulator here expects."""
    return API_KEY


@pytest.fixture
def taps() -> Taps:
    """Actions to run during a sync (see :class:`Taps`)."""
    return Taps()


@pytest.fixture
def sim() -> Iterator[StrawberrySimulator]:
    """A small Strawberry account of one's own, to change and break."""
    with StrawberrySimulator(n=300, seed=4, api_key=API_KEY) as running:
        yield running


@pytest.fixture
def big_sim() -> Iterator[StrawberrySimulator]:
    """An account whose export spans three pages of 1000."""
    with StrawberrySimulator(n=2500, seed=7, api_key=API_KEY) as running:
        yield running


@pytest.fixture
def plugin_manager() -> pluggy.PluginManager:
    """A plug-in manager with the core's default plug-in and this one, nothing installed."""
    manager = supporthub.make_plugin_manager(entry_points=False)
    manager.register(supporthub_strawberry, name="strawberry")
    return manager


@pytest.fixture
def make_hub(database_url: str, plugin_manager: Any, taps: Taps) -> Iterator[Any]:
    """Build hubs on the test database, pointed at a simulator."""
    hubs: list[supporthub.Hub] = []

    def make(sim: StrawberrySimulator | None, **env: str) -> supporthub.Hub:
        environ = {
            "SUPPORTHUB_DATABASE_URL": database_url,
            "SUPPORTHUB_MIN_REFRESH_AGE_MINUTES": "0",
            **FAST_HTTP,
        }
        if sim is not None:
            environ["SUPPORTHUB_STRAWBERRY_URL"] = sim.url
            environ["SUPPORTHUB_STRAWBERRY_API_KEY"] = sim.api_key
        environ.update(env)
        hub = supporthub.Hub.from_env(
            environ, plugins=plugin_manager, transport_factory=taps.transport
        )
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.close()
