"""The Strawberry adapter end to end: simulator over loopback HTTP → real refresh → store.

Every test with a hub runs on SQLite and on MariaDB (``database_url``).
What a stored case must look like is computed here from the simulator's
tickets, the obvious way, not with the adapter's code.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Collection
from typing import Any

import attrs
import httpx
import orjson
import pytest
from supporthub_strawberry.adapter import StrawberryAdapter
from supporthub_strawberry.simulator import CLOSED_STATUSES, OPEN_STATUSES, StrawberrySimulator

import supporthub
from supporthub import Case, HttpClient, SourceConfig

SPEC_EXAMPLE_FIELD_IDS = {360001, 360002, 360107}
TICKETS = "/v1/tickets"
FIELDS = "/v1/ticket_fields"


# -- what the hub should hold -------------------------------------------------------


def when(timestamp: str) -> dt.datetime:
    return dt.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def seconds(timestamp: str) -> int:
    return int(when(timestamp).timestamp())


def expected_case(sim: StrawberrySimulator, ticket: dict[str, Any], base: str) -> Case:
    """The case a ticket must become, read straight off the spec."""
    values = {entry["id"]: entry["value"] for entry in ticket["custom_fields"]}
    open_ = ticket["status"] in OPEN_STATUSES
    assert open_ or ticket["status"] in CLOSED_STATUSES
    return Case(
        source="strawberry",
        source_id=str(ticket["id"]),
        number=str(ticket["id"]),
        subject=ticket["subject"],
        status=supporthub.Status.OPEN if open_ else supporthub.Status.CLOSED,
        priority=ticket["priority"],
        provider=values.get(sim.field_ids["provider"]),
        error_code=values.get(sim.field_ids["error_code"]),
        created_at=when(ticket["created_at"]),
        updated_at=when(ticket["updated_at"]),
        url=f"{base}/agent/tickets/{ticket['id']}",
    )


def expected(sim: StrawberrySimulator, *, leave_out: Collection[int] = ()) -> dict[str, Case]:
    return {
        str(t["id"]): expected_case(sim, t, sim.url)
        for t in sim.live_records()
        if t["id"] not in leave_out
    }


def stored(hub: supporthub.Hub, source: str = "strawberry") -> dict[str, Case]:
    """Every case of ``source`` the hub serves, by id."""
    return {
        case.source_id: case
        for aggregated in hub.all().aggregated_cases
        for case in aggregated.cases
        if case.source == source
    }


def stored_cursor(hub: supporthub.Hub, source: str = "strawberry") -> str | None:
    with hub.store.reader() as reader:
        state = reader.states().get(source)
    return None if state is None else state.cursor


def newest_second(tickets: list[dict[str, Any]]) -> int:
    return max(seconds(t["updated_at"]) for t in tickets)


def export_requests(sim: StrawberrySimulator) -> list[Any]:
    return sim.requests.filter(path=TICKETS)


def report_of(hub: supporthub.Hub, **kwargs: Any) -> supporthub.SourceReport:
    report = hub.refresh(force=True, **kwargs)
    return report.sources["strawberry"]


def sync_alone(sim: StrawberrySimulator, cursor: str | None) -> list[supporthub.Batch]:
    """The adapter's batches on its own, over the core's real HttpClient (no store)."""
    config = SourceConfig("strawberry", {"url": sim.url, "api_key": sim.api_key})
    policy = supporthub.RetryPolicy(timeout=5)
    with HttpClient(sim.url, title="Strawberry", policy=policy) as http:
        return list(StrawberryAdapter(config, http).fetch(cursor))


# -- full and incremental sync ------------------------------------------------------


SEEDS = (4, 9)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_full_sync_stores_every_live_ticket(make_hub, api_key: str, seed: int) -> None:
    with StrawberrySimulator(n=1500, seed=seed, api_key=api_key) as sim:
        # The account's field ids differ per seed, and are never the spec's examples.
        (other,) = set(SEEDS) - {seed}
        assert sim.field_ids != StrawberrySimulator(n=0, seed=other).field_ids
        assert not set(sim.field_ids.values()) & SPEC_EXAMPLE_FIELD_IDS
        hub = make_hub(sim)

        source = report_of(hub)

        tickets = list(sim.current_records())
        assert source.ok, source.error
        assert (source.fetched, source.skipped) == (len(tickets), 0)
        assert stored(hub) == expected(sim)
        assert not {str(i) for i in sim.deleted_ids()} & set(stored(hub))
        assert sim.requests.count(path=FIELDS) == 1
        first, *rest = export_requests(sim)
        assert first.query == {"updated_after": "0", "limit": "1000"}
        assert [set(r.query) for r in rest] == [{"cursor", "limit"}]
        assert rest[0].query["limit"] == "1000"
        assert stored_cursor(hub) == str(newest_second(tickets))


def test_an_incremental_sync_asks_from_the_stored_cursor(make_hub, sim) -> None:
    hub = make_hub(sim)
    assert report_of(hub).ok
    cursor = stored_cursor(hub)
    assert cursor is not None
    change = sim.mutate(update=0.05, close=0.05, delete=0.03, add=0.02, seed=11)
    sim.requests.clear()

    source = report_of(hub)

    assert source.ok, source.error
    assert sim.requests.count(path=FIELDS) == 1, "field ids are looked up on every sync"
    (first, *_) = export_requests(sim)
    assert first.query == {"updated_after": cursor, "limit": "1000"}
    # Inclusive: the tickets of the cursor's second come again, with every change.
    tickets = list(sim.current_records())
    sent = [t for t in tickets if seconds(t["updated_at"]) >= int(cursor)]
    changed = set(change.updated + change.closed + change.deleted + change.added)
    assert changed <= {t["id"] for t in sent}
    assert {t["id"] for t in sent} - changed == {
        t["id"] for t in sent if seconds(t["updated_at"]) == int(cursor)
    }
    assert sim.requests.records_returned(path=TICKETS) == len(sent) == source.fetched
    assert stored(hub) == expected(sim)
    assert stored_cursor(hub) == str(newest_second(tickets))


def test_the_stored_cursor_is_the_newest_time_read_not_the_last(sim) -> None:
    # An out-of-date copy comes last in the export with an older time: the
    # cursor must not go back to it, nor past what was read.
    target = next(sim.live_records())
    sim.repeat_with_older_timestamp(target["id"], dt.timedelta(days=400))
    tickets = list(sim.current_records())
    batches = sync_alone(sim, None)
    assert batches[-1].cursor == str(newest_second(tickets))


def test_a_sync_that_reads_nothing_keeps_the_previous_cursor(sim) -> None:
    future = str(int(time.time()) + 10 * 365 * 86400)
    batches = sync_alone(sim, future)
    assert [b.cursor for b in batches] == [None]  # None: the hub keeps the one it has
    assert sim.requests.last(path=TICKETS).query["updated_after"] == future


def test_a_cursor_it_did_not_write_means_reading_everything(sim, caplog) -> None:
    batches = sync_alone(sim, "MTczMjA5NjgwMDo0ODIxMw==")
    assert sum(b.fetched for b in batches) == len(list(sim.current_records()))
    assert export_requests(sim)[0].query["updated_after"] == "0"
    assert "not Unix seconds" in caplog.text


# -- repeats and tombstones ---------------------------------------------------------


def test_a_ticket_changed_while_paging_is_stored_once_in_its_latest_version(
    make_hub, big_sim, taps
) -> None:
    hub = make_hub(big_sim)
    live = list(big_sim.live_records())
    early, stale = live[3], live[10]  # both on the first page
    taps.after_page(1, lambda: big_sim.update(early["id"], subject="changed", status="solved"))
    taps.after_page(1, lambda: big_sim.repeat_with_older_timestamp(stale["id"], subject="stale"))

    source = report_of(hub)

    assert source.ok, source.error
    assert source.fetched == len(list(big_sim.current_records())) + 2  # repeats count
    cases = stored(hub)
    assert cases == expected(big_sim)
    assert (cases[str(early["id"])].subject, cases[str(early["id"])].status) == (
        "changed",
        supporthub.Status.CLOSED,
    )
    assert cases[str(stale["id"])].subject == stale["subject"] != "stale"
    pages = export_requests(big_sim)
    assert len(pages) == 3 and pages[-1].records > 500


def test_deleted_tickets_leave_the_hub(make_hub, sim) -> None:
    hub = make_hub(sim)
    assert report_of(hub).ok
    assert sim.deleted_ids(), "the data set starts with a few tombstones"
    gone = sim.ids()[:2]
    for ticket_id in gone:
        sim.delete(ticket_id)
    brief = sim.add()
    sim.delete(brief)  # created and deleted between two syncs

    source = report_of(hub)

    assert source.ok, source.error
    assert source.deleted == 2
    cases = stored(hub)
    assert not {str(i) for i in [*gone, brief]} & set(cases)
    assert cases == expected(sim)


# -- custom fields --------------------------------------------------------------------


@pytest.mark.parametrize("key", ["provider", "error_code"])
def test_an_account_without_the_field_fails_the_sync_in_words(make_hub, sim, key: str) -> None:
    hub = make_hub(sim)
    assert report_of(hub).ok
    before = stored(hub)
    sim.mutate(update=0.1, seed=3)
    sim.drop_ticket_field(key)
    sim.requests.clear()

    source = report_of(hub)

    assert not source.ok
    assert f"no ticket field has the key {key!r}" in source.error
    assert "misconfigured" in source.error
    assert not export_requests(sim), "no ticket is read from a misconfigured account"
    assert stored(hub) == before


def test_missing_or_null_custom_fields_are_kept_as_nulls(make_hub, sim) -> None:
    ids = sim.ids()
    provider_id = sim.field_ids["provider"]
    sim.update(ids[0], custom_fields=[])
    sim.update(ids[1], provider=None, error_code=None)
    sim.update(ids[2], custom_fields=[{"id": provider_id, "value": "Acme Payments"}])
    sim.update(ids[3], custom_fields=[{"id": 77, "value": 1}, {"id": provider_id, "value": None}])
    hub = make_hub(sim)

    source = report_of(hub)

    assert (source.ok, source.skipped) == (True, 0)
    cases = stored(hub)
    assert cases == expected(sim)
    nulls = [cases[str(i)] for i in (ids[0], ids[1], ids[3])]
    assert all((c.provider, c.error_code) == (None, None) for c in nulls)
    assert (cases[str(ids[2])].provider, cases[str(ids[2])].error_code) == ("Acme Payments", None)
    nothing = next(
        a for a in hub.all().aggregated_cases if (a.provider_key, a.error_code) == (None, None)
    )
    assert {str(i) for i in (ids[0], ids[1], ids[3])} <= {c.source_id for c in nothing.cases}


# -- statuses -------------------------------------------------------------------------


def test_every_status_maps_to_open_closed_or_gone(make_hub, sim) -> None:
    statuses = [*OPEN_STATUSES, *CLOSED_STATUSES, "deleted", "escalated"]
    ids = dict(zip(statuses, sim.ids(), strict=False))
    hub = make_hub(sim)
    assert report_of(hub).ok
    for status, ticket_id in ids.items():
        sim.update(ticket_id, status=status)

    source = report_of(hub)

    assert source.ok, source.error
    assert source.skipped == 1  # escalated is not a Strawberry status
    cases = stored(hub)
    for status in OPEN_STATUSES:
        assert cases[str(ids[status])].status is supporthub.Status.OPEN
    for status in CLOSED_STATUSES:
        assert cases[str(ids[status])].status is supporthub.Status.CLOSED
    assert str(ids["deleted"]) not in cases
    # The unknown status was skipped: the hub keeps what it had.
    assert cases[str(ids["escalated"])].updated_at < when(
        sim.record(ids["escalated"])["updated_at"]
    )


# -- the CRM misbehaving --------------------------------------------------------------


def test_rate_limits_wait_retry_after_then_succeed(make_hub, sim) -> None:
    hub = make_hub(sim, SUPPORTHUB_HTTP_MAX_WAIT_SECONDS="2")
    sim.faults.rate_limit_burst(2, retry_after=0.3)
    began = time.perf_counter()

    source = report_of(hub)

    assert source.ok, source.error
    assert time.perf_counter() - began >= 0.6, "Retry-After was honoured"
    assert sim.requests.count(status=429) == 2
    assert stored(hub) == expected(sim)


def test_a_long_retry_after_is_capped(make_hub, sim) -> None:
    hub = make_hub(sim, SUPPORTHUB_HTTP_MAX_WAIT_SECONDS="0.2")
    sim.faults.rate_limit_burst(1, retry_after=120)
    began = time.perf_counter()
    assert report_of(hub).ok
    assert time.perf_counter() - began < 10


def test_server_errors_and_resets_are_retried(make_hub, big_sim, taps) -> None:
    hub = make_hub(big_sim, SUPPORTHUB_HTTP_ATTEMPTS="12")
    big_sim.faults.error_burst(1, status=500)
    big_sim.faults.error_burst(1, status=502)
    taps.after_page(1, lambda: big_sim.faults.error_burst(2, status=503))

    def reset() -> None:
        big_sim.faults.down()  # open connections reset, new ones refused …
        threading.Timer(0.15, big_sim.faults.up).start()  # … for a moment

    taps.after_page(2, reset)

    source = report_of(hub)

    assert source.ok, source.error
    assert big_sim.requests.count(status=500) == big_sim.requests.count(status=502) == 1
    assert big_sim.requests.count(status=503) == 2
    assert stored(hub) == expected(big_sim)


class BerryAdapter(StrawberryAdapter):
    """A second Strawberry account under another name: the other source."""

    name = "berry"
    title = "Berry"


class BerryPlugin:
    @supporthub.hookimpl
    def register_adapters(self, register: Any) -> None:
        register(BerryAdapter)


def test_a_source_that_keeps_failing_keeps_its_cases_and_others_refresh(
    make_hub, sim, plugin_manager
) -> None:
    plugin_manager.register(BerryPlugin(), name="berry")
    with StrawberrySimulator(n=200, seed=21, api_key="berry-key-0001") as berry:
        hub = make_hub(sim, SUPPORTHUB_BERRY_URL=berry.url, SUPPORTHUB_BERRY_API_KEY=berry.api_key)
        assert hub.refresh(force=True).ok
        before, cursor = stored(hub), stored_cursor(hub)
        sim.mutate(update=0.2, add=0.05, seed=5)
        sim.faults.error_burst(10_000, status=500)
        berry.mutate(update=0.2, delete=0.05, add=0.05, seed=6)
        sim.requests.clear()

        report = hub.refresh(force=True)

        strawberry = report.sources["strawberry"]
        assert not strawberry.ok
        assert strawberry.error == "Strawberry answered 500 4 times"
        assert [(r.path, r.status) for r in sim.requests] == [(FIELDS, 500)] * 4
        assert report.sources["berry"].ok
        assert stored(hub) == before
        assert stored_cursor(hub) == cursor
        assert stored(hub, "berry") == {
            str(t["id"]): attrs.evolve(expected_case(berry, t, berry.url), source="berry")
            for t in berry.live_records()
        }
        assert hub.health().sources["strawberry"].last_error == strawberry.error


def test_a_page_that_is_not_json_fails_the_source_and_keeps_its_cases(
    make_hub, big_sim, taps
) -> None:
    hub = make_hub(big_sim)
    assert report_of(hub).ok
    before, cursor = stored(hub), stored_cursor(hub)
    big_sim.mutate(update=0.1, delete=0.02, seed=8)
    taps.after_page(1, big_sim.faults.bad_json_page)  # the second page is broken

    source = report_of(hub, full=True)

    assert not source.ok
    assert source.error == "Strawberry answered /v1/tickets with a body that is not JSON"
    assert stored(hub) == before
    assert stored_cursor(hub) == cursor


def test_malformed_tickets_are_skipped_and_counted(make_hub, sim, caplog) -> None:
    ids = sim.ids()
    broken = {ids[0]: "missing_id", ids[1]: "wrong_type", ids[2]: "bad_timestamp"}
    sim.faults.malformed_records(ids=broken)
    wrong = {
        ids[3]: {"status": "escalated"},
        ids[4]: {"provider": "x" * 256},
        ids[5]: {"error_code": 1042},
        ids[6]: {"priority": ["high"]},
        ids[7]: {"custom_fields": "provider=Acme"},
        ids[8]: {"tags": "vip"},
        ids[9]: {"requester": "Jane Roe <jane@example.com>"},
        ids[10]: {"created_at": "2026-13-01T00:00:00Z"},
    }
    for ticket_id, change in wrong.items():
        sim.update(ticket_id, **change)
    hub = make_hub(sim)

    source = report_of(hub)

    assert source.ok, source.error
    assert source.fetched == len(list(sim.current_records()))
    assert source.skipped == len(broken) + len(wrong)
    assert stored(hub) == expected(sim, leave_out={*broken, *wrong})
    assert "skipped malformed record <no id>: id is missing" in caplog.text
    assert f"skipped malformed record {ids[3]}: status 'escalated' is not one of" in caplog.text
    assert f"{ids[9]}: requester is not an object or null" in caplog.text
    assert "jane@example.com" not in caplog.text


def test_a_wrong_key_fails_at_once_in_words(make_hub, sim) -> None:
    hub = make_hub(sim, SUPPORTHUB_STRAWBERRY_API_KEY="wrong-key-0987")
    began = time.perf_counter()

    source = report_of(hub)

    assert time.perf_counter() - began < 2
    assert not source.ok
    assert source.error == (
        "Strawberry refused the API key (HTTP 401 unauthorized): "
        "check SUPPORTHUB_STRAWBERRY_API_KEY"
    )
    assert [(r.path, r.status) for r in sim.requests] == [(FIELDS, 401)], "no retry storm"


def test_a_wrong_base_url_fails_at_once_in_words(make_hub, sim) -> None:
    hub = make_hub(sim, SUPPORTHUB_STRAWBERRY_URL=sim.url + "/api")
    source = report_of(hub)
    assert not source.ok
    assert "has no /v1/ticket_fields (HTTP 404 not_found)" in source.error
    assert "check SUPPORTHUB_STRAWBERRY_URL" in source.error
    assert len(sim.requests) == 1


def test_a_base_url_with_a_path_prefix(make_hub, api_key: str) -> None:
    with StrawberrySimulator(n=60, seed=2, api_key=api_key, path_prefix="/tenant-a") as sim:
        hub = make_hub(sim, SUPPORTHUB_STRAWBERRY_URL=sim.url + "/")
        assert report_of(hub).ok
        cases = stored(hub)
        assert sim.url.endswith("/tenant-a")
        assert cases == expected(sim)
        page = httpx.get(next(iter(cases.values())).url)
        assert page.status_code == 200 and "Ticket #" in page.text


def test_a_rejected_cursor_fails_the_sync_and_the_next_resumes(make_hub, big_sim, taps) -> None:
    hub = make_hub(big_sim)
    assert report_of(hub).ok
    before, cursor = stored(hub), stored_cursor(hub)
    big_sim.mutate(update=0.5, seed=9)  # the next export spans two pages
    taps.after_page(1, big_sim.expire_cursors)
    big_sim.requests.clear()

    source = report_of(hub)

    assert not source.ok
    assert source.error.startswith(
        "Strawberry rejected the export cursor half-way through the sync (HTTP 400 invalid_cursor)"
    )
    assert [r.status for r in export_requests(big_sim)] == [200, 400], "not retried"
    assert stored(hub) == before
    assert stored_cursor(hub) == cursor
    big_sim.requests.clear()

    source = report_of(hub)

    assert source.ok, source.error
    assert export_requests(big_sim)[0].query["updated_after"] == cursor
    assert stored(hub) == expected(big_sim)


# -- secrets and personal data ----------------------------------------------------------


def test_no_key_and_no_requester_in_logs_reports_errors_or_answers(make_hub, sim, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    sim.faults.rate_limit_burst(1, retry_after=0.01)
    sim.faults.error_burst(1, status=503)
    sim.faults.malformed_records(share=0.05)
    sim.update(sim.ids()[0], requester={"name": 5, "email": ["x"]}, status="??")
    hub = make_hub(sim)
    good = hub.refresh(force=True)
    wrong = make_hub(sim, SUPPORTHUB_STRAWBERRY_API_KEY="sk-wrong-Strawberry-77aa").refresh(
        force=True
    )
    assert good.ok and good.sources["strawberry"].skipped > 0
    assert not wrong.ok

    answers = b"".join(hub.iter_json(supporthub.SearchQuery())).decode()
    seen = "\n".join(
        [
            caplog.text,
            *(str(record.__dict__) for record in caplog.records),
            repr(good),
            repr(wrong),
            orjson.dumps(supporthub.to_json_dict(good)).decode(),
            orjson.dumps(supporthub.to_json_dict(wrong)).decode(),
            answers,
        ]
    )
    assert "strawberry" in seen and "401" in seen  # the haystack is the real one
    for secret in (sim.api_key, "sk-wrong-Strawberry-77aa"):
        assert secret not in seen
    requesters = [t["requester"] for t in sim.current_records() if t["requester"]]
    assert len(requesters) > 100
    for requester in requesters:
        for value in requester.values():
            if isinstance(value, str):
                assert value not in seen
