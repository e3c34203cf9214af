"""The Banana simulator against banana-crm-api.md, over real HTTP."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from supporthub_banana.simulator import (
    STOCK_CLOSED_STATUSES,
    STOCK_OPEN_STATUSES,
    BananaSimulator,
    case_id,
)

from supporthub.testing.sim import CaseGenerator, parse_offset_ms

CASES = "/api/v2/cases"
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4}")


class Client:
    """A bare Banana client, just enough to drive the simulator."""

    def __init__(self, sim: BananaSimulator) -> None:
        self.sim = sim
        self.http = httpx.Client(timeout=10)
        self.token = self.fetch_token()

    def fetch_token(self) -> str:
        response = self.http.post(
            self.sim.url + "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.sim.client_id,
                "client_secret": self.sim.client_secret,
            },
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(
            self.sim.url + path, params=params, headers={"Authorization": f"Bearer {self.token}"}
        )

    def pages(self, **params: Any) -> Iterator[dict[str, Any]]:
        response = self.get(CASES, **params)
        while True:
            assert response.status_code == 200, response.text
            page: dict[str, Any] = response.json()
            yield page
            if page["done"]:
                assert page.get("nextRecordsUrl") is None
                return
            assert page["nextRecordsUrl"].startswith("/api/v2/cases/next/")
            response = self.get(page["nextRecordsUrl"])

    def records(self, **params: Any) -> list[dict[str, Any]]:
        return [record for page in self.pages(**params) for record in page["records"]]


def z(timestamp: str, extra_ms: int = 0) -> str:
    """A Banana timestamp as the Z form Banana accepts, moved by ``extra_ms``."""
    ms = parse_offset_ms(timestamp) + extra_ms
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def key(record: dict[str, Any]) -> tuple[int, str]:
    return parse_offset_ms(record["LastModifiedDate"]), record["Id"]


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[BananaSimulator]:
    """A simulator that tests only read from."""
    with BananaSimulator(n=600, seed=5) as sim:
        yield sim


@pytest.fixture
def sim() -> Iterator[BananaSimulator]:
    """A simulator of one's own, to change and break."""
    with BananaSimulator(n=200, seed=3) as running:
        yield running


@pytest.fixture
def reader(shared_sim: BananaSimulator) -> Iterator[Client]:
    client = Client(shared_sim)
    yield client
    client.http.close()


@pytest.fixture
def client(sim: BananaSimulator) -> Iterator[Client]:
    own = Client(sim)
    yield own
    own.http.close()


# -- authentication ----------------------------------------------------------


def test_token_answer_has_the_spec_shape(shared_sim: BananaSimulator) -> None:
    body = httpx.post(
        shared_sim.url + "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": shared_sim.client_id,
            "client_secret": shared_sim.client_secret,
        },
    ).json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert isinstance(body["access_token"], str)
    assert len(body["access_token"]) > 20


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "someone-else"}, 401, "invalid_client"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
    ],
)
def test_token_refusals(
    shared_sim: BananaSimulator, form: dict[str, str], status: int, error: str
) -> None:
    data = {
        "grant_type": "client_credentials",
        "client_id": shared_sim.client_id,
        "client_secret": shared_sim.client_secret,
        **form,
    }
    response = httpx.post(shared_sim.url + "/oauth/token", data=data)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert "error_description" in response.json()
    assert shared_sim.client_secret not in response.text


def test_calls_without_a_live_token_get_invalid_token(shared_sim: BananaSimulator) -> None:
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic x"}):
        response = httpx.get(shared_sim.url + CASES, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"


def test_tokens_expire(client: Client, sim: BananaSimulator) -> None:
    sim.token_ttl = 0.05
    client.token = client.fetch_token()
    assert client.get(CASES).status_code == 200
    time.sleep(0.1)
    response = client.get(CASES)
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_token",
        "error_description": "token expired or revoked",
    }


def test_a_zero_ttl_makes_every_token_dead_on_arrival(client: Client, sim: BananaSimulator) -> None:
    sim.token_ttl = 0
    client.token = client.fetch_token()
    assert client.get(CASES).status_code == 401


