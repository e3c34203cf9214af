"""The hub on a real 3-node Galera cluster: one refresh at a time, big refreshes, node loss.

Trial counts come from ``SUPPORTHUB_CLUSTER_TRIALS`` (default 10); each
test prints what it saw, so ``tox -e cluster`` shows the numbers that
docs/reliability.md records.
"""

from __future__ import annotations

import functools
import itertools
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pymysql
import pytest
import sqlalchemy as sa
from cluster_kit import Watcher, at_once, count_cases, lease_of, load, max_ws_size, stores
from supporthub_fakecrm import FakeAdapter

from supporthub.store.conflicts import is_conflict, retry_conflicts
from supporthub.store.schema import refresh_runs
from supporthub.store.sql import SqlStore
from supporthub.vocabulary.errors import StorageError

TRIALS = int(os.environ.get("SUPPORTHUB_CLUSTER_TRIALS", "10"))


def test_cluster_nodes_are_synced_galera_with_row_binlog(cluster: Any, cluster_urls: list[str]):
    for node in cluster.nodes:
        connection = node.connect()
        with connection.cursor() as cursor:
            cursor.execute("SELECT @@wsrep_on, @@binlog_format, @@innodb_autoinc_lock_mode")
            assert cursor.fetchone() == (1, "ROW", 2)
        connection.close()
        assert node.status("wsrep_cluster_size") == "3"
    with stores(cluster_urls) as made:
        assert all(store.is_galera() for store in made)
        # The schema created on node 1 is there on node 3 (DDL replicates).
        assert sa.inspect(made[2].engine).has_table("aggregated_cases")


# -- one refresh at a time across nodes ----------------------------------------


def test_one_lease_holder_across_nodes(cluster_urls: list[str]):
    """Three stores on three nodes take the lease at once: exactly one wins, every trial."""
    winners_per_trial = []
    with stores(cluster_urls) as made:
        for _ in range(TRIALS):
            got = at_once(*(functools.partial(store._lock.acquire, 0) for store in made))
            winners_per_trial.append(sum(got))
            assert all(store.is_refreshing() for store in made)
            for i, won in enumerate(got):
                if won:
                    made[i]._lock.release()
            assert not any(store.is_refreshing() for store in made)
    print(f"lease race, 3 nodes: winners per trial {winners_per_trial}")
    assert winners_per_trial == [1] * TRIALS


def test_refreshes_on_two_nodes_never_overlap(cluster_hub: Callable[..., Any], fake_crm: Any):
    """Two hubs on two nodes refresh (forced) at the same moment: they run one after the other."""
    load(fake_crm, 0, 30)
    hubs = [cluster_hub(i, SUPPORTHUB_FAKE_DELAY="0.02") for i in (0, 1)]
    for _ in range(TRIALS):
        results = at_once(*(functools.partial(hub.refresh, force=True) for hub in hubs))
        assert [r.ok for r in results] == [True, True]
    with hubs[0].store.engine.connect() as connection:
        runs = connection.execute(
            sa.select(refresh_runs.c.started_at, refresh_runs.c.finished_at).order_by(
                refresh_runs.c.started_at
            )
        ).all()
    overlaps = sum(1 for a, b in itertools.pairwise(runs) if b[0] < a[1])
    print(f"forced refreshes on 2 nodes: {len(runs)} runs in {TRIALS} trials, {overlaps} overlaps")
    assert len(runs) == 2 * TRIALS
    assert overlaps == 0


def test_scheduler_refreshes_once_per_interval_across_nodes(
    cluster_hub: Callable[..., Any], fake_crm: Any
):
    """Two schedulers on two nodes fire together: the CRM is read once per interval."""
    load(fake_crm, 0, 9)
    interval_hours = 1.0 / 3600  # one second
    hubs = [cluster_hub(i, SUPPORTHUB_REFRESH_INTERVAL_HOURS=str(interval_hours)) for i in (0, 2)]
    fetches = []
    for _ in range(TRIALS):
        time.sleep(1.1)  # the interval passes: both schedulers find the source due
        before = len(FakeAdapter.cursors)
        results = at_once(*(functools.partial(hub.refresh, scheduled=True) for hub in hubs))
        assert [r.ok for r in results] == [True, True]
        fetches.append(len(FakeAdapter.cursors) - before)
    print(f"scheduled refreshes on 2 nodes: CRM fetches per interval {fetches}")
    assert fetches == [1] * TRIALS


