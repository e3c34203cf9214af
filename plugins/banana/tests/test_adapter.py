"""The Banana adapter against the simulator, over real HTTP on loopback, into a real hub.

Every test that stores runs twice, on SQLite and on MariaDB (the
``database_url`` fixture of supporthub's pytest plug-in). The simulator runs
in this process; faults and changes that must land *during* a sync are
triggered by :class:`PageHooks`, a real HTTP transport that runs an action
after the n-th listing page has been answered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import httpx
import orjson
import pytest
import supporthub_banana
from supporthub_banana.adapter import BananaAdapter
from supporthub_banana.simulator import BananaSimulator

import supporthub
from supporthub import Case, Hub, RefreshReport, RetryPolicy, Settings, Status, hookimpl
from supporthub.testing.sim import parse_offset_ms

CASES = "/api/v2/cases"
TOKEN = "/oauth/token"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PAGES = 200  # the page size of most tests: several pages from a small tenant

#: Retries in milliseconds, so that fault tests stay fast; Retry-After is
#: still honoured up to a second.
FAST = RetryPolicy(timeout=10, attempts=4, wait_initial=0.01, wait_jitter=0.0, max_wait=1.0)


# -- helpers -------------------------------------------------------------------


def instant(text: str) -> datetime:
    """A Banana timestamp (any offset) as aware UTC, computed without the adapter."""
    return EPOCH + timedelta(milliseconds=parse_offset_ms(text))


def z(text: str) -> str:
    """A Banana timestamp in the ``Z`` form ``modifiedSince`` takes, with milliseconds."""
    return instant(text).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def expected_case(record: Mapping[str, Any], base_url: str, source: str = "banana") -> Case:
    """The case the hub must hold for a live Banana record."""
    return Case(
        source=source,
        source_id=record["Id"],
        number=record["CaseNumber"],
        subject=record["Subject"],
        status=Status.CLOSED if record["IsClosed"] else Status.OPEN,
        priority=record["Priority"],
        provider=record["Provider__c"],
        error_code=record["Error_Code__c"],
        created_at=instant(record["CreatedDate"]),
        updated_at=instant(record["LastModifiedDate"]),
        url=f"{base_url}/ui/cases/{record['Id']}",
    )


def expected(sim: BananaSimulator, source: str = "banana") -> dict[str, Case]:
    """What a complete sync of ``sim`` must leave in the hub."""
    return {r["Id"]: expected_case(r, sim.url, source) for r in sim.live_records()}


def stored(hub: Hub, source: str = "banana") -> dict[str, Case]:
    """The cases the hub holds for one source, by id."""
    return {
        case.source_id: case
        for aggregated in hub.all().aggregated_cases
        for case in aggregated.cases
        if case.source == source
    }


def cursor_of(hub: Hub, source: str = "banana") -> str | None:
    """The cursor the hub stored after the source's last successful sync."""
    with hub.store.reader() as reader:
        state = reader.states().get(source)
    return None if state is None else state.cursor


def newest_z(records: Iterator[Mapping[str, Any]]) -> str:
    """The cursor a sync that read ``records`` must store: their latest LastModifiedDate."""
    return z(max(records, key=lambda r: instant(r["LastModifiedDate"]))["LastModifiedDate"])


def listing_requests(sim: BananaSimulator) -> list[Any]:
    return sim.requests.filter(path_prefix=CASES)


class PageHooks:
    """Actions to run right after the n-th listing answer (1-based), before the client reads on."""

    def __init__(self) -> None:
        self.actions: dict[int, Callable[[], object]] = {}
        self.answered = 0
        self._lock = threading.Lock()

    def after(self, n: int, action: Callable[[], object]) -> None:
        self.actions[n] = action

    def transport(self) -> httpx.BaseTransport:
        return _HookedTransport(self)

    def answered_one(self, request: httpx.Request) -> None:
        if CASES not in request.url.path:
            return
        with self._lock:
            self.answered += 1
            action = self.actions.pop(self.answered, None)
        if action is not None:
            action()


