"""Database faults: the database goes away during a refresh and under the service.

MariaDB is reached through a TCP proxy (``tcp_proxy.py``) that the test cuts:
every connection closed and new ones refused, as when the server restarts,
then listening again. The real server is never touched. On SQLite, whose
"server" is a file, the faults are the file's: a write that fails half-way
("database or disk is full") and a write lock held by another process.

For every fault: the refresh fails cleanly (a :class:`StorageError` in words,
exit code 3 for the CLI, ``503`` over HTTP, never a traceback or a ``500``),
the data is what it was before (or, when the cut came after the commit, what
it is after), the aggregated cases agree with their cases, and the next
refresh, the database back, lands exactly on the CRMs' state.

Rounds: ``SUPPORTHUB_DB_FAULT_ROUNDS`` per test (2 by default, for CI;
``tox -e reliability`` runs more).
"""

from __future__ import annotations

import concurrent.futures
import os
import random
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import reliability_kit as kit
import sqlalchemy as sa
import supporthub_strawberry.adapter
from supporthub_banana.adapter import BananaAdapter
from tcp_proxy import TcpProxy

import supporthub
from supporthub.testing.pytest_plugin import MariaDbDatabases

ROUNDS = int(os.environ.get("SUPPORTHUB_DB_FAULT_ROUNDS", "2"))
#: A :class:`StorageError` that says the connection was lost or refused.
LOST_CONNECTION = (
    r"database error: \(\d{4}, [\"'](Lost connection|MySQL server has gone away|"
    r"Can't connect)[^\n]*"
)
PAGE = 40  # records a page: a refresh spans many pages, so a cut lands mid-write
EXIT_DATABASE = 3

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(BananaAdapter, "page_size", PAGE)
    monkeypatch.setattr(supporthub_strawberry.adapter, "PAGE_LIMIT", PAGE)


@pytest.fixture
def mariadb_url(mariadb_databases: MariaDbDatabases) -> str:
    """An empty MariaDB database (skipped locally without a server, never in CI)."""
    return mariadb_databases.create()


@pytest.fixture
def proxy(mariadb_url: str) -> Iterator[TcpProxy]:
    target = sa.make_url(mariadb_url)
    with TcpProxy(target.host or "127.0.0.1", target.port or 3306) as running:
        yield running


def _mutate(sims: dict[str, Any], round_: int) -> dict[str, dict[str, kit.Seen]]:
    """Change both CRMs; what the hub must hold once a refresh gets through."""
    for n, sim in enumerate(sims.values()):
        sim.mutate(update=0.3, close=0.05, delete=0.02, add=0.05, seed=round_ * 10 + n)
    return {name: kit.truth(sim) for name, sim in sims.items()}


def _tally(outcomes: dict[str, int]) -> str:
    return "; ".join(f"{count} {what}" for what, count in sorted(outcomes.items()))


# -- MariaDB: the server goes away during a refresh ---------------------------------


#: Where the library's refresh is cut: the writer waiting for the next CRM
#: page with its transaction open, or the bulk write of the cases itself.
CUT_POINTS = ["after-a-crm-page", "on-the-cases-insert"]


