"""Helpers shared by the reliability tests: both simulators, a hub on both, the truth.

The truth is what the simulators hold, read without the adapters, so that a
test compares the hub with the CRMs and not with the hub's own parsing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from starlette.routing import Mount, Route
from supporthub_banana.simulator import BananaSimulator
from supporthub_strawberry.simulator import StrawberrySimulator

import supporthub
from supporthub.grouping.normalize import provider_key
from supporthub.testing.pytest_plugin import DATABASES
from supporthub.testing.sim import parse_offset_ms

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
BANANA_SECRET = "Banana-Secret-rel-91c0e7"
STRAWBERRY_KEY = "sk-Strawberry-rel-4be21a"
LISTING = {"banana": "/api/v2/cases", "strawberry": "/v1/tickets"}

#: Retries that keep fault tests fast; a second of timeout.
FAST_HTTP = {
    "SUPPORTHUB_HTTP_ATTEMPTS": "3",
    "SUPPORTHUB_HTTP_MAX_WAIT_SECONDS": "0.05",
    "SUPPORTHUB_HTTP_TIMEOUT_SECONDS": "1",
}

Sim = BananaSimulator | StrawberrySimulator

#: For tests that need one database kind: they follow ``SUPPORTHUB_TEST_DATABASES``
#: as the ``database_url`` tests do (both by default, and in CI).
ON_MARIADB = pytest.mark.skipif("mariadb" not in DATABASES, reason="SUPPORTHUB_TEST_DATABASES")
ON_SQLITE = pytest.mark.skipif("sqlite" not in DATABASES, reason="SUPPORTHUB_TEST_DATABASES")


@attrs.frozen
class Seen:
    """What a reliability test compares per case: enough to tell versions apart."""

    updated_at: dt.datetime
    subject: str | None
    open: bool


def sims(n: int = 200, seed: int = 3) -> tuple[BananaSimulator, StrawberrySimulator]:
    """A Banana tenant and a Strawberry account, not started."""
    return (
        BananaSimulator(n=n, seed=seed, client_secret=BANANA_SECRET),
        StrawberrySimulator(n=n, seed=seed + 1, api_key=STRAWBERRY_KEY),
    )


def by_source(banana: BananaSimulator, strawberry: StrawberrySimulator) -> dict[str, Sim]:
    """The simulators by the name of the source the hub reads them as."""
    return {"banana": banana, "strawberry": strawberry}


def env_for(
    banana: BananaSimulator | None, strawberry: StrawberrySimulator | None
) -> dict[str, str]:
    """The ``SUPPORTHUB_*`` variables that point a hub at running simulators."""
    env: dict[str, str] = {}
    if banana is not None:
        env |= {
            "SUPPORTHUB_BANANA_URL": banana.url,
            "SUPPORTHUB_BANANA_CLIENT_ID": banana.client_id,
            "SUPPORTHUB_BANANA_CLIENT_SECRET": banana.client_secret,
        }
    if strawberry is not None:
        env |= {
            "SUPPORTHUB_STRAWBERRY_URL": strawberry.url,
            "SUPPORTHUB_STRAWBERRY_API_KEY": strawberry.api_key,
        }
    return env


def truth(sim: Sim) -> dict[str, Seen]:
    """Every live record of a simulator, by id, as the hub must end up holding it."""
    if isinstance(sim, BananaSimulator):
        return {
            r["Id"]: Seen(
                EPOCH + dt.timedelta(milliseconds=parse_offset_ms(r["LastModifiedDate"])),
                r["Subject"],
                not r["IsClosed"],
            )
            for r in sim.live_records()
        }
    return {
        str(t["id"]): Seen(
            dt.datetime.fromisoformat(t["updated_at"]),
            t["subject"],
            t["status"] in {"new", "open", "pending", "hold"},
        )
        for t in sim.live_records()
    }


def held(hub: supporthub.Hub, source: str) -> dict[str, Seen]:
    """Every case of ``source`` the hub serves, by id."""
    return {
        case.source_id: Seen(case.updated_at, case.subject, case.status == supporthub.Status.OPEN)
        for aggregated in hub.all().aggregated_cases
        for case in aggregated.cases
        if case.source == source
    }


def held_all(hub: supporthub.Hub, sources: Iterable[str]) -> dict[str, dict[str, Seen]]:
    """Every case the hub serves, by source and id (one read for all sources)."""
    out: dict[str, dict[str, Seen]] = {name: {} for name in sources}
    for aggregated in hub.all().aggregated_cases:
        for case in aggregated.cases:
            out.setdefault(case.source, {})[case.source_id] = Seen(
                case.updated_at, case.subject, case.status == supporthub.Status.OPEN
            )
    return out


def stored_cursor(hub: supporthub.Hub, source: str) -> str | None:
    with hub.store.reader() as reader:
        state = reader.states().get(source)
    return None if state is None else state.cursor


def check_consistent(hub: supporthub.Hub) -> None:
    """Every aggregated case agrees with its cases, recomputed from them."""
    aggregated_cases = hub.all().aggregated_cases
    seen: set[tuple[str, str]] = set()
    for aggregated in aggregated_cases:
        cases = aggregated.cases
        assert cases, f"{aggregated.id} has no cases"
        assert aggregated.case_count == len(cases), aggregated.id
        open_count = sum(case.status == supporthub.Status.OPEN for case in cases)
        assert aggregated.open_case_count == open_count, aggregated.id
        expected_status = supporthub.Status.OPEN if open_count else supporthub.Status.CLOSED
        assert aggregated.status == expected_status, aggregated.id
        assert aggregated.first_created_at == min(case.created_at for case in cases)
        assert aggregated.last_updated_at == max(case.updated_at for case in cases)
        for case in cases:
            # The default rules (no aliases, no overrides): the key alone decides.
            member_key = supporthub.AggregationKey(
                provider_key(case.provider), supporthub.error_code_key(case.error_code)
            )
            assert member_key.id == aggregated.id, f"{case.source_id} in the wrong aggregated case"
            key = (case.source, case.source_id)
            assert key not in seen, f"{key} in two aggregated cases"
            seen.add(key)


class PageHooks:
    """Runs a test's actions after the n-th listing answer of a source (1-based).

    A real HTTP transport: the whole answer is read before the action runs, so
    an action changes the CRM *between* two pages of one sync.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answered: dict[str, int] = {}
        self._actions: dict[tuple[str, int], list[Callable[[], object]]] = {}

    def after(self, source: str, n: int, action: Callable[[], object]) -> None:
        with self._lock:
            at = self._answered.get(source, 0) + n
            self._actions.setdefault((source, at), []).append(action)

    def transport(self, source: str) -> httpx.BaseTransport:
        return _HookedTransport(self, source)

    def answered(self, source: str, request: httpx.Request) -> None:
        if LISTING.get(source, "\0") not in request.url.path:
            return
        with self._lock:
            count = self._answered[source] = self._answered.get(source, 0) + 1
            actions = self._actions.pop((source, count), [])
        for action in actions:
            action()


