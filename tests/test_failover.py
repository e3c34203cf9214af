"""``?failover=host:port,…`` in a MariaDB URL: the nodes to try when the URL's host fails."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy.engine import make_url

from supporthub._errors import ConfigurationError
from supporthub._store.sql import SCHEMA_REVISION, SqlStore


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("bad", ["nohost", "h:", ":3306", "h:port"])
def test_a_malformed_failover_list_is_refused_in_words(bad: str):
    with pytest.raises(ConfigurationError, match="failover= takes host:port pairs"):
        SqlStore(f"mysql+pymysql://u@127.0.0.1:3306/db?failover={bad}")


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
