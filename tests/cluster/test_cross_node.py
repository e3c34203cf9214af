"""Overrides, claims and reply deliveries made on two cluster nodes at once: never doubled.

Each race runs ``SUPPORTHUB_CLUSTER_TRIALS`` times (the replies and the
provoked conflicts a fifth as many): two hubs, each with its own engine on its own node, released
together. Galera certifies the two commits one after the other; the one
that lost (error 1213) runs again and then sees the winner's.
"""

from __future__ import annotations

import collections
import functools
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from cluster_kit import at_once, count_cases, load
from starlette.testclient import TestClient
from supporthub_fakecrm import FakeAdapter

import supporthub
from supporthub.service import create_app
from supporthub.steering import rule_changes
from supporthub.vocabulary.errors import NotFound

RELIABILITY = Path(__file__).parent.parent / "reliability"
sys.path.insert(0, str(RELIABILITY))

import reliability_kit as kit  # noqa: E402
from reply_sims import hub_env  # noqa: E402
from test_reply_crms import comments_at  # noqa: E402

TRIALS = int(os.environ.get("SUPPORTHUB_CLUSTER_TRIALS", "10"))


def ids_by_provider(hub: supporthub.Hub) -> dict[str, str]:
    return {agg.provider or "": agg.id for agg in hub.all(cases_limit=0).aggregated_cases}


def test_the_same_override_on_two_nodes_is_made_once(
    cluster_hub: Callable[..., Any], fake_crm: Any
) -> None:
    """The same alias from two nodes: both answered, one stored; the same merge: one wins."""
    load(fake_crm, 0, 50)  # "Provider 0" … "Provider 49": one aggregated case each
    a, b, c = cluster_hub(0), cluster_hub(1), cluster_hub(2)
    assert a.refresh(force=True).ok
    aliases, merges = [], []
    for t in range(TRIALS):
        spelling, provider = f"Provdr {t}", f"Provider {t}"
        made = at_once(
            *(
                functools.partial(hub.add_alias, spelling, provider, by=who, reason="typo")
                for hub, who in ((a, "ana"), (b, "bob"))
            )
        )
        assert all(isinstance(m, supporthub.RuleChange) and m.applied for m in made), made
        aliases.append({m.overrides[0].id for m in made})
        assert len(aliases[-1]) == 1, made  # both name the one override stored
        groups = ids_by_provider(a)
        gone, into = groups[f"Provider {20 + t}"], groups[f"Provider {40 + t % 10}"]
        results = at_once(
            *(
                functools.partial(hub.merge, gone, into, by=who, reason="same outage")
                for hub, who in ((a, "ana"), (b, "bob"))
            )
        )
        won = [r for r in results if isinstance(r, supporthub.RuleChange)]
        lost = [r for r in results if isinstance(r, NotFound)]
        assert (len(won), len(lost)) == (1, 1), results
        merges.append(won[0].overrides[0].id)
    stored = c.overrides()
    print(
        f"\nthe same override on nodes 1 and 2 at once, {TRIALS} trials each: aliases stored "
        f"{len([o for o in stored if o.kind.value == 'alias'])} (both callers got the same id "
        f"every time), merges stored {len([o for o in stored if o.kind.value == 'merge'])} "
        "(the other caller: 404, its subject merged away)"
    )
    assert sorted(o.id for o in stored) == sorted([*(i for s in aliases for i in s), *merges])
    assert len(stored) == 2 * TRIALS
    assert sum(agg.case_count for agg in c.all(cases_limit=0).aggregated_cases) == 50


def test_a_claim_on_two_nodes_has_one_winner_and_a_409_naming_it(
    cluster_hub: Callable[..., Any], fake_crm: Any
) -> None:
    """``PATCH … {"claim": true}`` on two nodes at once: one 200, one 409 with the owner."""
    load(fake_crm, 0, TRIALS)
    a, b, c = cluster_hub(0), cluster_hub(1), cluster_hub(2)
    assert a.refresh(force=True).ok
    agg_ids = sorted(ids_by_provider(a).values())
    outcomes = []
    with (
        TestClient(create_app(a, scheduler=False, deliver=False)) as ana,
        TestClient(create_app(b, scheduler=False, deliver=False)) as bob,
    ):
        for agg_id in agg_ids:
            answers = at_once(
                *(
                    functools.partial(
                        client.patch, f"/aggregated-cases/{agg_id}", json={"by": by, "claim": True}
                    )
                    for client, by in ((ana, "ana"), (bob, "bob"))
                )
            )
            codes = sorted(answer.status_code for answer in answers)
            assert codes == [200, 409], [(x.status_code, x.text) for x in answers]
            winner = next(x for x in answers if x.status_code == 200).json()["owner"]
            refused = next(x for x in answers if x.status_code == 409).json()
            assert refused["owner"] == winner and winner in refused["error"]
            outcomes.append(winner)
            # Seen from node 3: the winner owns it, with one history entry for it.
            assert c.get(agg_id, cases_limit=0).owner == winner
            history = c.history(agg_id)
            assert [[(f.field, f.after) for f in h.changes] for h in history] == [
                [("owner", winner)]
            ]
    print(
        f"\nclaims on nodes 1 and 2 at once, {len(outcomes)} trials: one 200 and one 409 "
        f"naming the owner each time (ana won {outcomes.count('ana')}, bob "
        f"{outcomes.count('bob')}); one history entry each, seen from node 3"
    )
    assert len(outcomes) == TRIALS


