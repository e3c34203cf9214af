"""How fast does a reply reach its cases, and does it keep to the CRM's write limit?

Two measurements, each with its simulator in a process of its own (so that
it does not share a GIL with the hub), the hub on a fresh SQLite database
(or ``--database-url``):

- **strawberry**: a reply to N Strawberry tickets (one aggregated case)
  through ``Hub.reply`` and ``Hub.deliver``, the simulator enforcing
  ``--limit`` updates a minute (Strawberry's is 100). It reports the time
  the delivery took against the least the limit allows (the first
  ``limit`` updates at once, then ``limit`` a minute), the ``429``
  answers the simulator gave (counted in its request log; the aim is
  none), and that every ticket holds exactly one comment.
- **banana**: a reply to N Banana cases against a **bare loop** posting
  the same comments (one httpx client, one connection, sequential, each
  with its ``ExternalId``) to the same simulator; the ratio of the hub's
  time (storing the reply and delivering it) to the bare loop's (the
  acceptance bound: 1.2 at 10,000 cases), and exactly one comment each.

Run from the repository root::

    python bench/reply_rate.py                  # 1,000 tickets (about 9 minutes), 10,000 cases
    python bench/reply_rate.py --quick          # CI: 200 tickets (about a minute), 2,000 cases
    python bench/reply_rate.py --only banana --profile   # where the hub's time goes

Timings are reported, not asserted (``--check`` exits 1 when the Banana
ratio is above ``--max-ratio`` or a ``429`` came).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import math
import os
import pstats
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SOURCES = [
    str(ROOT / "src"),
    str(ROOT / "plugins" / "banana" / "src"),
    str(ROOT / "plugins" / "strawberry" / "src"),
]
sys.path[:0] = SOURCES

import supporthub  # noqa: E402

MESSAGE = "Card payments failed with error 4711: found and fixed. Sorry for the trouble."


# -- the simulator's process ---------------------------------------------------------


def serve_simulator(kind: str, n: int, limit: int) -> int:
    """Serve ``n`` open cases of one problem until stdin ends; answer counts on request."""
    import attrs  # noqa: PLC0415

    # The benchmark drives the plug-ins' simulators; the core never imports them.
    from supporthub_banana.simulator import BananaSimulator  # noqa: PLC0415, TID251
    from supporthub_strawberry.simulator import StrawberrySimulator  # noqa: PLC0415, TID251

    sim: Any = (
        BananaSimulator(n=0, seed=1)
        if kind == "banana"
        else StrawberrySimulator(n=0, seed=1, write_rate_limit_per_minute=limit)
    )
    rng = random.Random(kind)
    ids = []
    for _ in range(n):
        spec = attrs.evolve(
            sim.generator.new_spec(0, rng, 0),
            provider="Acme Pay",
            provider_canonical="Acme Pay",
            error_code="4711",
            error_code_style=0,
            is_open=True,
        )
        ids.append(str(sim.add(spec)))
    with sim:
        answer: dict[str, Any] = {"url": sim.url, "ids": ids}
        if kind == "banana":
            answer |= {"client_id": sim.client_id, "client_secret": sim.client_secret}
        else:
            answer |= {"api_key": sim.api_key}
        print(json.dumps(answer), flush=True)
        for line in sys.stdin:
            message = json.loads(line)["count"]
            keys = [int(i) for i in ids] if kind == "strawberry" else ids
            counts = [sim.comment_count(key, message) for key in keys]
            writes = [r for r in sim.requests.all() if r.method != "GET"]
            stats = {
                "one_each": all(c == 1 for c in counts),
                "comments": sum(counts),
                "duplicates": len(sim.comments.duplicates()),
                "writes": len(writes),
                "429": sum(r.status == 429 for r in writes),
            }
            print(json.dumps(stats), flush=True)
    return 0


class SimProcess:
    """A simulator process of this script, steered over its stdin."""

    def __init__(self, kind: str, n: int, limit: int = 100) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(SOURCES)}
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve-sim", kind, str(n), str(limit)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        self.info: dict[str, Any] = json.loads(self.process.stdout.readline())

    def stats(self, message: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps({"count": message}) + "\n")
        self.process.stdin.flush()
        stats: dict[str, Any] = json.loads(self.process.stdout.readline())
        return stats

    def close(self) -> None:
        self.process.communicate("", timeout=60)


# -- the hub -------------------------------------------------------------------------


def hub_for(kind: str, sim: SimProcess, database_url: str, limit: int) -> supporthub.Hub:
    import supporthub_banana  # noqa: PLC0415, TID251
    import supporthub_strawberry  # noqa: PLC0415, TID251

    manager = supporthub.make_plugin_manager(entry_points=False)
    manager.register(supporthub_banana if kind == "banana" else supporthub_strawberry, name=kind)
    info = sim.info
    env = {"SUPPORTHUB_DATABASE_URL": database_url, "SUPPORTHUB_LOG_LEVEL": "WARNING"}
    if kind == "banana":
        env |= {
            "SUPPORTHUB_BANANA_URL": info["url"],
            "SUPPORTHUB_BANANA_CLIENT_ID": info["client_id"],
            "SUPPORTHUB_BANANA_CLIENT_SECRET": info["client_secret"],
        }
    else:
        env |= {
            "SUPPORTHUB_STRAWBERRY_URL": info["url"],
            "SUPPORTHUB_STRAWBERRY_API_KEY": info["api_key"],
            "SUPPORTHUB_STRAWBERRY_WRITES_PER_MINUTE": str(limit),
        }
    hub = supporthub.Hub.from_env(env, plugins=manager)
    hub.refresh(force=True)
    return hub


def hub_reply(hub: supporthub.Hub, n: int, message: str, *, show: bool = False) -> float:
    """Store a reply to the one aggregated case and deliver it; seconds it took.

    :param show: print the progress as ``supporthub reply`` shows it: a line
        each time another tenth of the cases is answered.
    """
    (agg,) = hub.all().aggregated_cases
    assert agg.open_case_count == n, (agg.open_case_count, n)
    began = time.perf_counter()
    shown = [0]

    def progress(reply: Any) -> None:
        done = reply.delivered + reply.failed
        if show and done >= shown[0] + max(1, n // 10):
            shown[0] = done
            took = time.perf_counter() - began
            print(f"  {done:,}/{n:,} answered after {took:.0f} s", flush=True)

    accepted = hub.reply(agg.id, message=message, by="bench")
    # As `supporthub reply` follows it: a look each 0.5 s.
    done = hub.deliver(accepted.id, progress=progress)
    seconds = time.perf_counter() - began
    assert done is not None
    assert done.state == "done", done
    return seconds


def bare_loop(sim: SimProcess, message: str) -> float:
    """POST the comments one by one, each with an ExternalId; seconds it took."""
    info = sim.info
    with httpx.Client(base_url=info["url"], timeout=60) as client:
        began = time.perf_counter()
        token = client.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": info["client_id"],
                "client_secret": info["client_secret"],
            },
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        for n, case_id in enumerate(info["ids"]):
            answer = client.post(
                f"/api/v2/cases/{case_id}/comments",
                json={"Body": message, "IsPublished": True, "ExternalId": f"bare-{n}"},
                headers=headers,
            )
            assert answer.status_code == 201, answer.text
        return time.perf_counter() - began


# -- the two measurements --------------------------------------------------------------


def strawberry(n: int, limit: int, database_url: str) -> bool:
    sim = SimProcess("strawberry", n, limit)
    try:
        hub = hub_for("strawberry", sim, database_url, limit)
        try:
            seconds = hub_reply(hub, n, MESSAGE, show=True)
        finally:
            hub.close()
        stats = sim.stats(MESSAGE)
    finally:
        sim.close()
    least = (math.ceil(n / limit) - 1) * 60.0
    print(
        f"strawberry: a reply to {n:,} tickets at {limit} updates a minute took "
        f"{seconds:.1f} s (the limit allows no less than {least:.0f} s: the first {limit} "
        f"at once, then {limit} a minute); {stats['writes']} updates sent, "
        f"{stats['429']} answered 429; every ticket exactly one comment: {stats['one_each']} "
        f"({stats['comments']} comments, {stats['duplicates']} duplicates)"
    )
    return bool(stats["429"] == 0 and stats["one_each"] and seconds >= least)


def banana(n: int, database_url: str, profile: bool, max_ratio: float) -> bool:
    sim = SimProcess("banana", n)
    try:
        hub = hub_for("banana", sim, database_url, 100)
        try:
            bare_s = bare_loop(sim, MESSAGE + " (bare)")
            if profile:
                profiler = cProfile.Profile()
                hub_s = profiler.runcall(hub_reply, hub, n, MESSAGE)
            else:
                hub_s = hub_reply(hub, n, MESSAGE)
        finally:
            hub.close()
        stats = sim.stats(MESSAGE)
        bare_stats = sim.stats(MESSAGE + " (bare)")
    finally:
        sim.close()
    ratio = hub_s / bare_s
    print(
        f"banana: a reply to {n:,} cases took {hub_s:.2f} s ({n / hub_s:,.0f}/s), "
        f"a bare loop posting the same comments {bare_s:.2f} s ({n / bare_s:,.0f}/s): "
        f"ratio {ratio:.2f} (bound {max_ratio:g}); every case exactly one comment: "
        f"{stats['one_each'] and bare_stats['one_each']} ({stats['duplicates']} duplicates)"
    )
    if profile:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return bool(ratio <= max_ratio and stats["one_each"])


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["--serve-sim"]:
        return serve_simulator(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run for CI")
    parser.add_argument("--tickets", type=int, help="Strawberry tickets (1,000; --quick: 200)")
    parser.add_argument("--limit", type=int, default=100, help="Strawberry updates a minute")
    parser.add_argument("--cases", type=int, help="Banana cases (10,000; --quick: 2,000)")
    parser.add_argument("--only", choices=["banana", "strawberry"])
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--profile", action="store_true", help="profile the Banana reply")
    parser.add_argument("--check", action="store_true", help="exit 1 when a bound is missed")
    parser.add_argument("--max-ratio", type=float, default=1.2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    tickets = args.tickets or (200 if args.quick else 1000)
    cases = args.cases or (2000 if args.quick else 10_000)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("banana", "strawberry"):
            if args.only not in (None, kind):
                continue
            url = args.database_url or f"sqlite:///{Path(tmp) / f'{kind}.db'}"
            if kind == "banana":
                ok &= banana(cases, url, args.profile, args.max_ratio)
            else:
                ok &= strawberry(tickets, args.limit, url)
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    raise SystemExit(main())
