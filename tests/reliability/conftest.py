"""Fixtures of the reliability tests: both CRMs simulated, a hub configured for both."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import reliability_kit as kit

import supporthub


@pytest.fixture
def crms() -> Iterator[tuple[Any, Any]]:
    """A running Banana tenant and Strawberry account, 200 cases each."""
    banana, strawberry = kit.sims()
    with banana, strawberry:
        yield banana, strawberry


@pytest.fixture
def hooks() -> kit.PageHooks:
    return kit.PageHooks()


@pytest.fixture
def make_hub_at(hooks: kit.PageHooks) -> Iterator[Any]:
    """Build hubs on a given database, both shipped adapters registered, fast retries."""
    hubs: list[supporthub.Hub] = []

    def make(database_url: str, env: dict[str, str], **kwargs: Any) -> supporthub.Hub:
        environ = {
            "SUPPORTHUB_DATABASE_URL": database_url,
            "SUPPORTHUB_MIN_REFRESH_AGE_MINUTES": "0",
            **kit.FAST_HTTP,
            **env,
        }
        kwargs.setdefault("transport_factory", hooks.transport)
        hub = supporthub.Hub.from_env(environ, plugins=kit.plugin_manager(), **kwargs)
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.close()


@pytest.fixture
def make_hub(database_url: str, make_hub_at: Any) -> Any:
    """Build hubs on the test database (SQLite, then MariaDB)."""
    return lambda env, **kwargs: make_hub_at(database_url, env, **kwargs)


# -- trials: what each reliability test tried and what came out ------------------

#: Where the rows go: a JSON-lines file, appended to (``tox -e reliability`` sets it).
REPORT_ENV = "SUPPORTHUB_RELIABILITY_REPORT"


class Trials:
    """What a test tried and how it came out, for ``docs/reliability.md``.

    Every test of this folder gets one (autouse). With
    ``SUPPORTHUB_RELIABILITY_REPORT`` set to a file, every recorded row is
    appended to it as a JSON line at teardown (a failed test as ``FAILED``);
    a test that records nothing gives one row named after itself.
    ``tests/reliability/write_report.py`` turns the lines into the table.
    """

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def record(self, fault: str, trials: int, outcome: str, *, database: str = "") -> None:
        """One row: the fault, how many times it was tried, what came out.

        :param database: for a test that picks its database itself
            (default: the ``database_url`` parameter, or none).
        """
        self.rows.append(
            {"fault": fault, "trials": trials, "outcome": outcome, "database": database}
        )

    def tally(self, fault: str, outcome: str, trials: int = 1) -> None:
        """Add ``trials`` to the row of ``fault`` (a hypothesis example calls it each run)."""
        for row in self.rows:
            if row["fault"] == fault:
                row["trials"] += trials
                return
        self.record(fault, trials, outcome)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_CALL_REPORT] = report
    return report


_CALL_REPORT = pytest.StashKey[pytest.TestReport]()


@pytest.fixture(autouse=True)
def trial(request: pytest.FixtureRequest) -> Iterator[Trials]:
    trials = Trials()
    yield trials
    report = os.environ.get(REPORT_ENV)
    if not report:
        return
    call = request.node.stash.get(_CALL_REPORT, None)
    if call is not None and call.skipped:
        return
    passed = call is not None and call.passed
    params = getattr(request.node, "callspec", None)
    database = params.params.get("database_url", "") if params else ""
    rows = trials.rows or [
        {"fault": request.node.name, "trials": 1, "outcome": "passed", "database": ""}
    ]
    with open(report, "a", encoding="utf-8") as out:
        for recorded in rows:
            row = {**recorded, "database": recorded["database"] or database or "-"}
            if not passed:
                row["outcome"] = f"FAILED: {str(call.longrepr)[-300:] if call else 'in setup'}"
            out.write(json.dumps({**row, "test": request.node.nodeid}) + "\n")
