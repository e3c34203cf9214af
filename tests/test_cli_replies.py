"""``supporthub reply`` and ``supporthub deliver`` as real processes, on SQLite and MariaDB."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
from typing import Any

import pytest
import supporthub_fakecrm

import supporthub
from supporthub.cli.replies import _Progress
from supporthub.vocabulary.replies import Reply


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
    for n in range(1, 5):
        fake_crm.put(str(n), provider="Acme", error_code="E-1")
    return {
        **installed_fakecrm,
        "SUPPORTHUB_DATABASE_URL": database_url,
        "SUPPORTHUB_FAKE_URL": str(fake_crm.path),
        "SUPPORTHUB_FAKE_TOKEN": "cli-secret-token",
        "SUPPORTHUB_FAKE_WRITE_FAIL_FIRST": "1",
        "SUPPORTHUB_FAKE_WRITE_RETRY_AFTER": "0.01",
        "SUPPORTHUB_LOG_LEVEL": "WARNING",
    }


def acme_id(env: dict[str, str]) -> str:
    with supporthub.Hub.from_env(env) as hub:
        (found,) = hub.all().aggregated_cases
        return found.id


def test_reply_delivers_follows_and_exits_0(env, fake_crm) -> None:
    assert cli(env, "refresh", "--force").returncode == 0
    done = cli(env, "reply", acme_id(env), "--message", "Fixed", "--by", "ana", "--set-status",
               "solved", "--internal")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].endswith(": 4 target case(s)")
    assert lines[-2] == "4/4: 4 delivered, 0 failed, 0 pending"  # plain lines: not a terminal
    assert lines[-1].endswith(": done")
    written = supporthub_fakecrm.comments(str(fake_crm.path))
    assert sorted(c["case_id"] for c in written) == ["1", "2", "3", "4"]
    assert {(c["public"], c["set_status"]) for c in written} == {(False, "solved")}


def test_reply_exits_1_naming_the_refusals(env, fake_crm) -> None:
    fake_crm.put("2", write_refusal="ticket is closed")
    assert cli(env, "refresh", "--force").returncode == 0
    done = cli(env, "reply", acme_id(env), "--message", "Fixed", "--by", "ana")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "  failed: fake 2: Fake CRM: ticket is closed" in done.stdout
    assert done.stdout.splitlines()[-1].endswith(": done-with-failures")


def test_bad_reply_arguments_exit_non_zero_in_words(env) -> None:
    assert cli(env, "refresh", "--force").returncode == 0
    empty = cli(env, "reply", acme_id(env), "--message", "", "--by", "ana")
    assert empty.returncode == 1
    assert "'message' is empty" in empty.stderr
    unknown = cli(env, "reply", "nope", "--message", "hi", "--by", "ana")
    assert unknown.returncode == 1
    assert "no aggregated case" in unknown.stderr
    assert cli(env, "reply", "x", "--message", "hi").returncode == 2  # --by is required


def test_deliver_sends_what_was_queued(env, fake_crm, plugin_manager) -> None:
    assert cli(env, "refresh", "--force").returncode == 0
    with supporthub.Hub.from_env(env, plugins=plugin_manager) as hub:
        first = hub.reply(acme_id(env), message="Queued", by="ana")
        second = hub.reply(acme_id(env), message="Queued too", by="ana")
        done = cli(env, "deliver")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "no delivery left that this process can send"
        assert hub.reply_status(first.id).state == hub.reply_status(second.id).state == "done"
    followed = cli(env, "deliver", "--reply", first.id)
    assert followed.returncode == 0
    assert followed.stdout.splitlines()[-1] == f"reply {first.id}: done"
    assert len(supporthub_fakecrm.comments(str(fake_crm.path))) == 8


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _reply(delivered: int, failed: int, pending: int) -> Reply:
    return Reply(
        id="r", aggregated_case_id="a", message="m", by="b",
        created_at=dt.datetime(2026, 12, 6, tzinfo=dt.UTC), public=True, set_status=None,
        scope="open", auto_reply=False, stopped_at=None, stopped_by=None,
        targets=delivered + failed + pending, delivered=delivered, pending=pending, failed=failed,
    )  # fmt: skip


def test_progress_is_a_bar_redrawn_in_place_on_a_terminal() -> None:
    out = _Terminal()
    progress = _Progress(out)
    progress(_reply(0, 0, 4))
    progress(_reply(0, 0, 4))  # unchanged: not drawn again
    progress(_reply(3, 1, 0))
    progress.end()
    assert out.getvalue() == (
        "\r[..............................] 0/4  0 delivered, 0 failed, 4 pending   "
        "\r[##############################] 4/4  3 delivered, 1 failed, 0 pending   \n"
    )