REPLY_CASES = 20  # per CRM; each round: two replies to all of them


class CountingTransport(httpx.HTTPTransport):
    """Counts the writes (not GET, not the token) one deliverer sends: (method, path) → n."""

    def __init__(self, counts: collections.Counter[tuple[str, str]], lock: threading.Lock) -> None:
        super().__init__()
        self.counts = counts
        self.lock = lock

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET" and not request.url.path.endswith("/oauth/token"):
            with self.lock:
                self.counts[(request.method, request.url.path)] += 1
        return super().handle_request(request)


def test_two_deliverers_on_two_nodes_send_each_reply_once(cluster_urls: list[str]) -> None:
    """Deliverers of two hubs on nodes 1 and 2 race for the same rows: each write sent once.

    Counted twice: every write request each deliverer sent (no (method,
    path) more often than there are replies), and the comments the
    simulators hold (one per reply on every case: no duplicate, none missing).
    """
    rounds = max(1, TRIALS // 5)
    simulators = subprocess.Popen(
        [sys.executable, str(RELIABILITY / "reply_sims.py"), str(REPLY_CASES)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    hubs: list[supporthub.Hub] = []
    try:
        assert simulators.stdout is not None
        crms = json.loads(simulators.stdout.readline())
        env = {**hub_env(crms), "SUPPORTHUB_MIN_REFRESH_AGE_MINUTES": "0"}
        lock = threading.Lock()
        sent: list[collections.Counter[tuple[str, str]]] = [collections.Counter() for _ in range(2)]
        for node in range(3):
            factory = None
            if node < 2:
                factory = functools.partial(
                    lambda counts, _source: CountingTransport(counts, lock), sent[node]
                )
            hubs.append(
                supporthub.Hub.from_env(
                    {**env, "SUPPORTHUB_DATABASE_URL": cluster_urls[node]},
                    plugins=kit.plugin_manager(),
                    transport_factory=factory,
                )
            )
        a, b, c = hubs
        assert c.refresh(force=True).ok
        (agg,) = [
            x
            for x in c.all().aggregated_cases
            if {case.source for case in x.cases} == {"banana", "strawberry"}
        ]
        targets = {
            (case.source, case.source_id)
            for case in agg.cases
            if case.status is supporthub.Status.OPEN
        }
        assert len(targets) == 2 * REPLY_CASES
        deliverers = [hub.deliverer(poll=0.05) for hub in (a, b)]
        for deliverer in deliverers:
            deliverer.start()
        ids = []
        try:
            for n in range(rounds):
                for k in (1, 2):
                    accepted = c.reply(agg.id, message=f"reply {n}.{k}", by="ana")
                    ids.append(accepted.id)
                deadline = time.monotonic() + 240
                while any(c.reply_status(i).pending for i in ids):
                    assert time.monotonic() < deadline, [c.reply_status(i) for i in ids]
                    time.sleep(0.1)
        finally:
            for deliverer in deliverers:
                deliverer.stop()
        with c.store.reader() as reader:
            attempts = dict(
                reader.connection.execute(
                    sa.text("SELECT attempts, COUNT(*) FROM reply_deliveries GROUP BY attempts")
                ).all()
            )
        expected = sorted(f"reply {n}.{k}" for n in range(rounds) for k in (1, 2))
        duplicates = missing = 0
        for source, case_id in sorted(targets):
            bodies = comments_at(crms, source, case_id)
            duplicates += len(bodies) - len(set(bodies))
            missing += len(set(expected) - set(bodies))
            assert sorted(bodies) == expected, (source, case_id, bodies)
        states = [c.reply_status(i).state for i in ids]
    finally:
        for hub in hubs:
            hub.close()
        simulators.communicate("", timeout=30)
    both = sent[0] + sent[1]
    print(
        f"\ntwo deliverers on nodes 1 and 2, {rounds} rounds of 2 replies to {REPLY_CASES} "
        f"Banana + {REPLY_CASES} Strawberry cases: {len(ids) * len(targets)} deliveries; "
        f"writes sent from node 1's hub {sum(sent[0].values())}, from node 2's "
        f"{sum(sent[1].values())}, the most to one (method, path) {max(both.values())} "
        f"for {len(ids)} replies; attempts per row {attempts}; {duplicates} duplicate and "
        f"{missing} missing comments at the simulators"
    )
    assert states == ["done"] * len(ids)
    assert (duplicates, missing) == (0, 0)
    assert attempts == {1: len(ids) * len(targets)}  # each row claimed once
    assert max(both.values()) == len(ids)  # no write sent twice
    assert sum(sent[0].values()) > 0 and sum(sent[1].values()) > 0, "not both delivered"


# -- certification conflicts during a whole refresh and a rule change -----------------


def wait_for_writer(node: Any, database: str, rows: int, timeout: float = 60.0) -> None:
    """Wait for a transaction on ``node`` in ``database`` that changed more than ``rows`` rows.

    Seen in two polls a tenth of a second apart: not one of the short ones.
    """
    deadline = time.monotonic() + timeout
    connection = node.connect()
    seen: set[Any] = set()
    try:
        with connection.cursor() as cursor:
            while True:
                cursor.execute(
                    "SELECT t.trx_id FROM information_schema.innodb_trx t"
                    " JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id"
                    " WHERE p.db = %s AND t.trx_rows_modified > %s",
                    (database, rows),
                )
                now = {row[0] for row in cursor.fetchall()}
                if now & seen:
                    return
                seen = now
                assert time.monotonic() < deadline, "no writing transaction showed up"
                # Not tighter: a busy server's thread list is slow to read.
                time.sleep(0.1)
    finally:
        connection.close()


def edit_on(url: str, where: str, params: dict[str, Any]) -> int:
    """Another writer on another node changes case rows (a script, a hub ignoring the lease)."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            return connection.execute(
                sa.text(f"UPDATE cases SET subject = 'edited elsewhere' WHERE {where}"), params
            ).rowcount
    finally:
        engine.dispose()


def conflicts_logged(caplog: Any, what: str) -> int:
    return sum(
        1
        for record in caplog.records
        if record.name == "supporthub.store"
        and record.getMessage().startswith(f"{what} lost a write conflict")
    )


def in_thread(call: Callable[[], Any]) -> Callable[[], Any]:
    """Start ``call`` in a thread; the returned function joins it and gives its result."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(call())
        except BaseException as error:
            out.append(error)

    thread = threading.Thread(target=run)
    thread.start()

    def join() -> Any:
        thread.join(300)
        assert not thread.is_alive()
        return out[0]

    return join


def runs_recorded(hub: supporthub.Hub) -> int:
    with hub.store.reader() as reader:
        return int(
            reader.connection.execute(sa.text("SELECT COUNT(*) FROM refresh_runs")).scalar_one()
        )


def test_a_refresh_that_loses_a_certification_conflict_runs_again(
    cluster: Any,
    cluster_hub: Callable[..., Any],
    cluster_urls: list[str],
    fake_crm: Any,
    caplog: Any,
    tmp_path: Path,
) -> None:
    """A commit on node 2 while a refresh writes on node 1: the refresh loses, runs again, ok.

    Nothing of the lost attempt is stored; the report is the second attempt's
    (no failure recorded), and one run is recorded.
    """
    caplog.set_level(logging.WARNING, logger="supporthub.store")
    trials = max(1, TRIALS // 5)
    total = 30
    load(fake_crm, 0, total)
    started = tmp_path / "started"
    refresher = cluster_hub(0, SUPPORTHUB_FAKE_DELAY="0.1", SUPPORTHUB_FAKE_STARTED=str(started))
    # Node 2 reads right after node 1's commit, which Galera applies there a
    # moment later: causal reads, or the run just recorded may not be there yet.
    other = cluster_hub(1, SUPPORTHUB_DATABASE_URL=f"{cluster_urls[1]}?wsrep_sync_wait=1")
    assert refresher.refresh(force=True).ok
    lost = []
    for t in range(trials):
        # The CRM changed its first 30 cases (the refresh writes them first) and has 60 new.
        load(fake_crm, 0, 30, subject_bytes=10 + t)
        load(fake_crm, total, 60, subject_bytes=200)
        total += 60
        fetches, logged = len(FakeAdapter.cursors), conflicts_logged(caplog, "the refresh")
        runs = runs_recorded(other)
        started.unlink(missing_ok=True)
        join = in_thread(functools.partial(refresher.refresh, force=True))
        deadline = time.monotonic() + 60
        while not started.exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1.0)  # 30 batches of 3 cases, 0.1 s each: the first ones are written
        # Node 2 commits a change of two rows the refresh has written: its
        # write set reaches node 1 and aborts the refresh's transaction there.
        assert edit_on(cluster_urls[1], "source_id IN ('0', '1')", {}) == 2
        report = join()
        assert isinstance(report, supporthub.RefreshReport), report
        assert report.ok, report
        lost.append(conflicts_logged(caplog, "the refresh") - logged)
        assert lost[-1] >= 1, "the refresh did not lose to node 2's commit"
        assert len(FakeAdapter.cursors) - fetches == 1 + lost[-1]  # fetched again per attempt
        assert runs_recorded(other) == runs + 1
        assert count_cases(cluster_urls[2]) == (total, total)
        with other.store.reader() as reader:
            assert reader.states()["fake"].consecutive_failures == 0
            edited = reader.connection.execute(
                sa.text("SELECT COUNT(*) FROM cases WHERE subject = 'edited elsewhere'")
            ).scalar_one()
        assert edited == 0  # the refresh ran again after the edit: the CRM's subjects stand
    print(
        f"\na refresh on node 1 while node 2 commits rows it wrote, {trials} trials: conflicts "
        f"lost per refresh {lost}, each run again (fetching again) and ok; one run recorded, "
        "no failure recorded, every case there"
    )


def test_a_rule_change_that_loses_a_certification_conflict_runs_again(
    cluster: Any,
    cluster_hub: Callable[..., Any],
    cluster_urls: list[str],
    fake_crm: Any,
    caplog: Any,
    monkeypatch: Any,
) -> None:
    """An undo on node 1 regrouping while node 2 changes its override row: run again, once.

    The undo marks the override removed first, then regroups every case;
    node 2 commits a change of that row meanwhile. The undo's transaction is
    held open after its regroup until node 2 has committed, so the race is
    the same on a fast machine as on a slow one (regrouping 5,000 cases can
    end before a poller sees it).
    """
    node_2_committed = [threading.Event()]

    def regroup_then_wait(*args: Any, **kwargs: Any) -> Any:
        diff = real_regroup(*args, **kwargs)
        node_2_committed[0].wait(timeout=60)  # set at once on the run that follows
        return diff

    real_regroup = rule_changes.regroup
    monkeypatch.setattr(rule_changes, "regroup", regroup_then_wait)
    caplog.set_level(logging.WARNING, logger="supporthub.store")
    trials = max(1, TRIALS // 5)
    database = cluster_urls[0].rsplit("/", 1)[1]
    load(fake_crm, 0, 5000)  # enough cases that regrouping takes a moment
    # Node 2 reads causally: right after node 1's commit it may not have
    # applied it yet (as docs/deploying.md tells deployments to set).
    changer = cluster_hub(0)
    other = cluster_hub(1, SUPPORTHUB_DATABASE_URL=f"{cluster_urls[1]}?wsrep_sync_wait=1")
    assert changer.refresh(force=True).ok
    before = sorted(agg.id for agg in other.all(cases_limit=0).aggregated_cases)
    lost = []
    for t in range(trials):
        made = changer.add_alias(f"Provider {t}", f"Provider {t + 10}", by="ana", reason="same")
        override_id = made.overrides[0].id
        logged = conflicts_logged(caplog, "the rule change")
        node_2_committed[0] = threading.Event()
        join = in_thread(functools.partial(changer.undo, override_id, by="ana"))
        wait_for_writer(cluster.nodes[0], database, rows=0)
        engine = sa.create_engine(cluster_urls[1])
        with engine.begin() as connection:
            edited = connection.execute(
                sa.text("UPDATE overrides SET reason = 'edited elsewhere' WHERE id = :id"),
                {"id": override_id},
            ).rowcount
        engine.dispose()
        node_2_committed[0].set()
        assert edited == 1
        change = join()
        assert isinstance(change, supporthub.RuleChange) and change.applied, change
        lost.append(conflicts_logged(caplog, "the rule change") - logged)
        assert lost[-1] >= 1, "the rule change did not lose to node 2's commit"
        removed = [o for o in other.overrides(include_removed=True) if o.id == override_id]
        assert [(o.removed_by, o.reason) for o in removed] == [("ana", "edited elsewhere")]
    print(
        f"\nan undo regrouping 5,000 cases on node 1 while node 2 changes its override row, "
        f"{trials} trials: conflicts lost per change {lost}, each run again and applied once"
    )
    assert other.overrides() == []
    assert sorted(agg.id for agg in other.all(cases_limit=0).aggregated_cases) == before