class _HookedTransport(httpx.HTTPTransport):
    """A real HTTP transport that tells its :class:`PageHooks` about every answer."""

    def __init__(self, hooks: PageHooks) -> None:
        super().__init__()
        self.hooks = hooks

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        response.read()  # the whole answer is in before the action runs
        self.hooks.answered_one(request)
        return response


class OtherBananaAdapter(BananaAdapter):
    """A second Banana tenant under another name: a source that must not be hurt."""

    name = "otherbanana"
    title = "Other Banana"


class OtherBananaPlugin:
    @hookimpl
    def register_adapters(self, register: Any) -> None:
        register(OtherBananaAdapter)


def banana_env(sim: BananaSimulator, name: str = "banana", **overrides: str) -> dict[str, str]:
    """The three settings that point the hub at ``sim``."""
    prefix = f"SUPPORTHUB_{name.upper()}_"
    return {
        prefix + "URL": sim.url,
        prefix + "CLIENT_ID": sim.client_id,
        prefix + "CLIENT_SECRET": sim.client_secret,
        **{prefix + key.upper(): value for key, value in overrides.items()},
    }


# -- fixtures ------------------------------------------------------------------


@pytest.fixture
def big_sim() -> Iterator[BananaSimulator]:
    """A Banana tenant of 4,100 records: three pages of 2,000."""
    with BananaSimulator(n=4100, seed=11) as running:
        yield running


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[BananaSimulator]:
    """A Banana tenant of 450 records, read in pages of 200: three pages, quickly."""
    monkeypatch.setattr(BananaAdapter, "page_size", PAGES)
    with BananaSimulator(n=450, seed=11) as running:
        yield running


@pytest.fixture
def small_sim() -> Iterator[BananaSimulator]:
    """A Banana tenant that fits one page."""
    with BananaSimulator(n=300, seed=12) as running:
        yield running


@pytest.fixture
def hooks() -> PageHooks:
    return PageHooks()


@pytest.fixture
def make_hub(database_url: str, hooks: PageHooks) -> Iterator[Callable[..., Hub]]:
    """Build hubs on the test database with only the Banana plug-in (and ``plugins``)."""
    hubs: list[Hub] = []

    def make(
        env: Mapping[str, str], *, plugins: tuple[object, ...] = (), policy: RetryPolicy = FAST
    ) -> Hub:
        manager = supporthub.make_plugin_manager(entry_points=False)
        manager.register(supporthub_banana, name="banana")
        for plugin in plugins:
            manager.register(plugin)
        environ = {
            "SUPPORTHUB_DATABASE_URL": database_url,
            "SUPPORTHUB_MIN_REFRESH_AGE_MINUTES": "0",
            **env,
        }
        settings = attrs.evolve(Settings.from_env(environ), http=policy)
        hub = Hub(settings, plugins=manager, transport_factory=lambda name: hooks.transport())
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.close()


def refresh(hub: Hub, **kwargs: Any) -> RefreshReport:
    return hub.refresh(force=True, **kwargs)


# -- syncing -------------------------------------------------------------------


def test_full_sync_stores_every_live_record_as_a_case(make_hub, big_sim) -> None:
    hub = make_hub(banana_env(big_sim))
    report = refresh(hub)
    banana = report.sources["banana"]
    assert banana.ok, banana.error
    records = list(big_sim.current_records())
    assert banana.fetched == len(records) == 4100, "tombstones are read too"
    assert banana.skipped == 0
    assert banana.written == big_sim.live_count() < len(records)
    assert stored(hub) == expected(big_sim)
    assert cursor_of(hub) == newest_z(iter(records))
    listing = listing_requests(big_sim)
    assert [r.records for r in listing] == [2000, 2000, 100]
    assert listing[0].query == {"pageSize": "2000", "includeDeleted": "true"}
    assert all(r.query == {} for r in listing[1:]), "a locator takes no other parameters"
    assert big_sim.requests.count(path=TOKEN) == 1, "one token, reused for every page"
    assert len({r.peer_port for r in big_sim.requests.all()}) == 1, "one connection, kept alive"


