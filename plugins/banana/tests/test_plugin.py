"""The installed plug-in: found by its entry point, run by the CLI, and its demo hook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import supporthub_banana
from supporthub_banana.adapter import BananaAdapter
from supporthub_banana.simulator import BananaSimulator

import supporthub
from supporthub.testing.sim import parse_offset_ms


@pytest.fixture
def tenant() -> Iterator[BananaSimulator]:
    with BananaSimulator(n=800, seed=31, client_secret="cli-Banana-secret-42") as running:
        yield running


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_installing_the_plugin_is_all_supporthub_refresh_needs(
    tenant: BananaSimulator, database_url: str, tmp_path: Path
) -> None:
    # Only the three Banana variables and the database: no plug-in
    # registration, no PYTHONPATH, no config file. Discovery goes through
    # the installed distribution's entry point.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "SUPPORTHUB_DATABASE_URL": database_url,
        "SUPPORTHUB_BANANA_URL": tenant.url,
        "SUPPORTHUB_BANANA_CLIENT_ID": tenant.client_id,
        "SUPPORTHUB_BANANA_CLIENT_SECRET": tenant.client_secret,
    }
    console_script = Path(sys.executable).parent / "supporthub"
    upgrade = run(env, str(console_script), "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    refresh = run(env, sys.executable, "-m", "supporthub.cli", "refresh", "--force")
    assert refresh.returncode == 0, refresh.stderr
    live = tenant.live_count()
    assert f"banana: ok - fetched 800, skipped 0, written {live}" in refresh.stdout
    assert tenant.client_secret not in refresh.stdout + refresh.stderr
    again = run(env, sys.executable, "-m", "supporthub.cli", "refresh", "--force", "--json")
    report = json.loads(again.stdout)
    assert report["ok"]
    assert report["sources"]["banana"]["written"] == 0, "the boundary again changes nothing"

    plugins = run(env, str(console_script), "plugins")
    assert "supporthub-banana" in plugins.stdout

    with supporthub.Hub.from_env({"SUPPORTHUB_DATABASE_URL": database_url}) as hub:
        ids = {c.source_id for a in hub.all().aggregated_cases for c in a.cases}
    assert ids == set(tenant.ids())


def test_the_entry_point_registers_the_adapter() -> None:
    manager = supporthub.make_plugin_manager()
    assert manager.get_plugin("banana") is supporthub_banana
    registered: list[type[supporthub.Adapter]] = []
    manager.hook.register_adapters(register=registered.append)
    assert BananaAdapter in registered
    assert [s.variable("banana") for s in BananaAdapter.settings] == [
        "SUPPORTHUB_BANANA_URL",
        "SUPPORTHUB_BANANA_CLIENT_ID",
        "SUPPORTHUB_BANANA_CLIENT_SECRET",
        "SUPPORTHUB_BANANA_PENDING_STATUS",
        "SUPPORTHUB_BANANA_SOLVED_STATUS",
    ]
    assert [s.secret for s in BananaAdapter.settings] == [False, False, True, False, False]
    assert [s.default for s in BananaAdapter.settings[3:]] == ["On Hold", "Resolved"]


def test_the_demo_hook_serves_current_looking_data_and_stops(database_url: str) -> None:
    manager = supporthub.make_plugin_manager(entry_points=False)
    manager.register(supporthub_banana, name="banana")
    (demo,) = manager.hook.start_demo_crm(cases=300, seed=4)
    try:
        assert set(demo.environment) == {
            "SUPPORTHUB_BANANA_URL",
            "SUPPORTHUB_BANANA_CLIENT_ID",
            "SUPPORTHUB_BANANA_CLIENT_SECRET",
        }
        assert httpx.get(demo.ui_url).status_code == 200
        env = {"SUPPORTHUB_DATABASE_URL": database_url, **demo.environment}
        with supporthub.Hub.from_env(env, plugins=manager) as hub:
            report = hub.refresh(force=True)
            assert report.ok, report.sources
            cases = [c for a in hub.all().aggregated_cases for c in a.cases]
        assert len(cases) == demo.simulator.live_count()
        now = datetime.now(UTC)
        newest = max(c.updated_at for c in cases)
        assert now - timedelta(days=2) < newest <= now + timedelta(minutes=1), "data ends about now"
        assert min(c.created_at for c in cases) > now - timedelta(days=400)
        assert {c.status for c in cases} == set(supporthub.Status)
    finally:
        demo.stop()
    with pytest.raises(httpx.TransportError):
        httpx.get(demo.ui_url, timeout=2)


def test_demo_data_is_repeatable_for_a_seed() -> None:
    first = supporthub_banana.start_demo_crm(cases=50, seed=9)
    second = supporthub_banana.start_demo_crm(cases=50, seed=9)
    try:
        a, b = list(first.simulator.live_records()), list(second.simulator.live_records())
        assert [r["Subject"] for r in a] == [r["Subject"] for r in b]
        # Times follow the wall clock: at most a second apart between the two starts.
        assert all(
            abs(parse_offset_ms(x["CreatedDate"]) - parse_offset_ms(y["CreatedDate"])) <= 2000
            for x, y in zip(a, b, strict=True)
        )
    finally:
        first.stop()
        second.stop()
