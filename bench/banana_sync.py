"""Is the Banana adapter's sync close to the speed of a bare HTTP loop?

Starts the Banana simulator in its own process through its command line (so
that the server and the client do not share a GIL), then times, in turns:

- **bare**: an httpx client that fetches a token and pages through
  ``/api/v2/cases`` with the adapter's query (``pageSize=2000``,
  ``includeDeleted=true``), decoding each page with orjson, nothing more;
- **adapter**: ``BananaAdapter.fetch(None)`` with a real
  :class:`supporthub.HttpClient`, every batch consumed, no store.

The acceptance bound is adapter <= 1.5 x bare at 100,000 cases. Each side
runs ``--rounds`` times, alternating, and the best time of each counts (the
least disturbed by the machine). Run from the repository root::

    python bench/banana_sync.py                # 100,000 cases, 5 rounds
    python bench/banana_sync.py --quick        # CI: 20,000 cases, 3 rounds, reported only
    python bench/banana_sync.py --profile      # also a cProfile of one adapter sync

``supporthub`` and ``supporthub-banana`` must be importable (installed, or
``PYTHONPATH=src:plugins/banana/src``).
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
import orjson

# The benchmark measures the plug-in, so it imports it; the core never does.
from supporthub_banana.adapter import PAGE_SIZE, BananaAdapter  # noqa: TID251
from supporthub_banana.simulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET  # noqa: TID251

from supporthub import HttpClient, SourceConfig

ROOT = Path(__file__).resolve().parent.parent
MAX_RATIO = 1.5


def start_simulator(n: int) -> tuple[subprocess.Popen[str], str]:
    """Run the simulator's CLI on a free port; return the process and its URL."""
    path = os.pathsep.join(
        [str(ROOT / "src"), str(ROOT / "plugins/banana/src"), os.environ.get("PYTHONPATH", "")]
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "supporthub_banana.simulator", "--n", str(n), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert process.stdout is not None
    first_line = process.stdout.readline()  # "Banana simulator: N cases at URL"
    if " at " not in first_line:
        process.kill()
        raise SystemExit(f"the simulator did not start: {first_line!r}")
    return process, first_line.rsplit(" at ", 1)[1].strip()


def bare_sync(url: str) -> int:
    """Page through every record with httpx and orjson only; return the record count."""
    with httpx.Client(timeout=60) as client:
        token = orjson.loads(
            client.post(
                url + "/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": DEFAULT_CLIENT_ID,
                    "client_secret": DEFAULT_CLIENT_SECRET,
                },
            ).content
        )["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        response = client.get(
            url + "/api/v2/cases",
            params={"pageSize": PAGE_SIZE, "includeDeleted": "true"},
            headers=headers,
        )
        count = 0
        while True:
            response.raise_for_status()
            page = orjson.loads(response.content)
            count += len(page["records"])
            if page["done"]:
                return count
            response = client.get(url + page["nextRecordsUrl"], headers=headers)


def adapter_sync(url: str) -> int:
    """Run the adapter's full sync, consuming every batch; return the records read."""
    config = SourceConfig(
        "banana",
        {"url": url, "client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET},
    )
    count = skipped = 0
    with HttpClient(url, title="Banana") as http:
        for batch in BananaAdapter(config, http).fetch(None):
            count += batch.fetched
            skipped += batch.skipped
    assert skipped == 0, f"{skipped} records skipped"
    return count


def timed(sync: Callable[[str], int], url: str) -> tuple[float, int]:
    """Seconds one sync takes, and what it read."""
    began = time.perf_counter()
    count = sync(url)
    return time.perf_counter() - began, count


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; exit 1 when ``--check`` finds it over the bound."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="simulated cases (100,000)")
    parser.add_argument("--rounds", type=int, default=5, help="syncs per side (5)")
    parser.add_argument("--quick", action="store_true", help="CI: 20,000 cases, 3 rounds")
    parser.add_argument("--check", action="store_true", help=f"exit 1 above {MAX_RATIO}x")
    parser.add_argument("--profile", action="store_true", help="profile one adapter sync")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.rounds = 20_000, 3  # timings on a shared CI machine: reported, not asserted

    process, url = start_simulator(args.n)
    try:
        bare_sync(url)  # warm-up: first-touch costs on both sides
        adapter_sync(url)
        times: dict[str, list[float]] = {"bare": [], "adapter": []}
        counts: dict[str, int] = {}
        for _ in range(args.rounds):
            for name, sync in (("bare", bare_sync), ("adapter", adapter_sync)):
                seconds, counts[name] = timed(sync, url)
                times[name].append(seconds)
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(adapter_sync, url)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    finally:
        process.terminate()
        process.wait(timeout=30)

    if counts["bare"] != counts["adapter"]:
        print(f"record counts differ: {counts}")
        return 1
    best = {name: min(values) for name, values in times.items()}
    ratio = best["adapter"] / best["bare"]
    print(f"banana sync of {args.n:,} cases ({counts['bare']:,} records incl. tombstones),")
    print(f"best of {args.rounds} rounds (median in brackets):")
    for name in ("bare", "adapter"):
        rate = counts[name] / best[name]
        print(
            f"  {name:<8} {best[name]:6.3f} s  ({statistics.median(times[name]):.3f} s)"
            f"  {rate:>10,.0f} records/s"
        )
    verdict = "ok" if ratio <= MAX_RATIO else "TOO SLOW"
    print(f"  ratio    {ratio:6.2f}   (bound {MAX_RATIO}: {verdict})")
    return 1 if args.check and ratio > MAX_RATIO else 0


if __name__ == "__main__":
    raise SystemExit(main())