class _HookedTransport(httpx.HTTPTransport):
    def __init__(self, hooks: PageHooks, source: str) -> None:
        super().__init__()
        self.hooks = hooks
        self.source = source

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        response.read()
        self.hooks.answered(self.source, request)
        return response


def plugin_manager() -> Any:
    """A plug-in manager with the core's default plug-in and both shipped adapters."""
    import supporthub_banana
    import supporthub_strawberry

    manager = supporthub.make_plugin_manager(entry_points=False)
    manager.register(supporthub_banana, name="banana")
    manager.register(supporthub_strawberry, name="strawberry")
    return manager


def requests_for(app: Any, agg_id: str) -> list[tuple[str, str]]:
    """(method, path) for every route of the app, with its methods and POST besides."""
    out: list[tuple[str, str]] = []
    for route in app.routes:
        if isinstance(route, Mount):
            out += [("GET", route.path + "/app.js"), ("POST", route.path + "/app.js")]
            continue
        assert isinstance(route, Route), f"a route of an unknown kind: {route!r}"
        path = route.path
        for name in route.param_convertors:
            path = path.replace("{" + name + "}", agg_id if name == "id" else "x")
        for method in sorted((route.methods or {"GET"}) | {"POST", "DELETE"}):
            out.append((method, path))
    return out


# -- the command line, as cron and operators run it ---------------------------------

#: ``supporthub`` in a fresh interpreter of this environment.
CLI = [sys.executable, "-c", "import sys; from supporthub.cli import main; sys.exit(main())"]


def refresh_cli(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``supporthub refresh --force`` to its end."""
    return subprocess.run(
        [*CLI, "refresh", "--force"], env=env, capture_output=True, text=True, timeout=120
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def serving(env: dict[str, str], log: Path) -> Iterator[str]:
    """``supporthub serve`` in a subprocess until its ``/health`` says 200; its base URL.

    Its log (stderr) goes to ``log``; it is stopped with SIGTERM afterwards.
    """
    port = free_port()
    with log.open("w") as stderr:
        server = subprocess.Popen(
            [*CLI, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(base + "/health", timeout=5).status_code == 200:
                    break
            assert time.monotonic() < deadline, "supporthub serve did not come up"
            time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
