"""First-run and bad-input edges of the command line and the library (issue 12, part 6).

Argument errors run ``main`` in-process (argparse exits before anything
starts); what needs the installed plug-ins or a real start-up runs the
command as a process, as in ``test_cli.py``.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import supporthub_banana
import supporthub_fakecrm
from alembic import command
from alembic.config import Config

import supporthub
import supporthub.cli
import supporthub.ingest.plugins
from supporthub import ConfigurationError
from supporthub.cli import main
from supporthub.cli.new_adapter import new_adapter
from supporthub.store import SCHEMA_REVISION


def cli(
    env: dict[str, str], *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "supporthub.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., str]:
    """Runs ``main`` and returns the one error line of its argparse refusal (exit 2)."""
    # Accepting the arguments would start a server or a demo in this process.
    monkeypatch.setattr(supporthub.cli, "_service", _must_not_start)
    return functools.partial(_usage_error, capsys)


def _must_not_start(*_: object) -> int:
    pytest.fail("the command started instead of refusing its arguments")


def _usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if "error:" in line]
    return line


@pytest.mark.parametrize("command", ["serve", "demo"])
@pytest.mark.parametrize("port", ["65536", "70000", "-1", "eighty", "80.5"])
def test_a_port_outside_0_to_65535_is_a_usage_error(
    command: str, port: str, usage_error: Callable[..., str]
) -> None:
    line = usage_error(command, "--port", port)
    assert "argument --port: must be a whole number from 0 to 65535" in line
    assert repr(port) in line


@pytest.mark.parametrize("cases", ["-5", "0", "many"])
def test_demo_cases_must_be_a_positive_whole_number(
    cases: str, usage_error: Callable[..., str]
) -> None:
    line = usage_error("demo", "--cases", cases)
    assert f"argument --cases: must be a whole number of 1 or more, got {cases!r}" in line


def banana_settings(database_url: str, url: str) -> dict[str, str]:
    return {
        "SUPPORTHUB_DATABASE_URL": database_url,
        "SUPPORTHUB_BANANA_URL": url,
        "SUPPORTHUB_BANANA_CLIENT_ID": "id",
        "SUPPORTHUB_BANANA_CLIENT_SECRET": "banana-secret-42",
    }


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("ftp://x", "got 'ftp://x'"),
        ("banana", "got 'banana'"),
        ("http://", "got 'http://'"),
        ("https:///no-host", "got 'https:///no-host'"),
        ("ftp://user:pa55word@x", "got a ftp URL"),
    ],
)
def test_a_source_url_that_is_not_http_is_refused_when_the_hub_is_built(
    database_url: str, url: str, shown: str
) -> None:
    manager = supporthub.make_plugin_manager(entry_points=False)
    manager.register(supporthub_banana)
    with pytest.raises(ConfigurationError) as refused:
        supporthub.Hub.from_env(banana_settings(database_url, url), plugins=manager)
    message = str(refused.value)
    assert message.startswith("SUPPORTHUB_BANANA_URL must be an http:// or https:// URL")
    assert shown in message
    assert "pa55word" not in message


@pytest.mark.parametrize("url", ["https://acme.banana.example", "HTTP://127.0.0.1:8080/base"])
def test_an_http_source_url_is_accepted(database_url: str, url: str) -> None:
    manager = supporthub.make_plugin_manager(entry_points=False)
    manager.register(supporthub_banana)
    with supporthub.Hub.from_env(banana_settings(database_url, url), plugins=manager) as hub:
        assert hub.enabled_sources == ["banana"]


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without SUPPORTHUB_* settings, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTHUB_")}
    return {**env, **settings}


@pytest.mark.parametrize("command", ["refresh", "serve"])
def test_the_command_line_refuses_a_bad_source_url_at_start_up(
    command: str, tmp_path: Path
) -> None:
    env = clean_env(
        SUPPORTHUB_DATABASE_URL=f"sqlite:///{tmp_path / 'hub.db'}",
        SUPPORTHUB_STRAWBERRY_URL="banana",
        SUPPORTHUB_STRAWBERRY_API_KEY="berry-key-77",
    )
    args = [command, "--port", "0"] if command == "serve" else [command]
    result = cli(env, *args, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip() == (
        "supporthub: configuration error: SUPPORTHUB_STRAWBERRY_URL must be an http:// or "
        "https:// URL with a host, like https://crm.example.com; got 'banana'"
    )
    assert "ready" not in result.stdout


def test_the_library_refuses_to_refresh_without_a_source_as_the_command_line_does(
    installed_fakecrm: dict[str, str], database_url: str, plugin_manager: Any
) -> None:
    with supporthub.Hub.from_env(
        {"SUPPORTHUB_DATABASE_URL": database_url}, plugins=plugin_manager
    ) as hub:
        # Built (a hub without sources can read a database others refresh) …
        assert hub.enabled_sources == []
        assert hub.all().count == 0
        # … but refreshing it is the command line's error, word for word.
        with pytest.raises(ConfigurationError) as refused:
            hub.refresh(force=True)
    assert str(refused.value) == "no source is enabled; set one of: SUPPORTHUB_FAKE_URL"
    env = {
        **installed_fakecrm,
        "SUPPORTHUB_DATABASE_URL": database_url,
        "SUPPORTHUB_BLOCKED_PLUGINS": "banana,strawberry",
    }
    result = cli(env, "refresh")
    assert result.returncode == 2
    assert result.stderr.strip() == f"supporthub: configuration error: {refused.value}"


def test_db_upgrade_says_it_created_migrated_or_found_the_schema_current(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SUPPORTHUB_DATABASE_URL", database_url)
    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out.startswith(
        f"created the database schema at revision {SCHEMA_REVISION} ("
    )
    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out.startswith(
        f"database schema is current at revision {SCHEMA_REVISION} ("
    )


def test_db_upgrade_names_the_revisions_it_migrated_between(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = sa.create_engine(database_url)
    config = Config()
    config.set_main_option(
        "script_location", str(Path(supporthub.__file__).parent / "store" / "migrations")
    )
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    engine.dispose()
    monkeypatch.setenv("SUPPORTHUB_DATABASE_URL", database_url)
    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out.startswith(
        f"migrated the database schema from revision 0001 to {SCHEMA_REVISION} ("
    )


@pytest.mark.parametrize(
    ("name", "owner"), [("banana", "supporthub-banana"), ("fake", "supporthub-fakecrm")]
)
def test_new_adapter_refuses_the_name_of_an_installed_plug_in(
    installed_fakecrm: dict[str, str], tmp_path: Path, name: str, owner: str
) -> None:
    result = cli(installed_fakecrm, "new-adapter", name, "--dir", str(tmp_path))
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert f"adapter name {name!r} is taken by the installed plug-in {owner}" in line
    assert "choose another name" in line
    assert list(tmp_path.iterdir()) == [tmp_path / "site"], "nothing was written"


def test_new_adapter_still_writes_a_free_name(tmp_path: Path) -> None:
    assert main(["new-adapter", "kiwi", "--dir", str(tmp_path)]) == 0
    assert (tmp_path / "supporthub-kiwi" / "pyproject.toml").exists()


def test_new_adapter_refuses_an_adapter_name_a_plug_in_registers_under_another_entry_point(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    manager = supporthub.make_plugin_manager(entry_points=False)
    manager.register(supporthub_fakecrm)  # its adapter is "fake", no entry point of that name
    monkeypatch.setattr(supporthub.ingest.plugins, "make_plugin_manager", lambda: manager)
    with pytest.raises(ConfigurationError, match=r"installed plug-in supporthub_fakecrm \(Fake"):
        new_adapter("fake", tmp_path)
    assert list(tmp_path.iterdir()) == []
