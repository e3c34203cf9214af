"""How much does the Strawberry adapter cost over a bare paging loop?

Starts the Strawberry simulator in its own process (its command line), then
reads every ticket twice per round, alternating:

- **bare**: one httpx client pages ``/v1/tickets`` with ``limit=1000`` and
  decodes each page with orjson; the floor under any client;
- **adapter**: ``StrawberryAdapter.fetch(None)`` over the core's real
  ``HttpClient`` (retries, error classes), ticket fields included, every
  ticket turned into a case or tombstone; no store.

It prints the median wall time of each and their ratio (the acceptance
bound: the adapter at most 1.5 times the bare loop at 100,000 tickets), and
the ratio of the client's median CPU times, which moves less with the
neighbours' load on a shared machine.

Run from the repository root::

    python bench/strawberry_sync.py                 # 100,000 tickets, 7 rounds
    python bench/strawberry_sync.py --quick         # CI: 20,000 tickets, 5 rounds
    python bench/strawberry_sync.py --profile       # where the adapter's time goes

``--check`` exits 1 when the ratio of medians is above ``--max-ratio``
(default 1.5; 2.5 with ``--quick``, whose short runs are noisier: one full
garbage collection more or less is a tenth of one). CI runs ``--quick``
in ``tox -e bench-quick``: reported, not asserted, on a shared machine.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SOURCES = [str(ROOT / "src"), str(ROOT / "plugins" / "strawberry" / "src")]
sys.path[:0] = [str(BENCH), *SOURCES]

# The bare loop is the one the simulators' own benchmark measures. The
# plug-in is what this benchmark is about, so it imports it (TID251 guards
# the core).
from sim_throughput import page_strawberry  # noqa: E402
from supporthub_strawberry.adapter import StrawberryAdapter  # noqa: E402, TID251
from supporthub_strawberry.simulator import DEFAULT_API_KEY  # noqa: E402, TID251

from supporthub import HttpClient, RetryPolicy, SourceConfig  # noqa: E402


def start_simulator(n: int) -> tuple[subprocess.Popen[str], str]:
    """Start the simulator's CLI with ``n`` tickets; return the process and its URL."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(SOURCES)}
    process = subprocess.Popen(
        [sys.executable, "-m", "supporthub_strawberry.simulator", "--n", str(n), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    url = process.stdout.readline().rsplit(" at ", 1)[1].strip()
    return process, url


def bare(url: str) -> int:
    """Page every ticket with httpx and orjson; return how many were read."""
    with httpx.Client(timeout=60) as client:
        return page_strawberry(client, url)


def adapter(url: str) -> int:
    """Sync every ticket through the adapter; return how many were read."""
    config = SourceConfig("strawberry", {"url": url, "api_key": DEFAULT_API_KEY})
    count = 0
    with HttpClient(url, title="Strawberry", policy=RetryPolicy(timeout=60)) as http:
        for batch in StrawberryAdapter(config, http).fetch(None):
            count += batch.fetched
            assert not batch.skipped
    return count


def timed(run: Callable[[str], int], url: str) -> tuple[float, float, int]:
    """Wall and CPU seconds (this process) of one full read, and how many tickets it read."""
    began, cpu = time.perf_counter(), time.process_time()
    count = run(url)
    return time.perf_counter() - began, time.process_time() - cpu, count


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, help="tickets (default 100,000; --quick: 20,000)")
    parser.add_argument("--rounds", type=int, help="timed rounds (default 7; --quick: 5)")
    parser.add_argument("--quick", action="store_true", help="a short run for CI")
    parser.add_argument("--profile", action="store_true", help="profile one adapter sync")
    parser.add_argument("--check", action="store_true", help="exit 1 above --max-ratio")
    parser.add_argument("--max-ratio", type=float, help="default 1.5; --quick: 2")
    args = parser.parse_args(argv)
    n = args.n or (20_000 if args.quick else 100_000)
    rounds = args.rounds or (5 if args.quick else 7)
    max_ratio = args.max_ratio or (2.5 if args.quick else 1.5)

    process, url = start_simulator(n)
    try:
        # One untimed pass each: imports, connections, the simulator's caches.
        assert bare(url) == adapter(url) == n, "both must read every ticket"
        times: dict[str, list[float]] = {"bare": [], "adapter": []}
        cpu: dict[str, list[float]] = {"bare": [], "adapter": []}
        for _ in range(rounds):
            for name, run in (("bare", bare), ("adapter", adapter)):
                seconds, cpu_seconds, count = timed(run, url)
                assert count == n
                times[name].append(seconds)
                cpu[name].append(cpu_seconds)
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(adapter, url)
            pstats.Stats(profile).sort_stats("tottime").print_stats(15)
    finally:
        process.terminate()
        process.wait(timeout=30)

    bare_s, adapter_s = (statistics.median(times[name]) for name in ("bare", "adapter"))
    ratio = adapter_s / bare_s
    cpu_ratio = statistics.median(cpu["adapter"]) / statistics.median(cpu["bare"])
    print(
        f"strawberry sync of {n:,} tickets, median of {rounds}: "
        f"bare httpx+orjson {bare_s:.3f} s ({n / bare_s:,.0f}/s), "
        f"adapter {adapter_s:.3f} s ({n / adapter_s:,.0f}/s), "
        f"ratio {ratio:.2f} (bound {max_ratio:g}); client CPU ratio {cpu_ratio:.2f}"
    )
    for name in ("bare", "adapter"):
        print(
            f"  {name + ':':<8} wall {' '.join(f'{t:.3f}' for t in times[name])}; "
            f"client CPU median {statistics.median(cpu[name]):.3f} s"
        )
    if args.check and ratio > max_ratio:
        print(f"FAIL: ratio {ratio:.2f} > {max_ratio:g}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
