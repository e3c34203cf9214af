"""A source's fetch in a process of its own: what a thread's fetch stores, errors and logs
brought back, and a thread's fetch when the process cannot run the job."""

from __future__ import annotations

import io
import logging
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from supporthub_banana.simulator import BananaSimulator
from supporthub_strawberry.simulator import StrawberrySimulator

import supporthub
from supporthub.ingest import fetch_process
from supporthub.ingest.fetch_job import FetchJob
from supporthub.ingest.spool import FetchFailed, Spool
from supporthub.kit.http import RetryPolicy
from supporthub.vocabulary import priority

# -- whole refreshes against the simulators, over HTTP --------------------------------


@pytest.fixture
def simulators() -> Iterator[tuple[BananaSimulator, StrawberrySimulator]]:
    with BananaSimulator(n=700, seed=11) as banana, StrawberrySimulator(n=700, seed=12) as berry:
        yield banana, berry


@pytest.fixture
def hub_for(simulators, database_url) -> Iterator[Any]:
    """Hubs on the simulators, upgraded, closed after the test: ``hub_for(mode, url, sims)``."""
    hubs: list[supporthub.Hub] = []

    def make(mode: str, url: str = database_url, sims: Any = simulators) -> supporthub.Hub:
        hub = supporthub.Hub.from_env(environ(url, *sims, mode))
        hubs.append(hub)
        hub.store.upgrade()
        return hub

    yield make
    for hub in hubs:
        hub.close()


def environ(database_url: str, banana: Any, berry: Any, mode: str) -> dict[str, str]:
    """The hub's environment on both simulators (their own settings for the adapters)."""
    pointed = {
        f"SUPPORTHUB_{source}_{setting.upper()}": value
        for source, sim in (("BANANA", banana), ("STRAWBERRY", berry))
        for setting, value in sim.contract_settings().items()
    }
    return {
        "SUPPORTHUB_DATABASE_URL": database_url,
        **pointed,
        "SUPPORTHUB_FETCH_PROCESSES": mode,
        "SUPPORTHUB_HTTP_ATTEMPTS": "1",
    }


def stored(hub: supporthub.Hub) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Every case the hub serves, with its aggregated case and what it holds."""
    return {
        (case.source, case.source_id): (
            aggregated.id,
            case.number,
            case.subject,
            case.status,
            case.priority,
            case.provider,
            case.error_code,
            case.created_at,
            case.updated_at,
            case.url,
        )
        for aggregated in hub.all().aggregated_cases
        for case in aggregated.cases
    }


@pytest.fixture
def in_processes(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What each fetch in a process returned (``True``: the child ran it)."""
    outcomes: list[bool] = []
    original = fetch_process.fetch_in_process

    def spy(job: FetchJob, spool: Spool) -> bool:
        outcomes.append(ran := original(job, spool))
        return ran

    monkeypatch.setattr(fetch_process, "fetch_in_process", spy)
    return outcomes


def test_fetch_processes_store_what_fetch_threads_store(
    simulators, hub_for, tmp_path, in_processes, caplog
) -> None:
    banana, berry = simulators
    banana.faults.malformed_records(share=0.03)
    berry.faults.malformed_records(share=0.03)
    hub, reference = hub_for("on"), hub_for("off", f"sqlite:///{tmp_path / 'threads.db'}")
    caplog.set_level(logging.WARNING, logger="supporthub")
    report = hub.refresh(force=True)
    assert in_processes == [True, True]
    # The children's warnings about skipped records reached this process's loggers.
    skipped = [r for r in caplog.records if "skipped malformed record" in r.getMessage()]
    assert {r.getMessage().split(":")[0] for r in skipped} == {"banana", "strawberry"}
    expected = reference.refresh(force=True)
    assert in_processes == [True, True]  # the reference fetched in threads
    assert report.ok and expected.ok
    for name in ("banana", "strawberry"):
        mine, theirs = report.sources[name], expected.sources[name]
        counts = (mine.fetched, mine.skipped, mine.written)
        assert counts == (theirs.fetched, theirs.skipped, theirs.written)
        assert mine.skipped > 0
    assert stored(hub) == stored(reference)

    # An incremental read, in a process too when the mode is "on".
    banana.mutate(update=0.05, close=0.02, delete=0.02, add=0.05)
    berry.mutate(update=0.05, close=0.02, delete=0.02, add=0.05)
    report = hub.refresh(force=True)
    assert in_processes == [True, True, True, True]
    assert reference.refresh(force=True).ok and report.ok
    assert stored(hub) == stored(reference)