def test_incremental_sync_asks_since_the_cursor_and_reads_only_changes(make_hub, sim) -> None:
    hub = make_hub(banana_env(sim))
    refresh(hub)
    cursor = cursor_of(hub)
    assert cursor is not None
    assert cursor == newest_z(sim.current_records())
    changes = sim.mutate(update=0.1, close=0.05, delete=0.05, add=0.05)
    sim.requests.clear()

    report = refresh(hub)

    assert report.sources["banana"].ok
    (listing,) = listing_requests(sim)
    assert listing.query == {
        "pageSize": str(PAGES),
        "includeDeleted": "true",
        "modifiedSince": cursor,
    }
    since = datetime.fromisoformat(cursor)
    due = [r for r in sim.current_records() if instant(r["LastModifiedDate"]) >= since]
    touched = {*changes.updated, *changes.closed, *changes.deleted, *changes.added}
    assert {r["Id"] for r in due} >= touched
    assert len(due) < PAGES, "one page"
    assert len(due) - len(touched) >= 1, "the boundary record comes again (inclusive)"
    assert listing.records == report.sources["banana"].fetched == len(due)
    assert report.sources["banana"].deleted == len(changes.deleted)
    assert stored(hub) == expected(sim)
    assert cursor_of(hub) == z(
        max(due, key=lambda r: instant(r["LastModifiedDate"]))["LastModifiedDate"]
    )


def test_nothing_new_keeps_the_cursor_and_the_cases(make_hub, small_sim) -> None:
    hub = make_hub(banana_env(small_sim))
    refresh(hub)
    cursor, before = cursor_of(hub), stored(hub)
    report = refresh(hub)
    assert report.sources["banana"].ok
    assert report.sources["banana"].written == 0, "the boundary again changes nothing"
    assert cursor_of(hub) == cursor
    assert stored(hub) == before


def test_an_empty_tenant_leaves_no_cursor_and_the_next_sync_reads_everything(make_hub) -> None:
    with BananaSimulator(n=0, seed=1) as empty:
        hub = make_hub(banana_env(empty))
        report = refresh(hub)
        assert report.sources["banana"].ok
        assert report.sources["banana"].fetched == 0
        assert cursor_of(hub) is None
        added = [empty.add() for _ in range(3)]
        report = refresh(hub)
        assert report.sources["banana"].written == 3
        assert set(stored(hub)) == set(added)
        assert "modifiedSince" not in listing_requests(empty)[-1].query


def test_only_usable_records_move_the_cursor(make_hub, small_sim) -> None:
    hub = make_hub(banana_env(small_sim))
    refresh(hub)
    cursor = cursor_of(hub)
    last = list(small_sim.current_records())[-1]
    small_sim.update(last["Id"], IsClosed="yes")  # changed, but malformed
    report = refresh(hub)
    assert report.sources["banana"].skipped == 1
    assert cursor_of(hub) == cursor, "a skipped record cannot advance the cursor"


def test_a_record_changed_during_the_sync_is_one_case_in_its_latest_version(
    make_hub, sim, hooks
) -> None:
    hub = make_hub(banana_env(sim))
    first_page = list(sim.live_records())[:PAGES]
    target = first_page[10]["Id"]

    def change_it() -> None:
        sim.update(target, Subject="Changed while paging", IsClosed=True, Status="Closed")

    hooks.after(1, change_it)
    report = refresh(hub)

    assert report.sources["banana"].ok
    assert report.sources["banana"].fetched == 451, "read twice: first and last page"
    assert sum(r.records for r in listing_requests(sim)) == 451
    case = stored(hub)[target]
    assert case.subject == "Changed while paging"
    assert case.status is Status.CLOSED
    assert stored(hub) == expected(sim)


def test_an_older_copy_on_a_later_page_does_not_win(make_hub, sim) -> None:
    hub = make_hub(banana_env(sim))
    target = next(sim.live_records())
    sim.repeat_with_older_timestamp(target["Id"], timedelta(minutes=5), Subject="stale copy")
    report = refresh(hub)
    assert report.sources["banana"].fetched == 451
    assert stored(hub)[target["Id"]].subject == target["Subject"]
    assert stored(hub) == expected(sim)


