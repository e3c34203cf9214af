"""The SQL store itself: schema and migrations, locks, snapshots, bad URLs."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from supporthub import ConfigurationError, RefreshInProgress, StorageError
from supporthub.store import SCHEMA_REVISION, SqlStore
from supporthub.store.schema import metadata
from supporthub.store.sql import _MIGRATIONS


def test_the_code_expects_the_newest_migration() -> None:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_REVISION


def test_migrations_build_exactly_the_declared_schema(database_url: str) -> None:
    store = SqlStore(database_url)
    store.upgrade()
    # Alembic cannot compare indexes with DESC columns: checked by hand below.
    listing_order = "ix_aggregated_order"
    with store.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_object": lambda obj, name, kind, reflected, other: name != listing_order
            },
        )
        differences = compare_metadata(context, metadata)
        if connection.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"PRAGMA index_xinfo('{listing_order}')").all()
            columns = [(row.name, "D" if row.desc else "A") for row in rows if row.key]
        else:
            rows = (
                connection.exec_driver_sql(
                    f"SHOW INDEX FROM aggregated_cases WHERE Key_name = '{listing_order}'"
                )
                .mappings()
                .all()
            )
            columns = [(row["Column_name"], row["Collation"]) for row in rows]
    store.close()
    assert differences == []
    assert columns == [("is_open", "D"), ("case_count", "D"), ("id", "A")]


def test_keys_compare_by_code_point(database_url: str) -> None:
    store = SqlStore(database_url)
    store.upgrade()
    with store.engine.begin() as connection:
        for spelling in ("Acme", "acme", "Açme", "ACME"):
            connection.execute(
                sa.text("INSERT INTO provider_spellings VALUES ('x', :s, 1)"), {"s": spelling}
            )
        found = (
            connection.execute(
                sa.text("SELECT spelling FROM provider_spellings WHERE spelling = 'acme'")
            )
            .scalars()
            .all()
        )
    store.close()
    assert found == ["acme"]


def test_an_empty_database_gets_the_schema_an_old_one_asks_for_upgrade(database_url: str) -> None:
    store = SqlStore(database_url)
    with pytest.raises(StorageError, match="no supporthub schema; run `supporthub db upgrade`"):
        store.check_schema(create_if_empty=False)
    store.check_schema(create_if_empty=True)
    assert store.revision() == SCHEMA_REVISION
    with store.engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '0000'"))
    with pytest.raises(StorageError, match=f"revision 0000, this version needs {SCHEMA_REVISION}"):
        store.check_schema(create_if_empty=True)
    store.close()


def test_the_refresh_lock_excludes_across_stores_and_times_out(database_url: str) -> None:
    first, second = SqlStore(database_url), SqlStore(database_url)
    first.upgrade()
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with first.refresh_lock(timeout=5) as contended:
            assert contended is False
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    assert holding.wait(10)
    assert second.is_refreshing()
    started = time.monotonic()
    with (
        pytest.raises(RefreshInProgress, match=r"did not finish within 0\.3 s"),
        second.refresh_lock(timeout=0.3),
    ):
        pass
    assert time.monotonic() - started >= 0.3
    release.set()
    thread.join()
    assert not second.is_refreshing()
    with second.refresh_lock(timeout=1) as contended:
        assert contended is False
    first.close()
    second.close()


def test_a_reader_keeps_its_snapshot_while_a_writer_commits(database_url: str) -> None:
    store = SqlStore(database_url)
    store.upgrade()
    with store.reader() as reader:
        assert reader.meta("answer") is None
        with store.writer() as writer:
            writer.set_meta("answer", "42")
        assert reader.meta("answer") is None  # still the snapshot it started with
    with store.reader() as reader:
        assert reader.meta("answer") == "42"
    store.close()


def test_a_writer_that_raises_writes_nothing(database_url: str) -> None:
    store = SqlStore(database_url)
    store.upgrade()
    with pytest.raises(RuntimeError), store.writer() as writer:
        writer.set_meta("answer", "42")
        raise RuntimeError("boom")
    with store.reader() as reader:
        assert reader.meta("answer") is None
    store.close()


def test_an_unreachable_database_is_a_storage_error_in_words() -> None:
    store = SqlStore("mysql+pymysql://root:pw-secret@127.0.0.1:1/nothing")
    assert store.ping() is False
    with pytest.raises(StorageError) as error:
        store.check_schema(create_if_empty=True)
    assert "pw-secret" not in str(error.value) and "database error" in str(error.value)


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///:memory:", "mysql+pymysql://root@127.0.0.1:3306", "nope"]
)
def test_unusable_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError, match="SUPPORTHUB_DATABASE_URL"):
        SqlStore(url)


def test_sqlite_lock_file_lives_next_to_the_database(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'hub.db'}")
    store.upgrade()
    assert (tmp_path / "hub.db.refresh-lock").exists()
    store.close()
