"""Kept answers: bounded, least recently used out, and never served across a write."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from supporthub import SearchQuery
from supporthub.query.answer_cache import AnswerCache


def test_an_answer_is_kept_only_when_the_stream_was_read_to_its_end() -> None:
    cache = AnswerCache()
    assert b"".join(cache.through("k", iter([b"ab", b"cd"]))) == b"abcd"
    assert cache.get("k") == b"abcd"
    stream = cache.through("half", iter([b"ab", b"cd"]))
    assert next(stream) == b"ab"
    stream.close()  # the client went away
    assert cache.get("half") is None


def test_big_answers_stream_through_untouched() -> None:
    cache = AnswerCache(max_answer_bytes=3)
    assert b"".join(cache.through("big", iter([b"ab", b"cd"]))) == b"abcd"
    assert cache.get("big") is None and len(cache) == 0


def test_the_least_recently_used_answer_goes_first() -> None:
    cache = AnswerCache(max_answers=2, max_total_bytes=100)
    cache.put("a", b"1")
    cache.put("b", b"2")
    assert cache.get("a") == b"1"  # "b" is now the oldest
    cache.put("c", b"3")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (b"1", None, b"3")


def test_the_total_size_is_bounded() -> None:
    cache = AnswerCache(max_total_bytes=5)
    cache.put("a", b"123")
    cache.put("b", b"456")
    assert cache.get("a") is None and cache.get("b") == b"456"


def test_every_write_gives_the_data_a_new_version(make_hub: Any, fake_crm: Any) -> None:
    hub = make_hub()
    fake_crm.put("1", provider="Acme", error_code="E1")
    hub.refresh(force=True)
    with hub.store.reader() as reader:
        first = reader.data_version()
    listing = SearchQuery(limit=10, cases_limit=0)
    before = b"".join(hub.iter_json(listing))
    assert b"".join(hub.iter_json(listing)) == before  # served again, same data
    fake_crm.put("2", provider="Other", error_code="E2")
    hub.refresh(force=True)
    with hub.store.reader() as reader:
        assert reader.data_version() not in {None, first}
    after = b"".join(hub.iter_json(listing))
    assert after != before and b"Other" in after


def test_a_kept_answer_is_found_by_the_question_as_asked(make_hub: Any, fake_crm: Any) -> None:
    hub = make_hub()
    fake_crm.put("1", provider="Acme", error_code="E1")
    hub.refresh(force=True)
    listing = SearchQuery(q="acm", limit=10, cases_limit=0)
    assert hub.kept_json(listing) is None  # nobody asked yet
    answer = b"".join(hub.iter_json(listing))
    assert hub.kept_json(listing) == answer
    assert hub.kept_json(SearchQuery(q="acm", limit=10)) is None  # unbounded: never kept
    agg_id = hub.all().aggregated_cases[0].id
    assert hub.kept_aggregated_case_json(agg_id, cases_limit=5) is None
    one = b"".join(hub.iter_aggregated_case_json(agg_id, cases_limit=5))
    assert hub.kept_aggregated_case_json(agg_id, cases_limit=5) == one
    # Any write, by any process on the database, is seen by the next question.
    other = make_hub()
    other.update_work(agg_id, owner="ann", by="ann")
    assert hub.kept_json(listing) is None
    assert hub.kept_aggregated_case_json(agg_id, cases_limit=5) is None
    assert b'"ann"' in b"".join(hub.iter_json(listing))
    fake_crm.put("2", provider="Acme", error_code="E2")
    other.refresh(force=True)
    assert hub.kept_json(listing) is None
    assert b'"E2"' in b"".join(hub.iter_json(listing))


def test_the_version_probe_survives_a_dropped_connection(make_hub: Any, fake_crm: Any) -> None:
    hub = make_hub()
    fake_crm.put("1", provider="Acme", error_code="E1")
    hub.refresh(force=True)
    versions = hub.store.list_versions()
    assert versions[0] is not None
    probe = hub.store._probe
    if probe is None:  # SQLite reads the tokens in-process
        return
    connection = probe.engine.raw_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()")
        (own,) = cursor.fetchone()
    connection.close()  # back to the probe's pool
    with hub.store.engine.connect() as killer:
        killer.exec_driver_sql(f"KILL {int(own)}")
    assert hub.store.list_versions() == versions


def test_one_builder_per_answer_the_others_wait_for_it() -> None:
    import threading

    cache = AnswerCache()
    order: list[str] = []
    inside = threading.Event()

    def first() -> None:
        with cache.building("k"):
            inside.set()
            time.sleep(0.2)
            order.append("first built")

    def second() -> None:
        inside.wait()
        with cache.building("k"):
            order.append("second went on")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    inside.wait()
    with cache.building("other"):  # another question does not wait
        order.append("other")
    for thread in threads:
        thread.join()
    assert order == ["other", "first built", "second went on"]
    assert not cache._builders


def test_a_waiting_builder_gives_up_after_a_while() -> None:

    cache = AnswerCache()
    cache.max_wait_seconds = 0.05
    with cache.building("k"):
        began = time.monotonic()
        with cache.building("k"):  # the same thread: would wait forever
            assert time.monotonic() - began >= 0.05
    assert not cache._builders


def test_many_asking_at_once_build_the_answer_once(make_hub: Any, fake_crm: Any) -> None:
    import datetime as dt
    from concurrent.futures import ThreadPoolExecutor

    now = dt.datetime.now(dt.UTC)
    hub = make_hub(clock=lambda: now)  # no new minute half-way
    fake_crm.put("1", provider="Acme", error_code="E1")
    hub.refresh(force=True)
    built: list[int] = []
    listing = hub._listing

    def counted(*args: Any) -> Any:
        built.append(1)
        return listing(*args)

    hub._listing = counted
    question = SearchQuery(limit=10, cases_limit=0)
    with ThreadPoolExecutor(6) as pool:
        answers = set(pool.map(lambda _: b"".join(hub.iter_json(question)), range(6)))
    assert len(answers) == 1
    assert len(built) == 1


# -- renewed before the minute turns (query/answer_renewal.py) ---------------------


#: A turn of the minute the tests below renew answers for.
TURN = dt.datetime(2026, 12, 6, 12, 1, tzinfo=dt.UTC)


def _iso(moment: Any) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _hub_before_the_turn(
    make_hub: Any, fake_crm: Any, seconds: float, **record: Any
) -> tuple[Any, list[Any]]:
    """A hub whose clock (``now[0]``, changeable) reads ``seconds`` before
    :data:`TURN`, refreshed with one Acme case (``record``: more fields)."""
    now = [TURN - dt.timedelta(seconds=seconds)]
    hub = make_hub(clock=lambda: now[0])
    fake_crm.put("1", provider="Acme", error_code="E1", **record)
    hub.refresh(force=True)
    return hub, now


def test_the_next_minutes_answer_is_built_before_the_minute_turns(
    make_hub: Any, fake_crm: Any
) -> None:
    turn = TURN
    # Recent (created in the last 24 hours) before the turn, not after it.
    born = _iso(turn - dt.timedelta(hours=24, seconds=3))
    hub, now = _hub_before_the_turn(make_hub, fake_crm, 8, created_at=born, updated_at=born)
    question = SearchQuery(limit=10, cases_limit=0)
    before = b"".join(hub.iter_json(question))
    assert b'"recentCaseCount":1' in before
    agg_id = hub.all().aggregated_cases[0].id
    one = b"".join(hub.iter_aggregated_case_json(agg_id, cases_limit=5))
    assert b'"recentCaseCount":1' in one

    renewer = hub.answer_renewer()
    assert renewer.renew_for(turn) == 2  # both questions asked in this minute
    assert renewer.renew_for(turn) == 0  # kept already

    now[0] = turn + dt.timedelta(seconds=2)
    kept = hub.kept_json(question)
    assert kept is not None and b'"recentCaseCount":0' in kept
    kept_one = hub.kept_aggregated_case_json(agg_id, cases_limit=5)
    assert kept_one is not None and b'"recentCaseCount":0' in kept_one
    # What the first reader of the new minute would have built.
    other = make_hub(clock=lambda: now[0])
    assert b"".join(other.iter_json(question)) == kept
    assert b"".join(other.iter_aggregated_case_json(agg_id, cases_limit=5)) == kept_one


def test_only_the_questions_asked_in_the_minute_before_are_renewed(
    make_hub: Any, fake_crm: Any
) -> None:
    turn = TURN
    hub, now = _hub_before_the_turn(make_hub, fake_crm, 75)
    old, new = SearchQuery(limit=10, cases_limit=0), SearchQuery(limit=5, cases_limit=0)
    b"".join(hub.iter_json(old))  # asked in the minute before last
    now[0] = turn - dt.timedelta(seconds=5)
    b"".join(hub.iter_json(new))
    assert hub.answer_renewer().renew_for(turn) == 1
    now[0] = turn
    assert hub.kept_json(new) is not None
    assert hub.kept_json(old) is None
    # Unbounded answers are never kept, so never renewed: only `new` (asked at the turn).
    now[0] = turn + dt.timedelta(seconds=50)
    b"".join(hub.iter_json(SearchQuery(limit=10)))
    assert hub.answer_renewer().renew_for(turn + dt.timedelta(minutes=1)) == 1


def test_a_write_after_the_renewal_is_not_hidden_by_it(make_hub: Any, fake_crm: Any) -> None:
    turn = TURN
    hub, now = _hub_before_the_turn(make_hub, fake_crm, 5)
    question = SearchQuery(limit=10, cases_limit=0)
    b"".join(hub.iter_json(question))
    renewer = hub.answer_renewer()
    assert renewer.renew_for(turn) == 1
    agg_id = hub.all().aggregated_cases[0].id
    make_hub().update_work(agg_id, owner="ann", by="ann")  # another process writes
    now[0] = turn + dt.timedelta(seconds=1)
    assert hub.kept_json(question) is None
    assert b'"ann"' in b"".join(hub.iter_json(question))
    # Asked again under the new tokens: the renewal's next pass renews that one.
    assert renewer.renew_for(turn + dt.timedelta(minutes=1)) == 1


def test_only_small_answers_kept_in_this_minute_are_renewed(
    make_hub: Any, fake_crm: Any, monkeypatch: Any
) -> None:
    import supporthub.hub

    hub, _ = _hub_before_the_turn(make_hub, fake_crm, 5)
    fake_crm.put("2", provider="Other", error_code="E2")
    hub.refresh(force=True)
    small, big = SearchQuery(limit=1, cases_limit=0), SearchQuery(limit=10, cases_limit=10)
    size = len(b"".join(hub.iter_json(small)))
    assert len(b"".join(hub.iter_json(big))) > size
    monkeypatch.setattr(supporthub.hub, "MAX_RENEWED_BYTES", size)
    renewer = hub.answer_renewer()
    assert renewer.renew_for(TURN) == 1  # not the big one
    hub._answers.clear()  # nothing kept in this minute: nothing to renew
    assert renewer.renew_for(TURN) == 0


def test_the_renewer_goes_on_past_a_failing_question_and_stops_at_its_deadline() -> None:
    from supporthub.query.answer_renewal import AnswerRenewer, AskedQuestions

    turn = TURN
    asked = AskedQuestions(limit=3)
    for i, question in enumerate(["a", "b", "c", "d"]):
        asked.note(question, turn - dt.timedelta(seconds=40 - i))
    assert asked.since(turn - dt.timedelta(minutes=1)) == ["d", "c", "b"]  # "a" dropped
    renewed: list[tuple[Any, Any]] = []

    def renew(question: Any, at: Any) -> bool:
        if question == "c":
            raise RuntimeError("the database went away")
        renewed.append((question, at))
        return True

    renewer = AnswerRenewer(asked, renew, lambda: turn)
    assert renewer.renew_for(turn) == 2
    assert renewed == [("d", turn), ("b", turn)]  # most recently asked first
    assert renewer.renew_for(turn, deadline=time.monotonic() - 1) == 0


def test_the_renewer_thread_renews_in_the_last_seconds_of_the_minute() -> None:
    import threading

    from supporthub.query.answer_renewal import AnswerRenewer, AskedQuestions

    turn = TURN
    asked = AskedQuestions()
    asked.note("q", turn - dt.timedelta(seconds=30))
    called = threading.Event()
    seen: list[Any] = []

    def renew(question: Any, at: Any) -> bool:
        seen.append((question, at))
        called.set()
        return False

    # Two seconds before the turn: inside the lead, so it renews at once.
    renewer = AnswerRenewer(asked, renew, lambda: turn - dt.timedelta(seconds=2))
    renewer.start()
    try:
        assert called.wait(10)
    finally:
        renewer.stop()
    assert seen[0] == ("q", turn)
    assert not any(t.name == "supporthub-answer-renewal" for t in threading.enumerate())