def test_tombstones_remove_cases(make_hub, sim) -> None:
    sim.delete(next(sim.live_records())["Id"])
    hub = make_hub(banana_env(sim))
    refresh(hub)
    initially_deleted = sim.deleted_ids()
    assert initially_deleted, "the tenant starts with tombstones"
    assert not initially_deleted & set(stored(hub)), "a first sync stores no deleted record"
    victims = [r["Id"] for r in list(sim.live_records())[5:8]]
    for victim in victims:
        sim.delete(victim)
    report = refresh(hub)
    assert report.sources["banana"].deleted == 3
    assert not set(victims) & set(stored(hub))
    assert stored(hub) == expected(sim)


def test_is_closed_decides_whatever_the_status_says(make_hub, small_sim) -> None:
    hub = make_hub(banana_env(small_sim))
    ids = [r["Id"] for r in list(small_sim.live_records())[:4]]
    small_sim.update(ids[0], Status="Closed – Duplicate", IsClosed=True)
    small_sim.update(ids[1], Status="Waiting on Provider", IsClosed=False)
    small_sim.update(ids[2], Status="Closed", IsClosed=False)  # reopened, status lagging
    small_sim.update(ids[3], Status="New", IsClosed=True)
    refresh(hub)
    cases = stored(hub)
    assert [cases[i].status for i in ids] == [
        Status.CLOSED,
        Status.OPEN,
        Status.OPEN,
        Status.CLOSED,
    ]


def test_timestamps_at_other_utc_offsets_keep_their_instant(make_hub, sim) -> None:
    sim.send_offset_timestamps(1.0, offset_minutes=120)
    hub = make_hub(banana_env(sim))
    refresh(hub)
    records = list(sim.current_records())
    served = [r for page in _raw_pages(sim) for r in page]
    assert all(r["LastModifiedDate"].endswith("+0200") for r in served)
    assert stored(hub) == expected(sim)
    cursor = cursor_of(hub)
    assert cursor is not None and cursor.endswith("Z")
    assert cursor == newest_z(iter(records))
    sim.update(records[0]["Id"], Subject="later")
    refresh(hub)
    assert listing_requests(sim)[-1].query["modifiedSince"] == cursor
    assert stored(hub)[records[0]["Id"]].subject == "later"


def _raw_pages(sim: BananaSimulator) -> Iterator[list[dict[str, Any]]]:
    """Every page as served, with a bare client: what the adapter was sent."""
    with httpx.Client(base_url=sim.url, timeout=10) as client:
        form = {
            "grant_type": "client_credentials",
            "client_id": sim.client_id,
            "client_secret": sim.client_secret,
        }
        token = client.post(TOKEN, data=form).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        url: str | None = CASES + "?includeDeleted=true"
        while url:
            page = client.get(sim.url + url, headers=headers).json()
            yield page["records"]
            url = page["nextRecordsUrl"]


def test_a_base_url_with_a_path_prefix_keeps_it(make_hub, monkeypatch) -> None:
    monkeypatch.setattr(BananaAdapter, "page_size", PAGES)
    with BananaSimulator(n=250, seed=13, path_prefix="/tenant-a") as prefixed:
        assert prefixed.url.endswith("/tenant-a")
        hub = make_hub(banana_env(prefixed))
        report = refresh(hub)
        assert report.sources["banana"].ok, report.sources["banana"].error
        assert stored(hub) == expected(prefixed)
        assert len(listing_requests(prefixed)) == 2, "the next page is below the prefix too"
        url = next(iter(stored(hub).values())).url
        assert url is not None and url.startswith(prefixed.url + "/ui/cases/")
        assert httpx.get(url).status_code == 200, "the case page opens"


