"""The list views at scale (issue 16) and the triage view (issue 14), filled straight into the DB.

::

    python bench/triage_bench.py                            # N = 50,000 cases per source, MariaDB
    python bench/triage_bench.py --n 1000000 --workers 1 2  # 1M per source, 1 and 2 processes
    python bench/triage_bench.py --n 2000 --requests 50 --wrk-seconds 2   # a smoke run

Fills a throw-away MariaDB database directly (no simulators, no refresh:
filling 1,000,000 cases per source this way takes minutes instead of most
of an hour): ``N`` cases per source in about ``N`` aggregated cases, the
largest of tens of thousands of cases (``N / 5``, at most 60,000), a few
more big ones, the rest of one to three cases; provider names of one to
three pronounceable words, error codes like ``E-1042``, work (owner,
state) on a third of the aggregated cases. Then, against ``supporthub
serve`` (``--workers`` processes, scheduler off):

- **one client**: p50/p99 of sequential requests for ``/search`` (mixed
  filters: status, provider, error code, ``q``, owner and state),
  ``/get-all`` (its first pages), the triage view
  ``/search?owner=none&state=investigating`` (all ``limit=100&casesLimit=0``)
  and ``/aggregated-cases/{largest}?casesLimit=100``, asked in turn,
  ``--pace`` apart, for ``--one-client-seconds`` (61: a turn of the minute
  inside, when the kept answers turn over) and ``--requests`` each at least;
- **16 connections**: ``wrk -c16`` on the same paths, requests per second and p99;
- **cold**: the same questions in the library with the kept answers
  cleared before every request, so each one runs its queries and encodes
  its answer (what the first reader after a refresh, or a new page, pays).

It prints each figure with its target and pass/miss, the load average
beside each, and writes the run as JSON (``--json``). ``--db URL`` reuses a
database filled by an earlier run (``--keep``) instead of filling one.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))

from _own_mariadb import available as own_server_available
from _own_mariadb import own_server
from hub_bench import SERVER_SETTINGS, Row, Service, SimProcess, percentile, print_table, wrk
from search_q import words

import supporthub
from supporthub.grouping.normalize import error_code_key, provider_key
from supporthub.service._params import listing_query
from supporthub.store.schema import aggregated_cases, cases, meta, work
from supporthub.store.search_terms import rebuild

#: The server's URL without a database: ``BENCH_MARIADB``, or the benchmark's own server (main).
SERVER = os.environ.get("BENCH_MARIADB", "mysql+pymysql://root@127.0.0.1:3306")
LISTS = "limit=100&casesLimit=0"
TRIAGE = f"/search?owner=none&state=investigating&{LISTS}"
STATES = ["untriaged"] * 10 + ["investigating"] * 6 + ["fixed"] * 6 + ["ignored"] * 2
CHUNK = 5000
#: Targets of issue 16 (list views, largest aggregated case) and issue 14 (triage).
LIST_P99_MS, CASE_P99_MS, RATE, LOADED_P99_MS = 15.0, 50.0, 600.0, 100.0
#: During a full refresh, list-view p99 at most this many times its idle value (issue 16).
REFRESH_SLOWDOWN = 3.0


def load() -> float:
    return round(os.getloadavg()[0], 2)


def step(text: str) -> None:
    print(f"[{dt.datetime.now(dt.UTC):%H:%M:%S}] load {load():.2f}: {text}", flush=True)


def sizes(n: int) -> list[int]:
    """Cases per aggregated case: ``2 n`` cases in about ``n`` aggregated cases."""
    largest = min(60_000, max(10, n // 5))
    big = [max(1, largest >> k) for k in range(10)]
    rest = 2 * n - sum(big)
    count = max(1, n - len(big))
    share, extra = divmod(rest, count)
    return big + [share + (i < extra) for i in range(count)]


@functools.cache
def _keys(name: str, code: str) -> tuple[str | None, str | None]:
    return provider_key(name), error_code_key(code)


def fill(engine: sa.Engine, n: int, rng: random.Random) -> dict[str, Any]:
    """The aggregated cases, their cases and work; what the paths below ask for."""
    now = dt.datetime.now(dt.UTC)
    vocabulary = words(rng, 4000)
    names = [
        " ".join(rng.choice(vocabulary).title() for _ in range(rng.randint(1, 3)))
        for _ in range(max(50, n // 4))
    ]
    names[0] = "Nakatomi Trading"
    counts = sizes(n)
    case_number = 0
    with engine.begin() as connection:
        aggs: list[dict[str, Any]] = []
        members: list[dict[str, Any]] = []
        works: list[dict[str, Any]] = []

        def flush() -> None:
            for table, rows in ((aggregated_cases, aggs), (cases, members), (work, works)):
                if rows:
                    connection.execute(sa.insert(table), rows)
                    rows.clear()

        for i, count in enumerate(counts):
            agg_id = f"{i:032x}"
            name = names[i % len(names)]
            code = f"E-{1042 if i == 0 else rng.randint(1, 99999)}"
            pkey, ckey = _keys(name, code)
            is_open = i < 10 or rng.random() < 0.6
            first = now - dt.timedelta(minutes=rng.randrange(30 * 24 * 60))
            last = first
            open_count = 0
            for j in range(count):
                age = max(1, int((now - first).total_seconds()))
                created = first + dt.timedelta(seconds=rng.randrange(age))
                case_open = is_open and (j % 3 != 0 or count == 1)
                open_count += case_open
                last = max(last, created)
                source = "banana" if case_number % 2 else "strawberry"
                members.append(
                    {
                        "source": source,
                        "source_id": f"c{case_number}",
                        "agg_id": agg_id,
                        "number": str(case_number),
                        "subject": f"{name} fails with {code}",
                        "is_open": case_open,
                        "priority": "High",
                        "provider": name,
                        "error_code": code,
                        "created_at": created,
                        "updated_at": created,
                        "url": f"https://{source}.example/cases/c{case_number}",
                    }
                )
                case_number += 1
            aggs.append(
                {
                    "id": agg_id,
                    "provider_key": pkey,
                    "error_code_key": ckey,
                    "key_extra": "[]",
                    "provider": name,
                    "is_open": open_count > 0,
                    "case_count": count,
                    "open_case_count": open_count,
                    "first_created_at": first,
                    "last_updated_at": last,
                    "rules_version": "default@1",
                    "first_seen_at": first,
                }
            )
            if rng.random() < 1 / 3:
                state = rng.choice(STATES)
                owner = None if rng.random() < 0.5 else f"engineer {rng.randrange(40)}"
                works.append({"agg_id": agg_id, "owner": owner, "state": state, "updated_at": now})
            if len(members) >= CHUNK:
                flush()
        flush()
        rebuild(connection)  # the word index of `q`, as the hub's writer keeps it
        connection.execute(sa.delete(meta).where(meta.c.key == "data_version"))
        connection.execute(
            sa.insert(meta), [{"key": "data_version", "value": secrets.token_hex(8)}]
        )
    codes = [_keys(names[i % len(names)], "")[0] for i in (3, 4)]
    return {
        "cases_per_source": n,
        "cases": case_number,
        "aggregated_cases": len(counts),
        "largest": {"id": f"{0:032x}", "case_count": counts[0]},
        "provider": names[5],
        "common_words": [w for w in codes if w],
    }


def paths(base: str, data: dict[str, Any]) -> dict[str, list[str]]:
    """The paths of each figure; /get-all's first pages through their cursors."""
    pages = [f"/get-all?{LISTS}"]
    with httpx.Client(base_url=base, timeout=120) as client:
        for _ in range(4):
            cursor = client.get(pages[-1]).json()["nextCursor"]
            if cursor is None:
                break
            pages.append(f"/get-all?{LISTS}&cursor={quote(cursor)}")
        some = client.get(f"/search?status=closed&{LISTS}").json()["aggregatedCases"]
    code = next((a["errorCode"] for a in some if a.get("errorCode")), "1042")
    word = data["provider"].split()[0].lower()[:2]
    return {
        "search": [
            f"/search?status=open&{LISTS}",
            f"/search?provider={quote(data['provider'])}&{LISTS}",
            f"/search?errorCode={quote(code)}&status=closed&{LISTS}",
            f"/search?q=naka&{LISTS}",
            f"/search?q=naka+trad&status=open&{LISTS}",
            f"/search?q={word}&{LISTS}",
            f"/search?q=1042&{LISTS}",
            f"/search?owner=none&state=fixed&status=open&{LISTS}",
        ],
        "get_all": pages,
        "triage": [TRIAGE],
        "aggregated_case": [f"/aggregated-cases/{data['largest']['id']}?casesLimit=100"],
    }


