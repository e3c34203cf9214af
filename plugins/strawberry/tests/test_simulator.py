"""The Strawberry simulator against strawberry-crm-api.md, over real HTTP."""

from __future__ import annotations

import base64
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
from supporthub_strawberry.simulator import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    StrawberrySimulator,
)

TICKETS = "/v1/tickets"
FIELDS = "/v1/ticket_fields"
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def seconds(timestamp: str) -> int:
    return int(datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())


def key(ticket: dict[str, Any]) -> tuple[int, int]:
    return seconds(ticket["updated_at"]), ticket["id"]


class Client:
    """A bare Strawberry client, just enough to drive the simulator."""

    def __init__(self, sim: StrawberrySimulator) -> None:
        self.sim = sim
        self.http = httpx.Client(timeout=10, headers={"X-Api-Key": sim.api_key})

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(self.sim.url + path, params=params)

    def pages(self, **params: Any) -> Iterator[dict[str, Any]]:
        limit = params.get("limit")
        while True:
            response = self.get(TICKETS, **params)
            assert response.status_code == 200, response.text
            page: dict[str, Any] = response.json()
            yield page
            assert page["meta"]["after_cursor"], "given on every page, the last too"
            if not page["meta"]["has_more"]:
                return
            params = {"cursor": page["meta"]["after_cursor"]}
            if limit is not None:
                params["limit"] = limit

    def tickets(self, **params: Any) -> list[dict[str, Any]]:
        return [ticket for page in self.pages(**params) for ticket in page["tickets"]]

    def last_cursor(self, **params: Any) -> str:
        cursor: str = list(self.pages(**params))[-1]["meta"]["after_cursor"]
        return cursor


def custom(sim: StrawberrySimulator, ticket: dict[str, Any], key: str) -> tuple[bool, Any]:
    """(present, value) of a custom field in a ticket."""
    for entry in ticket["custom_fields"]:
        if entry["id"] == sim.field_ids[key]:
            return True, entry["value"]
    return False, None


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[StrawberrySimulator]:
    """A simulator that tests only read from."""
    with StrawberrySimulator(n=600, seed=5) as sim:
        yield sim


@pytest.fixture
def sim() -> Iterator[StrawberrySimulator]:
    """A simulator of one's own, to change and break."""
    with StrawberrySimulator(n=200, seed=3) as running:
        yield running


@pytest.fixture
def reader(shared_sim: StrawberrySimulator) -> Iterator[Client]:
    client = Client(shared_sim)
    yield client
    client.http.close()


@pytest.fixture
def client(sim: StrawberrySimulator) -> Iterator[Client]:
    own = Client(sim)
    yield own
    own.http.close()


def all_tickets(sim: StrawberrySimulator) -> list[dict[str, Any]]:
    """Every ticket, tombstones included, in export order."""
    return list(sim.current_records())


# -- authentication and paths -------------------------------------------------


