"""A Banana adapter that breaks a rule fails the contract suite, naming the rule.

The copy below ignores tombstones; the suite runs against it in a separate
pytest process, whose output must name the rule that was broken, and only
that one.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

BROKEN_MODULE = textwrap.dedent(
    '''
    from collections.abc import Iterator

    import attrs
    import pytest
    from supporthub_banana.adapter import BananaAdapter
    from supporthub_banana.simulator import BananaSimulator

    from supporthub import Batch
    from supporthub.testing import AdapterContract


    class TombstoneIgnoringBanana(BananaAdapter):
        """Banana in small pages that drops every tombstone: the bug under test."""

        page_size = 200

        def fetch(self, cursor: str | None) -> Iterator[Batch]:
            for batch in super().fetch(cursor):
                yield attrs.evolve(batch, tombstones=())


    class TestBrokenBananaContract(AdapterContract):
        adapter = TombstoneIgnoringBanana

        @pytest.fixture
        def simulator(self):
            with BananaSimulator(n=450, seed=11) as running:
                yield running
    '''
)


def test_ignoring_tombstones_fails_the_contract_naming_the_rule(tmp_path: Path) -> None:
    (tmp_path / "test_broken_banana.py").write_text(BROKEN_MODULE)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rf", "-p", "no:xdist"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "contract rule 'tombstones remove cases' broken:" in output, output
    assert "still in the hub" in output, output
    assert "1 failed" in output, output
    assert "test_tombstones_remove_cases" in output, output


OTHER_BREAKAGES = textwrap.dedent(
    """
    import logging
    from collections.abc import Iterator
    from typing import Any

    import attrs
    import pytest
    from supporthub_banana.adapter import BananaAdapter
    from supporthub_banana.simulator import BananaSimulator

    from supporthub import Adapter, Batch, CaseWrite, SourceUnavailable
    from supporthub.testing import AdapterContract


    class SmallPages(BananaAdapter):
        page_size = 200


    class SecretLoggingBanana(SmallPages):
        def fetch(self, cursor: str | None) -> Iterator[Batch]:
            logging.getLogger("supporthub.banana").debug("using %s", self.config["client_secret"])
            yield from super().fetch(cursor)


    class CursorlessBanana(SmallPages):
        def fetch(self, cursor: str | None) -> Iterator[Batch]:
            for batch in super().fetch(cursor):
                yield attrs.evolve(batch, cursor=None)


    class RaisingOnMalformedBanana(SmallPages):
        def fetch(self, cursor: str | None) -> Iterator[Batch]:
            for batch in super().fetch(cursor):
                if batch.skipped:
                    raise ValueError("a malformed record")
                yield batch


    class AuthRetryingBanana(SmallPages):
        def fetch(self, cursor: str | None) -> Iterator[Batch]:
            for _ in range(3):
                try:
                    yield from super().fetch(cursor)
                    return
                except Exception:
                    self._token = None
            raise SourceUnavailable("gave up")


    class Simulated(AdapterContract):
        @pytest.fixture
        def simulator(self):
            with BananaSimulator(n=450, seed=11) as running:
                yield running


    class TestSecretLogging(Simulated):
        adapter = SecretLoggingBanana


    class TestCursorless(Simulated):
        adapter = CursorlessBanana


    class TestRaisingOnMalformed(Simulated):
        adapter = RaisingOnMalformedBanana


    class TestAuthRetrying(Simulated):
        adapter = AuthRetryingBanana


    class KeylessBanana(SmallPages):
        def _comment_body(self, write: CaseWrite) -> dict[str, Any]:
            body = super()._comment_body(write)
            del body["ExternalId"]  # the bug under test: no idempotency key
            return body


    class ReadOnlyBanana(SmallPages):
        write_case = Adapter.write_case  # no write hook: the default refusal


    class TestKeyless(Simulated):
        adapter = KeylessBanana


    class TestReadOnly(Simulated):
        adapter = ReadOnlyBanana
    """
)


def _run_breakages(
    tmp_path: Path, tests: list[str], *options: str
) -> subprocess.CompletedProcess[str]:
    """Run the selected tests of :data:`OTHER_BREAKAGES` in a separate pytest process."""
    (tmp_path / "test_other_breakages.py").write_text(OTHER_BREAKAGES)
    selected = [f"test_other_breakages.py::{test}" for test in tests]
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-p", "no:xdist"]
    return subprocess.run(
        [*command, *options, *selected],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


BREAKAGES = [
    (
        "TestSecretLogging::test_no_secret_or_personal_data_in_logs",
        "no secret or personal data in the logs",
    ),
    ("TestCursorless::test_full_sync_stores_every_live_case", "a sync hands back a cursor"),
    (
        "TestRaisingOnMalformed::test_malformed_records_are_skipped_and_counted",
        "malformed records are skipped and counted",
    ),
    ("TestAuthRetrying::test_auth_errors_are_not_retried", "auth errors are not retried"),
]


def test_each_broken_rule_is_named_in_the_failure(tmp_path: Path) -> None:
    """Four other breakages, each run against the rule it breaks: each failure names it."""
    result = _run_breakages(tmp_path, [test for test, _ in BREAKAGES])
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"{len(BREAKAGES)} failed" in output, output
    for _test, rule in BREAKAGES:
        assert f"contract rule {rule!r} broken: " in output, (rule, output)
    assert "a secret setting's value appears in the logs" in output
    assert "instead of SourceRejected" in output


def test_a_write_without_the_idempotency_key_fails_the_contract(tmp_path: Path) -> None:
    """Posting without ExternalId breaks both exactly-once rules; no write hook is a pass."""
    result = _run_breakages(
        tmp_path,
        [
            "TestKeyless::test_a_repeated_write_makes_one_comment",
            "TestKeyless::test_a_write_whose_answer_was_lost_makes_one_comment",
            "TestKeyless::test_final_write_refusals_are_rejected",
            "TestReadOnly::test_an_adapter_that_cannot_write_says_so",
            "TestReadOnly::test_a_repeated_write_makes_one_comment",
        ],
        "-rs",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "2 failed, 2 passed, 1 skipped" in output, output
    assert (
        "contract rule 'a repeated write makes one comment' broken: "
        "two calls with one idempotency key made 2 comments" in output
    ), output
    assert "contract rule 'a write whose answer was lost makes one comment' broken: " in output
    assert "the Banana adapter does not write" in output, output