def one_client(
    base: str, wanted: dict[str, list[str]], requests: int, seconds: float, pace: float
) -> dict[str, dict[str, Any]]:
    """p50/p99 (ms) of each figure from one client asking them in turn.

    After one warm-up of each path, the figures take turns (each cycling
    through its own paths), ``pace`` seconds apart, until every figure has
    ``requests`` answers and ``seconds`` have passed: 61 or more take in a
    turn of the minute, which the kept answers are kept by (a p99 of half a
    second of requests told nothing about it).
    """
    latencies: dict[str, list[float]] = {name: [] for name in wanted}
    with httpx.Client(base_url=base, timeout=120) as client:
        for some in wanted.values():
            for path in some:
                client.get(path).raise_for_status()
        began = time.perf_counter()
        turns = 0
        while turns < requests or time.perf_counter() - began < seconds:
            for name, some in wanted.items():
                start = time.perf_counter()
                response = client.get(some[turns % len(some)])
                latencies[name].append((time.perf_counter() - start) * 1000)
                response.raise_for_status()
                time.sleep(pace)
            turns += 1
        span = time.perf_counter() - began
    return {
        name: {
            "requests": len(values),
            "p50_ms": round(percentile(values, 0.50), 2),
            "p99_ms": round(percentile(values, 0.99), 2),
            "max_ms": round(max(values), 2),
            "span_seconds": round(span, 1),
            "pace_ms": pace * 1000,
            "load": load(),
        }
        for name, values in latencies.items()
    }


