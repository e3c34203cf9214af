"""Replies to every customer of an aggregated case: the outbox, its deliverers, auto-reply.

Every test runs on SQLite and MariaDB with the fake CRM, whose write hook
keeps one comment per idempotency key in files (so it holds across
processes) and can fail transiently, lose answers after applying, or
refuse for good.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
import supporthub_fakecrm

import supporthub
from supporthub import InvalidQuery, NotFound
from supporthub.delivery.deliverer import backoff
from supporthub.store import outbox
from supporthub.store.schema import reply_deliveries
from supporthub.vocabulary.replies import idempotency_key

FAST_RETRY = {"SUPPORTHUB_FAKE_WRITE_RETRY_AFTER": "0.01"}


def comments_per_case(fake_crm: Any) -> dict[str, int]:
    found: dict[str, int] = {}
    for comment in supporthub_fakecrm.comments(str(fake_crm.path)):
        found[comment["case_id"]] = found.get(comment["case_id"], 0) + 1
    return found


def table_rows(hub: supporthub.Hub, table: str) -> int:
    with hub.store.engine.connect() as connection:
        return int(connection.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def acme(hub: supporthub.Hub) -> str:
    (found,) = [a for a in hub.all().aggregated_cases if a.provider_key == "acme"]
    return found.id


@pytest.fixture
def seeded(fake_crm) -> Any:
    for n in range(1, 6):
        fake_crm.put(str(n), provider="Acme", error_code="E-1")
    fake_crm.put("6", provider="Acme", error_code="E-1", status="closed")
    fake_crm.put("7", provider="Globex", error_code="E-2")
    return fake_crm


def test_a_reply_reaches_every_open_case_exactly_once(make_hub, seeded) -> None:
    hub = make_hub()
    hub.refresh(force=True)
    accepted = hub.reply(acme(hub), message="Fixed: retry now.", by="ana", set_status="solved")
    assert accepted.targets == 5
    reply = hub.deliver(accepted.id, poll=0.05, timeout=60)
    assert reply is not None
    assert (reply.state, reply.delivered, reply.pending, reply.failed) == ("done", 5, 0, 0)
    assert comments_per_case(seeded) == {str(n): 1 for n in range(1, 6)}
    written = supporthub_fakecrm.comments(str(seeded.path))
    assert {(c["message"], c["public"], c["set_status"]) for c in written} == {
        ("Fixed: retry now.", True, "solved")
    }
    assert [(c.state, c.attempts, c.error) for c in reply.cases] == [("delivered", 1, None)] * 5
    # Delivering again sends nothing: every row is delivered.
    hub.deliver(accepted.id, poll=0.05, timeout=60)
    assert set(supporthub_fakecrm.attempts(str(seeded.path)).values()) == {1}


def test_scope_all_and_an_internal_note(make_hub, seeded) -> None:
    hub = make_hub()
    hub.refresh(force=True)
    accepted = hub.reply(acme(hub), message="Internal", by="ana", public=False, scope="all")
    assert accepted.targets == 6
    hub.deliver(accepted.id, poll=0.05, timeout=60)
    assert comments_per_case(seeded) == {str(n): 1 for n in range(1, 7)}
    assert {c["public"] for c in supporthub_fakecrm.comments(str(seeded.path))} == {False}


def test_faults_never_double_a_comment_and_final_refusals_fail_with_the_reason(
    make_hub, seeded
) -> None:
    seeded.put("2", write_refusal="the credentials lack the write right")
    hub = make_hub(
        SUPPORTHUB_FAKE_WRITE_FAIL_FIRST="2", SUPPORTHUB_FAKE_WRITE_LOSE_FIRST="1", **FAST_RETRY
    )
    hub.refresh(force=True)
    seeded.forget("3")  # deleted in the CRM after the hub read it
    accepted = hub.reply(acme(hub), message="We are on it", by="ana")
    reply = hub.deliver(accepted.id, poll=0.05, timeout=60)
    assert reply is not None
    assert (reply.state, reply.delivered, reply.failed) == ("done-with-failures", 3, 2)
    assert comments_per_case(seeded) == {"1": 1, "4": 1, "5": 1}
    by_case = {c.case_id: c for c in reply.cases}
    assert by_case["2"].state == "failed"
    assert "the credentials lack the write right" in (by_case["2"].error or "")
    assert by_case["3"].state == "failed"
    assert "deleted" in (by_case["3"].error or "")
    # two transient failures and one lost answer, then the replay of the applied write
    assert {by_case[i].attempts for i in ("1", "4", "5")} == {4}


def test_a_crm_that_is_down_keeps_the_delivery_waiting(make_hub, seeded) -> None:
    hub = make_hub(SUPPORTHUB_FAKE_WRITE_FAIL_FIRST="1000", SUPPORTHUB_FAKE_WRITE_RETRY_AFTER="60")
    hub.refresh(force=True)
    accepted = hub.reply(acme(hub), message="Soon", by="ana")
    reply = hub.deliver(accepted.id, poll=0.05, timeout=1)
    assert reply is not None
    assert (reply.state, reply.pending, reply.failed) == ("delivering", 5, 0)
    # One probe, then the sender waits the CRM's Retry-After before the next:
    # a CRM that is down is not sent every queued case.
    probed = [c for c in reply.cases if c.attempts]
    assert [(c.attempts, c.error) for c in probed] == [(1, "Fake CRM answered 503 (attempt 1)")]
    with hub.store.engine.connect() as connection:
        (wait,) = connection.execute(
            sa.select(reply_deliveries.c.next_attempt_at).where(reply_deliveries.c.attempts == 1)
        ).one()
    assert wait > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=50)
    assert comments_per_case(seeded) == {}


def test_backoff_grows_and_honours_retry_after() -> None:
    assert 1.0 <= backoff(1) <= 2.0
    assert 8.0 <= backoff(4) <= 16.0
    assert 30.0 <= backoff(50) <= 60.0  # a restarted hub resumes within a minute
    assert backoff(3, retry_after=7) == 7
    assert backoff(3, retry_after=10_000) == 60.0


def test_idempotency_keys_fit_both_crms_and_are_stable() -> None:
    key = idempotency_key("0" * 32, "strawberry", "ünïcode id / with spaces" * 20)
    assert re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", key)
    assert key == idempotency_key("0" * 32, "strawberry", "ünïcode id / with spaces" * 20)
    assert key != idempotency_key("0" * 32, "banana", "ünïcode id / with spaces" * 20)
    assert key != idempotency_key("1" * 32, "strawberry", "ünïcode id / with spaces" * 20)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"message": ""}, "empty"),
        ({"message": "   "}, "empty"),
        ({"message": "x" * 4001}, "longer than 4000"),
        ({"message": None}, "must be a string"),
        ({"message": 5}, "must be a string"),
        ({"by": ""}, "'by'"),
        ({"by": None}, "'by'"),
        ({"by": "x" * 256}, "longer than 255"),
        ({"public": None}, "'public'"),
        ({"public": "yes"}, "'public'"),
        ({"set_status": "closed"}, "setStatus"),
        ({"scope": "some"}, "scope"),
        ({"scope": None}, "scope"),
        ({"auto_reply": 1}, "autoReply"),
    ],
)
def test_bad_values_are_refused_in_words_and_store_nothing(make_hub, seeded, fields, words) -> None:
    hub = make_hub()
    hub.refresh(force=True)
    values: dict[str, Any] = {"message": "hello", "by": "ana", **fields}
    with pytest.raises(InvalidQuery, match=words):
        hub.reply(acme(hub), **values)
    assert table_rows(hub, "replies") == table_rows(hub, "reply_deliveries") == 0


def test_unknown_ids_are_not_found(make_hub, seeded) -> None:
    hub = make_hub()
    hub.refresh(force=True)
    with pytest.raises(NotFound):
        hub.reply("nope", message="hello", by="ana")
    with pytest.raises(NotFound):
        hub.reply_status("nope")
    with pytest.raises(NotFound):
        hub.replies("nope")
    with pytest.raises(NotFound):
        hub.stop_reply("nope", by="ana")
    assert table_rows(hub, "replies") == 0


def test_preview_counts_the_customers_per_source(make_hub, seeded) -> None:
    hub = make_hub()
    hub.refresh(force=True)
    preview = hub.preview_reply(acme(hub))
    assert (preview.targets, dict(preview.by_source), dict(preview.unwritable)) == (
        5,
        {"fake": 5},
        {},
    )
    assert hub.preview_reply(acme(hub), scope="all").targets == 6


def test_auto_reply_reaches_cases_that_join_later_until_stopped(make_hub, seeded) -> None:
    hub = make_hub()
    hub.refresh(force=True)
    agg_id = acme(hub)
    first = hub.reply(agg_id, message="Known problem", by="ana", auto_reply=True)
    plain = hub.reply(agg_id, message="Once", by="ana")
    hub.deliver(first.id, poll=0.05, timeout=60)
    seeded.put("8", provider="ACME", error_code="1")  # a new customer
    seeded.put("6", status="open")  # a closed case reopened
    seeded.put("1", subject="changed")  # already answered: nothing new
    hub.refresh(force=True)
    reply = hub.deliver(first.id, poll=0.05, timeout=60)
    assert reply is not None
    assert (reply.targets, reply.delivered, reply.state) == (7, 7, "done")
    assert hub.reply_status(plain.id).targets == 5  # only auto-replies grow
    stopped = hub.stop_reply(first.id, by="bob")
    assert (stopped.stopped_by, stopped.auto_reply_active) == ("bob", False)
    seeded.put("9", provider="Acme", error_code="E-1")
    seeded.put("10", provider="Acme", error_code="E-1", status="closed")
    hub.refresh(force=True)
    assert hub.reply_status(first.id).targets == 7
    assert {r.id for r in hub.replies(agg_id)} == {first.id, plain.id}


def test_a_closed_case_that_joins_gets_no_auto_reply(make_hub, seeded) -> None:
    hub = make_hub()
    hub.refresh(force=True)
    first = hub.reply(acme(hub), message="Known problem", by="ana", auto_reply=True)
    seeded.put("11", provider="Acme", error_code="E-1", status="closed")
    hub.refresh(force=True)
    assert hub.reply_status(first.id).targets == 5


def test_auto_replies_end_when_the_aggregated_case_is_fixed(make_hub, seeded) -> None:
    hub = make_hub()
    hub.refresh(force=True)
    agg_id = acme(hub)
    first = hub.reply(agg_id, message="Known problem", by="ana", auto_reply=True)
    with outbox.transaction(hub.store) as connection:
        assert outbox.end_auto_replies(connection, agg_id, "fixed", hub.clock()) == 1
    seeded.put("12", provider="Acme", error_code="E-1")
    hub.refresh(force=True)
    reply = hub.reply_status(first.id)
    assert (reply.targets, reply.stopped_by) == (5, "fixed")


def test_marking_it_fixed_ends_auto_replies_at_once_and_for_good(make_hub, seeded) -> None:
    hub = make_hub()
    hub.refresh(force=True)
    agg_id = acme(hub)
    first = hub.reply(agg_id, message="Known problem", by="ana", auto_reply=True)
    hub.update_work(agg_id, state="fixed", by="bob")
    assert hub.reply_status(first.id).stopped_by == "bob"
    # A new open case regresses it, but the ended auto-reply stays ended.
    seeded.put("12", provider="Acme", error_code="E-1")
    hub.refresh(force=True)
    assert hub.get(agg_id, cases_limit=0).state == "regressed"
    assert hub.reply_status(first.id).targets == 5


def test_replies_and_their_stop_are_in_the_history(make_hub, seeded) -> None:
    hub = make_hub()
    hub.refresh(force=True)
    agg_id = acme(hub)
    accepted = hub.reply(agg_id, message="Known problem", by="ana", auto_reply=True)
    hub.stop_reply(accepted.id, by="bob")
    newest, oldest = hub.history(agg_id)[:2]
    assert (oldest.by, oldest.changes[0].field) == ("ana", "reply")
    assert accepted.id in (oldest.changes[0].after or "")
    assert (newest.by, newest.changes[0].field, newest.changes[0].before) == (
        "bob",
        "autoReply",
        accepted.id,
    )


def test_replies_follow_their_cases_when_the_id_changes(make_hub, seeded) -> None:
    hub = make_hub()
    hub.refresh(force=True)
    agg_id = acme(hub)
    (globex,) = [a.id for a in hub.all().aggregated_cases if a.provider_key == "globex"]
    first = hub.reply(agg_id, message="Known problem", by="ana", auto_reply=True)
    hub.merge(agg_id, globex, by="ana", reason="same outage")
    assert hub.reply_status(first.id).aggregated_case_id == globex
    assert [r.id for r in hub.replies(globex)] == [first.id]
    # The merged aggregated case's open cases not yet answered get the auto-reply.
    assert {c.case_id for c in hub.reply_status(first.id).cases} == {"1", "2", "3", "4", "5", "7"}


def test_two_deliverers_never_send_one_row_twice(make_hub, fake_crm) -> None:
    for n in range(60):
        fake_crm.put(f"c{n}", provider="Acme", error_code="E-1")
    hubs = [make_hub(SUPPORTHUB_FAKE_WRITE_DELAY="0.005") for _ in range(2)]
    hubs[0].refresh(force=True)
    accepted = hubs[0].reply(acme(hubs[0]), message="hello", by="ana")
    results: list[Any] = []
    threads = [
        threading.Thread(
            target=lambda h=hub: results.append(h.deliver(accepted.id, poll=0.05, timeout=120))
        )
        for hub in hubs
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.state for r in results] == ["done", "done"]
    attempts = supporthub_fakecrm.attempts(str(fake_crm.path))
    assert len(attempts) == 60
    assert set(attempts.values()) == {1}
    assert comments_per_case(fake_crm) == {f"c{n}": 1 for n in range(60)}


def test_a_row_whose_deliverer_died_is_taken_over_when_its_lease_ends(make_hub, seeded) -> None:
    hub = make_hub(SUPPORTHUB_DELIVERY_LEASE_SECONDS="1")
    hub.refresh(force=True)
    accepted = hub.reply(acme(hub), message="hello", by="ana")
    now = hub.clock()
    with outbox.transaction(hub.store) as connection:
        claimed = outbox.claim(
            connection,
            accepted.id,
            "fake",
            "1",
            owner="dead-process",
            now=now,
            lease_until=now + dt.timedelta(seconds=1),
        )
        assert claimed is not None
        # Nobody else may take it while the lease holds.
        assert (
            outbox.claim(
                connection,
                accepted.id,
                "fake",
                "1",
                owner="other",
                now=now,
                lease_until=now + dt.timedelta(seconds=1),
            )
            is None
        )
    reply = hub.deliver(accepted.id, poll=0.05, timeout=30)
    assert reply is not None
    assert reply.state == "done"
    by_case = {c.case_id: c for c in reply.cases}
    assert by_case["1"].attempts == 2
    assert comments_per_case(seeded) == {str(n): 1 for n in range(1, 6)}


class _NoWrite(supporthub_fakecrm.FakeAdapter):
    name = "nowrite"
    title = "Read-only CRM"
    write_case = supporthub.Adapter.write_case  # type: ignore[assignment]


def test_a_source_that_cannot_write_fails_with_a_reason_and_the_others_are_answered(
    database_url, fake_crm, tmp_path
) -> None:
    manager = supporthub.make_plugin_manager(entry_points=False)
    manager.register(supporthub_fakecrm, name="fakecrm")

    class Plugin:
        @supporthub.hookimpl
        def register_adapters(self, register):
            register(_NoWrite)

    manager.register(Plugin(), name="nowrite")
    other = tmp_path / "other.json"
    other.write_text('[{"id": "r1", "provider": "Acme", "error_code": "E-1", '
                     '"updated_at": "2026-11-20T10:00:00Z"}]')  # fmt: skip
    fake_crm.put("1", provider="Acme", error_code="E-1")
    environ = {
        "SUPPORTHUB_DATABASE_URL": database_url,
        "SUPPORTHUB_FAKE_URL": str(fake_crm.path),
        "SUPPORTHUB_FAKE_TOKEN": "t",
        "SUPPORTHUB_NOWRITE_URL": str(other),
        "SUPPORTHUB_NOWRITE_TOKEN": "t",
    }
    with supporthub.Hub.from_env(environ, plugins=manager) as hub:
        hub.refresh(force=True)
        preview = hub.preview_reply(acme(hub))
        assert dict(preview.by_source) == {"fake": 1, "nowrite": 1}
        assert "cannot write" in preview.unwritable["nowrite"]
        accepted = hub.reply(acme(hub), message="hello", by="ana")
        reply = hub.deliver(accepted.id, poll=0.05, timeout=30)
        assert reply is not None
        assert reply.state == "done-with-failures"
        states = {(c.source, c.state): c.error for c in reply.cases}
        assert states[("fake", "delivered")] is None
        assert "Read-only CRM adapter cannot write" in (states[("nowrite", "failed")] or "")


class _Paced(supporthub_fakecrm.FakeAdapter):
    """A CRM that takes one write every 0.1 s, told through write_wait."""

    last_write = 0.0

    def write_wait(self) -> float:
        return max(0.0, _Paced.last_write + 0.1 - time.monotonic())

    def write_case(self, write):
        _Paced.last_write = time.monotonic()
        return super().write_case(write)


def test_a_deliverer_keeps_to_the_crms_write_rate(database_url, fake_crm) -> None:
    manager = supporthub.make_plugin_manager(entry_points=False)

    class Plugin:
        @supporthub.hookimpl
        def register_adapters(self, register):
            register(_Paced)

    manager.register(Plugin(), name="paced")
    for n in range(11):
        fake_crm.put(str(n), provider="Acme", error_code="E-1")
    environ = {
        "SUPPORTHUB_DATABASE_URL": database_url,
        "SUPPORTHUB_FAKE_URL": str(fake_crm.path),
        "SUPPORTHUB_FAKE_TOKEN": "t",
    }
    with supporthub.Hub.from_env(environ, plugins=manager) as hub:
        hub.refresh(force=True)
        accepted = hub.reply(acme(hub), message="paced", by="ana")
        deliverer = hub.deliverer()
        began = time.monotonic()
        assert deliverer.deliver_due("fake") == 11
        took = time.monotonic() - began
        deliverer.stop()
        assert hub.reply_status(accepted.id).state == "done"
    # Eleven writes, ten pauses of at least 0.1 s between them.
    assert took >= 1.0


def test_batch_claims_and_batch_records_keep_to_their_leases(make_hub, seeded) -> None:
    hub = make_hub()
    hub.refresh(force=True)
    first = hub.reply(acme(hub), message="one", by="ana")
    second = hub.reply(acme(hub), message="two", by="ana", set_status="pending")
    now = hub.clock()
    until = now + dt.timedelta(seconds=30)
    with outbox.transaction(hub.store) as connection:
        keys = outbox.due(connection, "fake", now, 100)
        assert len(keys) == 10
        # One claim over rows of both replies, then another owner's over all of them.
        mine = outbox.claim_batch(
            connection, "fake", keys[:6], owner="a", now=now, lease_until=until
        )
        theirs = outbox.claim_batch(connection, "fake", keys, owner="b", now=now, lease_until=until)
    assert sorted((d.reply_id, d.case_id) for d in mine) == sorted(keys[:6])
    assert sorted((d.reply_id, d.case_id) for d in theirs) == sorted(keys[6:])
    assert {d.attempts for d in mine + theirs} == {1}
    messages = {first.id: ("one", None), second.id: ("two", "pending")}
    assert all((d.message, d.set_status) == messages[d.reply_id] for d in mine + theirs)
    later = now + dt.timedelta(minutes=5)
    outcomes = [outbox.Outcome(d, "delivered", comment_id=f"c-{d.case_id}") for d in mine[:4]]
    outcomes += [
        outbox.Outcome(mine[4], "failed", "refused for good"),
        outbox.Outcome(mine[5], "pending", "503", next_attempt_at=later),
        # A row "a" does not hold (its lease was lost): left to its holder.
        outbox.Outcome(theirs[0], "delivered", comment_id="lost"),
    ]
    with outbox.transaction(hub.store) as connection:
        assert outbox.finish_many(connection, outcomes, owner="a", now=now) == 6
        assert outbox.release(connection, theirs, owner="b") == 4
    with hub.store.engine.connect() as connection:
        rows = {
            (row.reply_id, row.case_id): row
            for row in connection.execute(sa.select(reply_deliveries))
        }
    for delivery in mine[:4]:
        row = rows[delivery.reply_id, delivery.case_id]
        assert (row.state, row.comment_id, row.lease_owner) == (
            "delivered",
            f"c-{delivery.case_id}",
            None,
        )
        assert row.delivered_at is not None
    failed = rows[mine[4].reply_id, mine[4].case_id]
    assert (failed.state, failed.error, failed.lease_owner) == ("failed", "refused for good", None)
    again = rows[mine[5].reply_id, mine[5].case_id]
    assert (again.state, again.error, again.lease_owner) == ("pending", "503", None)
    assert again.next_attempt_at.replace(tzinfo=dt.UTC) == later
    for delivery in theirs:
        row = rows[delivery.reply_id, delivery.case_id]
        # Given back unsent: pending, no lease, the attempt not counted, no comment id.
        assert (row.state, row.lease_owner, row.attempts, row.comment_id) == (
            "pending",
            None,
            0,
            None,
        )