def test_revoke_all_tokens_then_a_new_token_works(client: Client, sim: BananaSimulator) -> None:
    sim.revoke_all_tokens()
    assert client.get(CASES).json()["error"] == "invalid_token"
    client.token = client.fetch_token()
    assert client.get(CASES).status_code == 200


def test_a_token_dies_mid_sync(client: Client, sim: BananaSimulator) -> None:
    sim.revoke_tokens_after(2)
    first = client.get(CASES, pageSize=10)
    second = client.get(first.json()["nextRecordsUrl"])
    third = client.get(second.json()["nextRecordsUrl"])
    assert [first.status_code, second.status_code, third.status_code] == [200, 200, 401]
    client.token = client.fetch_token()
    # The locator outlives the token: the client repeats the call and goes on.
    assert client.get(second.json()["nextRecordsUrl"]).status_code == 200


# -- listing -------------------------------------------------------------------


def test_paging_returns_every_live_record_once_in_order(
    reader: Client, shared_sim: BananaSimulator
) -> None:
    pages = list(reader.pages(pageSize=37))
    records = [record for page in pages for record in page["records"]]
    assert records == list(shared_sim.live_records())
    assert len({record["Id"] for record in records}) == len(records) == shared_sim.live_count()
    assert [key(record) for record in records] == sorted(key(record) for record in records)
    assert all(page["totalSize"] == len(records) for page in pages)
    assert all(len(page["records"]) == 37 for page in pages[:-1])
    assert not any(record["IsDeleted"] for record in records)


def test_default_page_size_is_200(reader: Client) -> None:
    assert len(reader.get(CASES).json()["records"]) == 200


@pytest.mark.parametrize("size", ["1", "2000"])
def test_page_size_limits_are_allowed(reader: Client, size: str) -> None:
    page = reader.get(CASES, pageSize=size).json()
    assert len(page["records"]) == min(int(size), page["totalSize"])


@pytest.mark.parametrize(
    "size",
    ["0", "2001", "-1", "abc", "1.5", "", "１０"],
)
def test_page_size_out_of_range_is_invalid(reader: Client, size: str) -> None:
    response = reader.get(CASES, pageSize=size)
    assert response.status_code == 400
    assert response.json()["error"] == "INVALID_PAGE_SIZE"


@pytest.mark.parametrize(
    "since",
    [
        "2026-11-20",
        "2026-11-20T10:00:00",
        "2026-11-20T10:00:00+00:00",
        "2026-11-20T10:00:00.000+0000",
        "1732096800",
        "2026-13-01T00:00:00Z",
        "",
    ],
)
def test_modified_since_must_be_iso_utc_with_z(reader: Client, since: str) -> None:
    response = reader.get(CASES, modifiedSince=since)
    assert response.status_code == 400
    assert response.json()["error"] == "MALFORMED_QUERY"


def test_include_deleted_must_be_a_boolean(reader: Client) -> None:
    response = reader.get(CASES, includeDeleted="yes")
    assert response.status_code == 400
    assert response.json()["error"] == "MALFORMED_QUERY"