def cold(url: str, wanted: list[str], requests: int) -> dict[str, Any]:
    """p50/p99 (ms) in the library with the kept answers cleared before each request."""
    hub = supporthub.Hub.from_env({"SUPPORTHUB_DATABASE_URL": url})
    latencies = []
    try:
        for i in range(requests + len(wanted)):
            path = wanted[i % len(wanted)]
            target = httpx.URL(path)
            params = list(target.params.multi_items())
            hub._answers.clear()
            began = time.perf_counter()
            if target.path.startswith("/aggregated-cases/"):
                agg_id = target.path.rsplit("/", 1)[1]
                limit = int(dict(params)["casesLimit"])
                body = b"".join(hub.iter_aggregated_case_json(agg_id, cases_limit=limit))
            else:
                search = listing_query(params, filters=target.path == "/search")
                body = b"".join(hub.iter_json(hub.resolve_query(search)))
            if i >= len(wanted):  # one warm-up of each first
                latencies.append((time.perf_counter() - began) * 1000)
            assert body.startswith(b"{")
    finally:
        hub.close()
    return {
        "requests": len(latencies),
        "p50_ms": round(percentile(latencies, 0.50), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "max_ms": round(max(latencies), 2),
        "load": load(),
    }


def serve_and_measure(
    url: str, data: dict[str, Any], args: argparse.Namespace, workers: int
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """One client, then 16 connections, on every path against ``serve --workers``."""
    env = {**os.environ, "SUPPORTHUB_DATABASE_URL": url}
    service = Service(env, *(["--workers", str(workers)] if workers != 1 else []))
    try:
        wanted = paths(service.url, data)
        asked = one_client(service.url, wanted, args.requests, args.one_client_seconds, args.pace)
        served: dict[str, Any] = {name: {"sequential": figures} for name, figures in asked.items()}
        with tempfile.TemporaryDirectory() as folder:
            for name, some in wanted.items():
                loaded = wrk(service.url, some, args.wrk_seconds, 16, Path(folder))
                served[name]["wrk16"] = {**loaded, "load": load()}
    finally:
        service.close()
    return served, wanted


@contextlib.contextmanager
def full_refresh_running(n: int, server: sa.Engine, nice: int) -> Iterator[dict[str, Any]]:
    """Full refreshes of ``n`` cases per source from the simulators, one after
    another, until the block ends; yields what ran (filled in at the end).

    Each into an empty database of its own on the same server (the same cores,
    buffer pool and disk as the readers): a full refresh at a million cases
    per source now takes less time than the measurement, so another starts
    when one ends (the database emptied first, a second or two). The last is
    stopped when the block ends: its one transaction rolls back and the
    database is dropped. Readers of the database being refreshed see the
    state before it until it commits (one transaction), so what a refresh
    costs them is this contention.

    The refreshes run at niceness ``nice``, as a refresh from cron beside the
    service should (docs/deploying.md); the simulators at 10: they stand in
    for the CRMs, whose cores a deployment does not share.
    """
    name = f"supporthub_list_refresh_{secrets.token_hex(4)}"
    sims = [SimProcess("banana", n), SimProcess("strawberry", n)]
    for sim in sims:
        os.setpriority(os.PRIO_PROCESS, sim.process.pid, 10)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTHUB_")}
    env.update({"SUPPORTHUB_DATABASE_URL": f"{SERVER}/{name}", "SUPPORTHUB_LOG_LEVEL": "WARNING"})
    for sim in sims:
        env.update(sim.env())
    command = [
        "nice", "-n", str(nice), sys.executable, "-c",
        "import sys; from supporthub.cli import main; sys.exit(main())", "refresh", "--force",
    ]  # fmt: skip
    stop = threading.Event()
    ran: dict[str, Any] = {"refreshes": 0, "completed": 0, "refreshing_seconds": 0.0}
    failures: list[str] = []

    def empty_database() -> None:
        with server.begin() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
            connection.exec_driver_sql(
                f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )
        hub = supporthub.Hub.from_env(env)
        hub.upgrade_db()
        hub.close()

    def keep_refreshing() -> None:
        while not stop.is_set():
            empty_database()
            began = time.perf_counter()
            process = subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            ran["refreshes"] += 1
            while process.poll() is None and not stop.wait(0.2):
                pass
            if process.poll() is None:
                process.terminate()
            process.wait()
            ran["refreshing_seconds"] += time.perf_counter() - began
            if not stop.is_set():
                if process.returncode != 0:
                    failures.append(process.stderr.read().decode()[-2000:])  # type: ignore[union-attr]
                    return
                ran["completed"] += 1

    refresher = threading.Thread(target=keep_refreshing, name="bench-refresher")
    started = time.perf_counter()
    refresher.start()
    try:
        time.sleep(20)  # past the first one's start: fetching and writing
        if failures:
            raise SystemExit(f"the refresh failed: {failures[0]}")
        began = time.perf_counter()
        yield ran
        ran["measured_seconds"] = round(time.perf_counter() - began, 1)
    finally:
        stop.set()
        refresher.join()
        ran["refreshing_seconds"] = round(ran["refreshing_seconds"], 1)
        ran["span_seconds"] = round(time.perf_counter() - started, 1)
        for sim in sims:
            sim.process.terminate()
            sim.process.wait()
        with server.begin() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
    if failures:
        raise SystemExit(f"a refresh failed: {failures[0]}")


def measure(url: str, data: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    wanted: dict[str, list[str]] = {}
    for workers in args.workers:
        step(f"service with {workers} worker process(es)")
        figures[f"workers={workers}"], wanted = serve_and_measure(url, data, args, workers)
    if args.during_refresh:
        workers = args.workers[0]
        step(f"service with {workers} worker process(es), during a full refresh")
        server = sa.create_engine(SERVER)
        with full_refresh_running(data["cases_per_source"], server, args.refresh_nice) as ran:
            figures["during_refresh"], _ = serve_and_measure(url, data, args, workers)
        figures["during_refresh"]["workers"] = workers
        figures["during_refresh"]["refresh_nice"] = args.refresh_nice
        figures["during_refresh"]["refreshes"] = ran
    step("cold: in the library, kept answers cleared")
    figures["cold"] = {name: cold(url, some, args.cold_requests) for name, some in wanted.items()}
    figures["paths"] = wanted
    return figures


def table(result: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []

    def add(figure: str, value: float, unit: str, op: str, bound: float, at: float) -> None:
        ok = value <= bound if op == "<=" else value >= bound
        shown = f"{'≤' if op == '<=' else '≥'} {bound:g} {unit}"
        rows.append(Row(f"{figure} (load {at})", value, unit, shown, ok))

    for name in ("search", "get_all", "triage", "aggregated_case"):
        limit = CASE_P99_MS if name == "aggregated_case" else LIST_P99_MS
        for label, served in result["figures"].items():
            if not label.startswith("workers="):
                continue
            one = served[name]["sequential"]
            add(f"{name}, {label}: p99 one client", one["p99_ms"], "ms", "<=", limit, one["load"])
            loaded = served[name]["wrk16"]
            if "error" in loaded:
                continue
            if name != "aggregated_case":
                at, rate, p99 = loaded["load"], loaded["requests_per_s"], loaded["p99_ms"]
                if not rate:  # nothing answered within wrk's timeout
                    p99 = float("inf")
                add(f"{name}, {label}: req/s 16 connections", rate, "/s", ">=", RATE, at)
                add(f"{name}, {label}: p99 16 connections", p99, "ms", "<=", LOADED_P99_MS, at)
        chill = result["figures"]["cold"][name]
        add(f"{name}, cold: p99 one client", chill["p99_ms"], "ms", "<=", limit, chill["load"])
        during = result["figures"].get("during_refresh")
        if during is not None and name in during:
            idle = result["figures"][f"workers={during['workers']}"][name]
            for figure, label in (("sequential", "one client"), ("wrk16", "16 connections")):
                busy = during[name][figure]
                ratio = busy["p99_ms"] / max(idle[figure]["p99_ms"], 0.001)
                shown = f"{name}, during a full refresh: p99 {label} / idle ({busy['p99_ms']} ms)"
                add(shown, round(ratio, 2), "x", "<=", REFRESH_SLOWDOWN, busy["load"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="cases per source")
    parser.add_argument(
        "--requests", type=int, default=300, help="one client: requests per figure at least"
    )
    parser.add_argument(
        "--one-client-seconds",
        type=float,
        default=61.0,
        help="one client: for this long at least (61: a turn of the minute inside; default)",
    )
    parser.add_argument(
        "--pace", type=float, default=0.005, help="one client: seconds between requests"
    )
    parser.add_argument("--cold-requests", type=int, help="cold requests per figure (--requests)")
    parser.add_argument("--wrk-seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--db", help="a database filled by an earlier run (--keep)")
    parser.add_argument("--keep", action="store_true", help="keep the filled database")
    parser.add_argument("--json", type=Path, help="where to write the run")
    parser.add_argument(
        "--during-refresh",
        action="store_true",
        help="measure again while a full refresh of --n per source runs (simulators)",
    )
    parser.add_argument(
        "--refresh-nice", type=int, default=10, help="the niceness of that refresh (default 10)"
    )
    parser.add_argument(
        "--server",
        choices=["own", "shared"],
        help="own: start a mariadbd with the production settings (bench/_own_mariadb.py; the "
        "default); shared: the server at BENCH_MARIADB or 127.0.0.1:3306 (--db implies it)",
    )
    parser.add_argument("--buffer-pool", help="the own server's buffer pool (default 4G)")
    args = parser.parse_args()
    args.cold_requests = args.cold_requests or args.requests
    if args.server is None:
        shared = args.db or "BENCH_MARIADB" in os.environ or not own_server_available()
        args.server = "shared" if shared else "own"
    with contextlib.ExitStack() as stack:
        if args.server == "own":
            global SERVER  # noqa: PLW0603 - every helper reads the one server of this run
            host, port = stack.enter_context(own_server(args.buffer_pool))
            SERVER = f"mysql+pymysql://root@{host}:{port}"
            step(f"started the benchmark's own mariadbd at port {port}")
        run(args)


def settings(server: sa.Engine) -> dict[str, Any]:
    """What the server says of the settings that decide how fast it answers."""
    with server.connect() as connection:
        values = connection.exec_driver_sql(
            f"SELECT {', '.join('@@' + name for name in SERVER_SETTINGS)}"
        ).one()
    return dict(zip(SERVER_SETTINGS, values, strict=True))


def run(args: argparse.Namespace) -> None:
    server = sa.create_engine(SERVER)
    url, name = args.db, None
    result: dict[str, Any] = {"n": args.n, "load_start": list(os.getloadavg())}
    result["server"], result["settings"] = args.server, settings(server)
    try:
        if url is None:
            name = f"supporthub_list_bench_{secrets.token_hex(4)}"
            with server.begin() as connection:
                connection.exec_driver_sql(
                    f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                )
            url = f"{SERVER}/{name}"
            hub = supporthub.Hub.from_env({"SUPPORTHUB_DATABASE_URL": url})
            hub.upgrade_db()
            hub.close()
            engine = sa.create_engine(url)
            step(f"filling {args.n:,} cases per source")
            began = time.perf_counter()
            data = fill(engine, args.n, random.Random(16))
            with engine.begin() as connection:
                connection.exec_driver_sql(
                    "ANALYZE TABLE aggregated_cases, cases, aggregated_case_work"
                )
            engine.dispose()
            data["fill_seconds"] = round(time.perf_counter() - began, 1)
            (Path(tempfile.gettempdir()) / f"{name}.json").write_bytes(orjson.dumps(data))
            step(f"filled in {data['fill_seconds']} s: {url}")
        else:
            found = Path(tempfile.gettempdir()) / f"{url.rsplit('/', 1)[1]}.json"
            data = orjson.loads(found.read_bytes())
            args.n = result["n"] = data["cases_per_source"]
            hub = supporthub.Hub.from_env({"SUPPORTHUB_DATABASE_URL": url})
            hub.upgrade_db()  # a run of newer code migrates the kept database
            hub.close()
        result["data"] = data
        result["figures"] = measure(url, data, args)
    finally:
        if name is not None and not args.keep:
            with server.begin() as connection:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        server.dispose()
    result["load_end"] = list(os.getloadavg())
    rows = table(result)
    out = args.json or Path(__file__).parent / "results" / f"list-views-{args.n}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(f"\nlist views, N = {args.n:,} cases per source ({data['aggregated_cases']:,} aggregated")
    print(f"cases, the largest of {data['largest']['case_count']:,}); MariaDB; load average")
    print(f"at start {result['load_start']}, at end {result['load_end']}")
    shown = ", ".join(f"{name}={value}" for name, value in result["settings"].items())
    print(f"mariadb server: {result['server']}; settings: {shown}")
    print(print_table(rows))
    during = result["figures"].get("during_refresh")
    if during is not None:
        ran = during["refreshes"]
        print(
            f"during a full refresh: {ran['refreshes']} full refreshes of {args.n:,} per source "
            f"one after another ({ran['completed']} completed): refreshing "
            f"{ran['refreshing_seconds']} s of {ran['span_seconds']} s, the measurement "
            f"the last {ran.get('measured_seconds')} s (between refreshes: emptying the database)"
        )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
