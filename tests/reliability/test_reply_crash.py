"""Crash safety of replies: ``kill -9`` of a delivering ``supporthub reply`` at random moments.

Each round queues a reply to every case of one aggregated case with
``supporthub reply`` in a subprocess, whose fake CRM takes a while per
write (half before applying it, half after, so kills land between applying
and recording too), and kills it (SIGKILL) at a random moment of the time
an uninterrupted delivery takes once the reply is stored (one round in ten:
while it starts up, maybe before it stored the reply). Then a new process, ``supporthub
deliver --reply ID``, picks up once the dead process's leases run out, and:

- every target case holds **exactly one** comment of the reply (zero
  duplicates, zero missing), counted at the CRM;
- the reply is ``done`` with no failure.

A reply killed before it was stored is no reply: it must have left no
comment at all. Rounds: ``SUPPORTHUB_REPLY_CRASH_ROUNDS`` per database (3
by default, for CI; ``tox -e reliability`` runs 100).

And two ``supporthub deliver`` processes on one database, sending the same
replies at once, send each delivery row once: the lease holds across processes.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
import sqlalchemy as sa
import supporthub_fakecrm

import supporthub

ROUNDS = int(os.environ.get("SUPPORTHUB_REPLY_CRASH_ROUNDS", "3"))
N = 30  # target cases per reply

pytestmark = pytest.mark.slow


def cli(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "import sys; from supporthub.cli import main; sys.exit(main())",
         *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip


def to_the_end(env: dict[str, str], *args: str) -> tuple[float, str]:
    began = time.monotonic()
    process = cli(env, *args)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, (out.decode(), err.decode())
    return time.monotonic() - began, out.decode()


def wait_until_stored(engine: sa.Engine, message: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not reply_ids(engine, message) and process.poll() is None:
        assert time.monotonic() < deadline, "the reply was never stored"
        time.sleep(0.01)


def timed_reply(
    env: dict[str, str], engine: sa.Engine, agg_id: str, message: str
) -> tuple[float, float]:
    """Run one reply to the end: seconds until it was stored, and seconds of delivery after."""
    began = time.monotonic()
    process = cli(env, "reply", agg_id, "--message", message, "--by", "crash")
    wait_until_stored(engine, message, process)
    stored = time.monotonic()
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, (out.decode(), err.decode())
    return stored - began, time.monotonic() - stored


def reply_ids(engine: sa.Engine, message: str) -> list[str]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT id FROM replies WHERE message = :m"), {"m": message}
        ).all()
    return [row[0] for row in rows]


def test_kill_9_mid_delivery_never_doubles_or_drops_a_comment(
    database_url: str, installed_fakecrm: dict[str, str], fake_crm: Any, trial: Any
) -> None:
    rng = random.Random(os.environ.get("SUPPORTHUB_CRASH_SEED", "reply-crash"))
    for n in range(N):
        fake_crm.put(f"c{n:02d}", provider="Acme", error_code="E-1")
    url = str(fake_crm.path)
    env = {
        **installed_fakecrm,
        "SUPPORTHUB_DATABASE_URL": database_url,
        "SUPPORTHUB_FAKE_URL": url,
        "SUPPORTHUB_FAKE_TOKEN": "crash-secret",
        "SUPPORTHUB_FAKE_WRITE_DELAY": "0.03",
        "SUPPORTHUB_DELIVERY_LEASE_SECONDS": "1",
        "SUPPORTHUB_LOG_LEVEL": "WARNING",
    }
    to_the_end(env, "refresh", "--force")
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            agg_id = connection.execute(sa.text("SELECT id FROM aggregated_cases")).scalar_one()
        stored_after, delivery = timed_reply(env, engine, agg_id, "warm-up")
        targets = {f"c{n:02d}" for n in range(N)}
        outcomes: dict[str, int] = {}
        resent = in_flight = 0
        for round_ in range(ROUNDS):
            message = f"round {round_}"
            process = cli(env, "reply", agg_id, "--message", message, "--by", "crash")
            if rng.random() < 0.1:  # now and then a kill while it starts up
                time.sleep(rng.uniform(0, 1.2) * stored_after)
            else:  # mostly a kill within the time its delivery takes
                wait_until_stored(engine, message, process)
                time.sleep(rng.uniform(0, 1.1) * delivery)
            finished = process.poll() is not None
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=30)

            found = reply_ids(engine, message)
            if not found:
                outcome = "killed before the reply was stored"
                assert not [
                    c for c in supporthub_fakecrm.comments(url) if c["message"] == message
                ], f"round {round_}: a reply that was never stored left comments"
            else:
                (reply_id,) = found
                with engine.connect() as connection:
                    in_flight += connection.execute(
                        sa.text(
                            "SELECT COUNT(*) FROM reply_deliveries WHERE reply_id = :r "
                            "AND lease_owner IS NOT NULL"
                        ),
                        {"r": reply_id},
                    ).scalar_one()
                _, out = to_the_end(env, "deliver", "--reply", reply_id)
                assert out.splitlines()[-1] == f"reply {reply_id}: done", out
                prefix = f"sh1-{reply_id}-"
                written = supporthub_fakecrm.comments(url, prefix)
                per_case: dict[str, int] = {}
                for comment in written:
                    assert comment["message"] == message
                    per_case[comment["case_id"]] = per_case.get(comment["case_id"], 0) + 1
                assert per_case == dict.fromkeys(targets, 1), f"round {round_}: {per_case}"
                again = sum(n - 1 for n in supporthub_fakecrm.attempts(url, prefix).values())
                resent += again
                outcome = (
                    "finished before the kill"
                    if finished
                    else "killed mid-delivery, resumed by a new process"
                )
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    finally:
        engine.dispose()
    trial.record(
        "kill -9 of `supporthub reply` mid-delivery, `supporthub deliver` resumes",
        ROUNDS,
        "; ".join(f"{count} {what}" for what, count in sorted(outcomes.items()))
        + f"; {in_flight} delivery row(s) held by a killed process, taken over after the "
        f"lease; {resent} write(s) the CRM saw twice, absorbed by the idempotency key; "
        "0 duplicates, 0 missing",
    )


def test_two_deliverer_processes_on_one_database_send_each_row_once(
    database_url: str,
    installed_fakecrm: dict[str, str],
    fake_crm: Any,
    plugin_manager: Any,
    trial: Any,
) -> None:
    for n in range(80):
        fake_crm.put(f"c{n:02d}", provider="Acme", error_code="E-1")
    url = str(fake_crm.path)
    env = {
        **installed_fakecrm,
        "SUPPORTHUB_DATABASE_URL": database_url,
        "SUPPORTHUB_FAKE_URL": url,
        "SUPPORTHUB_FAKE_TOKEN": "two-secret",
        "SUPPORTHUB_FAKE_WRITE_DELAY": "0.01",
        "SUPPORTHUB_LOG_LEVEL": "WARNING",
    }
    with supporthub.Hub.from_env(env, plugins=plugin_manager) as hub:
        hub.refresh(force=True)
        (agg,) = hub.all().aggregated_cases
        replies = [hub.reply(agg.id, message=f"reply {k}", by="ana") for k in range(2)]
        processes = [cli(env, "deliver") for _ in range(2)]
        for process in processes:
            out, err = process.communicate(timeout=300)
            assert process.returncode == 0, (out.decode(), err.decode())
        for accepted in replies:
            assert hub.reply_status(accepted.id).state == "done"
    attempts = supporthub_fakecrm.attempts(url)
    assert len(attempts) == 160
    assert set(attempts.values()) == {1}, "a row was sent by both processes"
    per_case: dict[tuple[str, str], int] = {}
    for comment in supporthub_fakecrm.comments(url):
        key = (comment["message"], comment["case_id"])
        per_case[key] = per_case.get(key, 0) + 1
    assert set(per_case.values()) == {1}
    assert len(per_case) == 160
    trial.record(
        "two deliverer processes on one database, the same two replies of 80 cases",
        160,
        "every delivery row sent exactly once (by one of the two); 0 duplicates, 0 missing",
    )