def test_auto_fetches_full_reads_in_processes_and_increments_in_threads(
    hub_for, in_processes, monkeypatch
) -> None:
    monkeypatch.setattr(fetch_process, "usable_cpus", lambda: 2)
    monkeypatch.setattr(priority, "niced", lambda: False)
    hub = hub_for("auto")
    assert hub.refresh(force=True).ok
    assert in_processes == [True, True]
    assert hub.refresh(force=True).ok  # incremental: threads
    assert in_processes == [True, True]
    assert hub.refresh(force=True, full=True).ok
    assert in_processes == [True, True, True, True]
    monkeypatch.setattr(fetch_process, "usable_cpus", lambda: 1)
    assert hub.refresh(force=True, full=True).ok  # one CPU: nothing to gain
    assert in_processes == [True, True, True, True]
    monkeypatch.setattr(fetch_process, "usable_cpus", lambda: 2)
    monkeypatch.setattr(priority, "niced", lambda: True)
    assert hub.refresh(force=True, full=True).ok  # started with nice: the CPUs are the readers'
    assert in_processes == [True, True, True, True]


def test_a_process_started_with_nice_says_so() -> None:
    here = [
        sys.executable,
        "-c",
        "from supporthub.vocabulary.priority import niced; print(niced())",
    ]
    as_this = subprocess.run(here, capture_output=True, text=True, check=True).stdout
    assert as_this == f"{os.getpriority(os.PRIO_PROCESS, 0) > 0}\n"  # as niced as the tests
    niced = subprocess.run(["nice", "-n", "5", *here], capture_output=True, text=True, check=True)
    assert niced.stdout == "True\n"


def test_a_crm_failing_in_a_fetch_process_fails_its_source_and_keeps_its_cases(
    simulators, hub_for, in_processes
) -> None:
    banana, _ = simulators
    hub = hub_for("on")
    assert hub.refresh(force=True).ok
    before = stored(hub)
    banana.faults.down()
    report = hub.refresh(force=True, full=True)
    assert in_processes == [True, True, True, True]
    failed = report.sources["banana"]
    assert not failed.ok
    assert "Banana" in (failed.error or "")
    assert report.sources["strawberry"].ok
    assert stored(hub) == before


def test_a_fetch_process_killed_half_way_fails_its_source_and_keeps_its_cases(
    simulators, hub_for, monkeypatch
) -> None:
    # Three pages of Banana, each a batch, slowly: the child is still
    # fetching when its first batch arrives here and it is killed.
    banana = BananaSimulator(n=4500, seed=13).start()
    hub = hub_for("on", sims=(banana, simulators[1]))
    stops: dict[str, Any] = {}  # what stops each source's child (its kill)
    real_when_cancelled, real_put = Spool.when_cancelled, Spool.put_packed

    def recording(spool: Spool, action: Any) -> None:
        stops[spool.name] = action
        real_when_cancelled(spool, action)

    def put_then_kill(spool: Spool, data: bytes, rows: int) -> None:
        real_put(spool, data, rows)
        if spool.name == "banana":
            stops["banana"]()

    def banana_cases() -> dict[tuple[str, str], tuple[Any, ...]]:
        return {key: case for key, case in stored(hub).items() if key[0] == "banana"}

    assert hub.refresh(force=True).ok
    before = banana_cases()
    banana.mutate(update=0.2)
    banana.faults.slow(0.3)
    monkeypatch.setattr(Spool, "when_cancelled", recording)
    monkeypatch.setattr(Spool, "put_packed", put_then_kill)
    try:
        report = hub.refresh(force=True, full=True)
    finally:
        banana.stop()
    failed = report.sources["banana"]
    assert not failed.ok
    assert failed.error == "the fetch process of banana ended unexpectedly (exit code -9)"
    assert report.sources["strawberry"].ok
    assert banana_cases() == before


