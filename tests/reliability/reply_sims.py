"""Both simulators with one problem spread over them, here or in a process of their own.

``one_problem`` adds open cases of one problem (provider Acme Pay, error
4711) to a simulator, so that they make one aggregated case across both
CRMs. Run as a script, it serves both simulators until its input ends::

    python tests/reliability/reply_sims.py 40
    -> {"banana": {"url": …, "client_id": …, "client_secret": …},
        "strawberry": {"url": …, "api_key": …}, "ids": {"banana": [...], …}}

so that the hub's deliverers and the simulators do not share a process (or a GIL).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import attrs

sys.path.insert(0, str(Path(__file__).parent))

import reliability_kit as kit


def one_problem(sim: kit.Sim, k: int) -> list[str]:
    """Add ``k`` open cases of one problem to ``sim``; their ids."""
    rng = random.Random(f"one-problem-{sim.n}")
    ids = []
    for _ in range(k):
        spec = attrs.evolve(
            sim.generator.new_spec(0, rng, 0),
            provider="Acme Pay",
            provider_canonical="Acme Pay",
            error_code="4711",
            error_code_style=0,
            is_open=True,
        )
        ids.append(str(sim.add(spec)))
    return ids


def hub_env(crms: dict[str, Any]) -> dict[str, str]:
    """The hub's settings for the simulators this script printed."""
    return {
        "SUPPORTHUB_BANANA_URL": crms["banana"]["url"],
        "SUPPORTHUB_BANANA_CLIENT_ID": crms["banana"]["client_id"],
        "SUPPORTHUB_BANANA_CLIENT_SECRET": crms["banana"]["client_secret"],
        "SUPPORTHUB_STRAWBERRY_URL": crms["strawberry"]["url"],
        "SUPPORTHUB_STRAWBERRY_API_KEY": crms["strawberry"]["api_key"],
    }


def main() -> int:
    k = int(sys.argv[1])
    banana, strawberry = kit.sims(n=20, seed=11)
    with banana, strawberry:
        ids = {"banana": one_problem(banana, k), "strawberry": one_problem(strawberry, k)}
        for sim in (banana, strawberry):
            sim.faults.slow(0.02)  # a write takes a while: the two deliverers overlap
        answer = {
            "banana": {
                "url": banana.url,
                "client_id": banana.client_id,
                "client_secret": banana.client_secret,
            },
            "strawberry": {"url": strawberry.url, "api_key": strawberry.api_key},
            "ids": ids,
        }
        print(json.dumps(answer), flush=True)
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
