"""The MariaDB bulk writer builds SQL literals itself: they must escape exactly right.

The statements carry values as text (no parameters), so a wrong escape is
corrupted data or SQL injection. The literals are checked against PyMySQL's
own escaping, and stored and read back on both databases.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from pymysql.converters import escape_string

from supporthub.store.bulk import _flag, _moment, _number, _text, bulk_insert
from supporthub.store.schema import cases, metadata

NASTY = [
    "",
    "plain",
    "it's",
    'say "hi"',
    "back\\slash",
    "trailing backslash\\",
    "\\'",
    "nul\x00byte",
    "ctrl-z\x1a",
    "new\nline\r\n",
    "100% %s %(name)s {0}",
    "'); DROP TABLE cases; --",
    "ünïcødé — ✓ 🍌 𝔘",
    "\u2028\u2029\t\x7f",
]


@given(st.text())
def test_text_literals_escape_as_pymysql_does(value: str) -> None:
    assert _text(value) == "'" + escape_string(value) + "'"


@pytest.mark.parametrize("value", NASTY)
def test_text_literals_of_nasty_values(value: str) -> None:
    assert _text(value) == "'" + escape_string(value) + "'"


def test_none_is_null_for_every_kind() -> None:
    assert {_text(None), _flag(None), _number(None), _moment(None)} == {"NULL"}


def test_flags_and_numbers() -> None:
    assert (_flag(True), _flag(False), _number(7), _number(True)) == ("1", "0", "7", "1")


@given(st.datetimes(min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9999, 12, 30)))
def test_moments_are_naive_utc_with_microseconds(moment: dt.datetime) -> None:
    aware = moment.replace(tzinfo=dt.UTC)
    assert _moment(aware) == f"'{moment.isoformat(' ', 'microseconds')}'"
    shifted = aware.astimezone(dt.timezone(dt.timedelta(hours=-5, minutes=-30)))
    assert _moment(shifted) == _moment(aware)


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        _moment(dt.datetime(2026, 11, 20, 10, 0))


def test_nasty_values_survive_the_round_trip(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    try:
        metadata.create_all(engine, tables=[cases])
        when = dt.datetime(2026, 11, 20, 10, 2, 11, 123456, tzinfo=dt.UTC)
        rows = [
            ("banana", f"id-{i}-{value}"[:255], "a" * 32, value, value, i % 2 == 0, value,
             value[:255], value[:255], when, when, value)
            for i, value in enumerate(NASTY)
        ]  # fmt: skip
        with engine.begin() as connection:
            writer = bulk_insert(connection.dialect, cases, upsert_keys=("source", "source_id"))
            writer.execute(connection, rows)
            writer.execute(connection, rows)  # the upsert path: same rows again
        with engine.connect() as connection:
            stored = {
                row.source_id: row
                for row in connection.execute(sa.select(cases).order_by(cases.c.source_id))
            }
        assert len(stored) == len(NASTY)
        for row in rows:
            back = stored[row[1]]
            assert (back.number, back.subject, back.priority, back.url) == (row[3],) * 4
            assert (back.provider, back.error_code) == (row[7], row[8])
            assert back.is_open is row[5]
            assert back.created_at == when
    finally:
        engine.dispose()
