"""Crash safety: ``kill -9`` of ``supporthub refresh`` at random moments mid-refresh.

Each round changes both CRMs a lot, starts ``supporthub refresh --force`` in
a subprocess and kills it (SIGKILL) after a random delay within the time an
uninterrupted refresh of that size takes. Then:

- the data is intact and consistent: every aggregated case agrees with its
  cases (recomputed from them), and the hub holds either exactly what it held
  before or exactly the CRMs' new state, for both sources at once (one
  refresh is one transaction);
- the next ``supporthub refresh`` completes and the hub then holds exactly
  what the simulators hold: its cursor neither skipped nor lost a change.

Rounds: ``SUPPORTHUB_CRASH_ROUNDS`` per database (3 by default, for CI;
``tox -e crashloop`` runs many more).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest
import reliability_kit as kit

ROUNDS = int(os.environ.get("SUPPORTHUB_CRASH_ROUNDS", "3"))
N = 800  # cases per CRM: an incremental refresh of a busy day takes a while to write

pytestmark = pytest.mark.slow


def run_refresh(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "import sys; from supporthub.cli import main; sys.exit(main())",
         "refresh", "--force"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip


def refresh_to_the_end(env: dict[str, str]) -> float:
    """Run one refresh subprocess to completion; its wall time."""
    began = time.monotonic()
    process = run_refresh(env)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, (out.decode(), err.decode())
    return time.monotonic() - began


def test_kill_9_mid_refresh_loses_nothing(database_url, make_hub, trial) -> None:
    rng = random.Random(os.environ.get("SUPPORTHUB_CRASH_SEED", "crash"))
    banana, strawberry = kit.sims(n=N, seed=11)
    with banana, strawberry:
        env = {
            **os.environ,
            "SUPPORTHUB_DATABASE_URL": database_url,
            "SUPPORTHUB_LOG_LEVEL": "WARNING",
            **kit.FAST_HTTP,
            **kit.env_for(banana, strawberry),
        }
        duration = refresh_to_the_end(env)
        hub = make_hub(kit.env_for(banana, strawberry))
        sims = kit.by_source(banana, strawberry)
        outcomes: dict[str, int] = {}
        for round_ in range(ROUNDS):
            before = kit.held_all(hub, sims)
            for n, sim in enumerate(sims.values()):
                sim.mutate(update=0.3, close=0.05, delete=0.02, add=0.05, seed=round_ * 10 + n)
            after = {name: kit.truth(sim) for name, sim in sims.items()}
            delay = rng.uniform(0.3, 1.1) * duration
            process = run_refresh(env)
            time.sleep(delay)
            finished = process.poll() is not None
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=30)

            kit.check_consistent(hub)
            now = kit.held_all(hub, sims)
            assert now in (before, after), f"round {round_}: a half-written refresh is visible"
            outcome = (
                "finished before the kill"
                if finished
                else "killed before its commit"
                if now == before
                else "killed after its commit"
            )
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

            duration = refresh_to_the_end(env)
            kit.check_consistent(hub)
            assert kit.held_all(hub, sims) == {name: kit.truth(sim) for name, sim in sims.items()}
        trial.record(
            "kill -9 of `supporthub refresh` mid-refresh",
            ROUNDS,
            "; ".join(f"{count} {what}" for what, count in sorted(outcomes.items())),
        )