@pytest.mark.parametrize("cursor", ["garbage", "2026-11-20T10:02:11.000+0000"])
def test_a_cursor_this_adapter_did_not_write_means_a_full_read(small_sim, cursor: str) -> None:
    values = {
        "url": small_sim.url,
        "client_id": small_sim.client_id,
        "client_secret": small_sim.client_secret,
    }
    config = supporthub.SourceConfig("banana", values)
    with supporthub.HttpClient(small_sim.url, title="Banana", policy=FAST) as http:
        batches = list(BananaAdapter(config, http).fetch(cursor))
    assert sum(b.fetched for b in batches) == small_sim.live_count() + len(small_sim.deleted_ids())
    assert "modifiedSince" not in listing_requests(small_sim)[0].query
    assert batches[-1].cursor == newest_z(small_sim.current_records())


# -- tokens and credentials ---------------------------------------------------


def test_a_token_revoked_mid_sync_is_renewed_once(make_hub, sim) -> None:
    sim.revoke_tokens_after(1)  # the first page passes, the second meets a dead token
    hub = make_hub(banana_env(sim))
    report = refresh(hub)
    assert report.sources["banana"].ok, report.sources["banana"].error
    assert sim.requests.count(path=TOKEN) == 2
    assert sim.requests.count(path_prefix=CASES, status=401) == 1
    assert stored(hub) == expected(sim)


def test_a_token_refused_twice_fails_the_source_and_keeps_its_cases(make_hub, sim, hooks) -> None:
    hub = make_hub(banana_env(sim))
    refresh(hub)
    before = stored(hub)
    sim.mutate(update=0.6, seed=5)  # enough changes for two pages
    sim.requests.clear()

    def kill_tokens() -> None:
        sim.token_ttl = 0  # every new token is dead on arrival
        sim.revoke_all_tokens()

    hooks.after(hooks.answered + 1, kill_tokens)
    report = refresh(hub)

    banana = report.sources["banana"]
    assert not banana.ok
    assert banana.error is not None
    assert "invalid_token" in banana.error and "twice" in banana.error
    assert sim.requests.count(path=TOKEN) == 2, "one renewal, no storm"
    assert sim.requests.count(status=401) == 2
    assert stored(hub) == before


def test_wrong_credentials_fail_at_once_naming_invalid_client(make_hub, small_sim) -> None:
    hub = make_hub(banana_env(small_sim, client_secret="not-the-right-secret"))
    report = refresh(hub)
    banana = report.sources["banana"]
    assert not banana.ok
    assert banana.error is not None
    assert "invalid_client" in banana.error
    assert "SUPPORTHUB_BANANA_CLIENT_SECRET" in banana.error
    assert "not-the-right-secret" not in banana.error
    assert [r.path for r in small_sim.requests.all()] == [TOKEN], "exactly one token request"
    assert hub.health().sources["banana"].last_error == banana.error


def test_a_missing_secret_fails_clearly_without_a_request(make_hub, small_sim) -> None:
    env = banana_env(small_sim)
    del env["SUPPORTHUB_BANANA_CLIENT_SECRET"]
    report = refresh(make_hub(env))
    assert report.sources["banana"].error is not None
    assert "SUPPORTHUB_BANANA_CLIENT_SECRET" in report.sources["banana"].error
    assert len(small_sim.requests) == 0


# -- transient failures ---------------------------------------------------------


def test_429_waits_retry_after_then_succeeds(make_hub, small_sim) -> None:
    small_sim.faults.rate_limit_burst(2, retry_after=0.3, path_prefix=CASES)
    hub = make_hub(banana_env(small_sim))
    began = time.monotonic()
    report = refresh(hub)
    assert report.sources["banana"].ok
    assert time.monotonic() - began >= 0.55, "waited Retry-After twice"
    assert small_sim.requests.count(status=429) == 2
    assert stored(hub) == expected(small_sim)


