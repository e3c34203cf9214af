"""The bulk-load path (MariaDB ``LOAD DATA LOCAL INFILE``) and its fallback.

Every test runs on both databases: on MariaDB the cases go through the load
file, on SQLite through SQLite's own ``executemany`` path, and both must
store hostile text byte for byte. ``MIN_LOAD_ROWS`` is lowered so that the
fake CRM's small batches take the bulk path too.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supporthub import StorageError
from supporthub.store import loaddata, writing
from supporthub.store.loaddata import (
    TSV_FIELDS,
    LoadDataReplace,
    line_function,
    tsv_field,
    utc_stamps,
)
from supporthub.store.schema import aggregated_cases, cases, provider_spellings
from supporthub.store.sql import SqlStore

HOSTILE = [
    "",
    'it\'s "quoted" `back`',
    "back\\slash and trailing\\",
    "\\N",
    "\\t not a tab, \\0 not a NUL",
    "tab\there\tand\tthere",
    "new\nline\r\nand\rreturn",
    "nul\x00byte\x00",
    "ctrl-z\x1a",
    "emoji 🍌🍓 𝔘 ünïcødé — ✓",
    "\u2028\u2029\x7f\x1b[31m",
    "NULL",
    "'); DROP TABLE cases; --",
    "%s %(name)s {0} LINES TERMINATED BY",
    "x" * 32_000,
    "🍌\t\\\n" * 8_000,
]
WHEN = dt.datetime(2026, 11, 20, 10, 2, 11, 123456, tzinfo=dt.UTC)


@pytest.fixture
def store(database_url: str) -> Any:
    store = SqlStore(database_url)
    store.upgrade()
    yield store
    store.close()


@pytest.fixture
def bulk_always(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every batch of cases, however small, takes the bulk path."""
    monkeypatch.setattr(writing, "MIN_LOAD_ROWS", 1)


def row(i: int, text: str | None, *, is_open: bool = True) -> tuple[Any, ...]:
    key = text if text is None else text[:200].rstrip(" ")
    return (
        "banana", f"{i}#{key}", "a" * 32, text, text, is_open, text,
        key, key, WHEN, WHEN + dt.timedelta(seconds=i), text,
    )  # fmt: skip


def stored_cases(store: SqlStore) -> dict[str, tuple[Any, ...]]:
    with store.engine.connect() as connection:
        return {
            r.source_id: tuple(r)
            for r in connection.execute(sa.select(cases).where(cases.c.source == "banana"))
        }


def write(store: SqlStore, rows: list[tuple[Any, ...]]) -> None:
    with store.writer() as writer:
        writer._write_cases(rows)


def replace_all(store: SqlStore, rows: list[tuple[Any, ...]]) -> None:
    """The stored cases replaced by ``rows``, through the bulk path where there is one."""
    with store.writer() as writer:
        writer.connection.execute(sa.delete(cases))
        loader = writer._loader()
        if loader is None:  # SQLite: its own path
            writer._upsert_cases.execute(writer.connection, rows)
        else:
            loader.execute(writer.connection, rows)


def uses_load(store: SqlStore) -> bool:
    with store.writer() as writer:
        return writer._loader() is not None


def test_the_bulk_path_is_used_on_mariadb_only(store: SqlStore) -> None:
    assert uses_load(store) is (store.dialect_name != "sqlite")


def test_hostile_text_survives_the_round_trip(store: SqlStore, bulk_always: None) -> None:
    rows = [row(i, text, is_open=i % 2 == 0) for i, text in enumerate([*HOSTILE, None])]
    write(store, rows)
    changed = [(*r[:3], r[3] + "!", *r[4:]) for r in rows[:-1]]
    write(store, changed)  # upserted
    assert {k: v[3] for k, v in stored_cases(store).items()} == {r[1]: r[3] for r in changed} | {
        rows[-1][1]: None
    }
    write(store, rows)  # and back
    stored = stored_cases(store)
    assert len(stored) == len(rows)
    for expected in rows:
        back = stored[expected[1]]
        assert back[:9] == expected[:9]
        assert (back[9], back[10], back[11]) == (expected[9], expected[10], expected[11])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.one_of(st.none(), st.text(st.characters(exclude_categories=("Cs",)), max_size=300)),
        min_size=1,
        max_size=8,
    )
)
def test_any_text_round_trips_byte_exact(store: SqlStore, values: list[str | None]) -> None:
    rows = [row(i, value) for i, value in enumerate(values)]
    replace_all(store, rows)
    stored = stored_cases(store)
    for expected in rows:
        assert stored[expected[1]] == expected[:9] + stored[expected[1]][9:11] + expected[11:]
        assert stored[expected[1]][3] == expected[3]  # byte for byte, NUL and all