@pytest.mark.mariadb
@kit.ON_MARIADB
@pytest.mark.parametrize("cut_point", CUT_POINTS)
def test_mariadb_restart_mid_write_fails_the_refresh_cleanly(
    mariadb_url, proxy, make_hub_at, crms, hooks, trial, cut_point
) -> None:
    """The library: the cut lands while the refresh transaction is open and written to."""
    banana, strawberry = crms
    sims = kit.by_source(banana, strawberry)
    hub = make_hub_at(proxy.url(mariadb_url), kit.env_for(banana, strawberry))
    assert hub.refresh(force=True).ok
    rng = random.Random(f"mid-write-{os.environ.get('SUPPORTHUB_CRASH_SEED', '')}")
    errors = set()
    for round_ in range(ROUNDS):
        before = kit.held_all(hub, sims)
        after = _mutate(sims, round_)
        if cut_point == "after-a-crm-page":
            victim = rng.choice(sorted(sims))
            hooks.after(victim, rng.randint(1, 2), proxy.cut)
        else:
            proxy.cut_on(b"INSERT INTO `cases`")

        began = time.monotonic()
        with pytest.raises(supporthub.StorageError) as failed:
            hub.refresh(force=True)
        assert time.monotonic() - began < 30, "the refresh noticed the outage at once"
        # In words: the driver's account of the lost connection, not "(0, '')".
        assert re.fullmatch(LOST_CONNECTION, str(failed.value)), str(failed.value)
        errors.add(re.sub(r"\d{4}, ", "", str(failed.value))[:80])
        health = hub.health()
        assert health.database == "unavailable"
        assert not health.ok

        proxy.restore()
        assert hub.health().ok, "back without a restart"
        kit.check_consistent(hub)
        assert kit.held_all(hub, sims) == before, f"round {round_}: the failed refresh wrote"

        again = hub.refresh(force=True)
        assert again.ok, again.sources
        kit.check_consistent(hub)
        assert kit.held_all(hub, sims) == after, f"round {round_}: the next refresh caught up"
    trial.record(
        f"MariaDB restarted mid-refresh, cut {cut_point.replace('-', ' ')} (library)",
        ROUNDS,
        f"{ROUNDS} StorageError ({'; '.join(sorted(errors))}), previous data intact and "
        "consistent; health 503 then 200 without a restart; next refresh exact",
        database="mariadb",
    )


@pytest.mark.mariadb
@kit.ON_MARIADB
def test_mariadb_restart_during_supporthub_refresh_exits_3(
    mariadb_url, proxy, make_hub_at, trial
) -> None:
    """The CLI, cut after a random number of bytes: anywhere from the lock to the commit."""
    banana, strawberry = kit.sims(n=300, seed=21)
    with banana, strawberry:
        sims = kit.by_source(banana, strawberry)
        env = {
            **os.environ,
            "SUPPORTHUB_DATABASE_URL": proxy.url(mariadb_url),
            "SUPPORTHUB_LOG_LEVEL": "WARNING",
            **kit.FAST_HTTP,
            **kit.env_for(banana, strawberry),
        }
        # The CLI is what gets cut; the refreshes around it run in this process
        # (faster), through the proxy too; the checks read directly.
        proxied = make_hub_at(proxy.url(mariadb_url), kit.env_for(banana, strawberry))
        assert proxied.refresh(force=True).ok
        hub = make_hub_at(mariadb_url, kit.env_for(banana, strawberry))
        rng = random.Random(f"cli-{os.environ.get('SUPPORTHUB_CRASH_SEED', '')}")
        # A clean refresh of a day's changes measures how many bytes such a
        # refresh sends; each round cuts the next day's refresh at random
        # within that, and its clean retry measures again.
        _mutate(sims, 100)
        mark = proxy.sent_to_server
        assert proxied.refresh(force=True).ok
        size = proxy.sent_to_server - mark
        outcomes: dict[str, int] = {}
        for round_ in range(ROUNDS):
            before = kit.held_all(hub, sims)
            after = _mutate(sims, 200 + round_)

            proxy.cut_after(rng.randint(1, max(1, size - 1)))
            process = kit.refresh_cli(env)
            out, err = process.stdout, process.stderr
            cut = proxy.was_cut.is_set()
            proxy.restore()

            assert "Traceback" not in err, err
            now = kit.held_all(hub, sims)
            kit.check_consistent(hub)
            assert now in (before, after), f"round {round_}: a half-written refresh is visible"
            if process.returncode == 0:
                assert now == after, "exit 0 means the refresh is stored"
                outcome = "cut after the commit, exit 0" if cut else "finished before the cut"
            else:
                assert process.returncode == EXIT_DATABASE, (process.returncode, out, err)
                assert "supporthub: database error" in err, err
                outcome = (
                    "cut before the commit, exit 3, previous data intact"
                    if now == before
                    else "cut during the commit's answer, exit 3, refresh stored"
                )
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

            mark = proxy.sent_to_server
            assert proxied.refresh(force=True).ok
            size = max(size, proxy.sent_to_server - mark)
            kit.check_consistent(hub)
            assert kit.held_all(hub, sims) == after, f"round {round_}: the next refresh is exact"
    trial.record(
        "MariaDB restarted during `supporthub refresh` (cut after a random byte count)",
        ROUNDS,
        _tally(outcomes) + "; no traceback; the next refresh exact every time",
        database="mariadb",
    )