def test_503_with_retry_after_waits_then_succeeds(make_hub, small_sim) -> None:
    small_sim.faults.error_burst(1, status=503, retry_after=0.3, path_prefix=CASES)
    hub = make_hub(banana_env(small_sim))
    began = time.monotonic()
    assert refresh(hub).sources["banana"].ok
    assert time.monotonic() - began >= 0.28
    assert small_sim.requests.count(status=503) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_burst_of_server_errors_is_retried(make_hub, sim, hooks, status: int) -> None:
    hub = make_hub(banana_env(sim))
    hooks.after(1, lambda: sim.faults.error_burst(3, status=status))  # mid-sync
    report = refresh(hub)
    assert report.sources["banana"].ok, report.sources["banana"].error
    assert sim.requests.count(status=status) == 3
    assert stored(hub) == expected(sim)


def test_a_connection_reset_mid_sync_is_retried(make_hub, sim, hooks) -> None:
    hub = make_hub(
        banana_env(sim),
        policy=RetryPolicy(timeout=5, attempts=8, wait_initial=0.05, wait_jitter=0, max_wait=0.2),
    )

    def drop_and_return() -> None:
        sim.faults.down()  # resets the open keep-alive connection too
        threading.Timer(0.3, sim.faults.up).start()

    hooks.after(1, drop_and_return)
    report = refresh(hub)
    assert report.sources["banana"].ok, report.sources["banana"].error
    assert stored(hub) == expected(sim)


def test_a_permanent_500_fails_banana_only_and_keeps_its_cases_exactly(
    make_hub, sim, small_sim
) -> None:
    env = {**banana_env(sim), **banana_env(small_sim, "otherbanana")}
    hub = make_hub(env, plugins=(OtherBananaPlugin(),))
    first = refresh(hub)
    assert first.ok, first.sources
    before = stored(hub)
    other_id = next(small_sim.live_records())["Id"]
    sim.mutate(update=0.05, delete=0.01, seed=7)
    small_sim.update(other_id, Subject="the other source moves on")
    sim.faults.error_burst(1_000_000, status=500)

    report = refresh(hub)

    assert not report.sources["banana"].ok
    assert report.sources["banana"].error == "Banana answered 500 4 times"
    assert report.sources["otherbanana"].ok
    assert stored(hub) == before, "Banana's previous cases stay, exactly"
    assert stored(hub, "otherbanana") == expected(small_sim, "otherbanana")
    assert stored(hub, "otherbanana")[other_id].subject == "the other source moves on"
    health = hub.health().sources
    assert health["banana"].last_error == report.sources["banana"].error
    assert health["otherbanana"].last_error is None


# -- bad answers ---------------------------------------------------------------


def test_a_page_that_is_not_json_fails_the_source_and_keeps_its_cases(make_hub, sim, hooks) -> None:
    hub = make_hub(banana_env(sim))
    refresh(hub)
    before, cursor = stored(hub), cursor_of(hub)
    sim.mutate(update=0.02, seed=3)
    hooks.after(hooks.answered + 1, lambda: sim.faults.bad_json_page(1))
    report = refresh(hub, full=True)  # a full read: several pages
    error = report.sources["banana"].error
    assert error is not None
    assert "not JSON" in error
    assert stored(hub) == before
    assert cursor_of(hub) == cursor
    assert refresh(hub).sources["banana"].ok, "the next refresh recovers"
    assert stored(hub) == expected(sim)


def test_malformed_records_are_skipped_and_counted_the_rest_stored(make_hub, sim) -> None:
    live = [r["Id"] for r in sim.live_records()]
    broken_on_the_wire = {live[1]: "missing_id", live[2]: "wrong_type", live[3]: "bad_timestamp"}
    sim.faults.malformed_records(ids=broken_on_the_wire)
    wrong_types = {
        live[4]: {"CaseNumber": 1026},
        live[5]: {"CaseNumber": None},
        live[6]: {"Subject": ["a", "list"]},
        live[7]: {"Status": None},
        live[8]: {"Provider__c": 42},
        live[9]: {"Error_Code__c": "E-" + "9" * 254},  # 256 characters
        live[10]: {"ContactEmail": {"address": "x"}},
        live[11]: {"IsDeleted": "false"},
        live[12]: {"CreatedDate": 1763632931000},
        live[13]: {"Priority": True},
    }
    for record_id, changes in wrong_types.items():
        sim.update(record_id, **changes)
    hub = make_hub(banana_env(sim))

    report = refresh(hub)

    banana = report.sources["banana"]
    assert banana.ok
    assert banana.skipped == len(broken_on_the_wire) + len(wrong_types) == 13
    assert banana.fetched == 450
    bad = set(broken_on_the_wire) | set(wrong_types)
    assert not bad & set(stored(hub))
    good = {r["Id"]: expected_case(r, sim.url) for r in sim.live_records() if r["Id"] not in bad}
    assert stored(hub) == good


