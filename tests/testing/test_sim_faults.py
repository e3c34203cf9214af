"""Fault switches and the request log, without HTTP (the simulators' tests cover the wire)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from supporthub.testing.sim import (
    MALFORMED_KINDS,
    Faults,
    Interception,
    LoggedRequest,
    LostAnswer,
    RequestLog,
    format_retry_after,
)


def test_a_burst_hits_exactly_n_requests() -> None:
    faults = Faults()
    faults.rate_limit_burst(2, retry_after=3)
    hits = [faults.take_interception("/x") for _ in range(4)]
    assert hits == [Interception(429, 3), Interception(429, 3), None, None]


def test_bursts_queue_up_in_order() -> None:
    faults = Faults()
    faults.error_burst(1, status=502)
    faults.rate_limit_burst(1, retry_after=1)
    assert [faults.take_interception("/"), faults.take_interception("/")] == [
        Interception(502, None),
        Interception(429, 1),
    ]
    assert faults.take_interception("/") is None


def test_a_burst_can_target_a_path() -> None:
    faults = Faults()
    faults.error_burst(1, status=503, retry_after=2, path_prefix="/api/")
    assert faults.take_interception("/oauth/token") is None
    assert faults.take_interception("/api/v2/cases") == Interception(503, 2)


def test_a_burst_can_target_writes_only() -> None:
    faults = Faults()
    faults.error_burst(1, status=500, writes_only=True)
    faults.rate_limit_burst(1, retry_after=2, writes_only=True)
    assert faults.take_interception("/api/v2/cases", "GET") is None
    assert faults.take_interception("/api/v2/cases/1/comments", "POST") == Interception(500, None)
    assert faults.take_interception("/v1/tickets/1", "PUT") == Interception(429, 2)
    assert faults.take_interception("/v1/tickets/1", "PUT") is None


def test_lost_answers_hit_n_writes_and_never_a_read() -> None:
    faults = Faults()
    faults.lose_write_answers(2, "timeout", hold=0.5, path_prefix="/v1/")
    assert faults.take_lost_answer("/v1/tickets/1", "GET") is None
    assert faults.take_lost_answer("/api/x", "PUT") is None
    lost = [faults.take_lost_answer("/v1/tickets/1", "PUT") for _ in range(3)]
    assert lost == [LostAnswer("timeout", 0.5), LostAnswer("timeout", 0.5), None]
    with pytest.raises(ValueError, match="how"):
        faults.lose_write_answers(1, "drop")  # type: ignore[arg-type]
    faults.lose_write_answers(1)
    faults.reset()
    assert faults.take_lost_answer("/v1/tickets/1", "PUT") is None


def test_error_bursts_are_transient_statuses_only() -> None:
    with pytest.raises(ValueError, match="status"):
        Faults().error_burst(1, status=404)


def test_bursts_are_thread_safe() -> None:
    faults = Faults()
    faults.rate_limit_burst(500)
    hits = Counter[bool]()
    lock = threading.Lock()

    def work() -> None:
        for _ in range(300):
            hit = faults.take_interception("/") is not None
            with lock:
                hits[hit] += 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert hits[True] == 500
    assert hits[False] == 700


def test_slow_counts_down_or_stays() -> None:
    faults = Faults()
    assert faults.take_delay() == 0
    faults.slow(0.5, n=2)
    assert [faults.take_delay() for _ in range(3)] == [0.5, 0.5, 0]
    faults.slow(0.1)
    assert [faults.take_delay() for _ in range(3)] == [0.1, 0.1, 0.1]


def test_bad_json_pages_count_down() -> None:
    faults = Faults()
    faults.bad_json_page(2)
    assert [faults.take_bad_json_page() for _ in range(3)] == [True, True, False]


def test_malformed_share_is_stable_and_about_right() -> None:
    assert not Faults().breaks_records
    faults = Faults()
    faults.malformed_records(share=0.1)
    assert faults.breaks_records
    ids = [f"id-{i}" for i in range(5000)]
    kinds = [faults.malformed_kind(i) for i in ids]
    assert kinds == [faults.malformed_kind(i) for i in ids], "a pure function of the id"
    broken = [kind for kind in kinds if kind is not None]
    assert 400 < len(broken) < 600
    assert set(broken) == set(MALFORMED_KINDS)


def test_malformed_by_ids_with_or_without_kinds() -> None:
    faults = Faults()
    faults.malformed_records(ids={7: "bad_timestamp", "x": "missing_id"})
    assert faults.malformed_kind(7) == "bad_timestamp"
    assert faults.malformed_kind("7") == "bad_timestamp"
    assert faults.malformed_kind("x") == "missing_id"
    assert faults.malformed_kind(8) is None
    faults.malformed_records(ids=[1, 2], kinds=["wrong_type"])
    assert faults.malformed_kind(1) == faults.malformed_kind(2) == "wrong_type"
    assert faults.malformed_kind(7) is None, "a new setting replaces the old"


def test_malformed_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="kinds"):
        Faults().malformed_records(share=0.1, kinds=["flaky"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="share"):
        Faults().malformed_records(share=1.5)


class FakeListener:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def go_down(self) -> None:
        self.calls.append("down")

    def go_up(self) -> None:
        self.calls.append("up")


def test_down_and_up_reach_the_listener_once_each() -> None:
    faults = Faults()
    listener = FakeListener()
    faults.bind_listener(listener)
    faults.down()
    faults.down()
    assert faults.is_down
    faults.up()
    faults.up()
    assert listener.calls == ["down", "up"]


def test_reset_turns_everything_off_and_comes_back_up() -> None:
    faults = Faults()
    listener = FakeListener()
    faults.bind_listener(listener)
    faults.rate_limit_burst(5)
    faults.slow(1)
    faults.malformed_records(share=1)
    faults.bad_json_page(3)
    faults.down()
    faults.reset()
    assert faults.take_interception("/") is None
    assert faults.take_delay() == 0
    assert not faults.breaks_records
    assert not faults.take_bad_json_page()
    assert not faults.is_down
    assert listener.calls == ["down", "up"]


def test_retry_after_values() -> None:
    assert format_retry_after(2) == "2"
    assert format_retry_after(2.0) == "2"
    assert format_retry_after(0.25) == "0.25"


def entry(path: str, status: int = 200, records: int = 0, **query: str) -> LoggedRequest:
    return LoggedRequest("GET", path, query, status, records, peer_port=1, duration=0.0)


def test_request_log_filters_counts_and_clears() -> None:
    log = RequestLog()
    log.append(entry("/api/v2/cases", records=200, modifiedSince="2026-11-20T10:00:00Z"))
    log.append(entry("/api/v2/cases/next/a-1", records=50))
    log.append(entry("/api/v2/cases", status=429))
    assert len(log) == 3
    assert log.count(path="/api/v2/cases") == 2
    assert log.count(path_prefix="/api/v2/cases") == 3
    assert log.count(status=429) == 1
    assert log.count(method="get") == 3
    assert log.records_returned() == 250
    assert log.records_returned(path_prefix="/api/v2/cases/next/") == 50
    first = log.filter(path="/api/v2/cases")[0]
    assert first.query["modifiedSince"] == "2026-11-20T10:00:00Z"
    last = log.last(path="/api/v2/cases")
    assert last is not None
    assert last.status == 429
    assert log.last(path="/nowhere") is None
    assert [e.path for e in log] == [e.path for e in log.all()]
    log.clear()
    assert len(log) == 0


def test_request_log_is_thread_safe() -> None:
    log = RequestLog()

    def work() -> None:
        for _ in range(1000):
            log.append(entry("/x"))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert log.count(path="/x") == 4000