@pytest.mark.parametrize("path", [TICKETS, FIELDS])
@pytest.mark.parametrize("headers", [{}, {"X-Api-Key": "wrong"}])
def test_a_wrong_key_is_unauthorized(
    shared_sim: StrawberrySimulator, path: str, headers: dict[str, str]
) -> None:
    response = httpx.get(shared_sim.url + path, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized"}


def test_unknown_paths_are_404(reader: Client) -> None:
    for path in ("/v1/nothing", "/v2/tickets", "/"):
        response = reader.get(path)
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"


def test_only_get(shared_sim: StrawberrySimulator) -> None:
    response = httpx.post(shared_sim.url + TICKETS, headers={"X-Api-Key": shared_sim.api_key})
    assert response.status_code == 405


# -- ticket fields ----------------------------------------------------------------


def test_ticket_fields_have_per_seed_ids(reader: Client) -> None:
    fields = reader.get(FIELDS).json()["ticket_fields"]
    keys = {field["key"]: field for field in fields}
    assert {"provider", "error_code", "region"} <= set(keys)
    assert keys["provider"]["type"] == "text"
    assert keys["region"]["type"] == "dropdown"
    ids = {field["id"] for field in fields}
    assert not ids & {360001, 360002, 360107}
    assert StrawberrySimulator(n=1, seed=5).field_ids == reader.sim.field_ids
    assert StrawberrySimulator(n=1, seed=6).field_ids != reader.sim.field_ids


def test_a_field_can_go_missing(client: Client, sim: StrawberrySimulator) -> None:
    sim.drop_ticket_field("error_code")
    keys = {field["key"] for field in client.get(FIELDS).json()["ticket_fields"]}
    assert "error_code" not in keys
    assert "provider" in keys
    sim.restore_ticket_fields()
    keys = {field["key"] for field in client.get(FIELDS).json()["ticket_fields"]}
    assert "error_code" in keys
    with pytest.raises(KeyError):
        sim.drop_ticket_field("colour")


# -- the export -------------------------------------------------------------------


def test_paging_returns_every_ticket_once_in_order(
    reader: Client, shared_sim: StrawberrySimulator
) -> None:
    pages = list(reader.pages(limit=37))
    tickets = [ticket for page in pages for ticket in page["tickets"]]
    assert tickets == all_tickets(shared_sim)
    assert len({ticket["id"] for ticket in tickets}) == len(tickets)
    assert [key(ticket) for ticket in tickets] == sorted(key(ticket) for ticket in tickets)
    assert all(len(page["tickets"]) == 37 for page in pages[:-1])
    assert {t["id"] for t in tickets if t["status"] == "deleted"} == shared_sim.deleted_ids()


def test_default_limit_is_100(reader: Client) -> None:
    assert len(reader.get(TICKETS).json()["tickets"]) == 100


@pytest.mark.parametrize("limit", ["1", "1000"])
def test_limits_at_the_edges_are_allowed(reader: Client, limit: str) -> None:
    tickets = reader.get(TICKETS, limit=limit).json()["tickets"]
    assert len(tickets) == min(int(limit), len(all_tickets(reader.sim)))


@pytest.mark.parametrize("limit", ["0", "1001", "-5", "ten", "", "2.5"])
def test_limits_outside_are_invalid(reader: Client, limit: str) -> None:
    response = reader.get(TICKETS, limit=limit)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_limit"


@pytest.mark.parametrize("value", ["-1", "yesterday", "1.5", "2026-11-20T10:00:00Z"])
def test_updated_after_must_be_unix_seconds(reader: Client, value: str) -> None:
    response = reader.get(TICKETS, updated_after=value)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_updated_after"


def test_updated_after_zero_or_omitted_means_everything(reader: Client) -> None:
    everything = reader.tickets(limit=1000)
    assert reader.tickets(limit=1000, updated_after=0) == everything


def test_updated_after_is_inclusive(reader: Client, shared_sim: StrawberrySimulator) -> None:
    everything = all_tickets(shared_sim)
    boundary = seconds(everything[len(everything) // 2]["updated_at"])
    got = reader.tickets(limit=1000, updated_after=boundary)
    assert got == [t for t in everything if seconds(t["updated_at"]) >= boundary]
    assert seconds(got[0]["updated_at"]) == boundary
    later = reader.tickets(limit=1000, updated_after=boundary + 1)
    assert all(seconds(t["updated_at"]) > boundary for t in later)


def test_tickets_look_like_the_spec(shared_sim: StrawberrySimulator) -> None:
    tickets = all_tickets(shared_sim)
    statuses = set(OPEN_STATUSES + CLOSED_STATUSES) | {"deleted"}
    for ticket in tickets:
        assert isinstance(ticket["id"], int)
        assert ticket["status"] in statuses
        assert TIMESTAMP.fullmatch(ticket["created_at"])
        assert TIMESTAMP.fullmatch(ticket["updated_at"])
        assert ticket["priority"] in (None, "low", "normal", "high", "urgent")
        assert isinstance(ticket["tags"], list)
        assert ticket["requester"] is None or set(ticket["requester"]) == {"name", "email"}
    assert {t["status"] for t in tickets} == statuses
    providers = [custom(shared_sim, t, "provider") for t in tickets]
    assert (False, None) in providers, "a missing entry"
    assert (True, None) in providers, "an entry with a null value"
    codes = [value for present, value in (custom(shared_sim, t, "error_code") for t in tickets)
             if value is not None]  # fmt: skip
    assert not any(code.strip().upper().startswith("E-") for code in codes)
    assert any(code != code.strip() for code in codes), "padded codes"
    assert any(code.islower() for code in codes), "lower-case symbolic codes"
    documented = {"id", "subject", "description", "status", "priority", "created_at",
                  "updated_at", "custom_fields", "tags", "requester"}  # fmt: skip
    assert all(documented <= set(t) for t in tickets)
    assert any(set(t) - documented for t in tickets), "unknown extra fields on some"


def test_same_seed_same_data() -> None:
    first = StrawberrySimulator(n=50, seed=9)
    second = StrawberrySimulator(n=50, seed=9)
    assert list(first.live_records()) == list(second.live_records())


# -- cursors ----------------------------------------------------------------------


def test_the_last_cursor_resumes_with_later_changes(
    client: Client, sim: StrawberrySimulator
) -> None:
    cursor = client.last_cursor(limit=1000)
    empty = client.get(TICKETS, cursor=cursor).json()
    assert empty["tickets"] == []
    assert empty["meta"]["has_more"] is False
    assert client.get(TICKETS, cursor=empty["meta"]["after_cursor"]).json()["tickets"] == []
    result = sim.mutate(update=0.05, close=0.05, delete=0.03, add=0.02, seed=2)
    resumed = client.tickets(cursor=cursor, limit=1000)
    expected = set(result.updated + result.closed + result.deleted + result.added)
    assert {t["id"] for t in resumed} == expected
    assert len(resumed) == len(expected)
    assert all(t["status"] == "deleted" for t in resumed if t["id"] in result.deleted)
    assert all(t["status"] in CLOSED_STATUSES for t in resumed if t["id"] in result.closed)


def test_updated_after_is_ignored_with_a_cursor(client: Client) -> None:
    first = client.get(TICKETS, limit=5).json()
    cursor = first["meta"]["after_cursor"]
    plain = client.get(TICKETS, cursor=cursor, limit=5).json()
    odd = client.get(TICKETS, cursor=cursor, limit=5, updated_after="nonsense").json()
    assert odd["tickets"] == plain["tickets"]
    assert odd["tickets"] != first["tickets"]


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64 at all!",
        base64.urlsafe_b64encode(b"1:2:3").decode(),
        base64.urlsafe_b64encode(b"5:0:0:0:0").decode(),
        base64.urlsafe_b64encode(b"999999:0:0:0:0").decode(),
    ],
)
def test_bad_cursors_are_refused(reader: Client, cursor: str) -> None:
    response = reader.get(TICKETS, cursor=cursor)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_cursor"
    assert response.json()["description"]


def test_expired_cursors_are_refused(client: Client, sim: StrawberrySimulator) -> None:
    cursor = client.get(TICKETS, limit=5).json()["meta"]["after_cursor"]
    assert client.get(TICKETS, cursor=cursor).status_code == 200
    sim.expire_cursors()
    assert client.get(TICKETS, cursor=cursor).json()["error"] == "invalid_cursor"
    sim.cursor_ttl = 0.05
    fresh = client.get(TICKETS, limit=5).json()["meta"]["after_cursor"]
    assert client.get(TICKETS, cursor=fresh).status_code == 200
    time.sleep(0.1)
    assert client.get(TICKETS, cursor=fresh).status_code == 400


# -- changes ------------------------------------------------------------------------


def test_a_ticket_changed_while_paging_shows_again_later(
    client: Client, sim: StrawberrySimulator
) -> None:
    first = client.get(TICKETS, limit=50).json()
    seen = first["tickets"][3]
    changed_at = sim.repeat_on_later_page(seen["id"])
    rest = client.tickets(cursor=first["meta"]["after_cursor"], limit=50)
    again = [t for t in rest if t["id"] == seen["id"]]
    assert len(again) == 1
    assert seconds(again[0]["updated_at"]) > seconds(seen["updated_at"])
    assert seconds(again[0]["updated_at"]) == int(changed_at.timestamp())
    assert rest[-1]["id"] == seen["id"]


def test_an_older_copy_can_show_up_later(client: Client, sim: StrawberrySimulator) -> None:
    target = next(sim.live_records())
    older = sim.repeat_with_older_timestamp(target["id"], timedelta(seconds=30), status="hold")
    copies = [t for t in client.tickets(limit=1000) if t["id"] == target["id"]]
    assert len(copies) == 2
    assert copies[1]["status"] == "hold"
    assert seconds(copies[1]["updated_at"]) == int(older.timestamp())
    assert key(copies[1]) < key(copies[0])
    assert sim.record(target["id"]) == target


def test_change_timestamps_are_whole_seconds_strictly_increasing(sim: StrawberrySimulator) -> None:
    before = datetime.now(UTC)
    stamps = [sim.update(ticket_id, priority="urgent") for ticket_id in sim.ids()[:3]]
    assert stamps == sorted(set(stamps))
    assert all(stamp.microsecond == 0 for stamp in stamps)
    assert stamps[0] >= before


def test_targeted_changes(sim: StrawberrySimulator) -> None:
    ticket_id = sim.ids()[0]
    sim.update(ticket_id, provider="Acme Payments Inc", error_code=" 1042 ", subject="Hi")
    ticket = sim.record(ticket_id)
    assert custom(sim, ticket, "provider") == (True, "Acme Payments Inc")
    assert custom(sim, ticket, "error_code") == (True, " 1042 ")
    assert ticket["subject"] == "Hi"
    sim.close(ticket_id)
    assert sim.record(ticket_id)["status"] in CLOSED_STATUSES
    sim.delete(ticket_id)
    assert sim.record(ticket_id)["status"] == "deleted"
    assert ticket_id in sim.deleted_ids()
    new_id = sim.add()
    assert sim.record(new_id)["status"] in OPEN_STATUSES
    with pytest.raises(KeyError):
        sim.record(5)
    with pytest.raises(ValueError, match="id"):
        sim.update(sim.ids()[0], id=1)


# -- rate limit and faults --------------------------------------------------------


def test_rate_limit_remaining_counts_down(client: Client) -> None:
    first = int(client.get(FIELDS).headers["X-Rate-Limit-Remaining"])
    second = int(client.get(TICKETS, limit=1).headers["X-Rate-Limit-Remaining"])
    third = int(client.get("/v1/nothing").headers["X-Rate-Limit-Remaining"])
    assert first < 700
    assert (second, third) == (first - 1, first - 2)


def test_rate_limit_is_enforced_only_when_asked(client: Client, sim: StrawberrySimulator) -> None:
    sim.rate_limit_per_minute = 3
    sim.reset_rate_limit()
    assert [client.get(FIELDS).status_code for _ in range(5)] == [200] * 5
    sim.enforce_rate_limit = True
    sim.reset_rate_limit()
    answers = [client.get(FIELDS) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[3].headers["X-Rate-Limit-Remaining"] == "0"
    assert 1 <= int(answers[3].headers["Retry-After"]) <= 60
    sim.reset_rate_limit()
    assert client.get(FIELDS).status_code == 200


def test_fault_bursts(client: Client, sim: StrawberrySimulator) -> None:
    sim.faults.rate_limit_burst(1, retry_after=3)
    sim.faults.error_burst(1, status=500)
    limited, failed, fine = (client.get(TICKETS) for _ in range(3))
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3")
    assert limited.json()["error"] == "rate_limited"
    assert failed.status_code == 500
    assert fine.status_code == 200


def test_down_is_a_connection_error(client: Client, sim: StrawberrySimulator) -> None:
    client.get(TICKETS).raise_for_status()
    sim.faults.down()
    with pytest.raises(httpx.TransportError):
        client.get(TICKETS)
    sim.faults.up()
    assert client.get(TICKETS).status_code == 200


def test_a_bad_json_page(client: Client, sim: StrawberrySimulator) -> None:
    sim.faults.bad_json_page()
    response = client.get(TICKETS)
    assert response.status_code == 200
    with pytest.raises(ValueError, match=r"JSON|Expecting"):
        response.json()


def test_malformed_tickets(client: Client, sim: StrawberrySimulator) -> None:
    sim.faults.malformed_records(share=0.3)
    tickets = client.tickets(limit=1000)
    assert len(tickets) == len(all_tickets(sim))
    assert any("id" not in t for t in tickets)
    assert any(isinstance(t.get("subject"), int) for t in tickets)
    assert any(not TIMESTAMP.fullmatch(t["updated_at"]) for t in tickets)


def test_the_request_log_sees_the_cursor_walk(client: Client, sim: StrawberrySimulator) -> None:
    sim.requests.clear()
    client.tickets(limit=90, updated_after=1)
    listing = sim.requests.filter(path=TICKETS)
    assert listing[0].query == {"limit": "90", "updated_after": "1"}
    assert all("cursor" in entry.query for entry in listing[1:])
    assert sim.requests.records_returned(path=TICKETS) == len(all_tickets(sim))


# -- base URL, pages for people, CLI ----------------------------------------------


def test_a_base_url_with_a_path() -> None:
    with StrawberrySimulator(n=20, seed=1, path_prefix="/acme") as sim:
        client = Client(sim)
        try:
            assert len(client.tickets(limit=7)) == len(all_tickets(sim))
            assert client.http.get(sim.url.removesuffix("/acme") + TICKETS).status_code == 404
        finally:
            client.http.close()


def test_agent_page(shared_sim: StrawberrySimulator) -> None:
    ticket = next(shared_sim.live_records())
    page = httpx.get(f"{shared_sim.url}/agent/tickets/{ticket['id']}")
    assert page.status_code == 200
    assert str(ticket["id"]) in page.text
    assert httpx.get(f"{shared_sim.url}/agent/tickets/12").status_code == 404


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_cli_serves_until_signalled(signum: int) -> None:
    root = Path(__file__).resolve().parents[3]
    env_path = ":".join(str(root / p) for p in ("src", "plugins/strawberry/src"))
    with subprocess.Popen(
        [sys.executable, "-m", "supporthub_strawberry.simulator", "--n", "20", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
    ) as process:
        try:
            assert process.stdout is not None
            banner = [process.stdout.readline() for _ in range(2)]
            url = banner[0].rsplit(" at ", 1)[1].strip()
            api_key = banner[1].strip().split("=", 1)[1]
            response = httpx.get(url + TICKETS, headers={"X-Api-Key": api_key})
            assert len(response.json()["tickets"]) == 20
            process.send_signal(signum)
            assert process.wait(timeout=10) == 0
        finally:
            process.kill()
