"""``SUPPORTHUB_READ_DATABASE_URL``: list views on a replica, everything else on the primary.

Here the "replica" is a second database that replication never fills, so
every answer shows where it was read. A real primary and replica are in
tests/cluster/test_replica.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from supporthub import SearchQuery
from supporthub.store.sql import SqlStore
from supporthub.vocabulary.errors import ConfigurationError


@pytest.fixture
def replica_url(database_url: str, tmp_path: Path, mariadb_databases) -> str:
    url = (
        f"sqlite:///{tmp_path / 'replica.db'}"
        if database_url.startswith("sqlite")
        else mariadb_databases.create()
    )
    store = SqlStore(url)
    store.upgrade()
    store.close()
    return url


def test_list_views_read_the_replica_except_right_after_this_process_wrote(
    make_hub, fake_crm, replica_url: str
):
    for i in range(5):
        fake_crm.put(str(i), provider=f"Acme {i}", error_code="E-1")
    hub = make_hub(SUPPORTHUB_READ_DATABASE_URL=replica_url)
    assert hub.refresh(force=True).ok
    # Right after its own write, the process reads the primary: it sees it.
    assert hub.all().total == 5
    agg_id = hub.all().aggregated_cases[0].id
    assert hub.get(agg_id).id == agg_id
    # Later, list views go to the replica (which, here, never got anything).
    hub.store.read_your_writes_seconds = 0
    assert hub.all().total == 0
    assert b'"total":0' in b"".join(hub.iter_json(SearchQuery()))
    # Refresh decisions and counts stay on the primary.
    assert hub.counts().cases == {"fake": 5}
    fake_crm.put("9", provider="Acme 9", error_code="E-1")
    assert hub.refresh().sources["fake"].fetched >= 1
    assert hub.counts().cases == {"fake": 6}


def test_without_a_replica_everything_reads_the_primary(make_hub, fake_crm):
    fake_crm.put("1", provider="Acme", error_code="E-1")
    hub = make_hub()
    assert hub.refresh(force=True).ok
    hub.store.read_your_writes_seconds = 0
    assert hub.store.read_engine is None
    assert hub.all().total == 1


def test_a_bad_replica_url_is_refused_naming_the_variable(make_hub):
    with pytest.raises(ConfigurationError, match="SUPPORTHUB_READ_DATABASE_URL"):
        make_hub(SUPPORTHUB_READ_DATABASE_URL="nonsense://")
