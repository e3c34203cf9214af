"""Concurrency: several ``supporthub serve`` processes on one MariaDB database.

Two service processes share one database, each with its scheduler on (an
interval of three seconds; both services start with data older than that,
so both schedulers want the first refresh), client threads hammer
``POST /refresh`` on both, and reader threads poll ``/get-all`` throughout.
The CRMs answer slowly, so a refresh takes a while and any two that
overlapped would meet at the CRM.

The CRMs change in phases: in odd phases the clients click and land the
change, in even phases they pause and a scheduler lands it. Between phases
the test holds the refresh lock itself while it changes the CRMs, so every
change reaches the hub in one refresh. Then:

- one refresh at a time: at each CRM, never more than one request in
  flight, and the CRM saw exactly one token (Banana) and one listing per
  CRM for every refresh the hub recorded; the recorded refreshes do not
  overlap in time;
- readers always see a consistent state: in every answer, the total of
  ``caseCount`` is the total before or after a refresh of the phases the
  request lived through, never anything in between;
- no answer is a ``500``: ``/refresh`` says ``200`` (it ran, or waited for the
  one running and returns that) or ``409``, reads say ``200``.

Phases: ``SUPPORTHUB_CONCURRENCY_PHASES`` (2 by default, for CI).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
import reliability_kit as kit
import sqlalchemy as sa

from supporthub.ingest.refresh import report_from_json
from supporthub.store.schema import refresh_runs

PHASES = int(os.environ.get("SUPPORTHUB_CONCURRENCY_PHASES", "2"))
SERVERS = 2
REFRESHERS = 6
READERS = 3
CRM_DELAY = 0.1  # seconds per CRM answer: a refresh takes a while
MIN_PHASE_SECONDS = 3.0
INTERVAL_SECONDS = 3.0  # the schedulers' interval
CLICK_PAUSE_SECONDS = 0.1  # at most, between two clicks of one client

pytestmark = [pytest.mark.slow, pytest.mark.mariadb, kit.ON_MARIADB]


class InFlight:
    """Counts the requests a simulator is answering at once; keeps the most seen."""

    def __init__(self, sim: Any) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.most = 0
        # The simulator's server calls this one function for every request.
        server = sim._server
        handler: Callable[[Any], Any] = server.handler

        def counted(request: Any) -> Any:
            with self._lock:
                self.now += 1
                self.most = max(self.most, self.now)
            try:
                return handler(request)
            finally:
                with self._lock:
                    self.now -= 1

        server.handler = counted


def _runs_since(engine: sa.Engine, after_id: int) -> list[Any]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                sa.select(refresh_runs).where(refresh_runs.c.id > after_id).order_by("id")
            )
        )


def _last_run_id(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        last = sa.select(sa.func.coalesce(sa.func.max(refresh_runs.c.id), 0))
        return int(connection.execute(last).scalar_one())


def test_serve_processes_refresh_one_at_a_time_and_readers_see_whole_refreshes(
    mariadb_databases, make_hub_at, tmp_path, trial
) -> None:
    url = mariadb_databases.create()
    banana, strawberry = kit.sims(n=300, seed=31)
    with banana, strawberry, contextlib.ExitStack() as stack:
        sims = kit.by_source(banana, strawberry)
        in_flight = {name: InFlight(sim) for name, sim in sims.items()}
        env = {
            **os.environ,
            "SUPPORTHUB_DATABASE_URL": url,
            "SUPPORTHUB_MIN_REFRESH_AGE_MINUTES": "0",
            "SUPPORTHUB_REFRESH_INTERVAL_HOURS": str(INTERVAL_SECONDS / 3600),
            "SUPPORTHUB_SCHEDULER": "on",
            "SUPPORTHUB_LOG_LEVEL": "WARNING",
            **kit.FAST_HTTP,
            "SUPPORTHUB_HTTP_TIMEOUT_SECONDS": "10",
            **kit.env_for(banana, strawberry),
        }
        hub = make_hub_at(url, kit.env_for(banana, strawberry))
        assert hub.refresh(force=True).ok
        engine = hub.store.engine

        def total() -> int:
            return sum(len(kit.truth(sim)) for sim in sims.values())

        totals = [total()]
        first_run = _last_run_id(engine)
        tokens_before = banana.requests.count(path="/oauth/token")
        listings_before = {
            name: sim.requests.count(path=kit.LISTING[name]) for name, sim in sims.items()
        }
        for sim in sims.values():
            sim.faults.slow(CRM_DELAY)
        # The data is older than the interval when the services start: both
        # schedulers want to refresh at once, and only one may fetch.
        time.sleep(INTERVAL_SECONDS)
        bases = [
            stack.enter_context(kit.serving(env, tmp_path / f"serve-{n}.log"))
            for n in range(SERVERS)
        ]

        phase = 0
        stop = threading.Event()
        reads: list[tuple[int, int, int, int]] = []  # (phase at start, at end, status, total)
        refreshes: list[int] = []

        def reader(n: int) -> None:
            with httpx.Client(base_url=bases[n % SERVERS], timeout=60) as client:
                while not stop.is_set():
                    began = phase
                    answer = client.get("/get-all", params={"casesLimit": 0})
                    seen = (
                        sum(a["caseCount"] for a in answer.json()["aggregatedCases"])
                        if answer.status_code == 200
                        else -1
                    )
                    reads.append((began, phase, answer.status_code, seen))

        clicking = threading.Event()

        def refresher(n: int) -> None:
            rng = random.Random(n)
            with httpx.Client(base_url=bases[n % SERVERS], timeout=120) as client:
                while not stop.is_set():
                    if not clicking.wait(0.1):
                        continue
                    refreshes.append(client.post("/refresh").status_code)
                    stop.wait(rng.uniform(0.0, CLICK_PAUSE_SECONDS))

        threads = [threading.Thread(target=reader, args=(n,)) for n in range(READERS)]
        threads += [threading.Thread(target=refresher, args=(n,)) for n in range(REFRESHERS)]
        for thread in threads:
            thread.start()
        try:
            for phase_ in range(1, PHASES + 1):
                # Odd phases: the clients click and land the change. Even
                # phases: quiet, the data ages past the interval and a
                # scheduler lands it.
                if phase_ % 2:
                    clicking.set()
                else:
                    clicking.clear()
                # No refresh fetches while the CRMs change: each change lands whole.
                with hub.store.refresh_lock(timeout=120):
                    for n, sim in enumerate(sims.values()):
                        sim.mutate(update=0.1, add=0.06, delete=0.02, seed=phase_ * 10 + n)
                    totals.append(total())
                    phase = phase_
                assert totals[-1] != totals[-2], "each phase changes the total"
                began = time.monotonic()
                while True:
                    shown = {
                        sum(
                            a["caseCount"]
                            for a in httpx.get(
                                base + "/get-all", params={"casesLimit": 0}, timeout=60
                            ).json()["aggregatedCases"]
                        )
                        for base in bases
                    }
                    if shown == {totals[-1]} and time.monotonic() - began >= MIN_PHASE_SECONDS:
                        break
                    assert time.monotonic() - began < 90, f"phase {phase_} never landed: {shown}"
                    time.sleep(0.2)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=180)
        for sim in sims.values():
            sim.faults.slow(0)

        # Readers: every answer a whole refresh's state.
        assert reads, "the readers read"
        assert {status for _, _, status, _ in reads} == {200}, "every read answered 200"
        for began, ended, _, seen in reads:
            allowed = set(totals[max(0, began - 1) : ended + 1])
            assert seen in allowed, f"a read saw {seen}, not one of {sorted(allowed)}"

        # Refreshes: 200 (ran or joined) or 409, never more than one at a time.
        assert set(refreshes) <= {200, 409}, sorted(set(refreshes))
        assert refreshes.count(200) >= PHASES
        assert {name: f.most for name, f in in_flight.items()} == {"banana": 1, "strawberry": 1}
        runs = _runs_since(engine, first_run)
        reports = [report_from_json(orjson.loads(run.report)) for run in runs]
        fetched = {
            name: sum(1 for r in reports if name in r.sources and r.sources[name].due)
            for name in sims
        }
        assert banana.requests.count(path="/oauth/token") - tokens_before == fetched["banana"]
        for name, sim in sims.items():
            # One page a refresh: 300-odd records, pages of a thousand or more.
            listed = sim.requests.count(path=kit.LISTING[name]) - listings_before[name]
            assert listed == fetched[name], (name, listed, fetched[name])
        for earlier, later in itertools.pairwise(runs):
            assert earlier.finished_at <= later.started_at, "two recorded refreshes overlapped"
        triggers = [run.trigger for run in runs]
        assert triggers.count("scheduled") >= 1, triggers
        assert triggers.count("on_demand") >= 1, triggers

        kit.check_consistent(hub)
        assert kit.held_all(hub, sims) == {name: kit.truth(sim) for name, sim in sims.items()}
        for n in range(SERVERS):
            assert "Traceback" not in (tmp_path / f"serve-{n}.log").read_text()

    trial.record(
        f"{SERVERS} `supporthub serve` on one MariaDB, schedulers on, "
        f"{REFRESHERS} clients hammering POST /refresh, {READERS} readers",
        PHASES,
        f"{len(refreshes)} POST /refresh ({refreshes.count(200)} × 200, "
        f"{refreshes.count(409)} × 409); {len(runs)} refreshes ran "
        f"({triggers.count('scheduled')} scheduled, {triggers.count('on_demand')} on demand), "
        "at most 1 request "
        f"in flight per CRM, one token/listing per refresh; {len(reads)} reads, every total "
        "a before or after total",
        database="mariadb",
    )