def test_modified_since_is_inclusive(reader: Client, shared_sim: BananaSimulator) -> None:
    everything = list(shared_sim.live_records())
    boundary = everything[len(everything) // 2]["LastModifiedDate"]
    expected = [
        r for r in everything if parse_offset_ms(r["LastModifiedDate"]) >= parse_offset_ms(boundary)
    ]
    got = reader.records(modifiedSince=z(boundary), pageSize=2000)
    assert got == expected
    assert got[0]["LastModifiedDate"] == boundary
    later = reader.records(modifiedSince=z(boundary, extra_ms=1), pageSize=2000)
    assert all(r["LastModifiedDate"] != boundary for r in later)
    assert reader.get(CASES, modifiedSince=z(boundary)).json()["totalSize"] == len(expected)


def test_fractions_finer_than_a_millisecond_round_up(
    reader: Client, shared_sim: BananaSimulator
) -> None:
    boundary = next(shared_sim.live_records())["LastModifiedDate"]
    since = z(boundary)[:-1] + "0001Z"  # 0.1 µs after the record's millisecond
    records = reader.records(modifiedSince=since, pageSize=2000)
    assert all(r["LastModifiedDate"] != boundary for r in records)


def test_tombstones_only_with_include_deleted(reader: Client, shared_sim: BananaSimulator) -> None:
    deleted = shared_sim.deleted_ids()
    assert deleted, "the generated data starts with a few deleted cases"
    with_tombstones = reader.records(includeDeleted="true", pageSize=2000)
    assert with_tombstones == list(shared_sim.current_records())
    tombstones = [r for r in with_tombstones if r["IsDeleted"]]
    assert tombstones == list(shared_sim.tombstones())
    assert {r["Id"] for r in tombstones} == deleted
    assert len(with_tombstones) == shared_sim.live_count() + len(deleted)
    assert reader.get(CASES, includeDeleted="true").json()["totalSize"] == len(with_tombstones)
    assert not deleted & {r["Id"] for r in reader.records(includeDeleted="false", pageSize=2000)}


def test_records_look_like_the_spec(shared_sim: BananaSimulator) -> None:
    records = list(shared_sim.live_records())
    stock = set(STOCK_OPEN_STATUSES + STOCK_CLOSED_STATUSES)
    for record in records:
        assert len(record["Id"]) == 18
        assert record["CaseNumber"].isdigit()
        assert TIMESTAMP.fullmatch(record["CreatedDate"])
        assert TIMESTAMP.fullmatch(record["LastModifiedDate"])
        assert record["LastModifiedDate"].endswith("+0000")
        assert isinstance(record["IsClosed"], bool)
        assert record["IsDeleted"] is False
        assert record["Error_Code__c"] is None or record["Error_Code__c"].startswith("E-")
        assert record["Priority"] in (None, "Low", "Medium", "High", "Critical")
        if record["Status"] in STOCK_OPEN_STATUSES:
            assert record["IsClosed"] is False
        if record["Status"] in STOCK_CLOSED_STATUSES:
            assert record["IsClosed"] is True
    assert {r["Status"] for r in records} - stock, "tenant-specific statuses appear"
    assert any(r["Status"] == "Waiting on Provider" and not r["IsClosed"] for r in records)
    assert any(r["ContactEmail"] for r in records)
    assert any(r["Provider__c"] is None for r in records)
    assert any(r["Error_Code__c"] is None for r in records)
    documented = {"Id", "CaseNumber", "Subject", "Description", "Status", "IsClosed",
                  "IsDeleted", "Priority", "Origin", "Provider__c", "Error_Code__c",
                  "ContactEmail", "CreatedDate", "LastModifiedDate"}  # fmt: skip
    assert all(documented <= set(r) for r in records)
    assert any(set(r) - documented for r in records), "unknown extra fields on some"
    assert any(r["Provider__c"] and r["Provider__c"].endswith(("Inc.", ", Inc.")) for r in records)


def test_ids_are_unique_and_sort_like_their_sequence() -> None:
    ids = [case_id(seq) for seq in (0, 1, 61, 62, 3843, 10**6, 62**5 - 1)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    with pytest.raises(ValueError, match="too large"):
        case_id(62**5)


def test_same_seed_same_data() -> None:
    first = BananaSimulator(n=50, seed=9)
    second = BananaSimulator(n=50, seed=9)
    assert list(first.live_records()) == list(second.live_records())


# -- changes while paging and between syncs ----------------------------------


def test_a_record_changed_while_paging_shows_again_later_with_a_newer_timestamp(
    client: Client, sim: BananaSimulator
) -> None:
    first = client.get(CASES, pageSize=50).json()
    seen = first["records"][3]
    changed_at = sim.repeat_on_later_page(seen["Id"])
    rest = []
    response = client.get(first["nextRecordsUrl"])
    while True:
        page = response.json()
        rest.extend(page["records"])
        if page["done"]:
            break
        response = client.get(page["nextRecordsUrl"])
    again = [r for r in rest if r["Id"] == seen["Id"]]
    assert len(again) == 1
    assert parse_offset_ms(again[0]["LastModifiedDate"]) > parse_offset_ms(seen["LastModifiedDate"])
    assert parse_offset_ms(again[0]["LastModifiedDate"]) == int(changed_at.timestamp() * 1000)
    assert rest[-1]["Id"] == seen["Id"], "at the end of the order"
    latest: dict[str, dict[str, Any]] = {}
    for record in first["records"] + rest:
        if record["Id"] not in latest or key(record) > key(latest[record["Id"]]):
            latest[record["Id"]] = record
    assert sorted(latest.values(), key=key) == list(sim.live_records())


def test_a_record_changed_before_it_is_reached_shows_once(
    client: Client, sim: BananaSimulator
) -> None:
    first = client.get(CASES, pageSize=50).json()
    ahead = list(sim.live_records())[120]["Id"]
    sim.update(ahead, Subject="Changed ahead")
    deleted = list(sim.live_records())[150]["Id"]
    sim.delete(deleted)
    rest: list[dict[str, Any]] = []
    url = first["nextRecordsUrl"]
    while url:
        page = client.get(url).json()
        rest.extend(page["records"])
        url = page["nextRecordsUrl"]
    ids = [r["Id"] for r in first["records"] + rest]
    assert ids.count(ahead) == 1
    assert deleted not in ids
    assert next(r for r in rest if r["Id"] == ahead)["Subject"] == "Changed ahead"


def test_an_older_copy_can_show_up_later(client: Client, sim: BananaSimulator) -> None:
    target = next(sim.live_records())
    older = sim.repeat_with_older_timestamp(target["Id"], timedelta(seconds=5), Subject="stale")
    records = client.records(pageSize=2000)
    copies = [r for r in records if r["Id"] == target["Id"]]
    assert [c["Subject"] for c in copies] == [target["Subject"], "stale"]
    assert parse_offset_ms(copies[1]["LastModifiedDate"]) == int(older.timestamp() * 1000)
    assert key(copies[1]) < key(copies[0])
    assert sim.record(target["Id"]) == target, "the record itself did not change"


def test_incremental_sync_after_mutate(client: Client, sim: BananaSimulator) -> None:
    before = client.records(includeDeleted="true", pageSize=2000)
    cursor = max(r["LastModifiedDate"] for r in before)
    live = sim.live_count()
    result = sim.mutate(update=0.05, close=0.05, delete=0.02, add=0.03, seed=1)
    counts = [len(result.updated), len(result.closed), len(result.deleted), len(result.added)]
    assert counts == [round(share * live) for share in (0.05, 0.05, 0.02, 0.03)]
    assert sim.live_count() == live - len(result.deleted) + len(result.added)
    assert result.at > datetime.now(UTC) - timedelta(seconds=5)
    changes = client.records(modifiedSince=z(cursor), includeDeleted="true", pageSize=2000)
    changed = {r["Id"] for r in changes if r["LastModifiedDate"] != cursor}
    assert changed == set(result.updated + result.closed + result.deleted + result.added)
    for record in changes:
        if record["Id"] in result.closed:
            assert record["IsClosed"] is True
        if record["Id"] in result.deleted:
            assert record["IsDeleted"] is True
    assert set(result.deleted) <= sim.deleted_ids()
    assert len({r["LastModifiedDate"] for r in changes if r["Id"] in changed}) == 1


def test_mutate_is_deterministic_per_seed() -> None:
    results = []
    for _ in range(2):
        sim = BananaSimulator(n=300, seed=4)
        result = sim.mutate(update=0.1, close=0.05, delete=0.05, add=0.05, seed=99)
        results.append((result.updated, result.closed, result.deleted, result.added))
    assert results[0] == results[1]
    assert all(results[0])


def test_change_timestamps_strictly_increase_and_follow_real_time(sim: BananaSimulator) -> None:
    ids = sim.ids()[:5]
    before = datetime.now(UTC)
    stamps = [sim.update(record_id, Priority="High") for record_id in ids]
    assert stamps == sorted(set(stamps))
    assert stamps[0] >= before - timedelta(milliseconds=1)


def test_targeted_changes(sim: BananaSimulator) -> None:
    first = sim.ids()[0]
    sim.close(first)
    assert sim.record(first)["IsClosed"] is True
    added = sim.add()
    assert sim.record(added)["IsClosed"] is False
    assert added == case_id(200)
    spec = next(CaseGenerator(1).specs(1))
    assert sim.add(spec) == case_id(201)
    sim.delete(first)
    assert first in sim.deleted_ids()
    assert sim.record(first)["IsDeleted"] is True
    with pytest.raises(ValueError, match="deleted"):
        sim.update(first, Subject="x")
    with pytest.raises(KeyError):
        sim.update("5003000000zzzzzAAA", Subject="x")
    with pytest.raises(ValueError, match="Id"):
        sim.update(sim.ids()[0], Id="other")


# -- locators and the base URL ------------------------------------------------


def test_expired_locators_are_refused(client: Client, sim: BananaSimulator) -> None:
    sim.locator_ttl = 0.05
    first = client.get(CASES, pageSize=10).json()
    time.sleep(0.1)
    response = client.get(first["nextRecordsUrl"])
    assert response.status_code == 400
    assert response.json()["error"] == "INVALID_QUERY_LOCATOR"


def test_expire_locators_and_unknown_locators(client: Client, sim: BananaSimulator) -> None:
    first = client.get(CASES, pageSize=10).json()
    assert client.get(first["nextRecordsUrl"]).status_code == 200
    sim.expire_locators()
    for url in (first["nextRecordsUrl"], "/api/v2/cases/next/nonsense", "/api/v2/cases/next/"):
        response = client.get(url)
        assert response.status_code == 400
        assert response.json()["error"] == "INVALID_QUERY_LOCATOR"


def test_a_base_url_with_a_path_keeps_it() -> None:
    with BananaSimulator(n=30, seed=2, path_prefix="/tenant-a") as sim:
        assert sim.url.endswith("/tenant-a")
        client = Client(sim)
        try:
            records = client.records(pageSize=7)
            assert len(records) == sim.live_count()
            first = client.get(CASES, pageSize=7).json()
            host_only = sim.url.removesuffix("/tenant-a")
            # Joining the path to the host alone (urljoin) loses the tenant: 404.
            wrong = client.http.get(
                host_only + first["nextRecordsUrl"],
                headers={"Authorization": f"Bearer {client.token}"},
            )
            assert wrong.status_code == 404
            assert client.http.get(host_only + CASES).status_code == 404
        finally:
            client.http.close()


# -- faults ---------------------------------------------------------------------


def test_rate_limit_burst_answers_429_with_retry_after(
    client: Client, sim: BananaSimulator
) -> None:
    sim.faults.rate_limit_burst(2, retry_after=7)
    statuses = [client.get(CASES) for _ in range(3)]
    assert [r.status_code for r in statuses] == [429, 429, 200]
    assert statuses[0].headers["Retry-After"] == "7"
    assert statuses[0].json()["error"] == "REQUEST_LIMIT_EXCEEDED"


def test_error_burst_with_and_without_retry_after(client: Client, sim: BananaSimulator) -> None:
    sim.faults.error_burst(1, status=503, retry_after=2)
    sim.faults.error_burst(1, status=504)
    first, second = client.get(CASES), client.get(CASES)
    assert (first.status_code, first.headers["Retry-After"]) == (503, "2")
    assert second.status_code == 504
    assert "Retry-After" not in second.headers


def test_down_is_a_connection_error(client: Client, sim: BananaSimulator) -> None:
    sim.faults.down()
    with pytest.raises(httpx.TransportError):
        client.get(CASES)
    with pytest.raises(httpx.ConnectError):
        httpx.post(sim.url + "/oauth/token")
    sim.faults.up()
    assert client.get(CASES).status_code == 200


def test_slow_answers(client: Client, sim: BananaSimulator) -> None:
    sim.faults.slow(0.2, n=1)
    began = time.perf_counter()
    client.get(CASES)
    assert time.perf_counter() - began >= 0.2
    began = time.perf_counter()
    client.get(CASES)
    assert time.perf_counter() - began < 0.2


def test_a_bad_json_page(client: Client, sim: BananaSimulator) -> None:
    sim.faults.bad_json_page(1)
    response = client.get(CASES)
    assert response.status_code == 200
    with pytest.raises(ValueError, match=r"JSON|Expecting|Unterminated|line"):
        response.json()
    assert client.get(CASES).json()["records"]


def test_malformed_records(client: Client, sim: BananaSimulator) -> None:
    sim.faults.malformed_records(share=0.2)
    records = client.records(pageSize=2000)
    assert len(records) == sim.live_count()
    missing_id = [r for r in records if "Id" not in r]
    wrong_type = [r for r in records if not isinstance(r.get("IsClosed"), bool)]
    bad_time = [r for r in records if not TIMESTAMP.fullmatch(r["LastModifiedDate"])]
    assert missing_id
    assert wrong_type
    assert bad_time
    assert (
        0.1 * len(records) < len(missing_id) + len(wrong_type) + len(bad_time) < 0.3 * len(records)
    )
    assert next(iter(sim.live_records())).get("Id"), "only the wire is broken"


def test_malformed_by_id(client: Client, sim: BananaSimulator) -> None:
    target = sim.ids()[0]
    sim.faults.malformed_records(ids={target: "missing_id"})
    records = client.records(pageSize=2000)
    assert sum("Id" not in r for r in records) == 1


def test_offset_timestamps_keep_the_instant(client: Client, sim: BananaSimulator) -> None:
    sim.send_offset_timestamps(1.0, offset_minutes=120)
    records = client.records(pageSize=2000)
    assert all(r["LastModifiedDate"].endswith("+0200") for r in records)
    assert [key(r) for r in records] == [key(r) for r in sim.live_records()]
    sim.send_offset_timestamps(0.3)
    mixed = {r["CreatedDate"][-5:] for r in client.records(pageSize=2000)}
    assert mixed == {"+0000", "+0200"}


def test_the_request_log_sees_what_the_client_asked(client: Client, sim: BananaSimulator) -> None:
    sim.requests.clear()
    client.records(modifiedSince="2026-01-01T00:00:00Z", pageSize=150)
    listing = sim.requests.filter(path=CASES)
    assert [entry.query["modifiedSince"] for entry in listing] == ["2026-01-01T00:00:00Z"]
    assert sim.requests.records_returned(path_prefix=CASES) == sim.live_count()
    assert sim.requests.count(path_prefix="/api/v2/cases/next/") == 1
    assert len({entry.peer_port for entry in sim.requests}) == 1, "one kept-alive connection"


# -- odds and ends --------------------------------------------------------------


def test_ui_page_and_unknown_paths(shared_sim: BananaSimulator) -> None:
    record = next(shared_sim.live_records())
    page = httpx.get(f"{shared_sim.url}/ui/cases/{record['Id']}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert record["CaseNumber"] in page.text
    assert httpx.get(f"{shared_sim.url}/ui/cases/nope").status_code == 404
    missing = httpx.get(shared_sim.url + "/api/v2/nothing")
    assert missing.status_code == 404
    assert missing.json()["error"] == "NOT_FOUND"
    assert httpx.get(shared_sim.url + "/oauth/token").status_code == 405


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_cli_serves_until_signalled(signum: int) -> None:
    root = Path(__file__).resolve().parents[3]
    env_path = ":".join(str(root / p) for p in ("src", "plugins/banana/src"))
    with subprocess.Popen(
        [sys.executable, "-m", "supporthub_banana.simulator", "--n", "20", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
    ) as process:
        try:
            assert process.stdout is not None
            banner = [process.stdout.readline() for _ in range(3)]
            url = banner[0].rsplit(" at ", 1)[1].strip()
            assert banner[1].strip() == "client_id=banana-demo-client"
            token = httpx.post(
                url + "/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": "banana-demo-client",
                    "client_secret": banner[2].strip().split("=", 1)[1],
                },
            )
            assert token.status_code == 200
            process.send_signal(signum)
            assert process.wait(timeout=10) == 0
        finally:
            process.kill()
