"""Replies end to end: one hub on both simulators, every write fault, exactly one comment.

One aggregated case whose open cases are spread over Banana and Strawberry
(the same provider and error code in both CRMs). A reply goes through the
hub's outbox and deliverer, the shipped adapters and real HTTP to the
simulators, while a write fault is switched on again and again during the
delivery. At the end, counted at the simulators: every target case holds
**exactly one** comment with the message, its status is what was asked,
and the reply is ``done``. A run where some cases are refused for good
(a deleted Banana case, a Strawberry ticket closed for good, read-only
credentials) ends ``done-with-failures`` with failures for those cases
only, each with the CRM's reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import reliability_kit as kit
import sqlalchemy as sa
from reply_sims import hub_env, one_problem
from supporthub_banana.simulator import BananaSimulator
from supporthub_strawberry.ratelimit import forget_limiters
from supporthub_strawberry.simulator import StrawberrySimulator

import supporthub
import supporthub.delivery.deliverer
from supporthub.testing.sim import WRITE_FAULTS, Faults

PER_CRM = 5  # open target cases in each CRM
MESSAGE = "Card payments fail with E-4711: found the cause, a fix is on its way."
#: A short timeout loses the simulator's held-back answers (0.8 s) at once.
QUICK = {
    **kit.FAST_HTTP,
    "SUPPORTHUB_HTTP_TIMEOUT_SECONDS": "0.4",
    "SUPPORTHUB_DELIVERY_LEASE_SECONDS": "5",
}
STATUS = {
    "banana": {"pending": "On Hold", "solved": "Resolved"},
    "strawberry": {"pending": "pending", "solved": "solved"},
}


@pytest.fixture
def both() -> Iterator[tuple[BananaSimulator, StrawberrySimulator]]:
    """Both CRMs with a few unrelated cases, and the problem's cases in each."""
    banana, strawberry = kit.sims(n=20, seed=11)
    with banana, strawberry:
        one_problem(banana, PER_CRM)
        one_problem(strawberry, PER_CRM)
        yield banana, strawberry
    forget_limiters()  # a later simulator may get this port: no inherited wait


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The deliverer's first backoff is 2 s; a twentieth of it keeps each test short."""
    monkeypatch.setattr(supporthub.delivery.deliverer, "_FIRST_BACKOFF_SECONDS", 0.1)


class Rearm:
    """A transport that switches a write fault on again before writes no. 1, 4, 7, …

    So the fault meets several target cases of one reply (and both the
    comment and the status write of Banana), not only the first.
    """

    def __init__(self, sims: dict[str, kit.Sim], fault: Callable[[Faults], None]) -> None:
        self.sims = sims
        self.fault = fault
        self.lock = threading.Lock()
        self.writes: dict[str, int] = {}
        self.armed: dict[str, int] = {}

    def transport(self, source: str) -> httpx.BaseTransport:
        return _Rearming(self, source)

    def before(self, source: str, request: httpx.Request) -> None:
        if request.method == "GET" or request.url.path.endswith("/oauth/token"):
            return
        with self.lock:
            n = self.writes[source] = self.writes.get(source, 0) + 1
            if n % 3 != 1 or self.armed.get(source, 0) >= 3:
                return
            self.armed[source] = self.armed.get(source, 0) + 1
        self.fault(self.sims[source].faults)


class _Rearming(httpx.HTTPTransport):
    def __init__(self, rearm: Rearm, source: str) -> None:
        super().__init__()
        self.rearm = rearm
        self.source = source

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.rearm.before(self.source, request)
        return super().handle_request(request)


def the_problem(hub: supporthub.Hub) -> supporthub.AggregatedCase:
    """The one aggregated case with cases in both CRMs."""
    (agg,) = [a for a in hub.all().aggregated_cases if {c.source for c in a.cases} == set(STATUS)]
    return agg


def targets_of(agg: supporthub.AggregatedCase) -> set[tuple[str, str]]:
    return {(c.source, c.source_id) for c in agg.cases if c.status == supporthub.Status.OPEN}


def refreshed(
    both: tuple[BananaSimulator, StrawberrySimulator], make_hub: Any, **kwargs: Any
) -> tuple[supporthub.Hub, dict[str, kit.Sim], supporthub.AggregatedCase, set[tuple[str, str]]]:
    """A hub on both CRMs, refreshed: it, the simulators, the problem and its open cases."""
    banana, strawberry = both
    hub = make_hub({**kit.env_for(banana, strawberry), **QUICK}, **kwargs)
    hub.refresh(force=True)
    agg = the_problem(hub)
    return hub, kit.by_source(banana, strawberry), agg, targets_of(agg)


