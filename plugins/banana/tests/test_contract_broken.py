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