# -- MariaDB: connections dropped under `supporthub serve` -----------------------------


@pytest.fixture
def served(mariadb_url, proxy, crms, tmp_path) -> Iterator[tuple[str, Any, Any]]:
    """``supporthub serve`` on MariaDB through the proxy, data loaded, scheduler off."""
    banana, strawberry = crms
    env = {
        **os.environ,
        "SUPPORTHUB_DATABASE_URL": proxy.url(mariadb_url),
        "SUPPORTHUB_MIN_REFRESH_AGE_MINUTES": "0",
        "SUPPORTHUB_SCHEDULER": "off",
        "SUPPORTHUB_LOG_LEVEL": "WARNING",
        **kit.FAST_HTTP,
        **kit.env_for(banana, strawberry),
    }
    loader = supporthub.Hub.from_env(env, plugins=kit.plugin_manager())
    try:
        assert loader.refresh(force=True).ok
    finally:
        loader.close()
    log = tmp_path / "serve.log"
    with kit.serving(env, log) as base:
        yield base, crms, log


def _total(base: str) -> int:
    answer = httpx.get(base + "/get-all", params={"casesLimit": 0}, timeout=30)
    assert answer.status_code == 200, answer.text
    return sum(a["caseCount"] for a in answer.json()["aggregatedCases"])


@pytest.mark.mariadb
@kit.ON_MARIADB
def test_serve_answers_503_while_mariadb_is_away_and_recovers_without_restart(
    served, proxy, trial
) -> None:
    base, (banana, strawberry), log = served
    sims = kit.by_source(banana, strawberry)
    total = _total(base)
    assert total == sum(len(kit.truth(sim)) for sim in sims.values())
    for round_ in range(ROUNDS):
        # A blip: every pooled connection dies, the server accepts new ones.
        # The pool's pre-ping notices; the very next reads succeed.
        proxy.drop()
        assert httpx.get(base + "/health", timeout=30).status_code == 200
        assert _total(base) == total

        # Down: connections dropped and refused.
        proxy.cut()
        health = httpx.get(base + "/health", timeout=30)
        assert health.status_code == 503, health.text
        assert health.json()["database"] == "unavailable"
        for method, path in [
            ("GET", "/get-all"),
            ("GET", "/search?status=open"),
            ("POST", "/refresh"),
        ]:
            answer = httpx.request(method, base + path, timeout=30)
            assert answer.status_code == 503, (path, answer.text)
            assert answer.json() == {"error": "the database is unavailable; try again later"}

        # Back: the same process answers, reads and refreshes again.
        proxy.restore()
        assert httpx.get(base + "/health", timeout=30).status_code == 200
        assert _total(base) == total
        for n, sim in enumerate(sims.values()):
            sim.mutate(add=0.05, seed=300 + round_ * 10 + n)
        refreshed = httpx.post(base + "/refresh", timeout=60)
        assert refreshed.status_code == 200, refreshed.text
        assert all(s["ok"] for s in refreshed.json()["sources"].values()), refreshed.text
        total = _total(base)
        assert total == sum(len(kit.truth(sim)) for sim in sims.values())
    assert "Traceback" not in log.read_text()
    trial.record(
        "MariaDB connections dropped / server away under `supporthub serve`",
        ROUNDS,
        "blip: next reads 200 (pre-ping); away: /health, reads and /refresh 503 in words; "
        "back: 200 and a refresh lands, same process",
        database="mariadb",
    )