def test_a_provider_of_255_characters_is_fine(make_hub, small_sim) -> None:
    target = next(small_sim.live_records())["Id"]
    small_sim.update(target, Provider__c="P" * 255)
    hub = make_hub(banana_env(small_sim))
    report = refresh(hub)
    assert report.sources["banana"].skipped == 0
    assert stored(hub)[target].provider == "P" * 255


def test_an_expired_locator_fails_clearly_and_the_next_refresh_resumes(
    make_hub, sim, hooks
) -> None:
    hub = make_hub(banana_env(sim))
    refresh(hub)
    before, cursor = stored(hub), cursor_of(hub)
    sim.mutate(update=0.05, delete=0.01, add=0.01, seed=9)
    hooks.after(hooks.answered + 1, sim.expire_locators)

    report = refresh(hub, full=True)

    error = report.sources["banana"].error
    assert error is not None
    assert "query locator" in error and "400" in error
    assert stored(hub) == before
    assert cursor_of(hub) == cursor
    sim.requests.clear()
    assert refresh(hub).sources["banana"].ok
    assert listing_requests(sim)[0].query["modifiedSince"] == cursor
    assert stored(hub) == expected(sim)


# -- secrets and personal data -------------------------------------------------


def test_no_secret_and_no_contact_email_in_logs_reports_or_errors(
    make_hub, monkeypatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(BananaAdapter, "page_size", PAGES)
    secret = "Banana-Client-Secret-7f3c9a"
    # Every logger at DEBUG, including the HTTP stack's, which the CLI quiets
    # (another test in this process may have run the CLI).
    for name in (None, "httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    with BananaSimulator(n=600, seed=21, client_secret=secret) as tenant:
        emails = {r["ContactEmail"] for r in tenant.current_records() if r["ContactEmail"]}
        assert len(emails) > 50
        tenant.faults.malformed_records(share=0.02)  # skipped records get logged
        tenant.revoke_tokens_after(1)  # a token renewal gets logged
        tenant.faults.rate_limit_burst(1, retry_after=0.05)
        hub = make_hub(banana_env(tenant))
        reports = [refresh(hub)]
        assert reports[0].sources["banana"].ok
        assert tenant.requests.count(path=TOKEN, status=200) == 2, "a renewal happened"
        assert reports[0].sources["banana"].skipped > 0
        tenant.faults.error_burst(100, status=502)  # a failure with an error text
        tenant.update(next(tenant.live_records())["Id"], Subject="x")
        reports.append(refresh(hub))
        assert not reports[-1].sources["banana"].ok
        tenant.faults.reset()
        wrong = make_hub(banana_env(tenant, client_secret=secret[::-1]))
        reports.append(refresh(wrong))
        assert "invalid_client" in (reports[-1].sources["banana"].error or "")
        answers = orjson.dumps(
            [
                supporthub.to_json_dict(hub.all()),
                supporthub.to_json_dict(hub.health()),
                *(supporthub.to_json_dict(r) for r in reports),
            ]
        ).decode()

    logged = caplog.text + "".join(
        str(record.args) + repr(record.__dict__) for record in caplog.records
    )
    assert "supporthub.banana" in {record.name for record in caplog.records}
    assert any(record.name.startswith("httpcore") for record in caplog.records), "DEBUG is on"
    for text, where in ((logged, "logs"), (answers, "reports, errors and answers")):
        assert secret not in text, where
        assert secret[::-1] not in text, where
        leaked = [email for email in emails if email in text]
        assert not leaked, f"contact e-mails in the {where}: {leaked[:3]}"