def replied(hub: supporthub.Hub, agg_id: str, set_status: Any) -> Any:
    """Reply to every open case, delivered in this process to the end."""
    accepted = hub.reply(agg_id, message=MESSAGE, by="ana", set_status=set_status)
    done = hub.deliver(accepted.id, timeout=60, poll=0.05)
    assert done is not None
    return done


def check_one_comment_each(sims: dict[str, kit.Sim], targets: set[tuple[str, str]]) -> None:
    for source, case_id in sorted(targets):
        sim = sims[source]
        key: Any = case_id if source == "banana" else int(case_id)
        assert sim.comment_count(key, MESSAGE) == 1, (source, case_id, sim.comments.on(key))
        assert sim.comment_count(key) == 1, (source, case_id, sim.comments.on(key))
    for sim in sims.values():
        assert sim.comments.duplicates() == {}


FAULTS = sorted(WRITE_FAULTS)


@pytest.mark.parametrize("set_status", ["pending", "solved"])
@pytest.mark.parametrize("fault", FAULTS)
def test_every_target_gets_exactly_one_comment_through_each_write_fault(
    both: tuple[BananaSimulator, StrawberrySimulator],
    make_hub: Any,
    fault: str,
    set_status: str,
    trial: Any,
) -> None:
    rearm = Rearm(kit.by_source(*both), WRITE_FAULTS[fault])
    hub, sims, agg, targets = refreshed(both, make_hub, transport_factory=rearm.transport)
    assert {source for source, _ in targets} == set(STATUS)
    assert len(targets) == 2 * PER_CRM

    done = replied(hub, agg.id, set_status)

    assert done.state == "done", done
    assert (done.delivered, done.failed, done.pending) == (len(targets), 0, 0)
    assert {(d.source, d.case_id) for d in done.cases} == targets
    check_one_comment_each(sims, targets)
    for source, case_id in targets:
        sim = sims[source]
        record = sim.record(case_id if source == "banana" else int(case_id))
        status = record["Status"] if source == "banana" else record["status"]
        assert status == STATUS[source][set_status], (source, case_id)
    # The fault was met, in both CRMs: more writes reached them than one per target.
    assert rearm.armed == {"banana": 3, "strawberry": 3}
    writes = {
        name: sum(1 for r in sim.requests.all() if r.method != "GET") for name, sim in sims.items()
    }
    assert writes["strawberry"] > PER_CRM, writes
    trial.record(
        f"a reply to both CRMs, fault {fault!r} switched on 3 times in each, status {set_status}",
        len(targets),
        f"done; exactly one comment per target case at the simulators; writes seen {writes}",
    )


def test_cases_refused_for_good_fail_with_the_crms_reason_and_only_they(
    both: tuple[BananaSimulator, StrawberrySimulator], make_hub: Any
) -> None:
    banana, strawberry = both
    hub, sims, agg, targets = refreshed(both, make_hub)
    deleted = sorted(c for s, c in targets if s == "banana")[0]
    closed = sorted(c for s, c in targets if s == "strawberry")[0]
    banana.delete(deleted)
    strawberry.close_for_good(int(closed))
    # A transient fault as well, so that refusals are told apart from it.
    banana.faults.error_burst(4, 503, writes_only=True)

    done = replied(hub, agg.id, "solved")

    assert done.state == "done-with-failures"
    failed = {(d.source, d.case_id): d.error for d in done.cases if d.state == "failed"}
    assert set(failed) == {("banana", deleted), ("strawberry", closed)}
    assert "404" in (failed["banana", deleted] or "")
    assert "422" in (failed["strawberry", closed] or "")
    assert "closed" in (failed["strawberry", closed] or "").lower()
    assert (done.delivered, done.failed, done.pending) == (len(targets) - 2, 2, 0)
    check_one_comment_each(sims, targets - {("banana", deleted), ("strawberry", closed)})
    assert banana.comment_count(deleted) == 0
    assert strawberry.comment_count(int(closed)) == 0


@pytest.mark.parametrize("read_only", ["banana", "strawberry"])
def test_read_only_credentials_fail_that_crms_cases_and_the_other_is_answered(
    both: tuple[BananaSimulator, StrawberrySimulator], make_hub: Any, read_only: str
) -> None:
    hub, sims, agg, targets = refreshed(both, make_hub)
    sims[read_only].read_only = True

    done = replied(hub, agg.id, "pending")

    assert done.state == "done-with-failures"
    failed = {(d.source, d.case_id): d.error or "" for d in done.cases if d.state == "failed"}
    refused = {t for t in targets if t[0] == read_only}
    assert set(failed) == refused
    assert all("403" in reason for reason in failed.values()), failed
    check_one_comment_each(sims, targets - refused)
    assert sims[read_only].comments.total() == 0


