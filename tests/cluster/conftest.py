"""Fixtures for the tests on a real 3-node Galera cluster (``tox -e cluster``).

One cluster serves the whole session (it takes ~20 s to start); each test
gets a database of its own on it. These tests are not part of the default
run (``norecursedirs`` in pyproject.toml): run ``tox -e cluster`` or
``pytest tests/cluster``, one process (the cluster's ports are fixed).
"""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

import supporthub
from supporthub.store.sql import SCHEMA_REVISION, SqlStore

sys.path.insert(0, str(Path(__file__).parent))

import galera


@pytest.fixture(scope="session")
def cluster() -> Iterator[galera.Cluster]:
    with galera.running_cluster() as running:
        yield running


@pytest.fixture
def cluster_urls(cluster: galera.Cluster) -> Iterator[list[str]]:
    """A fresh database with the hub's schema, as one URL per node."""
    name = f"sh_{secrets.token_hex(6)}"
    cluster.wait_size(len(cluster.nodes))
    connection = cluster.nodes[0].connect()
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    connection.close()
    urls = [node.url(name) for node in cluster.nodes]
    store = SqlStore(urls[0])
    store.upgrade()
    store.close()
    # DDL reaches the other nodes a moment after node 1 answered.
    for node in cluster.nodes:
        deadline = time.monotonic() + 30
        while not _has_schema(node, name):
            assert time.monotonic() < deadline, f"node{node.index} never got the schema"
            time.sleep(0.05)
    yield urls
    for node in cluster.nodes:
        try:
            connection = node.connect()
        except pymysql.MySQLError:  # a node a test killed: another drops it
            continue
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        connection.close()
        break


def _has_schema(node: galera.Node, database: str) -> bool:
    connection = node.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*) FROM information_schema.tables"
                " WHERE table_schema = %s AND table_name = 'alembic_version'",
                (database,),
            )
            if not cursor.fetchone()[0]:
                return False
            cursor.execute(f"SELECT version_num FROM {database}.alembic_version")
            row = cursor.fetchone()
            return row is not None and row[0] == SCHEMA_REVISION
    finally:
        connection.close()


@pytest.fixture
def cluster_hub(
    cluster_urls: list[str], plugin_manager: Any, fake_crm: Any
) -> Iterator[Callable[..., supporthub.Hub]]:
    """Build hubs on node ``i`` of the cluster, with the fake CRM enabled.

    Its fetch runs in this process (``SUPPORTHUB_FETCH_PROCESSES=off``): the
    tests count what its adapter was asked for here.
    """
    hubs: list[supporthub.Hub] = []

    def make(node: int, **env: str) -> supporthub.Hub:
        environ = {
            "SUPPORTHUB_DATABASE_URL": cluster_urls[node],
            "SUPPORTHUB_FAKE_URL": str(fake_crm.path),
            "SUPPORTHUB_FAKE_TOKEN": "fake-secret-token-123",
            "SUPPORTHUB_MIN_REFRESH_AGE_MINUTES": "0",
            "SUPPORTHUB_FETCH_PROCESSES": "off",
            **env,
        }
        hub = supporthub.Hub.from_env(environ, plugins=plugin_manager)
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.close()
