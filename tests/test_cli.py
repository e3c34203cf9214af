"""The command line, run as a real process with an installed (entry-point) plug-in."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from supporthub.store import SCHEMA_REVISION


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "supporthub.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def env(installed_fakecrm: dict[str, str], database_url: str, fake_crm: Any) -> dict[str, str]:
    return {
        **installed_fakecrm,
        "SUPPORTHUB_DATABASE_URL": database_url,
        "SUPPORTHUB_FAKE_URL": str(fake_crm.path),
        "SUPPORTHUB_FAKE_TOKEN": "cli-secret-token",
        "SUPPORTHUB_LOG_LEVEL": "DEBUG",
    }


def test_db_upgrade_then_refresh_force(
    env: dict[str, str], fake_crm: Any, database_url: str
) -> None:
    fake_crm.put("1", provider="Acme Payments, Inc.", error_code="E-1042")
    fake_crm.put("2", provider="ACME PAYMENTS", error_code=" 1042 ")
    upgrade = cli(env, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert f"created the database schema at revision {SCHEMA_REVISION}" in upgrade.stdout
    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        assert (
            connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            == SCHEMA_REVISION
        )
    engine.dispose()
    refresh = cli(env, "refresh", "--force")
    assert refresh.returncode == 0, refresh.stderr
    assert "fake: ok - fetched 2, skipped 0, written 2" in refresh.stdout
    assert "cli-secret-token" not in refresh.stdout + refresh.stderr
    # Its exit skips the last garbage collection: nothing is left unfinished.
    assert "Exception ignored" not in refresh.stderr and "Warning" not in refresh.stderr
    again = cli(env, "refresh", "--force", "--json")
    report = json.loads(again.stdout)
    assert report["ok"] and report["sources"]["fake"]["written"] == 0  # the same data again


def test_nothing_due_exits_zero_and_says_so(env: dict[str, str], fake_crm: Any) -> None:
    fake_crm.put("1", provider="Acme")
    assert cli(env, "refresh").returncode == 0
    second = cli(env, "refresh")
    assert second.returncode == 0
    assert second.stdout.startswith("nothing was due")


def test_a_failing_source_exits_non_zero(env: dict[str, str], fake_crm: Any) -> None:
    fake_crm.put("1", provider="Acme")
    failing = cli({**env, "SUPPORTHUB_FAKE_FAIL_AFTER": "0"}, "refresh", "--force")
    assert failing.returncode == 1
    assert "fake: FAILED - Fake CRM broke after 0 records" in failing.stdout


def test_a_missing_setting_fails_the_source_clearly(env: dict[str, str]) -> None:
    missing = {k: v for k, v in env.items() if k != "SUPPORTHUB_FAKE_TOKEN"}
    result = cli(missing, "refresh")
    assert result.returncode == 1
    assert "misses settings: SUPPORTHUB_FAKE_TOKEN" in result.stdout


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("not a url", "is not a database URL"),
        ("postgresql+nodriver://x/y", "SUPPORTHUB_DATABASE_URL"),
        ("oracle://x/y", "unsupported database 'oracle'"),
        ("sqlite:////no/such/folder/hub.db", "does not exist"),
        ("mysql+pymysql://root:s3cret-pw@127.0.0.1:1/x", "database error"),
    ],
)
def test_a_bad_database_url_is_one_clear_line(
    installed_fakecrm: dict[str, str], url: str, words: str
) -> None:
    result = cli(
        {
            **installed_fakecrm,
            "SUPPORTHUB_DATABASE_URL": url,
            "SUPPORTHUB_FAKE_URL": "/x",
            "SUPPORTHUB_FAKE_TOKEN": "t0ken",
        },
        "refresh",
    )
    assert result.returncode in (2, 3)
    lines = [line for line in result.stderr.splitlines() if line.startswith("supporthub:")]
    assert len(lines) == 1 and words in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert "s3cret-pw" not in result.stderr


def test_no_source_enabled_is_a_configuration_error(
    installed_fakecrm: dict[str, str], tmp_path: Path
) -> None:
    result = cli(
        {**installed_fakecrm, "SUPPORTHUB_DATABASE_URL": f"sqlite:///{tmp_path}/h.db"}, "refresh"
    )
    assert result.returncode == 2
    # Other installed plug-ins (the shipped adapters) are listed too.
    assert "no source is enabled; set one of: " in result.stderr
    assert "SUPPORTHUB_FAKE_URL" in result.stderr


def test_two_refreshes_started_together_run_one_after_the_other(
    env: dict[str, str], fake_crm: Any
) -> None:
    for i in range(30):
        fake_crm.put(str(i), provider=f"P{i % 3}")
    assert cli(env, "db", "upgrade").returncode == 0
    slow = {**env, "SUPPORTHUB_FAKE_DELAY": "0.1"}  # about one second per refresh
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "supporthub.cli", "refresh", "--force", "--json"],
            env=slow,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), outputs
    runs = sorted(
        (json.loads(out)["startedAt"], json.loads(out)["finishedAt"]) for out, _ in outputs
    )
    assert runs[0][1] <= runs[1][0], f"refreshes overlapped: {runs}"


def test_a_waiting_refresh_returns_the_result_of_the_one_it_waited_for(
    env: dict[str, str], fake_crm: Any, tmp_path: Path
) -> None:
    for i in range(30):
        fake_crm.put(str(i), provider=f"P{i % 3}")
    assert cli(env, "db", "upgrade").returncode == 0
    started = tmp_path / "first-refresh-started"
    # The first refresh fetches for 8 s once started: ample time for the second
    # process to start up and find it running, even on a loaded machine.
    slow = {
        **env,
        "SUPPORTHUB_FAKE_DELAY": "0.8",
        "SUPPORTHUB_FAKE_STARTED": str(started),
        "SUPPORTHUB_MIN_REFRESH_AGE_MINUTES": "15",
    }
    first = subprocess.Popen(
        [sys.executable, "-m", "supporthub.cli", "refresh", "--json"],
        env=slow,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not started.exists():  # fetching, so holding the refresh lock
        assert first.poll() is None and time.monotonic() < deadline, first.stderr
        time.sleep(0.05)
    second = cli({**slow, "SUPPORTHUB_FAKE_STARTED": str(tmp_path / "second")}, "refresh", "--json")
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0 and second.returncode == 0, (err, second.stderr)
    assert json.loads(second.stdout)["startedAt"] == json.loads(out)["startedAt"]
    assert not (tmp_path / "second").exists(), "the second process fetched by itself"


def test_steering_from_the_command_line(env: dict[str, Any], fake_crm: Any) -> None:
    fake_crm.put("1", provider="Acme Payments", error_code="1042")
    fake_crm.put("2", provider="ACME PAYMENTS", error_code="1042")
    fake_crm.put("3", provider="Acme Paymnts", error_code="1042")  # the rarer spelling
    assert cli(env, "refresh", "--force").returncode == 0
    suggestions = json.loads(cli(env, "suggestions").stdout)
    (alias,) = suggestions["aliases"]
    assert (alias["spelling"], alias["provider"]) == ("acme paymnts", "acme payments")
    dry = cli(env, "suggestions", "--accept", alias["id"], "--dry-run", "--json")
    accepted = cli(env, "suggestions", "--accept", alias["id"], "--by", "ops", "--json")
    assert json.loads(dry.stdout)["diff"] == json.loads(accepted.stdout)["diff"]
    overrides = json.loads(cli(env, "overrides").stdout)
    assert [(o["kind"], o["createdBy"]) for o in overrides] == [("alias", "ops")]
    undone = cli(env, "undo", str(overrides[0]["id"]), "--by", "ops")
    assert undone.returncode == 0 and "override 1 undone" in undone.stdout
    unknown = cli(env, "merge", "nope", "nada", "--reason", "x")
    assert unknown.returncode == 1
    assert "no aggregated case has the id 'nope'" in unknown.stderr
    missing_reason = cli(env, "merge", "a", "b")
    assert missing_reason.returncode == 2 and "--reason" in missing_reason.stderr


def test_working_an_aggregated_case_from_the_command_line(
    env: dict[str, Any], fake_crm: Any, database_url: str
) -> None:
    fake_crm.put("1", provider="Acme Payments", error_code="1042")
    assert cli(env, "refresh", "--force").returncode == 0
    with sa.create_engine(database_url).connect() as connection:
        agg_id = connection.execute(sa.text("SELECT id FROM aggregated_cases")).scalar_one()
    claimed = cli(env, "claim", agg_id, "--by", "alice", "--json")
    assert claimed.returncode == 0, claimed.stderr
    assert json.loads(claimed.stdout)["owner"] == "alice"
    lost = cli(env, "claim", agg_id, "--by", "bob")
    assert lost.returncode == 1 and "alice owns this aggregated case" in lost.stderr
    fixed = cli(env, "work", agg_id, "--state", "fixed", "--by", "alice", "--note", "v1.2")
    assert fixed.returncode == 0 and "state fixed" in fixed.stdout
    released = cli(env, "work", agg_id, "--release", "--clear-note", "--by", "alice", "--json")
    assert json.loads(released.stdout)["owner"] is None
    assert json.loads(released.stdout)["note"] is None
    bad = cli(env, "work", agg_id, "--tracker-url", "ftp://x", "--by", "alice")
    assert bad.returncode == 1 and "http(s) link" in bad.stderr
    history = cli(env, "history", agg_id)
    lines = history.stdout.splitlines()
    assert len(lines) == 3 and "alice" in lines[0] and "(v1.2)" in lines[1]
    entries = json.loads(cli(env, "history", agg_id, "--json").stdout)
    assert [e["by"] for e in entries] == ["alice", "alice", "alice"]