def test_a_fetch_process_that_cannot_start_leaves_the_fetch_to_a_thread(
    simulators, hub_for, monkeypatch, in_processes, caplog
) -> None:
    banana, _ = simulators
    hub = hub_for("on")
    # A child that ends at once, before it says it is ready, with a word on stderr.
    monkeypatch.setattr(fetch_process, "_CHILD", "import sys; sys.exit('no adapters here')")
    caplog.set_level(logging.WARNING, logger="supporthub")
    report = hub.refresh(force=True)
    assert report.ok
    assert in_processes == [False, False]
    assert report.sources["banana"].written == banana.live_count()
    (said, _) = [
        r.getMessage() for r in caplog.records if "ended before it started" in r.getMessage()
    ]
    assert "(exit code 1); it said: no adapters here" in said


def test_a_job_that_does_not_pickle_is_left_to_a_thread(tmp_path: Path) -> None:
    job = FetchJob(
        "banana",
        supporthub.Adapter,
        supporthub.SourceConfig("banana", {"url": lambda: None}),  # type: ignore[dict-item]
        None,
        supporthub.KeyPipeline([supporthub.DefaultKey()]),
        RetryPolicy(),
    )
    spool = Spool("banana", threading.Condition())
    assert fetch_process.fetch_in_process(job, spool) is False
    assert not spool.ready  # nothing reached it


def test_a_job_whose_adapter_lives_in_the_script_is_left_to_a_thread() -> None:
    scripted = type("ScriptAdapter", (supporthub.Adapter,), {"__module__": "__main__"})
    job = FetchJob(
        "banana",
        scripted,
        supporthub.SourceConfig("banana", {}),
        None,
        supporthub.KeyPipeline([supporthub.DefaultKey()]),
        RetryPolicy(),
    )
    spool = Spool("banana", threading.Condition())
    assert fetch_process.fetch_in_process(job, spool) is False
    assert not spool.ready


def test_an_error_comes_back_as_itself_or_in_words() -> None:
    class Local(Exception):  # cannot be unpickled here by name
        pass

    def body(error: BaseException, hub_error: bool) -> memoryview:
        try:
            pickled = pickle.dumps(error)
        except Exception:
            pickled = b""
        return memoryview(pickle.dumps((pickled, hub_error, f"words of {error}", "Traceback …")))

    itself = fetch_process._error_from(body(supporthub.SourceUnavailable("Banana is down"), True))
    assert isinstance(itself, supporthub.SourceUnavailable)
    assert str(itself) == "Banana is down"
    assert "in the fetch process" in itself.__notes__[0]
    worded = fetch_process._error_from(body(Local("odd"), False))
    assert isinstance(worded, fetch_process.RemoteError)
    assert str(worded) == "words of odd"
    hub_worded = fetch_process._error_from(body(Local("odd"), True))
    assert isinstance(hub_worded, supporthub.SupportHubError)


def test_the_child_sends_the_error_after_saying_it_is_ready() -> None:
    # The child's side in this test's process: a job whose adapter cannot
    # reach its CRM; the parent's side reads what it sent.
    from supporthub_banana.adapter import BananaAdapter

    job = FetchJob(
        "banana",
        BananaAdapter,
        supporthub.SourceConfig(
            "banana", {"url": "http://127.0.0.1:9", "client_id": "a", "client_secret": "b"}
        ),
        None,
        supporthub.KeyPipeline([supporthub.DefaultKey()]),
        RetryPolicy(attempts=1, timeout=2),
    )
    out = io.BytesIO()
    fetch_process._run(pickle.dumps(job), fetch_process._Channel(out))
    out.seek(0)
    spool = Spool("banana", threading.Condition())
    child = mock.Mock(spec=subprocess.Popen)
    child.wait.return_value = 0
    assert fetch_process._relay("banana", child, out, spool, io.BytesIO()) is True
    with pytest.raises(FetchFailed) as failed:
        list(spool)
    assert isinstance(failed.value.error, supporthub.SupportHubError)
    assert "Banana" in str(failed.value.error)
