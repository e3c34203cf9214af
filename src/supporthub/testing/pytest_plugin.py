"""pytest fixtures for the hub's own tests and for adapter authors.

Installed with supporthub as a ``pytest11`` plug-in, so any project that
depends on supporthub gets them without a conftest:

- ``database_url``: an empty database, once SQLite and once MariaDB (the
  test runs twice). MariaDB is skipped when its server is absent on a
  developer machine; with ``CI=true`` a missing server fails the test.
- ``mariadb_databases``: creates throw-away MariaDB databases.

Environment: ``SUPPORTHUB_TEST_DATABASES`` (default ``sqlite,mariadb``) and
``SUPPORTHUB_TEST_MARIADB_URL`` (default ``mysql+pymysql://root@127.0.0.1:3306``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

__all__ = ["MariaDbDatabases", "database_url", "mariadb_databases"]

MARIADB_SERVER = os.environ.get(
    "SUPPORTHUB_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306"
)
DATABASES = os.environ.get("SUPPORTHUB_TEST_DATABASES", "sqlite,mariadb").split(",")
IN_CI = os.environ.get("CI", "").lower() == "true"

_reachability: list[str | None] = []


def _mariadb_problem() -> str | None:
    if not _reachability:
        engine = sa.create_engine(MARIADB_SERVER + "/", connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
            _reachability.append(None)
        except sa.exc.SQLAlchemyError as error:
            _reachability.append(str(getattr(error, "orig", None) or error))
        finally:
            engine.dispose()
    return _reachability[0]


def require_mariadb() -> None:
    """Skip (locally) or fail (in CI) when the MariaDB server is not reachable."""
    problem = _mariadb_problem()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"MariaDB is required in CI and not reachable: {problem}")
        pytest.skip(f"MariaDB not reachable: {problem}")


class MariaDbDatabases:
    """Creates throw-away databases on the MariaDB server; drops them after the test."""

    def __init__(self) -> None:
        self.created: list[str] = []

    def create(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        require_mariadb()
        name = f"sh_test_{uuid.uuid4().hex[:12]}"
        engine = sa.create_engine(MARIADB_SERVER + "/")
        with engine.begin() as connection:
            connection.execute(
                sa.text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            )
        engine.dispose()
        self.created.append(name)
        return f"{MARIADB_SERVER}/{name}"

    def drop_all(self) -> None:
        """Drop every database this object created."""
        if not self.created:
            return
        engine = sa.create_engine(MARIADB_SERVER + "/")
        with engine.begin() as connection:
            for name in self.created:
                connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        engine.dispose()


@pytest.fixture
def mariadb_databases() -> Iterator[MariaDbDatabases]:
    """Throw-away MariaDB databases, dropped after the test."""
    databases = MariaDbDatabases()
    yield databases
    databases.drop_all()


def _database_params() -> list[Any]:
    params = []
    if "sqlite" in DATABASES:
        params.append(pytest.param("sqlite", id="sqlite"))
    if "mariadb" in DATABASES:
        params.append(pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb))
    return params


@pytest.fixture(params=_database_params())
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, mariadb_databases: MariaDbDatabases
) -> str:
    """An empty database: the test runs once on SQLite and once on MariaDB."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}"
    return mariadb_databases.create()


def pytest_configure(config: pytest.Config) -> None:
    """Declare the ``mariadb`` marker for projects that use these fixtures."""
    config.addinivalue_line(
        "markers", "mariadb: needs the MariaDB server (skipped locally when absent, never in CI)"
    )
