"""Helpers of the cluster tests: stores per node, the fake CRM's load, readers that watch."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pymysql
import sqlalchemy as sa

from supporthub.store.locks import GaleraAwareLock, LeaseLock
from supporthub.store.sql import SqlStore


def lease_of(store: SqlStore) -> LeaseLock:
    lock = store._lock
    assert isinstance(lock, GaleraAwareLock)
    return lock.lease


@contextlib.contextmanager
def stores(urls: list[str]) -> Iterator[list[SqlStore]]:
    made = [SqlStore(url) for url in urls]
    try:
        yield made
    finally:
        for store in made:
            store.close()


def load(fake_crm: Any, first: int, count: int, subject_bytes: int = 40) -> None:
    """Put ``count`` cases into the fake CRM, ids from ``first``, in one save."""
    for i in range(first, first + count):
        stamp = fake_crm.tick()
        fake_crm.records[str(i)] = {
            "id": str(i),
            "status": "open",
            "provider": f"Provider {i % 50}",
            "error_code": f"E-{i % 7}",
            "subject": "x" * subject_bytes,
            "updated_at": stamp,
            "created_at": stamp,
        }
    fake_crm.save()


def count_cases(url: str) -> tuple[int, int]:
    """(cases, sum of caseCount) in one statement: one snapshot."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                sa.text(
                    "SELECT (SELECT COUNT(*) FROM cases),"
                    " (SELECT COALESCE(SUM(case_count), 0) FROM aggregated_cases)"
                )
            ).one()
            return int(row[0]), int(row[1])
    finally:
        engine.dispose()


class Watcher:
    """Polls (cases, sum of caseCount) on one node in a thread; keeps every distinct answer."""

    def __init__(self, url: str, every: float = 0.02, engine: sa.Engine | None = None) -> None:
        self.every = every
        self.engine = engine or sa.create_engine(url, connect_args={"connect_timeout": 2})
        self.seen: set[tuple[int, int]] = set()
        #: Every answer, in order.
        self.answers: list[tuple[int, int]] = []
        self.polls = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self.engine.connect() as connection:
                    row = connection.execute(
                        sa.text(
                            "SELECT (SELECT COUNT(*) FROM cases),"
                            " (SELECT COALESCE(SUM(case_count), 0) FROM aggregated_cases)"
                        )
                    ).one()
                self.seen.add((int(row[0]), int(row[1])))
                self.answers.append((int(row[0]), int(row[1])))
                self.polls += 1
            except sa.exc.DBAPIError:
                self.errors += 1
            self._stop.wait(self.every)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.engine.dispose()


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released together; their results (or exceptions)."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except BaseException as error:
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@contextlib.contextmanager
def max_ws_size(cluster: Any, size: int) -> Iterator[None]:
    """Lower ``wsrep_max_ws_size`` on every node (it is per node and dynamic)."""
    before = []
    for node in cluster.nodes:
        connection = node.connect()
        with connection.cursor() as cursor:
            cursor.execute("SELECT @@GLOBAL.wsrep_max_ws_size")
            before.append(cursor.fetchone()[0])
            cursor.execute(f"SET GLOBAL wsrep_max_ws_size = {int(size)}")
        connection.close()
    try:
        yield
    finally:
        for node, value in zip(cluster.nodes, before, strict=True):
            with contextlib.suppress(pymysql.MySQLError):
                connection = node.connect()
                with connection.cursor() as cursor:
                    cursor.execute(f"SET GLOBAL wsrep_max_ws_size = {int(value)}")
                connection.close()
