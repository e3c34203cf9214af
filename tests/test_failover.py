"""``?failover=host:port,…`` in a MariaDB URL: the nodes to try when the URL's host fails."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy.engine import make_url

from supporthub.store.sql import SCHEMA_REVISION, SqlStore
from supporthub.vocabulary.errors import ConfigurationError

BAD_FAILOVER = ["nohost", "h:", ":3306", "h:port"]
BAD_WAIT = ["x", "-1", "16", "1.5"]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("query", "words"),
    [
        *((f"failover={bad}", "failover= takes host:port pairs") for bad in BAD_FAILOVER),
        *((f"wsrep_sync_wait={bad}", "wsrep_sync_wait= takes a whole number") for bad in BAD_WAIT),
    ],
)
def test_a_malformed_cluster_option_is_refused_in_words(query: str, words: str):
    with pytest.raises(ConfigurationError, match=words):
        SqlStore(f"mysql+pymysql://u@127.0.0.1:3306/db?{query}")


@pytest.mark.mariadb
def test_the_next_node_answers_when_the_first_is_down(mariadb_databases):
    url = make_url(mariadb_databases.create())
    alive = f"{url.host}:{url.port or 3306}"
    dead = url.set(host="127.0.0.1", port=closed_port())
    store = SqlStore(dead.render_as_string(hide_password=False) + f"?failover={alive}")
    try:
        store.upgrade()
        assert store.revision() == SCHEMA_REVISION
        assert store.ping()
    finally:
        store.close()
    without = SqlStore(dead.render_as_string(hide_password=False))
    try:
        assert not without.ping()
    finally:
        without.close()


@pytest.mark.mariadb
def test_wsrep_sync_wait_in_the_url_is_every_sessions_setting(mariadb_databases):
    """``?wsrep_sync_wait=1``: every pooled session reads causally (on Galera), and keeps it."""
    store = SqlStore(mariadb_databases.create() + "?wsrep_sync_wait=1")
    try:
        store.upgrade()
        assert store.revision() == SCHEMA_REVISION
        with store.reader() as reader:
            value = reader.connection.exec_driver_sql("SELECT @@SESSION.wsrep_sync_wait")
            assert value.scalar() == 1
    finally:
        store.close()
