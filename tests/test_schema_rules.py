"""What a Galera cluster needs of the schema and the SQL: checked on every database.

Galera replicates InnoDB tables only, row by row, keyed by primary key: a
table without one replicates badly (or not at all when deleting), and
``LOCK TABLES`` is not replicated. So: every table has a primary key and
uses InnoDB, and no SQL of the hub locks tables.
"""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa

from supporthub.store.sql import SqlStore

SOURCES = [Path(__file__).parents[1] / "src", Path(__file__).parents[1] / "plugins"]


def test_every_table_has_a_primary_key_and_is_innodb(database_url: str):
    store = SqlStore(database_url)
    try:
        store.upgrade()
        inspector = sa.inspect(store.engine)
        tables = inspector.get_table_names()
        assert "aggregated_cases" in tables
        for table in tables:
            assert inspector.get_pk_constraint(table)["constrained_columns"], table
        if store.dialect_name != "sqlite":
            with store.engine.connect() as connection:
                engines = dict(
                    connection.execute(
                        sa.text(
                            "SELECT table_name, engine FROM information_schema.tables"
                            " WHERE table_schema = DATABASE()"
                        )
                    ).all()
                )
            assert set(engines) == set(tables)
            assert set(engines.values()) == {"InnoDB"}, engines
    finally:
        store.close()


def test_no_sql_locks_tables_or_asks_for_another_engine():
    pattern = re.compile(r"LOCK\s+TABLES?|ENGINE\s*=\s*(MyISAM|Aria|MEMORY)", re.IGNORECASE)
    offenders = [
        f"{path}:{number}"
        for root in SOURCES
        for path in root.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