def test_a_dead_holder_frees_the_lease_and_its_late_commit_is_refused(cluster_urls: list[str]):
    """The lease frees after its time to live; the holder that lost it cannot commit."""
    with stores(cluster_urls[:2]) as (a, b):
        lease_a, lease_b = lease_of(a), lease_of(b)
        lease_a.ttl = lease_b.ttl = 2.0
        before_a = time.monotonic()
        assert a._lock.acquire(0)
        lease_a._stop.set()  # the holder hangs: no more renewals
        lease_a._renewer.join()  # type: ignore[union-attr]
        # B tries again and again; a success may only end after A's lease
        # ran out (measured from before A took it: the clocks are one here).
        attempts = 0
        while not b._lock.acquire(0):
            attempts += 1
            assert time.monotonic() - before_a < 15
            time.sleep(0.05)
        waited = time.monotonic() - before_a
        assert waited >= 2.0
        assert attempts > 0
        # A's refresh wakes up and tries to commit: refused, nothing written.
        with pytest.raises(StorageError, match="refresh lock expired"), a.writer() as writer:
            writer.set_meta("fenced", "written by a holder that lost the lease")
        with b.reader() as reader:
            assert reader.meta("fenced") is None
        b._lock.release()
        a._lock.release()


def test_certification_conflict_is_retried(cluster_urls: list[str]):
    """Two nodes write one row at once: the loser's commit fails with 1213, retried it passes."""
    with stores(cluster_urls[:2]) as (a, b):
        attempts = []

        def work() -> str:
            attempts.append(1)
            with a.engine.connect() as connection:
                connection.execute(sa.text("REPLACE INTO meta (`key`, value) VALUES ('race', 'a')"))
                if len(attempts) == 1:
                    # Node 2 commits the same row while ours is open: ours loses.
                    with b.engine.begin() as other:
                        other.execute(
                            sa.text("REPLACE INTO meta (`key`, value) VALUES ('race', 'b')")
                        )
                    time.sleep(0.3)  # node 2's write set reaches node 1 and aborts ours
                connection.commit()
            return "committed"

        assert retry_conflicts(work) == "committed"
        assert len(attempts) == 2
        with b.reader() as reader:
            deadline = time.monotonic() + 5
            while reader.meta("race") != "a" and time.monotonic() < deadline:
                time.sleep(0.1)
        assert count_meta(cluster_urls[1], "race") == "a"


def count_meta(url: str, key: str) -> str | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(
                sa.text("SELECT value FROM meta WHERE `key` = :k"), {"k": key}
            ).scalar()
    finally:
        engine.dispose()


def test_is_conflict_recognises_the_deadlock_error():
    error = sa.exc.OperationalError("COMMIT", {}, pymysql.err.OperationalError(1213, "Deadlock"))
    assert is_conflict(error)
    assert not is_conflict(
        sa.exc.OperationalError("x", {}, pymysql.err.OperationalError(1146, "no table"))
    )


# -- big refreshes: bounded write sets, still all or nothing -------------------
# test_scale.py: a first load over wsrep_max_ws_size, refused as one write set
# and stored when streamed (short here, 1,000,000 cases in tox -e cluster-scale).

SMALL_WS_BYTES = 2 << 20


# -- node loss ---------------------------------------------------------------


