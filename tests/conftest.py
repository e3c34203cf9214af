"""Shared fixtures: a fresh plug-in manager and a fake CRM.

The ``database_url`` fixture (every storage test on SQLite and on MariaDB)
comes from supporthub's own pytest plug-in, ``supporthub.testing.pytest_plugin``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import supporthub

TESTS = Path(__file__).parent
FAKECRM = TESTS / "fakecrm"
sys.path.insert(0, str(FAKECRM))

import supporthub_fakecrm  # noqa: E402


@pytest.fixture
def plugin_manager() -> Iterator[Any]:
    """A fresh plug-in manager with only the core's default plug-in and the fake CRM."""
    manager = supporthub.make_plugin_manager(entry_points=False)
    manager.register(supporthub_fakecrm, name="fakecrm")
    yield manager
    manager.unregister(name="fakecrm")


class FakeCrm:
    """The records the fake adapter serves, kept in a JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, dict[str, Any]] = {}
        self._clock = 0
        self.save()

    def tick(self) -> str:
        """A strictly later timestamp each call."""
        self._clock += 1
        minutes, seconds = divmod(self._clock, 60)
        hours, minutes = divmod(minutes, 60)
        return f"2026-11-{20 + hours // 24:02d}T{hours % 24:02d}:{minutes:02d}:{seconds:02d}Z"

    def put(self, record_id: str, **fields: Any) -> dict[str, Any]:
        record = {"id": record_id, "status": "open", **self.records.get(record_id, {})}
        record.update(fields)
        record["updated_at"] = fields.get("updated_at") or self.tick()
        record.setdefault("created_at", record["updated_at"])
        self.records[record_id] = record
        self.save()
        return record

    def delete(self, record_id: str) -> None:
        self.put(record_id, deleted=True)

    def forget(self, record_id: str) -> None:
        """The CRM stops listing a record without a tombstone (a full resync finds out)."""
        del self.records[record_id]
        self.save()

    def save(self) -> None:
        self.path.write_text(json.dumps(list(self.records.values())))


@pytest.fixture
def fake_crm(tmp_path: Path) -> FakeCrm:
    return FakeCrm(tmp_path / "fake-crm.json")


@pytest.fixture
def make_hub(database_url: str, plugin_manager: Any, fake_crm: FakeCrm) -> Iterator[Any]:
    """Build hubs on the test database with the fake CRM enabled.

    The fake CRM's fetch runs in this process (``SUPPORTHUB_FETCH_PROCESSES=off``
    unless a test says otherwise): tests read what it recorded (the cursors it
    was asked for) and patch it. The simulators' tests fetch in processes.
    """
    hubs: list[supporthub.Hub] = []

    def make(clock: Any = None, **env: str) -> supporthub.Hub:
        environ = {
            "SUPPORTHUB_DATABASE_URL": database_url,
            "SUPPORTHUB_FAKE_URL": str(fake_crm.path),
            "SUPPORTHUB_FAKE_TOKEN": "fake-secret-token-123",
            "SUPPORTHUB_MIN_REFRESH_AGE_MINUTES": "0",
            "SUPPORTHUB_FETCH_PROCESSES": "off",
            **env,
        }
        extra = {} if clock is None else {"clock": clock}
        hub = supporthub.Hub.from_env(environ, plugins=plugin_manager, **extra)
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.close()


@pytest.fixture
def installed_fakecrm(tmp_path: Path) -> dict[str, str]:
    """Environment for a subprocess in which the fake CRM is an installed plug-in.

    Writes the ``.dist-info`` folder pip would write, with the entry point,
    so discovery runs through ``importlib.metadata`` as in production.
    """
    site = tmp_path / "site"
    dist = site / "supporthub_fakecrm-0.0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: supporthub-fakecrm\nVersion: 0.0.1\n"
    )
    (dist / "entry_points.txt").write_text("[supporthub]\nfake = supporthub_fakecrm\n")
    (site / "supporthub_fakecrm.py").write_text((FAKECRM / "supporthub_fakecrm.py").read_text())
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH", "")) if p)
    return env
