"""Strawberry writes: one PUT with an Idempotency-Key, exactly once, within 100 a minute.

Against the simulator over real HTTP. Every fault a write can meet is
switched on in turn; whatever the adapter and a deliverer's repeats do,
each ticket ends with exactly one comment, counted at the simulator.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import httpx
import pytest
from supporthub_strawberry.adapter import StrawberryAdapter
from supporthub_strawberry.simulator import StrawberrySimulator

from supporthub import (
    CaseWrite,
    CaseWriteResult,
    ConfigurationError,
    HttpClient,
    RetryPolicy,
    SourceRejected,
    SourceUnavailable,
    WriteLimiter,
    forget_limiters,
)
from supporthub.ingest.plugins import source_config
from supporthub.testing.sim import WRITE_FAULTS

#: A half-second timeout, so that an answer held back is lost at once.
QUICK = RetryPolicy(timeout=0.5, attempts=4, wait_initial=0.01, wait_jitter=0.0, max_wait=0.1)
MESSAGE = "We found the cause of the failed payments and are fixing it."
_keys = itertools.count(1)
_clients: list[HttpClient] = []


@pytest.fixture
def sim() -> Iterator[StrawberrySimulator]:
    with StrawberrySimulator(n=60, seed=5) as running:
        yield running
        while _clients:
            _clients.pop().close()
    forget_limiters()  # a later simulator may get this port: no inherited wait


def adapter_for(sim: StrawberrySimulator, **settings: str) -> StrawberryAdapter:
    environ = {
        "SUPPORTHUB_STRAWBERRY_URL": sim.url,
        "SUPPORTHUB_STRAWBERRY_API_KEY": sim.api_key,
        **{f"SUPPORTHUB_STRAWBERRY_{name.upper()}": value for name, value in settings.items()},
    }
    config = source_config(StrawberryAdapter, environ)
    assert config is not None
    http = HttpClient(sim.url, title="Strawberry", policy=QUICK)
    _clients.append(http)
    return StrawberryAdapter(config, http)


def open_ids(sim: StrawberrySimulator, k: int) -> list[int]:
    return [r["id"] for r in sim.live_records() if r["status"] in ("new", "open")][:k]


def write(ticket: int, **changes: object) -> CaseWrite:
    fields: dict[str, object] = {
        "case_id": str(ticket),
        "message": MESSAGE,
        "public": True,
        "idempotency_key": f"hub-reply-7:{ticket}:{next(_keys)}",
        "set_status": "pending",
    }
    fields.update(changes)
    return CaseWrite(**fields)  # type: ignore[arg-type]


def deliver(adapter: StrawberryAdapter, case_write: CaseWrite, tries: int = 5) -> CaseWriteResult:
    """What a deliverer does: repeat a transient failure, with the same key."""
    for _ in range(tries - 1):
        try:
            return adapter.write_case(case_write)
        except SourceUnavailable:
            continue
    return adapter.write_case(case_write)


FAULTS: dict[str, Callable[[StrawberrySimulator], None]] = {
    **{name: lambda s, switch=switch: switch(s.faults) for name, switch in WRITE_FAULTS.items()},
}


@pytest.mark.parametrize("fault", FAULTS)
def test_each_write_fault_leaves_exactly_one_comment_and_the_status(
    sim: StrawberrySimulator, fault: str
) -> None:
    adapter = adapter_for(sim)
    targets = open_ids(sim, 3)
    for ticket in targets:
        FAULTS[fault](sim)
        deliver(adapter, write(ticket))
    sim.faults.reset()
    # The fault was met: more updates reached Strawberry than there are tickets.
    assert sim.requests.count(method="PUT") > len(targets)
    for ticket in targets:
        assert sim.comment_count(ticket) == 1, (fault, ticket, sim.comments.on(ticket))
        assert sim.comment_count(ticket, MESSAGE) == 1
        assert sim.record(ticket)["status"] == "pending"
    assert sim.comments.duplicates() == {}


def test_a_repeat_is_replayed_and_changes_nothing(sim: StrawberrySimulator) -> None:
    adapter = adapter_for(sim)
    ticket = open_ids(sim, 1)[0]
    note = write(ticket, public=False, set_status="solved")
    first = adapter.write_case(note)
    updated_at = sim.record(ticket)["updated_at"]
    again = adapter.write_case(note)
    assert (first.replayed, again.replayed) == (False, True)
    [comment] = sim.comments.on(ticket)
    assert (comment.body, comment.public) == (MESSAGE, False)
    assert sim.record(ticket)["status"] == "solved"
    assert sim.record(ticket)["updated_at"] == updated_at


def test_a_write_without_status_leaves_it_and_bumps_updated_at(sim: StrawberrySimulator) -> None:
    ticket = open_ids(sim, 1)[0]
    before = sim.record(ticket)
    adapter_for(sim).write_case(write(ticket, set_status=None))
    after = sim.record(ticket)
    assert after["status"] == before["status"]
    assert after["updated_at"] > before["updated_at"]


def test_final_refusals_are_rejected_with_the_crms_reason(sim: StrawberrySimulator) -> None:
    adapter = adapter_for(sim)
    deleted, closed, read_only, reused, too_long = open_ids(sim, 5)
    sim.delete(deleted)
    with pytest.raises(SourceRejected, match=r"no ticket \d+ \(deleted or unknown") as error:
        adapter.write_case(write(deleted))
    assert error.value.status == 404
    with pytest.raises(SourceRejected, match="no ticket"):
        adapter.write_case(write(99_999_999))

    sim.close_for_good(closed)
    with pytest.raises(SourceRejected, match="is closed") as error:
        adapter.write_case(write(closed))
    assert (error.value.status, error.value.error) == (422, "TicketClosed")

    sim.read_only = True
    with pytest.raises(SourceRejected, match="may only read") as error:
        adapter.write_case(write(read_only))
    assert (error.value.status, error.value.error) == (403, "Forbidden")
    sim.read_only = False

    first = write(reused)
    adapter.write_case(first)
    with pytest.raises(SourceRejected, match=r"different update.*not retried") as error:
        adapter.write_case(write(reused, idempotency_key=first.idempotency_key, message="other"))
    assert (error.value.status, error.value.error) == (422, "IdempotencyKeyReused")
    assert sim.comment_count(reused) == 1

    with pytest.raises(SourceRejected, match="HTTP 400"):
        adapter.write_case(write(too_long, message="x" * 65_001))
    for ticket in (deleted, closed, read_only, too_long):
        assert sim.comment_count(ticket) == 0
    refused = [r for r in sim.requests.all() if 400 <= r.status < 500]
    assert len(refused) == 6  # each refusal sent once, never retried


def test_a_key_or_id_strawberry_cannot_take_is_refused_before_sending(
    sim: StrawberrySimulator,
) -> None:
    adapter = adapter_for(sim)
    ticket = open_ids(sim, 1)[0]
    for key in ("", "x" * 65, "tab\there", "ключ"):
        with pytest.raises(SourceRejected, match="idempotency key"):
            adapter.write_case(write(ticket, idempotency_key=key))
    with pytest.raises(SourceRejected, match="not a Strawberry ticket id"):
        adapter.write_case(write(ticket, case_id="12a"))
    assert sim.requests.count(method="PUT") == 0


def test_a_429_outlasting_the_retries_holds_every_writer_for_retry_after(
    sim: StrawberrySimulator,
) -> None:
    adapter = adapter_for(sim)
    first, second = open_ids(sim, 2)
    sim.faults.rate_limit_burst(10, retry_after=30, writes_only=True)
    with pytest.raises(SourceUnavailable, match="429") as error:
        adapter.write_case(write(first))
    assert error.value.retry_after == 30
    # The process's limiter now holds: the deliverer sees the wait, nothing storms.
    assert 25 < adapter.write_wait() <= 30
    assert adapter_for(sim).write_limiter() is adapter.write_limiter()  # one per account
    assert sim.comment_count(first) == 0 and sim.comment_count(second) == 0


def test_the_client_side_limit_keeps_strawberry_from_answering_429(
    sim: StrawberrySimulator,
) -> None:
    sim.write_rate_limit_per_minute = 4
    adapter = adapter_for(sim, writes_per_minute="4")
    tickets = open_ids(sim, 4)
    assert adapter.write_wait() == 0
    for ticket in tickets:
        adapter.write_case(write(ticket, set_status=None))
    # A fifth would outrun the limit: the adapter says how long to wait instead of sending.
    assert 55 < adapter.write_wait() <= 61
    assert sim.requests.count(status=429) == 0
    # Without the client-side limit, the CRM refuses the fifth.
    answer = httpx.put(
        f"{sim.url}/v1/tickets/{tickets[0]}",
        json={"ticket": {"status": "open"}},
        headers={"X-Api-Key": sim.api_key},
    )
    assert answer.status_code == 429
    assert 1 <= int(answer.headers["Retry-After"]) <= 60


def test_retries_count_against_the_write_limit(sim: StrawberrySimulator) -> None:
    adapter = adapter_for(sim, writes_per_minute="2")
    sim.faults.lose_write_answers(1, "reset")
    ticket = open_ids(sim, 1)[0]
    assert adapter.write_case(write(ticket)).replayed is True
    assert sim.requests.count(method="PUT") == 2
    assert adapter.write_wait() > 55  # both PUTs were counted: the limit of 2 is used up
    assert sim.comment_count(ticket) == 1


def test_writes_per_minute_must_be_a_positive_whole_number(sim: StrawberrySimulator) -> None:
    for bad in ("0", "ten", "-5", "1.5"):
        with pytest.raises(ConfigurationError, match="WRITES_PER_MINUTE"):
            adapter_for(sim, writes_per_minute=bad).write_wait()


def test_the_limiter_allows_the_limit_in_any_window_and_no_more() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = WriteLimiter(3, window=61, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        assert limiter.acquire() == 0
        now[0] += 1
    assert limiter.wait() == pytest.approx(58)  # the first send leaves the window at 61
    assert limiter.acquire() == pytest.approx(58)
    assert now[0] == pytest.approx(61)
    limiter.hold(10)
    assert limiter.wait() == pytest.approx(10)
    assert limiter.acquire() == pytest.approx(10)
    assert slept == [pytest.approx(58), pytest.approx(10)]


# -- the simulator's update endpoint, as the spec has it ------------------------


def put(sim: StrawberrySimulator, ticket: int, body: object, key: str | None) -> httpx.Response:
    headers = {"X-Api-Key": sim.api_key}
    if key is not None:
        headers["Idempotency-Key"] = key
    return httpx.put(f"{sim.url}/v1/tickets/{ticket}", json=body, headers=headers)


def test_simulator_remembers_keys_for_a_day(sim: StrawberrySimulator) -> None:
    ticket = open_ids(sim, 1)[0]
    body = {"ticket": {"comment": {"body": "hello", "public": True}}}
    first = put(sim, ticket, body, "k-1")
    again = put(sim, ticket, body, "k-1")
    assert first.status_code == again.status_code == 200
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert put(sim, ticket, {"ticket": {"status": "hold"}}, "k-1").status_code == 422
    assert sim.comment_count(ticket) == 1
    sim.idempotency_ttl = 0  # a day has passed
    assert "Idempotent-Replayed" not in put(sim, ticket, body, "k-1").headers
    assert sim.comment_count(ticket) == 2
    listed = httpx.get(
        f"{sim.url}/v1/tickets/{ticket}/comments", headers={"X-Api-Key": sim.api_key}
    ).json()
    assert [c["body"] for c in listed["comments"]] == ["hello", "hello"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ticket": {}},
        {"ticket": {"status": "deleted"}},
        {"ticket": {"comment": {"body": ""}}},
        {"ticket": {"comment": {"body": "x" * 65_001}}},
        {"ticket": {"comment": {"body": "ok", "public": "yes"}}},
        {"ticket": {"comment": "ok"}},
    ],
)
def test_simulator_refuses_a_bad_update_with_400(sim: StrawberrySimulator, body: object) -> None:
    ticket = open_ids(sim, 1)[0]
    assert put(sim, ticket, body, None).status_code == 400
    assert sim.comment_count(ticket) == 0