# -- SQLite: the file's faults -------------------------------------------------------------


class FailingWrites:
    """Makes the ``n``-th statement of the hub's refresh transaction fail as a full disk would."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.statements = 0
        self.fail_at: int | None = None
        self.failed = False
        sa.event.listen(engine, "do_execute", self._statement)
        sa.event.listen(engine, "do_executemany", self._statement)

    def _statement(self, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            return
        self.statements += 1
        if self.fail_at is not None and self.statements >= self.fail_at:
            self.fail_at = None
            self.failed = True
            raise sqlite3.OperationalError("database or disk is full")

    def close(self) -> None:
        sa.event.remove(self.engine, "do_execute", self._statement)
        sa.event.remove(self.engine, "do_executemany", self._statement)


@kit.ON_SQLITE
def test_sqlite_write_failing_mid_refresh_leaves_the_previous_data(
    tmp_path, make_hub_at, crms, trial
) -> None:
    banana, strawberry = crms
    sims = kit.by_source(banana, strawberry)
    hub = make_hub_at(f"sqlite:///{tmp_path / 'hub.db'}", kit.env_for(banana, strawberry))
    assert hub.refresh(force=True).ok
    writes = FailingWrites(hub.store.engine)
    rng = random.Random("sqlite-full")
    try:
        for round_ in range(ROUNDS):
            mark = writes.statements
            after = _mutate(sims, round_)
            assert hub.refresh(force=True).ok
            size = writes.statements - mark  # the writes of a refresh this size
            before = after
            after = _mutate(sims, 50 + round_)

            writes.fail_at = writes.statements + rng.randint(1, size)
            with pytest.raises(supporthub.StorageError, match="disk is full"):
                hub.refresh(force=True)
            assert writes.failed
            writes.failed = False
            kit.check_consistent(hub)
            assert kit.held_all(hub, sims) == before, f"round {round_}: the failed refresh wrote"
            assert hub.health().ok

            assert hub.refresh(force=True).ok
            kit.check_consistent(hub)
            assert kit.held_all(hub, sims) == after
    finally:
        writes.close()
    trial.record(
        "SQLite write fails mid-refresh (disk full at a random statement)",
        ROUNDS,
        f"{ROUNDS} StorageError, previous data intact and consistent; next refresh exact",
        database="sqlite",
    )


@kit.ON_SQLITE
def test_sqlite_locked_by_another_process_waits_and_readers_go_on(
    tmp_path, make_hub_at, crms, trial
) -> None:
    """A backup or a person's ``sqlite3`` session holds the write lock during a refresh."""
    banana, strawberry = crms
    sims = kit.by_source(banana, strawberry)
    path = tmp_path / "hub.db"
    hub = make_hub_at(f"sqlite:///{path}", kit.env_for(banana, strawberry))
    assert hub.refresh(force=True).ok
    for round_ in range(ROUNDS):
        before = kit.held_all(hub, sims)
        after = _mutate(sims, round_)
        holder = subprocess.Popen(
            [sys.executable, "-c",
             "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
             "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(1.5); "
             "c.execute('ROLLBACK')", str(path)],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            refresh = pool.submit(hub.refresh, force=True)
            time.sleep(0.5)
            assert not refresh.done(), "the refresh waits for the lock"
            assert hub.health().ok, "health answers while the file is locked"
            assert kit.held_all(hub, sims) == before, "readers see the last committed state"
            report = refresh.result(timeout=60)
        holder.communicate(timeout=30)
        assert holder.returncode == 0
        assert report.ok, report.sources
        kit.check_consistent(hub)
        assert kit.held_all(hub, sims) == after
    trial.record(
        "SQLite file locked by another process during a refresh (1.5 s)",
        ROUNDS,
        "refresh waited and completed exactly; /health and reads served meanwhile",
        database="sqlite",
    )
