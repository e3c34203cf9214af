"""Banana writes: a comment keyed by ExternalId, then the mapped status, exactly once.

Against the simulator over real HTTP. Every fault a write can meet is
switched on in turn; whatever the adapter and a deliverer's repeats do,
each case ends with exactly one comment, counted at the simulator.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import httpx
import orjson
import pytest
from supporthub_banana.adapter import BananaAdapter
from supporthub_banana.simulator import BananaSimulator

from supporthub import (
    CaseWrite,
    CaseWriteResult,
    HttpClient,
    RetryPolicy,
    SourceRejected,
    SourceUnavailable,
)
from supporthub.ingest.plugins import source_config
from supporthub.testing.sim import WRITE_FAULTS

#: A half-second timeout, so that an answer held back is lost at once.
QUICK = RetryPolicy(timeout=0.5, attempts=4, wait_initial=0.01, wait_jitter=0.0, max_wait=0.1)
MESSAGE = "We found the cause of the declined payments and are fixing it."
_keys = itertools.count(1)


_clients: list[HttpClient] = []


@pytest.fixture
def sim() -> Iterator[BananaSimulator]:
    with BananaSimulator(n=60, seed=5) as running:
        yield running
        while _clients:
            _clients.pop().close()


def adapter_for(sim: BananaSimulator, **settings: str) -> BananaAdapter:
    environ = {
        "SUPPORTHUB_BANANA_URL": sim.url,
        "SUPPORTHUB_BANANA_CLIENT_ID": sim.client_id,
        "SUPPORTHUB_BANANA_CLIENT_SECRET": sim.client_secret,
        **{f"SUPPORTHUB_BANANA_{name.upper()}": value for name, value in settings.items()},
    }
    config = source_config(BananaAdapter, environ)
    assert config is not None
    http = HttpClient(sim.url, title="Banana", policy=QUICK)
    _clients.append(http)
    return BananaAdapter(config, http)


def open_ids(sim: BananaSimulator, k: int) -> list[str]:
    return [r["Id"] for r in sim.live_records() if not r["IsClosed"]][:k]


def write(case_id: str, **changes: object) -> CaseWrite:
    fields: dict[str, object] = {
        "case_id": case_id,
        "message": MESSAGE,
        "public": True,
        "idempotency_key": f"hub-reply-7:{case_id}:{next(_keys)}",
        "set_status": "solved",
    }
    fields.update(changes)
    return CaseWrite(**fields)  # type: ignore[arg-type]


def deliver(adapter: BananaAdapter, case_write: CaseWrite, tries: int = 5) -> CaseWriteResult:
    """What a deliverer does: repeat a transient failure, with the same key."""
    for _ in range(tries - 1):
        try:
            return adapter.write_case(case_write)
        except SourceUnavailable:
            continue
    return adapter.write_case(case_write)


FAULTS: dict[str, Callable[[BananaSimulator], None]] = {
    **{name: lambda s, switch=switch: switch(s.faults) for name, switch in WRITE_FAULTS.items()},
    "token revoked": BananaSimulator.revoke_all_tokens,
}


@pytest.mark.parametrize("fault", FAULTS)
def test_each_write_fault_leaves_exactly_one_comment_and_the_status(
    sim: BananaSimulator, fault: str
) -> None:
    adapter = adapter_for(sim)
    targets = open_ids(sim, 3)
    for case_id in targets:
        FAULTS[fault](sim)
        deliver(adapter, write(case_id))
    sim.faults.reset()
    # The fault was met: more comment requests reached Banana than there are cases.
    assert sim.requests.count(method="POST", path_prefix="/api/v2/cases/") > len(targets)
    for case_id in targets:
        assert sim.comment_count(case_id) == 1, (fault, case_id, sim.comments.on(case_id))
        assert sim.comment_count(case_id, MESSAGE) == 1
        record = sim.record(case_id)
        assert (record["Status"], record["IsClosed"]) == ("Resolved", True)
    assert sim.comments.duplicates() == {}


def test_a_status_change_whose_answer_was_lost_is_repeated_without_a_second_comment(
    sim: BananaSimulator,
) -> None:
    adapter = adapter_for(sim)
    case_id = open_ids(sim, 1)[0]
    sim.faults.lose_write_answers(6, "reset", method="PATCH")
    case_write = write(case_id, set_status="pending")
    with pytest.raises(SourceUnavailable):
        adapter.write_case(case_write)  # the comment went, the status answers were lost
    result = deliver(adapter, case_write)
    assert result.replayed is True  # the repeat found the comment already there
    assert sim.comment_count(case_id) == 1
    assert sim.record(case_id)["Status"] == "On Hold"
    assert [r.lost for r in sim.requests.filter(method="PATCH")][:6] == ["reset"] * 6


def test_the_comment_carries_the_key_as_external_id_and_a_repeat_is_replayed(
    sim: BananaSimulator,
) -> None:
    adapter = adapter_for(sim)
    case_id = open_ids(sim, 1)[0]
    internal = write(case_id, public=False, set_status=None)
    first = adapter.write_case(internal)
    again = adapter.write_case(internal)
    assert first.replayed is False and again.replayed is True
    assert first.comment_id == again.comment_id is not None
    [comment] = sim.comments.on(case_id)
    assert comment.external_id == internal.idempotency_key
    assert comment.public is False and comment.id == first.comment_id
    assert sim.record(case_id)["IsClosed"] is False  # no status asked, none set


def test_pending_and_solved_map_to_the_configured_statuses(sim: BananaSimulator) -> None:
    adapter = adapter_for(sim, pending_status="Pending Customer", solved_status="Closed")
    waiting, solved = open_ids(sim, 2)
    adapter.write_case(write(waiting, set_status="pending"))
    adapter.write_case(write(solved, set_status="solved"))
    assert sim.record(waiting)["Status"] == "Pending Customer"
    assert sim.record(waiting)["IsClosed"] is False
    assert sim.record(solved)["Status"] == "Closed"
    default = adapter_for(sim)
    other = open_ids(sim, 3)[2]
    default.write_case(write(other, set_status="pending"))
    assert sim.record(other)["Status"] == "On Hold"


def test_a_write_bumps_the_modification_time(sim: BananaSimulator) -> None:
    case_id = open_ids(sim, 1)[0]
    before = sim.record(case_id)["LastModifiedDate"]
    adapter_for(sim).write_case(write(case_id, set_status=None))
    assert sim.record(case_id)["LastModifiedDate"] > before


def test_final_refusals_are_rejected_with_the_crms_reason(sim: BananaSimulator) -> None:
    adapter = adapter_for(sim)
    deleted, read_only, bad_status, too_long = open_ids(sim, 4)
    sim.delete(deleted)
    with pytest.raises(SourceRejected, match=r"no case \w+ \(deleted or unknown\)") as error:
        adapter.write_case(write(deleted))
    assert (error.value.status, error.value.error) == (404, "NOT_FOUND")
    with pytest.raises(SourceRejected, match="no case"):
        adapter.write_case(write("5003000000zzzzzZZZ"))

    sim.read_only = True
    with pytest.raises(SourceRejected, match="cases:write") as error:
        adapter.write_case(write(read_only))
    assert (error.value.status, error.value.error) == (403, "insufficient_scope")
    sim.read_only = False

    renamed = adapter_for(sim, solved_status="Done")  # not one of the tenant's statuses
    with pytest.raises(SourceRejected, match="SUPPORTHUB_BANANA_SOLVED_STATUS") as error:
        renamed.write_case(write(bad_status))
    assert error.value.status == 400
    assert sim.comment_count(bad_status) == 1  # the comment went; the status is the problem

    with pytest.raises(SourceRejected, match="HTTP 400") as error:
        adapter.write_case(write(too_long, message="x" * 4001))
    for case_id in (deleted, read_only, too_long):
        assert sim.comment_count(case_id) == 0
    refused = [r for r in sim.requests.all() if 400 <= r.status < 500]
    assert len(refused) == 5  # each refusal sent once, never retried


def test_a_key_banana_cannot_take_is_refused_before_sending(sim: BananaSimulator) -> None:
    adapter = adapter_for(sim)
    case_id = open_ids(sim, 1)[0]
    for key in ("has space", "x" * 81, "ünïcode"):
        with pytest.raises(SourceRejected, match="ExternalId"):
            adapter.write_case(write(case_id, idempotency_key=key))
    assert sim.requests.count(method="POST", path_prefix="/api/v2/cases/") == 0


def test_an_outage_is_unavailable_and_writes_nothing(sim: BananaSimulator) -> None:
    adapter = adapter_for(sim)
    case_id = open_ids(sim, 1)[0]
    sim.faults.error_burst(100, 503, retry_after=0.01, writes_only=True)
    with pytest.raises(SourceUnavailable, match="503") as error:
        adapter.write_case(write(case_id))
    assert error.value.retry_after == pytest.approx(0.01)
    assert sim.comment_count(case_id) == 0


# -- the simulator's write endpoints, as the spec has them ----------------------


def token(sim: BananaSimulator) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
    }
    answer = httpx.post(sim.url + "/oauth/token", data=form).json()
    return {"Authorization": "Bearer " + answer["access_token"]}


def test_simulator_keeps_external_ids_unique_per_case(sim: BananaSimulator) -> None:
    headers = token(sim)
    first, second = open_ids(sim, 2)
    body = {"Body": "hello", "IsPublished": True, "ExternalId": "hub-1"}
    made = httpx.post(f"{sim.url}/api/v2/cases/{first}/comments", json=body, headers=headers)
    again = httpx.post(
        f"{sim.url}/api/v2/cases/{first}/comments", json={**body, "Body": "other"}, headers=headers
    )
    elsewhere = httpx.post(f"{sim.url}/api/v2/cases/{second}/comments", json=body, headers=headers)
    assert (made.status_code, made.json()["created"]) == (201, True)
    assert again.status_code == 200
    assert again.json() == {"Id": made.json()["Id"], "created": False}
    assert elsewhere.status_code == 201  # unique per case, not per tenant
    listed = httpx.get(f"{sim.url}/api/v2/cases/{first}/comments", headers=headers).json()
    assert [c["Body"] for c in listed["records"]] == ["hello"]
    assert listed["records"][0]["ExternalId"] == "hub-1"


@pytest.mark.parametrize(
    "body",
    [
        {"Body": ""},
        {"Body": "x" * 4001},
        {"Body": 5},
        {"Body": "ok", "IsPublished": "yes"},
        {"Body": "ok", "ExternalId": "no spaces allowed"},
        {"Body": "ok", "ExternalId": "x" * 81},
        [],
    ],
)
def test_simulator_refuses_a_bad_comment_with_400(sim: BananaSimulator, body: object) -> None:
    case_id = open_ids(sim, 1)[0]
    answer = httpx.post(
        f"{sim.url}/api/v2/cases/{case_id}/comments", content=orjson.dumps(body), headers=token(sim)
    )
    assert answer.status_code == 400
    assert sim.comment_count(case_id) == 0


def test_simulator_patch_sets_a_tenant_status_and_a_repeat_is_a_no_op(
    sim: BananaSimulator,
) -> None:
    headers = token(sim)
    case_id = open_ids(sim, 1)[0]
    url = f"{sim.url}/api/v2/cases/{case_id}"
    assert httpx.patch(url, json={"Status": "Resolved"}, headers=headers).status_code == 204
    modified = sim.record(case_id)["LastModifiedDate"]
    assert sim.record(case_id)["IsClosed"] is True
    assert httpx.patch(url, json={"Status": "Resolved"}, headers=headers).status_code == 204
    assert sim.record(case_id)["LastModifiedDate"] == modified
    assert httpx.patch(url, json={"Status": "Nope"}, headers=headers).status_code == 400
    assert httpx.patch(url, json={"Status": "Working"}, headers=headers).status_code == 204
    assert sim.record(case_id)["IsClosed"] is False
