"""The plug-in as the hub sees it: discovered when installed, a demo CRM, a real CLI run."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import subprocess
import sys
from typing import Any

import httpx
import pytest
import supporthub_strawberry
from supporthub_strawberry.adapter import StrawberryAdapter
from supporthub_strawberry.simulator import StrawberrySimulator

import supporthub


def test_installing_the_package_registers_the_adapter() -> None:
    (entry_point,) = [
        e for e in importlib.metadata.entry_points(group="supporthub") if e.name == "strawberry"
    ]
    assert entry_point.load() is supporthub_strawberry
    manager = supporthub.make_plugin_manager()
    assert manager.get_plugin("strawberry") is supporthub_strawberry
    settings = {s.name: s for s in StrawberryAdapter.settings}
    assert settings["api_key"].secret and settings["url"].required
    assert settings["api_key"].variable("strawberry") == "SUPPORTHUB_STRAWBERRY_API_KEY"


def test_the_demo_crm_serves_fresh_data_the_hub_can_sync(
    plugin_manager: Any, database_url: str
) -> None:
    (demo,) = plugin_manager.hook.start_demo_crm(cases=150, seed=3)
    try:
        assert set(demo.environment) == {
            "SUPPORTHUB_STRAWBERRY_URL",
            "SUPPORTHUB_STRAWBERRY_API_KEY",
        }
        assert httpx.get(demo.ui_url).status_code == 200
        environ = {**demo.environment, "SUPPORTHUB_DATABASE_URL": database_url}
        with supporthub.Hub.from_env(environ, plugins=plugin_manager) as hub:
            source = hub.refresh(force=True).sources["strawberry"]
            assert source.ok, source.error
            assert source.fetched == 150
            newest = max(a.last_updated_at for a in hub.all().aggregated_cases)
        # Placed relative to now, not to the simulator's fixed default anchor.
        now = dt.datetime.now(dt.UTC)
        assert now - dt.timedelta(days=2) < newest <= now
    finally:
        demo.stop()
    with pytest.raises(httpx.TransportError):
        httpx.get(demo.ui_url)


def test_the_cli_pulls_tickets_with_nothing_but_the_installed_plugin(
    database_url: str, api_key: str
) -> None:
    with StrawberrySimulator(n=400, seed=12, api_key=api_key) as sim:
        # Only what an operator sets: no PYTHONPATH, no test plug-ins.
        environ = {
            "SUPPORTHUB_DATABASE_URL": database_url,
            "SUPPORTHUB_STRAWBERRY_URL": sim.url,
            "SUPPORTHUB_STRAWBERRY_API_KEY": sim.api_key,
        }

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "supporthub.cli", *args],
                env=environ,
                capture_output=True,
                text=True,
                timeout=120,
            )

        upgrade = cli("db", "upgrade")
        assert upgrade.returncode == 0, upgrade.stderr
        refresh = cli("refresh", "--force")
        assert refresh.returncode == 0, refresh.stdout + refresh.stderr
        live = sim.live_count()
        fetched = len(list(sim.current_records()))
        assert f"strawberry: ok - fetched {fetched}, skipped 0, written {live}" in refresh.stdout
        assert sim.api_key not in refresh.stdout + refresh.stderr

    with supporthub.Hub.from_env({"SUPPORTHUB_DATABASE_URL": database_url}) as hub:
        stored = sum(a.case_count for a in hub.all(cases_limit=0).aggregated_cases)
    assert stored == live