# -- two `supporthub serve` on one MariaDB, the simulators in a process of their own -----

TWO_SERVES_CASES = 40  # per CRM; two replies: 160 comments


def comments_at(crms: dict[str, Any], source: str, case_id: str) -> list[str]:
    """The comment bodies of one case, read over the simulator's HTTP comment list."""
    if source == "banana":
        banana = crms["banana"]
        token = httpx.post(
            banana["url"] + "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": banana["client_id"],
                "client_secret": banana["client_secret"],
            },
        ).json()["access_token"]
        answer = httpx.get(
            f"{banana['url']}/api/v2/cases/{case_id}/comments",
            headers={"Authorization": f"Bearer {token}"},
        )
        answer.raise_for_status()
        return [c["Body"] for c in answer.json()["records"]]
    strawberry = crms["strawberry"]
    answer = httpx.get(
        f"{strawberry['url']}/v1/tickets/{case_id}/comments",
        headers={"X-Api-Key": strawberry["api_key"]},
    )
    answer.raise_for_status()
    return [c["body"] for c in answer.json()["comments"]]


@pytest.fixture
def mariadb_url(mariadb_databases: Any) -> str:
    return str(mariadb_databases.create())


@pytest.mark.mariadb
@kit.ON_MARIADB
def test_two_serve_processes_on_one_mariadb_deliver_each_reply_once(
    mariadb_url: str, make_hub_at: Any, tmp_path: Path, trial: Any
) -> None:
    simulators = subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "reply_sims.py"), str(TWO_SERVES_CASES)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert simulators.stdout is not None
        crms = json.loads(simulators.stdout.readline())
        env = hub_env(crms)
        hub = make_hub_at(mariadb_url, env, transport_factory=None)
        hub.refresh(force=True)
        agg = the_problem(hub)
        targets = targets_of(agg)
        assert len(targets) == 2 * TWO_SERVES_CASES
        served = {
            **os.environ,
            **env,
            "SUPPORTHUB_DATABASE_URL": mariadb_url,
            "SUPPORTHUB_LOG_LEVEL": "WARNING",
        }
        with (
            kit.serving(served, tmp_path / "a.log") as first,
            kit.serving(served, tmp_path / "b.log") as second,
        ):
            # Each process is asked for one reply; both deliverers see both.
            ids = []
            for base, k in ((first, 1), (second, 2)):
                answer = httpx.post(
                    f"{base}/aggregated-cases/{agg.id}/replies",
                    json={"message": f"{MESSAGE} ({k})", "by": "ana", "setStatus": "pending"},
                )
                assert answer.status_code == 202, answer.text
                ids.append(answer.json()["id"])
            deadline = time.monotonic() + 120
            owners: set[str] = set()  # the deliverers seen holding a lease
            while any(hub.reply_status(i).pending for i in ids):
                assert time.monotonic() < deadline, [hub.reply_status(i) for i in ids]
                with hub.store.reader() as reader:
                    owners |= set(
                        reader.connection.execute(
                            sa.text(
                                "SELECT DISTINCT lease_owner FROM reply_deliveries "
                                "WHERE lease_owner IS NOT NULL"
                            )
                        ).scalars()
                    )
                time.sleep(0.05)
        for reply_id in ids:
            assert hub.reply_status(reply_id).state == "done"
        counts: dict[str, int] = {}
        for source, case_id in sorted(targets):
            bodies = comments_at(crms, source, case_id)
            assert sorted(bodies) == [f"{MESSAGE} (1)", f"{MESSAGE} (2)"], (source, case_id)
            counts[source] = counts.get(source, 0) + len(bodies)
    finally:
        simulators.communicate("", timeout=30)
    assert counts == {"banana": 2 * TWO_SERVES_CASES, "strawberry": 2 * TWO_SERVES_CASES}
    assert len(owners) == 2, f"not both processes delivered: {owners}"
    trial.record(
        "two `supporthub serve` on one MariaDB, two replies to 40 Banana + 40 Strawberry "
        "cases, simulators in their own process",
        4 * TWO_SERVES_CASES,
        "both processes delivered, both replies done; every case holds each reply's "
        "comment exactly once, counted over the simulators' comment lists: 0 duplicates, 0 missing",
    )
