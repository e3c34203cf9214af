"""The sync benchmark still runs (its numbers are for people: bench/strawberry_sync.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench" / "strawberry_sync.py"


def test_the_benchmark_runs_both_loops_to_the_end() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--n", "2500", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "strawberry sync of 2,500 tickets" in run.stdout
    assert "ratio" in run.stdout