def test_killing_the_node_a_refresh_writes_to(
    cluster: Any,
    cluster_hub: Callable[..., Any],
    cluster_urls: list[str],
    fake_crm: Any,
    tmp_path: Any,
):
    """kill -9 of the node under a refresh: it fails cleanly, the next one on another node lands.

    The other nodes serve the old data throughout; nothing is lost or doubled.
    """
    trials = max(1, TRIALS // 5)
    outcomes = []
    total = 50
    load(fake_crm, 0, total)
    assert cluster_hub(0).refresh(force=True).ok
    for trial in range(trials):
        started_file = tmp_path / f"started-{trial}"
        victim = cluster.nodes[2]
        doomed = cluster_hub(
            2, SUPPORTHUB_FAKE_DELAY="0.05", SUPPORTHUB_FAKE_STARTED=str(started_file)
        )
        lease_of(doomed.store).ttl = 3.0
        load(fake_crm, total, 300, subject_bytes=200)
        before = (total, total)
        total += 300
        after = (total, total)
        with Watcher(cluster_urls[0]) as watcher:
            result: list[Any] = []
            thread = threading.Thread(
                target=lambda hub=doomed, out=result: out.extend(
                    at_once(functools.partial(hub.refresh, force=True))
                )
            )
            thread.start()
            deadline = time.monotonic() + 30
            while not started_file.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(1.0)  # well into the refresh's transaction
            victim.kill(signal.SIGKILL)
            thread.join(120)
            assert not thread.is_alive()
            seen_during = set(watcher.seen)
            # The next attempt, on node 1, waits out the dead refresh's lease.
            survivor = cluster_hub(0)
            lease_of(survivor.store).ttl = 3.0
            started = time.monotonic()
            report = survivor.refresh(force=True)
            retry_seconds = time.monotonic() - started
            time.sleep(0.3)
        outcomes.append(
            f"refresh on killed node: {type(result[0]).__name__}; "
            f"next on node 1 ok={report.ok} after {retry_seconds:.1f} s"
        )
        assert isinstance(result[0], StorageError)
        assert report.ok
        assert seen_during <= {before}
        assert watcher.seen <= {before, after}
        assert count_cases(cluster_urls[1]) == after
        # The node comes back (state transfer) with the same data.
        started = time.monotonic()
        cluster.restart(victim)
        rejoin_seconds = time.monotonic() - started
        assert count_cases(cluster_urls[2]) == after
        outcomes[-1] += f"; node 3 rejoined in {rejoin_seconds:.1f} s with the same data"
        doomed.close()
    print("\n".join(outcomes))


def test_a_node_frozen_away_and_back(
    cluster: Any, cluster_hub: Callable[..., Any], cluster_urls: list[str], fake_crm: Any
):
    """SIGSTOP one node (a partition, as the others see it): the rest refresh; it catches up."""
    trials = max(1, TRIALS // 5)
    lines = []
    total = 20
    load(fake_crm, 0, total)
    hub = cluster_hub(0)
    assert hub.refresh(force=True).ok
    frozen = cluster.nodes[1]
    for _ in range(trials):
        frozen.kill(signal.SIGSTOP)
        try:
            started = time.monotonic()
            # The others drop it from the group after the suspect timeout.
            deadline = time.monotonic() + 60
            while cluster.nodes[0].status("wsrep_cluster_size") != "2":
                assert time.monotonic() < deadline
                time.sleep(0.2)
            evicted_seconds = time.monotonic() - started
            load(fake_crm, total, 10)
            total += 10
            assert hub.refresh(force=True).ok
            assert count_cases(cluster_urls[2]) == (total, total)
            # Readers on the frozen node, from the moment it runs again: plain
            # ones, and the hub's with ?wsrep_sync_wait=1 (causal reads).
            causal = SqlStore(f"{cluster_urls[1]}?wsrep_sync_wait=1")
            plain = Watcher(cluster_urls[1], 0.05)
            waiting = Watcher(cluster_urls[1], 0.05, engine=causal.engine)
            plain.__enter__()
            waiting.__enter__()
        finally:
            frozen.kill(signal.SIGCONT)
        try:
            back_seconds, _ = wait_caught_up(cluster, frozen, cluster_urls[1], (total, total))
            time.sleep(0.5)
        finally:
            plain.__exit__()
            waiting.__exit__()
            causal.close()
        stale = [sum(a != (total, total) for a in w.answers) for w in (plain, waiting)]
        lines.append(
            f"node 2 frozen: evicted after {evicted_seconds:.1f} s, refresh ok meanwhile; "
            f"back, Synced and with the new data {back_seconds:.1f} s after SIGCONT; reads of "
            f"the old data on it meanwhile: {stale[0]} of {plain.polls} plain, {stale[1]} of "
            f"{waiting.polls} with ?wsrep_sync_wait=1 ({waiting.errors} refused)"
        )
        assert stale[1] == 0, waiting.answers
        assert waiting.polls > 0
    print("\n".join(lines))


def wait_caught_up(
    cluster: Any, node: Any, url: str, expected: tuple[int, int], timeout: float = 120
) -> tuple[float, int]:
    """Seconds until ``node`` is Synced in the full cluster with ``expected``; stale reads seen."""
    started = time.monotonic()
    stale = 0
    while True:
        if node.process is not None and node.process.poll() is not None:
            # An evicted node may shut itself down: it comes back by a restart.
            cluster.restart(node)
        synced = node.status("wsrep_local_state_comment") == "Synced" and node.status(
            "wsrep_cluster_size"
        ) == str(len(cluster.nodes))
        try:
            seen: tuple[int, int] | None = count_cases(url)
        except sa.exc.DBAPIError:
            seen = None  # it refuses queries while outside the primary component
        if synced and seen == expected:
            return time.monotonic() - started, stale
        stale += seen is not None and seen != expected
        assert time.monotonic() - started < timeout
        time.sleep(0.2)


def test_a_source_failing_mid_stream_keeps_its_old_cases(
    cluster: Any, cluster_hub: Callable[..., Any], cluster_urls: list[str], fake_crm: Any
):
    """A source that breaks after fragments were streamed: its part is undone, old cases stay.

    The refresh runs again without it (no savepoints while streaming); the
    cluster is left with no unfinished streamed transaction (the teardown's
    DROP DATABASE would wait for its locks).
    """
    load(fake_crm, 0, 100)
    assert cluster_hub(0).refresh(force=True).ok
    load(fake_crm, 100, 3000, subject_bytes=1000)
    hub = cluster_hub(1, SUPPORTHUB_FAKE_FAIL_AFTER="2500")
    hub.store.fragment_bytes = 64 << 10
    with max_ws_size(cluster, SMALL_WS_BYTES):
        report = hub.refresh(force=True)
    assert not report.ok
    assert "broke after 2500" in (report.sources["fake"].error or "")
    assert count_cases(cluster_urls[0]) == (100, 100)
    assert count_cases(cluster_urls[2]) == (100, 100)
    for node in cluster.nodes:
        connection = node.connect()
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM mysql.wsrep_streaming_log")
            assert cursor.fetchone() == (0,)
        connection.close()


def test_a_hub_with_a_failover_list_follows_the_surviving_nodes(
    cluster: Any, cluster_hub: Callable[..., Any], cluster_urls: list[str], fake_crm: Any
):
    """URL on node 3 with ``?failover=`` nodes 1 and 2: node 3 killed, the hub carries on."""
    trials = max(1, TRIALS // 5)
    total = 10
    load(fake_crm, 0, total)
    others = ",".join(f"127.0.0.1:{node.port}" for node in cluster.nodes[:2])
    lines = []
    for _ in range(trials):
        hub = cluster_hub(0, SUPPORTHUB_DATABASE_URL=f"{cluster_urls[2]}?failover={others}")
        assert hub.refresh(force=True).ok
        cluster.nodes[2].kill(signal.SIGKILL)
        started = time.monotonic()
        load(fake_crm, total, 5)
        total += 5
        report = hub.refresh(force=True)
        failover_seconds = time.monotonic() - started
        assert report.ok
        assert hub.counts().cases == {"fake": total}
        assert count_cases(cluster_urls[0]) == (total, total)
        started = time.monotonic()
        cluster.restart(cluster.nodes[2])
        lines.append(
            f"node 3 killed under a hub with a failover list: next refresh ok in "
            f"{failover_seconds:.1f} s; node 3 back in {time.monotonic() - started:.1f} s"
        )
        hub.close()
    print("\n".join(lines))