@settings(deadline=None)
@given(st.one_of(st.none(), st.text()))
def test_a_field_never_holds_a_bare_separator(value: str | None) -> None:
    field = tsv_field(value)
    assert "\t" not in field and "\n" not in field and "\x00" not in field
    if value is None:
        assert field == "\\N"
    else:
        assert field.replace("\\\\", "").count("\\") == sum(value.count(c) for c in "\t\n\r\x00")


@settings(deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.text()), min_size=8, max_size=8),
    st.one_of(st.none(), st.booleans()),
    st.datetimes(min_value=dt.datetime(1000, 1, 2), timezones=st.timezones()),
)
def test_a_line_is_its_fields_joined(texts: list[str | None], flag: Any, when: Any) -> None:
    """The generated line function writes exactly the reference fields."""
    values = (*texts[:5], flag, *texts[5:], when, when, "u")
    reference = TSV_FIELDS.formatters(cases)
    expected = "\t".join(f(v) for f, v in zip(reference, values, strict=True)) + "\n"
    assert line_function(cases)(values) == expected


def same_lines(text: bytes, expected: str) -> None:
    """Equal load files: every field, the times as the same moment however written."""
    got, wanted = text.decode().split("\n"), expected.split("\n")
    assert len(got) == len(wanted)
    for line, reference in zip(got, wanted, strict=True):
        fields, reference_fields = line.split("\t"), reference.split("\t")
        assert fields[:9] + fields[11:] == reference_fields[:9] + reference_fields[11:]
        for field, reference_field in zip(fields[9:11], reference_fields[9:11], strict=True):
            assert dt.datetime.fromisoformat(field) == dt.datetime.fromisoformat(reference_field)


@settings(deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(
                st.one_of(st.none(), st.text(), st.sampled_from(["\\N", "a\\", "\t", "\\\\N"])),
                min_size=8,
                max_size=8,
            ),
            st.datetimes(min_value=dt.datetime(1000, 1, 2), timezones=st.just(dt.UTC)),
        ),
        max_size=5,
    ),
    st.one_of(
        st.none(),
        st.datetimes(min_value=dt.datetime(1000, 1, 2), timezones=st.timezones()),
    ),
)
def test_a_batch_is_its_lines_joined(
    texts: list[tuple[list[str | None], dt.datetime]], other: dt.datetime | None
) -> None:
    """The batch's text, unescaped when nothing needs it and its times written at
    once when all are UTC, is the escaped lines' text."""
    rows = [
        (*t[:5], True, *t[5:], when, when + dt.timedelta(microseconds=7), "u") for t, when in texts
    ]
    if rows and other is not None:  # one time in another zone: written one by one
        rows[-1] = (*rows[-1][:10], other, "u")
    line = line_function(cases)
    loader = LoadDataReplace(cases, ("source", "source_id"))
    same_lines(loader.text(rows), "".join(line(r) for r in rows))


def test_times_are_written_at_once_only_when_all_are_aware_utc() -> None:
    utc = [WHEN, WHEN.replace(microsecond=0), dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)]
    assert utc_stamps(utc) == [
        "2026-11-20T10:02:11.123456Z", "2026-11-20T10:02:11Z", "9999-12-31T23:59:59Z"
    ]  # fmt: skip
    paris = dt.timezone(dt.timedelta(hours=1))
    for stranger in (None, WHEN.replace(tzinfo=None), WHEN.astimezone(paris), "2026", 1):
        assert utc_stamps([*utc, stranger]) is None
    naive = (
        "b",
        "1",
        "a" * 32,
        None,
        None,
        True,
        None,
        None,
        None,
        WHEN.replace(tzinfo=None),
        WHEN,
        None,
    )
    with pytest.raises(ValueError, match="naive"):
        LoadDataReplace(cases, ("source", "source_id")).text([naive])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.datetimes(
            min_value=dt.datetime(1000, 1, 2),
            max_value=dt.datetime(9999, 12, 30),
            timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=-7))]),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_any_time_round_trips_exact(store: SqlStore, moments: list[dt.datetime]) -> None:
    rows = [
        ("banana", str(i), "a" * 32, None, None, True, None, None, None, when, when, None)
        for i, when in enumerate(moments)
    ]
    replace_all(store, rows)
    stored = stored_cases(store)
    for i, when in enumerate(moments):
        assert stored[str(i)][9] == stored[str(i)][10] == when.astimezone(dt.UTC)


def test_a_load_failing_half_way_leaves_the_previous_data(
    make_hub: Any, fake_crm: Any, bulk_always: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(40):
        fake_crm.put(str(i), provider=f"P{i % 3}", error_code="1", subject=HOSTILE[i % 16])
    hub = make_hub()
    hub.refresh(force=True)
    before = dump(hub)
    for i in range(40):
        fake_crm.put(str(i), provider="Changed", error_code="9", subject="new")
    fake_crm.put("new", provider="New", error_code="2")

    real_text = LoadDataReplace.text
    loads: list[int] = []

    def broken_text(self: LoadDataReplace, rows: Any) -> bytes:
        # The server takes the first rows, then meets a date it cannot read.
        loads.append(len(rows))
        data = real_text(self, rows)
        if len(loads) < 5:
            return data
        return data.replace(b"2026-11-", b"never-11-")

    real_upsert = writing.SqlWriter._write_cases

    def broken_upsert(self: writing.SqlWriter, rows: Any) -> None:
        # SQLite has no load file: its write fails after the fourth batch too.
        loads.append(len(rows))
        if len(loads) >= 5:
            raise sa.exc.OperationalError("INSERT", None, Exception("the disk broke"))
        real_upsert(self, rows)

    if hub.store.dialect_name == "sqlite":
        monkeypatch.setattr(writing.SqlWriter, "_write_cases", broken_upsert)
    else:
        monkeypatch.setattr(LoadDataReplace, "text", broken_text)
    with pytest.raises(StorageError):
        hub.refresh(force=True, full=True)
    assert len(loads) >= 5
    assert dump(hub) == before
    assert {a.provider_key for a in hub.all().aggregated_cases} == {"p0", "p1", "p2"}


def test_a_rejected_value_fails_the_load_instead_of_being_cut(store: SqlStore) -> None:
    """With LOCAL the server only warns about a value it would cut: the load raises."""
    too_long = (*row(1, "ok")[:7], "e" * 300, *row(1, "ok")[8:])
    if store.dialect_name == "sqlite":  # no length limits: nothing to cut
        write(store, [too_long])
        assert stored_cases(store)[too_long[1]][7] == "e" * 300
        return
    with pytest.raises(StorageError, match="1406"), store.writer() as writer:
        writer._upsert_cases.execute(writer.connection, [row(0, "x")])
        loader = writer._loader()
        if loader is None:
            writer._upsert_cases.execute(writer.connection, [too_long])
        else:
            loader.execute(writer.connection, [too_long])
    assert stored_cases(store) == {}


def test_nothing_runs_beside_a_load_and_its_error_is_never_lost(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load goes on while the writer works; the next command waits and sees its failure.

    Even when the writer does not settle the load itself, the connection holds
    the next command back and raises the load's error there: the refresh's
    COMMIT never runs after a failed load.
    """
    too_long = (*row(1, "ok")[:7], "e" * 300, *row(1, "ok")[8:])
    good = [row(i, f"good {i}") for i in range(3)]
    write(store, good)
    if store.dialect_name == "sqlite":  # no bulk load, nothing runs beside the writer
        assert len(stored_cases(store)) == 3
        return
    # The writer settles before its next query: the load's own error, at once.
    with pytest.raises(StorageError, match="1406"), store.writer() as writer:
        loader = writer._loader()
        assert loader is not None
        loader.execute(writer.connection, [too_long])
        writer.has_cases("banana")
    # Nobody settles: the connection raises it at the next command (here the
    # stamp before the COMMIT), and nothing is committed.
    monkeypatch.setattr(writing.SqlWriter, "settle", lambda self: None)
    with pytest.raises(StorageError, match="1406"), store.writer() as writer:
        loader = writer._loader()
        assert loader is not None
        loader.execute(writer.connection, [row(7, "new"), too_long])
    assert set(stored_cases(store)) == {r[1] for r in good}
    # A load that went well is waited for: the next query sees its rows.
    with store.writer() as writer:
        loader = writer._loader()
        assert loader is not None
        loader.execute(writer.connection, [row(i, f"more {i}") for i in range(3, 600)])
        count = writer.connection.execute(sa.select(sa.func.count()).select_from(cases))
        assert count.scalar() == 600
    # Each writer's load thread ends with the writer.
    for thread in threading.enumerate():
        if thread.name == "supporthub-load":
            thread.join(10)
            assert not thread.is_alive()


def test_batches_are_gathered_into_loads_and_sent_before_any_other_command(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each load costs the server a fixed ~10 ms: batches go out together, up to
    ``LOAD_ROWS`` rows, and whatever else runs on the connection sends them first."""
    if store.dialect_name == "sqlite":  # SQLite writes each batch at once
        return
    monkeypatch.setattr(loaddata, "LOAD_ROWS", 5)
    monkeypatch.setattr(loaddata.priority, "niced", lambda: False)
    busy = True  # whether the server is taken as still busy with the load before
    monkeypatch.setattr(loaddata.PendingLoad, "done", property(lambda self: not busy))
    loads: list[int] = []
    real_load = LoadDataReplace._load

    def counted(self: LoadDataReplace, connection: Any, data: bytes, rows: int, *rest: Any) -> None:
        loads.append(rows)
        real_load(self, connection, data, rows, *rest)

    monkeypatch.setattr(LoadDataReplace, "_load", counted)

    def count(writer: Any) -> int:
        return writer.connection.execute(sa.select(sa.func.count()).select_from(cases)).scalar()

    with store.writer() as writer:
        loader = writer._loader()
        assert loader is not None
        loader.execute(writer.connection, [row(0, "a")])  # no load before: sent at once
        for i in range(1, 5, 2):  # 4 rows behind a busy load: gathered, not sent
            loader.execute(writer.connection, [row(i, "a"), row(i + 1, "b")])
        assert count(writer) == 5  # the query sent them first, in one load
        assert loads == [1, 4]
        loader.execute(writer.connection, [row(i, "c") for i in range(10, 16)])  # 6: sent
        loader.execute(writer.connection, [row(20, "d")])  # gathered behind a running load
        assert count(writer) == 12
        assert loads == [1, 4, 6, 1]
        busy = False
        loader.execute(writer.connection, [row(30, "e")])  # the server is idle: sent
        loader._wait(writer.connection)  # only waits: it would send what is gathered
        assert loads == [1, 4, 6, 1, 1]
        busy = True
        loader.execute(writer.connection, [row(31, "e")])  # gathered until the commit
    assert loads == [1, 4, 6, 1, 1, 1]
    assert len(stored_cases(store)) == 14

    # A gathered row the server refuses fails the command that sent it: no commit.
    too_long = (*row(40, "ok")[:7], "e" * 300, *row(40, "ok")[8:])
    with pytest.raises(StorageError, match="1406"), store.writer() as writer:
        loader = writer._loader()
        assert loader is not None
        loader.execute(writer.connection, [row(40, "f")])
        loader.execute(writer.connection, [row(41, "f"), too_long])  # gathered
        count(writer)
    assert len(stored_cases(store)) == 14
    # A writer ending on its own error drops what it gathered, and sends nothing.
    sent = len(loads)
    with pytest.raises(RuntimeError), store.writer() as writer:
        loader = writer._loader()
        assert loader is not None
        loader.execute(writer.connection, [row(50, "g")])
        loader.execute(writer.connection, [row(51, "g")])  # gathered
        raise RuntimeError("the refresh failed")
    assert len(loads) == sent + 1
    assert len(stored_cases(store)) == 14

    # Started with nice: each batch is a load of its own, however busy the server.
    monkeypatch.setattr(loaddata.priority, "niced", lambda: True)
    loads.clear()
    with store.writer() as writer:
        loader = writer._loader()
        assert loader is not None
        for i in range(60, 66, 2):
            loader.execute(writer.connection, [row(i, "h"), row(i + 1, "h")])
    assert loads == [2, 2, 2]


def test_without_local_infile_the_writer_falls_back_and_says_why(
    store: SqlStore,
    bulk_always: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server with ``local_infile=OFF``: multi-row INSERTs, and one log line why."""
    if store.dialect_name == "sqlite":
        assert loaddata.load_data_refusal(store.engine.connect(), galera=False) is not None
        return
    with store.engine.connect() as connection:
        # What the server says decides (the shared test server keeps its setting).
        allowed = connection.exec_driver_sql("SELECT @@local_infile").scalar()
        assert (loaddata.load_data_refusal(connection, galera=False) is None) is bool(allowed)
        assert "Galera" in (loaddata.load_data_refusal(connection, galera=True) or "")
    real = sa.Connection.exec_driver_sql

    def local_infile_off(self: sa.Connection, statement: str, *args: Any) -> Any:
        if statement == "SELECT @@local_infile":
            statement = "SELECT 0"
        return real(self, statement, *args)

    monkeypatch.setattr(sa.Connection, "exec_driver_sql", local_infile_off)
    monkeypatch.setattr(loaddata, "_told", set())
    monkeypatch.setattr(
        LoadDataReplace, "execute", lambda *a: pytest.fail("loaded although the server said no")
    )
    with caplog.at_level(logging.INFO, logger="supporthub.store"):
        assert not uses_load(store)
        write(store, [row(i, text) for i, text in enumerate(HOSTILE)])
        assert not uses_load(store)
    told = [r.getMessage() for r in caplog.records if "bulk load off" in r.getMessage()]
    assert len(told) == 1 and "@@local_infile is OFF" in told[0]
    assert len(stored_cases(store)) == len(HOSTILE)


def test_a_connection_sends_no_file_outside_the_load(store: SqlStore, tmp_path: Any) -> None:
    """A server asking for a client file gets nothing, except during the hub's own load."""
    if store.dialect_name == "sqlite":
        return
    secret = tmp_path / "secret.txt"
    secret.write_text("the hub's secret\n")
    with store.engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE probe (line TEXT)")
    with store.engine.connect() as connection:
        # PyMySQL refuses and drops the connection.
        with pytest.raises(Exception, match="local_infile option is false"):
            connection.exec_driver_sql(f"LOAD DATA LOCAL INFILE '{secret}' INTO TABLE probe")
        connection.invalidate()
    with store.engine.connect() as connection:
        # Inside the hub's load it answers only the load's own name, from memory.
        dbapi_connection = connection.connection.dbapi_connection
        with (
            pytest.raises(Exception, match="a file other than the load's rows"),
            loaddata.send_from_memory(dbapi_connection, b"not the secret\n"),
        ):
            connection.exec_driver_sql(f"LOAD DATA LOCAL INFILE '{secret}' INTO TABLE probe")
        connection.invalidate()
    with store.engine.begin() as connection:
        assert connection.exec_driver_sql("SELECT COUNT(*) FROM probe").scalar() == 0
        connection.exec_driver_sql("DROP TABLE probe")


def test_a_refresh_through_the_bulk_path_equals_one_through_inserts(
    make_hub: Any, fake_crm: Any, monkeypatch: pytest.MonkeyPatch, bulk_always: None
) -> None:
    for i, text in enumerate(HOSTILE * 3):
        fake_crm.put(f"{i}\t{text[:50]}", provider=f"P{i % 4}", error_code=str(i % 3), subject=text)
    hub = make_hub()
    hub.refresh(force=True)
    fake_crm.put("0\t", subject="changed\x00", provider="P9")
    hub.refresh(force=True, full=True)
    loaded = dump(hub)
    with hub.store.engine.begin() as connection:
        for table in ("cases", "aggregated_cases", "provider_spellings"):
            connection.exec_driver_sql(f"DELETE FROM {table}")
        connection.exec_driver_sql("DELETE FROM sources")
    monkeypatch.setattr(writing, "MIN_LOAD_ROWS", 10**9)
    hub.refresh(force=True)
    inserted = dump(hub)
    assert loaded["cases"] == inserted["cases"]
    ids = [[r[0] for r in d["aggregated_cases"]] for d in (loaded, inserted)]
    assert ids[0] == ids[1]
    assert any(r[4] == "changed\x00" for r in loaded["cases"])


def dump(hub: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the data tables, to compare states exactly."""
    with hub.store.engine.connect() as c:
        tables = (cases, aggregated_cases, provider_spellings)
        return {t.name: sorted(map(tuple, c.execute(sa.select(t)))) for t in tables}
