"""The hub's benchmark: refresh and service against the machine's floors and a dlt peer.

One command, one process tree (``tox -e bench`` runs it with the defaults)::

    python bench/hub_bench.py                       # N = 50,000 cases per source
    python bench/hub_bench.py --quick               # CI: small N, short wrk runs
    python bench/hub_bench.py --n 1000000 --only hub --databases mariadb
    python bench/hub_bench.py --scale 100000 1000000 2000000   # per-case cost and RSS at each N

It starts the Banana and Strawberry simulators (each in its own process,
see ``_simproc.py``), then measures, in this order:

1. **fetch floor**: a bare httpx + orjson loop paging both simulators;
2. per database (MariaDB, SQLite): the hub's **full refresh** into an empty
   database (``supporthub refresh --force`` as a process, wall time and
   peak RSS), the **write floor** (the same rows, read back from the hub's
   ``cases`` table, inserted into an empty table of the same shape with the
   driver's plain bulk path, no ORM) and the **dlt peer** (``dlt_peer.py``);
3. per database a **no-change refresh**; then 1% of each source's cases
   change (0.25% each updated, closed, deleted, added) and per database an
   **incremental refresh**;
4. the **service** on MariaDB: ``/search`` (mixed filters) and ``/get-all``
   with ``limit=100&casesLimit=0`` and ``/aggregated-cases/{id}`` of the
   largest one: p50/p99 for one sequential client, then wrk with 16
   connections; then one unpaged ``/get-all`` with every case embedded, its
   time and the server's memory growth.

It prints a table (figure, value, target, pass/miss) and writes the JSON of
the run (``--json``, default ``bench/results/bench-<N>.json``). Ratios come
from the same run. The timed figures are the median of ``--rounds`` runs.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pymysql

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from _own_mariadb import available as own_server_available  # noqa: E402
from _own_mariadb import own_server  # noqa: E402
from sim_throughput import page_banana, page_strawberry  # noqa: E402

MIB = 1024 * 1024
#: The MariaDB settings the benchmark reports beside its figures
#: (docs/deploying.md says which a deployment sets).
SERVER_SETTINGS = (
    "version",
    "local_infile",
    "innodb_buffer_pool_size",
    "innodb_log_file_size",
    "innodb_flush_log_at_trx_commit",
    "innodb_flush_method",
    "max_allowed_packet",
    "wsrep_on",
)
#: InnoDB counters a scale run reports the growth of: redo written, pages
#: read from disk because the buffer pool missed them, bytes written.
SERVER_COUNTERS = ("Innodb_lsn_current", "Innodb_buffer_pool_reads", "Innodb_data_written")
MARIADB = "mariadb"
SQLITE = "sqlite"


# -- the machine ---------------------------------------------------------------


def machine() -> dict[str, Any]:
    """Cores, CPU model, memory and the load average now."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 1024 / 1024, 1)
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gib": memory,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": load(),
    }


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def rss_mib(pid: int) -> float:
    """Resident memory of a running process (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (``serve --workers``, the fetch
    processes of a refresh), Linux."""
    # Each thread lists the children it started: fetch processes start in fetch threads.
    children = {
        child
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    }
    total = rss_mib(pid)
    for child in children:
        with contextlib.suppress(OSError):
            total += rss_mib(int(child))
    return total


# -- simulators ---------------------------------------------------------------


class SimProcess:
    """A simulator in its own process; ``mutate`` goes over its stdin."""

    def __init__(self, kind: str, n: int) -> None:
        self.kind = kind
        self.process = subprocess.Popen(
            [sys.executable, str(BENCH / "_simproc.py"), kind, str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.info: dict[str, str] = self._answer()
        self.url = self.info["url"]

    def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"the {self.kind} simulator stopped (exit {self.process.wait()})")
        answer: dict[str, Any] = orjson.loads(line)
        return answer

    def mutate(self, share: float) -> dict[str, int]:
        """Change ``share`` of the cases: a quarter each updated, closed, deleted, added."""
        assert self.process.stdin is not None
        part = share / 4
        command = {"mutate": {"update": part, "close": part, "delete": part, "add": part}}
        self.process.stdin.write(orjson.dumps(command).decode() + "\n")
        self.process.stdin.flush()
        return self._answer()

    def env(self) -> dict[str, str]:
        """The hub's settings for this source."""
        if self.kind == "banana":
            return {
                "SUPPORTHUB_BANANA_URL": self.url,
                "SUPPORTHUB_BANANA_CLIENT_ID": self.info["client_id"],
                "SUPPORTHUB_BANANA_CLIENT_SECRET": self.info["client_secret"],
            }
        return {
            "SUPPORTHUB_STRAWBERRY_URL": self.url,
            "SUPPORTHUB_STRAWBERRY_API_KEY": self.info["api_key"],
        }

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            assert self.process.stdin is not None
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- databases ----------------------------------------------------------------


@dataclass
class Database:
    """One database of one kind for the hub, the write floor and the peer."""

    kind: str
    workdir: Path
    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "root"
    password: str = ""
    prefix: str = "bench_"

    def name(self, role: str) -> str:
        return f"{self.prefix}{role}_{os.getpid()}"

    def url(self, role: str) -> str:
        """The SQLAlchemy URL of an empty database for ``role`` (after :meth:`reset`)."""
        if self.kind == SQLITE:
            return f"sqlite:///{self.workdir / (role + '.db')}"
        auth = self.user + (f":{self.password}" if self.password else "")
        return f"mysql+pymysql://{auth}@{self.host}:{self.port}/{self.name(role)}"

    def connect(self, role: str | None = None) -> pymysql.Connection[Any]:
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=None if role is None else self.name(role),
            charset="utf8mb4",
            autocommit=True,
        )

    def settings(self) -> dict[str, Any]:
        """The server settings that decide how fast a large refresh writes (MariaDB)."""
        if self.kind == SQLITE:
            return {"sqlite": sqlite3.sqlite_version}
        with self.connect() as connection, connection.cursor() as cursor:
            cursor.execute(f"SELECT {', '.join('@@' + name for name in SERVER_SETTINGS)}")
            values = cursor.fetchone()
        return dict(zip(SERVER_SETTINGS, values, strict=True))

    def status(self) -> dict[str, int]:
        """InnoDB's counters that show what a refresh cost the server (MariaDB)."""
        with self.connect() as connection, connection.cursor() as cursor:
            names = ", ".join(f"'{name}'" for name in SERVER_COUNTERS)
            cursor.execute(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({names})")
            return {name.lower(): int(value) for name, value in cursor.fetchall()}

    def table_bytes(self, role: str, table: str) -> int:
        """Data and index bytes of ``table`` in ``role``'s database (MariaDB)."""
        with self.connect(role) as connection, connection.cursor() as cursor:
            cursor.execute(f"ANALYZE TABLE `{table}`")
            cursor.fetchall()
            cursor.execute(
                "SELECT data_length + index_length FROM information_schema.tables "
                "WHERE table_schema = %s AND table_name = %s",
                (self.name(role), table),
            )
            (size,) = cursor.fetchone()
        return int(size)

    def reset(self, role: str) -> None:
        """Drop and create the database for ``role``, empty."""
        if self.kind == SQLITE:
            for suffix in ("", "-wal", "-shm", ".refresh-lock"):
                (self.workdir / (role + ".db" + suffix)).unlink(missing_ok=True)
            return
        with self.connect() as connection, connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{self.name(role)}`")
            cursor.execute(f"CREATE DATABASE `{self.name(role)}` CHARACTER SET utf8mb4")

    def drop(self, role: str) -> None:
        if self.kind == MARIADB:
            with self.connect() as connection, connection.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{self.name(role)}`")
                # dlt's merge stages its rows in a database of its own.
                cursor.execute(f"DROP DATABASE IF EXISTS `{self.name(role)}_staging`")
        else:
            self.reset(role)


def write_floor(db: Database, rounds: int) -> tuple[float, int]:
    """Seconds to bulk-insert the hub's own ``cases`` rows into an empty same-shape table.

    MariaDB: PyMySQL ``executemany`` of a multi-row INSERT, batches of 5,000,
    one commit. SQLite: ``executemany`` in one transaction. No ORM.
    """
    times: list[float] = []
    if db.kind == MARIADB:
        with db.connect("hub") as source, source.cursor() as cursor:
            cursor.execute("SELECT * FROM cases")
            rows = cursor.fetchall()
            columns = [d[0] for d in cursor.description]
        for _ in range(rounds):
            db.reset("floor")
            with db.connect("floor") as target, target.cursor() as cursor:
                cursor.execute(f"CREATE TABLE cases LIKE `{db.name('hub')}`.cases")
                target.autocommit(False)
                names = ", ".join(f"`{c}`" for c in columns)
                marks = ", ".join(["%s"] * len(columns))
                sql = f"INSERT INTO cases ({names}) VALUES ({marks})"
                began = time.perf_counter()
                for start in range(0, len(rows), 5000):
                    cursor.executemany(sql, rows[start : start + 5000])
                target.commit()
                times.append(time.perf_counter() - began)
        db.drop("floor")
        return statistics.median(times), len(rows)
    hub_path = db.workdir / "hub.db"
    with contextlib.closing(sqlite3.connect(hub_path)) as source:
        ddl = [
            sql
            for (sql,) in source.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = 'cases' AND sql IS NOT NULL"
            )
        ]
        cursor = source.execute("SELECT * FROM cases")
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    for _ in range(rounds):
        db.reset("floor")
        with contextlib.closing(sqlite3.connect(db.workdir / "floor.db")) as target:
            target.isolation_level = None
            target.execute("PRAGMA journal_mode=WAL")
            target.execute("PRAGMA synchronous=NORMAL")
            for statement in ddl:
                target.execute(statement)
            sql = (
                f"INSERT INTO cases ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            )
            began = time.perf_counter()
            target.execute("BEGIN")
            target.executemany(sql, rows)
            target.execute("COMMIT")
            times.append(time.perf_counter() - began)
    db.drop("floor")
    return statistics.median(times), len(rows)


# -- the hub as processes -----------------------------------------------------


@dataclass
class Run:
    """One ``supporthub`` process: wall seconds, peak RSS, its JSON report.

    ``peak_rss_mib`` is the hub's process (wait4); ``tree_peak_rss_mib`` the
    largest sum of it and its children (the fetch processes of a full
    refresh), sampled every 20 ms: the memory the refresh takes from the
    machine, counting the pages the processes share once per process.
    """

    seconds: float
    peak_rss_mib: float
    report: dict[str, Any] = field(default_factory=dict)
    tree_peak_rss_mib: float = 0.0


class TreeRss:
    """Samples a process tree's resident memory until stopped; keeps the peak."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            with contextlib.suppress(OSError, ValueError):
                self.peak = max(self.peak, tree_rss_mib(self.pid))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


def supporthub(args: list[str], env: dict[str, str]) -> Run:
    """Run ``supporthub ARGS`` to its end; wall time and peak RSS from wait4."""
    command = [
        sys.executable,
        "-c",
        "import sys; from supporthub.cli import main; sys.exit(main())",
    ]
    profile = env.get("BENCH_PROFILE_DIR")
    if profile and args[0] == "refresh":
        # py-spy around the refresh (wall time and RSS are then py-spy's too).
        out = Path(profile) / f"refresh-{time.strftime('%H%M%S')}.txt"
        command = ["py-spy", "record", "--threads", "--idle", "--format", "raw", "-r", "50",
                   "-o", str(out), "--", *command]  # fmt: skip
    began = time.perf_counter()
    process = subprocess.Popen(
        [*command, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    # wait4 gives this child's own peak RSS; communicate() first would reap it.
    out_chunks: list[bytes] = []
    err_chunks: list[bytes] = []
    readers = [
        threading.Thread(target=lambda: out_chunks.append(process.stdout.read())),  # type: ignore[union-attr]
        threading.Thread(target=lambda: err_chunks.append(process.stderr.read())),  # type: ignore[union-attr]
    ]
    for reader in readers:
        reader.start()
    tree = TreeRss(process.pid)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - began
    tree_peak = tree.stop()
    for reader in readers:
        reader.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    out, err = b"".join(out_chunks), b"".join(err_chunks)
    if process.returncode != 0:
        raise SystemExit(
            f"supporthub {' '.join(args)} exited {process.returncode}:\n{err.decode()[-3000:]}"
        )
    report: dict[str, Any] = {}
    if "--json" in args:
        # Under BENCH_PROFILE_DIR py-spy says a line or two on stdout too.
        lines = [line for line in out.splitlines() if not line.startswith(b"py-spy>")]
        report = orjson.loads(b"\n".join(lines))
    own = usage.ru_maxrss / 1024
    return Run(seconds, own, report, max(own, tree_peak))


def hub_env(
    db: Database, sims: list[SimProcess], extra: dict[str, str] | None = None
) -> dict[str, str]:
    # Bytecode as an installed hub has it: a deployment does not recompile
    # its modules at every start (tox sets PYTHONDONTWRITEBYTECODE).
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SUPPORTHUB_") and key != "PYTHONDONTWRITEBYTECODE"
    }
    env.update({"SUPPORTHUB_DATABASE_URL": db.url("hub"), "SUPPORTHUB_LOG_LEVEL": "WARNING"})
    for sim in sims:
        env.update(sim.env())
    env.update(extra or {})
    return env


def refresh(env: dict[str, str]) -> Run:
    run = supporthub(["refresh", "--force", "--json"], env)
    for name, source in run.report["sources"].items():
        if not source["ok"]:
            raise SystemExit(f"refresh failed for {name}: {source['error']}")
    return run


def full_refresh(db: Database, sims: list[SimProcess], rounds: int) -> dict[str, Any]:
    """Full refreshes into an empty database; the last one's database stays."""
    env = hub_env(db, sims)
    runs = []
    for _ in range(rounds):
        db.reset("hub")
        supporthub(["db", "upgrade"], env)
        runs.append(refresh(env))
    written = sum(s["written"] for s in runs[-1].report["sources"].values())
    return {
        "seconds": statistics.median(r.seconds for r in runs),
        "all_seconds": [round(r.seconds, 3) for r in runs],
        "peak_rss_mib": max(r.peak_rss_mib for r in runs),
        "tree_peak_rss_mib": max(r.tree_peak_rss_mib for r in runs),
        "written": written,
    }


def dlt_peer(db: Database, sims: list[SimProcess], site: Path) -> dict[str, Any]:
    """The dlt pipeline as its own process, into an empty database; wall time."""
    db.reset("peer")
    banana = next(s for s in sims if s.kind == "banana")
    strawberry = next(s for s in sims if s.kind == "strawberry")
    url = db.url("peer")
    dataset = db.name("peer") if db.kind == MARIADB else "peer"
    command = [
        sys.executable,
        str(BENCH / "dlt_peer.py"),
        "--banana", banana.url, banana.info["client_id"], banana.info["client_secret"],
        "--strawberry", strawberry.url, strawberry.info["api_key"],
        "--db", url,
        "--dataset", dataset,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONWARNINGS": "ignore"}
    began = time.perf_counter()
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, check=False, cwd=db.workdir
    )
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"the dlt peer failed:\n{done.stderr[-3000:]}")
    inner = orjson.loads(done.stdout.strip().splitlines()[-1])
    db.drop("peer")
    for leftover in db.workdir.glob("peer*"):
        leftover.unlink()
    return {"seconds": seconds, "pipeline_seconds": inner["seconds"], "rows": inner["rows"]}


def install_dlt(site: Path) -> Path:
    """dlt[sqlalchemy] in a private folder, never in the hub's environment."""
    if (site / "dlt").is_dir():
        return site
    print(f"installing dlt[sqlalchemy] into {site} (private to the peer) …", flush=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--target", str(site), "dlt[sqlalchemy]>=1.0", "PyMySQL"],
        check=True,
    )  # fmt: skip
    return site


# -- the fetch floor ----------------------------------------------------------


def fetch_floor(sims: list[SimProcess], rounds: int) -> dict[str, Any]:
    """Seconds a bare httpx + orjson loop takes to page both simulators, storing nothing.

    The two sources are paged one after the other, each at its largest page.
    """
    times, count = [], 0
    for _ in range(rounds):
        began = time.perf_counter()
        with httpx.Client(timeout=120) as client:
            count = sum(
                page_banana(client, s.url) if s.kind == "banana" else page_strawberry(client, s.url)
                for s in sims
            )
        times.append(time.perf_counter() - began)
    return {"seconds": statistics.median(times), "records": count}


# -- the service --------------------------------------------------------------


class Service:
    """``supporthub serve`` on a free port, scheduler off."""

    def __init__(self, env: dict[str, str], *options: str) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-c", "import sys; from supporthub.cli import main; sys.exit(main())",
             "serve", "--port", str(port), *options],
            env={**env, "SUPPORTHUB_SCHEDULER": "off"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 120  # spawned worker processes start slowly when busy
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/health", timeout=2).status_code < 500:
                    return
            time.sleep(0.2)
        self.close()
        raise SystemExit("the service did not come up within 120 s")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def sequential(
    base: str, paths: list[str], requests: int, budget_s: float = 20.0
) -> dict[str, float]:
    """p50/p99 in ms of GETs one after another, cycling through ``paths``.

    ``requests`` of them, or as many as fit in ``budget_s`` seconds (at
    least 20): a big aggregated case can take a good part of a second.
    """
    latencies = []
    with httpx.Client(base_url=base, timeout=60) as client:
        for path in paths:  # warm-up: first-touch costs on the server
            client.get(path).raise_for_status()
        deadline = time.perf_counter() + budget_s
        for i in range(requests):
            began = time.perf_counter()
            response = client.get(paths[i % len(paths)])
            latencies.append((time.perf_counter() - began) * 1000)
            response.raise_for_status()
            if i >= 20 and began > deadline:
                break
    return {
        "requests": len(latencies),
        "p50_ms": round(percentile(latencies, 0.50), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
    }


_WRK_SCRIPT = """
paths = {%s}
i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def wrk(
    base: str, paths: list[str], seconds: int, connections: int, workdir: Path
) -> dict[str, Any]:
    """Requests per second and p99 (ms) from wrk, cycling through ``paths``."""
    binary = shutil.which("wrk")
    if binary is None:
        return {"error": "wrk is not installed (apt-get install wrk)"}
    script = workdir / "paths.lua"
    script.write_text(_WRK_SCRIPT % ", ".join(f'"{p}"' for p in paths))
    done = subprocess.run(
        [binary, f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency",
         "--timeout", "10s",
         "-s", str(script), base],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    text = done.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", text)
    assert p99 is not None, text
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    socket_errors = re.search(r"Socket errors: (.*)", text)
    return {
        "requests_per_s": rate,
        "p99_ms": round(float(p99.group(1)) * scale, 2),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else None,
    }


def unpaged(service: Service) -> dict[str, Any]:
    """Time and the server's peak RSS growth of one ``/get-all`` with every case embedded."""
    pid = service.process.pid
    before = tree_rss_mib(pid)
    peak = before
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss_mib(pid))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    size = 0
    began = time.perf_counter()
    try:
        with httpx.stream("GET", service.url + "/get-all", timeout=600) as response:
            response.raise_for_status()
            for chunk in response.iter_raw(1 << 20):
                size += len(chunk)
    finally:
        seconds = time.perf_counter() - began
        stop.set()
        sampler.join()
    return {
        "seconds": round(seconds, 3),
        "bytes": size,
        "rss_before_mib": round(before, 1),
        "rss_growth_mib": round(peak - before, 1),
    }


def service_figures(
    db: Database, sims: list[SimProcess], args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    requests, wrk_seconds = args.requests, args.wrk_seconds
    env = hub_env(db, sims)
    service = Service(env, "--workers", str(args.workers))
    try:
        first = httpx.get(service.url + "/get-all?limit=100&casesLimit=0", timeout=60).json()
        aggregates = first["aggregatedCases"]
        largest = max(aggregates, key=lambda a: a["caseCount"])["id"]
        providers = [a["provider"] for a in aggregates if a.get("provider")][:10]
        codes = [a["errorCode"] for a in aggregates if a.get("errorCode")][:10]
        lists = "limit=100&casesLimit=0"
        search = [
            f"/search?provider={quote(providers[0])}&{lists}",
            f"/search?status=open&{lists}",
            f"/search?errorCode={codes[0]}&status=closed&{lists}",
            *(
                f"/search?provider={quote(p)}&errorCode={c}&{lists}"
                for p, c in zip(providers[1:5], codes[1:5], strict=False)
            ),
            f"/search?status=open&status=closed&errorCode={codes[-1]}&{lists}",
        ]
        endpoints = {
            "search": search,
            "get_all": [f"/get-all?{lists}"],
            "aggregated_case": [f"/aggregated-cases/{largest}"],
        }
        figures: dict[str, Any] = {
            "largest_case_count": max(a["caseCount"] for a in aggregates),
            "workers": args.workers,
        }
        for name, paths in endpoints.items():
            figures[name] = {"paths": paths, "sequential": sequential(service.url, paths, requests)}
        for name, paths in endpoints.items():
            figures[name]["wrk16"] = wrk(service.url, paths, wrk_seconds, 16, workdir)
            figures[name]["wrk16"]["load_average"] = load()
        figures["unpaged_get_all"] = unpaged(service)
    finally:
        service.close()
    return figures


# -- the table -----------------------------------------------------------------


@dataclass
class Row:
    figure: str
    value: float | None
    unit: str
    target: str = ""
    ok: bool | None = None

    def cells(self) -> list[str]:
        value = "—" if self.value is None else f"{self.value:,.3f}".rstrip("0").rstrip(".")
        verdict = "" if self.ok is None else ("pass" if self.ok else "MISS")
        return [self.figure, f"{value} {self.unit}".strip(), self.target, verdict]


def table(result: dict[str, Any]) -> list[Row]:
    """The figures of a run, each with its target (MariaDB) and verdict."""
    rows: list[Row] = []

    def add(figure: str, value: float | None, unit: str = "", goal: str = "") -> None:
        """A row; ``goal`` like ``"<= 1.25"`` or ``">= 400"`` judges the value."""
        if not goal or value is None:
            rows.append(Row(figure, value, unit, goal.replace("<=", "≤").replace(">=", "≥")))
            return
        op, bound = goal.split()
        ok = value <= float(bound) if op == "<=" else value >= float(bound)
        shown = f"{op.replace('<=', '≤').replace('>=', '≥')} {bound} {unit}".strip()
        rows.append(Row(figure, value, unit, shown, ok))

    n = result["n"]
    add(f"fetch floor, both sources ({2 * n:,} cases)", result["fetch_floor"]["seconds"], "s")
    for kind, figures in result["databases"].items():
        judged = kind == MARIADB  # the targets are MariaDB's; SQLite is reported

        def goal(text: str, judged: bool = judged) -> str:
            return text if judged else ""

        full = figures["full"]["seconds"]
        floor = figures.get("write_floor", {}).get("seconds")
        add(f"{kind}: write floor", floor, "s")
        add(f"{kind}: full refresh", full, "s")
        add(f"{kind}: full refresh / write floor", floor and full / floor, "", goal("<= 1.25"))
        if "dlt" in figures:
            add(f"{kind}: dlt peer", figures["dlt"]["seconds"], "s")
            add(
                f"{kind}: dlt peer / full refresh",
                figures["dlt"]["seconds"] / full,
                "",
                goal(">= 5"),
            )
        rss_goal = goal("<= 286") if n >= 1_000_000 else ""  # 300 MB = 286 MiB
        add(
            f"{kind}: full refresh peak RSS, the hub's process",
            figures["full"]["peak_rss_mib"],
            "MiB",
        )
        tree = figures["full"].get("tree_peak_rss_mib", figures["full"]["peak_rss_mib"])
        add(f"{kind}: full refresh peak RSS, with its fetch processes", tree, "MiB", rss_goal)
        if "no_change" in figures:
            no_change = figures["no_change"]["seconds"]
            add(f"{kind}: no-change refresh", no_change, "s", goal("<= 1.0"))
        if "incremental" in figures:
            incremental = figures["incremental"]["seconds"]
            add(f"{kind}: incremental refresh, 1% changed", incremental, "s")
            share = (incremental - no_change) / full
            add(f"{kind}: (incremental - no-change) / full", share, "", goal("<= 0.05"))
    service = result.get("service")
    if service:
        for name in ("search", "get_all", "aggregated_case"):
            list_view = name != "aggregated_case"  # the targets are the list views'
            figures = service[name]
            add(f"{name}: p50, one client", figures["sequential"]["p50_ms"], "ms")
            p99 = figures["sequential"]["p99_ms"]
            add(f"{name}: p99, one client", p99, "ms", "<= 15" if list_view else "")
            loaded = figures["wrk16"]
            if "error" in loaded:
                add(f"{name}: wrk 16 connections", None, loaded["error"])
                continue
            rate = loaded["requests_per_s"]
            add(f"{name}: req/s, 16 connections", rate, "/s", ">= 600" if list_view else "")
            p99 = loaded["p99_ms"]
            add(f"{name}: p99, 16 connections", p99, "ms", "<= 100" if list_view else "")
        unpaged_run = service["unpaged_get_all"]
        add("unpaged /get-all: time", unpaged_run["seconds"], "s")
        growth = unpaged_run["rss_growth_mib"]
        add("unpaged /get-all: server memory growth", growth, "MiB", "<= 47.7")  # 50 MB
    return rows


def print_table(rows: list[Row]) -> str:
    header = ["figure", "value", "target", "pass/miss"]
    cells = [header, *(row.cells() for row in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |"
        for line in cells
    ]
    lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
    return "\n".join(lines)


# -- orchestration ---------------------------------------------------------------


@contextlib.contextmanager
def simulators(n: int) -> Iterator[list[SimProcess]]:
    sims: list[SimProcess] = []
    try:
        for kind in ("banana", "strawberry"):
            sims.append(SimProcess(kind, n))
        yield sims
    finally:
        for sim in sims:
            sim.close()


def step(text: str) -> None:
    print(f"[{dt.datetime.now(dt.UTC):%H:%M:%S}] load {load()[0]:.2f}: {text}", flush=True)


def database(kind: str, workdir: Path, args: argparse.Namespace) -> Database:
    """The benchmark's database of ``kind``, with the MariaDB server from ``args``."""
    return Database(
        kind,
        workdir,
        host=args.mysql_host,
        port=args.mysql_port,
        user=args.mysql_user,
        password=args.mysql_password,
    )


def run_benchmark(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    result: dict[str, Any] = {
        "n": args.n,
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "rounds": args.rounds,
        "databases": {},
    }
    dbs = [database(kind, workdir, args) for kind in args.databases]
    result["server"] = args.server
    result["server_settings"] = {db.kind: db.settings() for db in dbs}
    site = install_dlt(args.dlt_site) if "dlt" in args.only else None
    step(f"starting the simulators with {args.n:,} cases each")
    with simulators(args.n) as sims:
        step("fetch floor")
        result["fetch_floor"] = fetch_floor(sims, args.rounds)
        for db in dbs:
            figures: dict[str, Any] = {}
            result["databases"][db.kind] = figures
            step(f"{db.kind}: full refresh")
            figures["full"] = full_refresh(db, sims, args.rounds)
            figures["full"]["load_average"] = load()
            if "floor" in args.only:
                step(f"{db.kind}: write floor")
                seconds, count = write_floor(db, args.rounds)
                figures["write_floor"] = {"seconds": seconds, "rows": count, "load_average": load()}
            if site is not None:
                step(f"{db.kind}: dlt peer")
                figures["dlt"] = dlt_peer(db, sims, site)
                figures["dlt"]["load_average"] = load()
        if "incremental" in args.only:
            for db in dbs:
                step(f"{db.kind}: no-change refresh")
                runs = [refresh(hub_env(db, sims)) for _ in range(args.rounds)]
                result["databases"][db.kind]["no_change"] = {
                    "seconds": statistics.median(r.seconds for r in runs),
                    "all_seconds": [round(r.seconds, 3) for r in runs],
                    "load_average": load(),
                }
            step("changing 1% of each source's cases")
            result["mutation"] = {sim.kind: sim.mutate(0.01) for sim in sims}
            for db in dbs:
                step(f"{db.kind}: incremental refresh")
                run = refresh(hub_env(db, sims))
                result["databases"][db.kind]["incremental"] = {
                    "seconds": run.seconds,
                    "written": sum(s["written"] for s in run.report["sources"].values()),
                    "deleted": sum(s["deleted"] for s in run.report["sources"].values()),
                    "load_average": load(),
                }
        if "service" in args.only and MARIADB in args.databases:
            step("service on MariaDB")
            db = next(d for d in dbs if d.kind == MARIADB)
            result["service"] = service_figures(db, sims, args, workdir)
        for db in dbs:
            if not args.keep:
                db.drop("hub")
    result["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    result["load_average_end"] = load()
    return result


def run_scale(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Full refresh on MariaDB at each N: wall time, per-case cost, peak RSS."""
    db = database(MARIADB, workdir, args)
    result: dict[str, Any] = {
        "machine": machine(),
        "server": args.server,
        "server_settings": db.settings(),
        "scale": {},
    }
    for n in args.scale:
        step(f"scale: simulators with {n:,} cases each")
        with simulators(n) as sims:
            step(f"scale: full refresh at {n:,}")
            before = db.status()
            figures = full_refresh(db, sims, 1)
            figures["load_average"] = load()
            after = db.status()
            figures["server"] = {name: after[name] - before[name] for name in after}
            figures["cases_bytes"] = db.table_bytes("hub", "cases")
            figures["per_case_us"] = figures["seconds"] / max(1, figures["written"]) * 1e6
            result["scale"][str(n)] = figures
        db.drop("hub")
    sizes = sorted(args.scale)
    if len(sizes) >= 2:
        small, large = result["scale"][str(sizes[0])], result["scale"][str(sizes[-1])]
        result["ratio"] = large["seconds"] / small["seconds"]
        result["size_ratio"] = sizes[-1] / sizes[0]
        result["per_case_ratio"] = large["per_case_us"] / small["per_case_us"]
    return result


def scale_table(result: dict[str, Any]) -> list[Row]:
    """The scale run's figures with their targets and verdicts.

    The targets (issue 16): the per-case cost at every N within 1.3x of the
    smallest N's, and peak RSS within 300 MB (286 MiB).
    """
    rows: list[Row] = []
    sizes = sorted(int(n) for n in result["scale"])
    base = result["scale"][str(sizes[0])]["per_case_us"]
    for n in sizes:
        figures = result["scale"][str(n)]
        label = f"N = {n:,} per source ({figures['written']:,} cases)"
        rows.append(Row(f"{label}: full refresh", figures["seconds"], "s"))
        rows.append(Row(f"{label}: per case", figures["per_case_us"], "µs"))
        if n != sizes[0]:
            ratio = figures["per_case_us"] / base
            rows.append(
                Row(f"{label}: per case / at {sizes[0]:,}", ratio, "", "≤ 1.3", ratio <= 1.3)
            )
        rows.append(Row(f"{label}: peak RSS, the hub's process", figures["peak_rss_mib"], "MiB"))
        # Older runs (before fetch processes) have only the one process.
        rss = figures.get("tree_peak_rss_mib", figures["peak_rss_mib"])
        rows.append(
            Row(f"{label}: peak RSS, with its fetch processes", rss, "MiB", "≤ 286 MiB", rss <= 286)
        )
        if "server" in figures:
            written = max(1, figures["written"])
            server = figures["server"]
            rows.append(
                Row(f"{label}: cases table and indexes", figures["cases_bytes"] / MIB, "MiB")
            )
            redo = server["innodb_lsn_current"] / written
            rows.append(Row(f"{label}: redo written per case", redo, "bytes"))
            misses = server["innodb_buffer_pool_reads"]
            rows.append(Row(f"{label}: pages read from disk (buffer pool misses)", misses, ""))
        rows.append(Row(f"{label}: load average after", figures["load_average"][0], ""))
    return rows


def print_settings(result: dict[str, Any]) -> None:
    """The database settings the run measured with."""
    settings = result.get("server_settings") or {}
    if result.get("server"):
        where = {"own": "the benchmark's own mariadbd, bench/_own_mariadb.py"}
        print(f"mariadb server: {result['server']} ({where.get(result['server'], '--mysql-*')})")
    if "version" in settings:  # one server (a scale run)
        settings = {MARIADB: settings}
    for kind, values in settings.items():
        shown = ", ".join(f"{name}={value}" for name, value in values.items())
        print(f"{kind} settings: {shown}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="cases per source (50,000)")
    parser.add_argument("--quick", action="store_true", help="CI: N=2,000, 2 s wrk runs, one round")
    parser.add_argument("--rounds", type=int, default=3, help="runs per timed figure (median)")
    parser.add_argument(
        "--databases", nargs="+", choices=[MARIADB, SQLITE], default=[MARIADB, SQLITE]
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["floor", "dlt", "incremental", "service"],
        default=["floor", "dlt", "incremental", "service"],
        help="parts to run (the full refresh always runs)",
    )
    parser.add_argument("--wrk-seconds", type=int, default=20)
    parser.add_argument(
        "--workers", type=int, default=2, help="service processes (serve --workers; 2)"
    )
    parser.add_argument(
        "--requests", type=int, default=500, help="sequential requests per endpoint"
    )
    parser.add_argument(
        "--scale", type=int, nargs="+", help="only: full refresh on MariaDB at each N"
    )
    parser.add_argument("--json", type=Path, help="where to write the run (default bench/results/)")
    parser.add_argument("--dlt-site", type=Path, default=BENCH / "results" / "dlt-site")
    parser.add_argument("--keep", action="store_true", help="keep the hub databases")
    parser.add_argument(
        "--server",
        choices=["own", "shared"],
        help="own: start a mariadbd of the benchmark's own with docs/deploying.md's settings "
        "(the default, except with --quick or BENCH_MYSQL_HOST); shared: the server of --mysql-*",
    )
    parser.add_argument(
        "--buffer-pool", help="the own server's innodb_buffer_pool_size (default 4G)"
    )
    parser.add_argument("--mysql-host", default=os.environ.get("BENCH_MYSQL_HOST", "127.0.0.1"))
    parser.add_argument(
        "--mysql-port", type=int, default=int(os.environ.get("BENCH_MYSQL_PORT", "3306"))
    )
    parser.add_argument("--mysql-user", default=os.environ.get("BENCH_MYSQL_USER", "root"))
    parser.add_argument("--mysql-password", default=os.environ.get("BENCH_MYSQL_PASSWORD", ""))
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.rounds, args.wrk_seconds, args.requests = 2_000, 1, 2, 100
    args.dlt_site = args.dlt_site.resolve()
    if args.server is None:
        shared = args.quick or "BENCH_MYSQL_HOST" in os.environ or not own_server_available()
        args.server = "shared" if shared else "own"
    needs_mariadb = bool(args.scale) or MARIADB in args.databases
    with contextlib.ExitStack() as stack:
        if args.server == "own" and needs_mariadb:
            args.mysql_host, args.mysql_port = stack.enter_context(own_server(args.buffer_pool))
            args.mysql_user, args.mysql_password = "root", ""
            print(f"started the benchmark's own mariadbd at port {args.mysql_port}", flush=True)
        return measure(args)


def measure(args: argparse.Namespace) -> int:
    """Run what ``args`` asks for against the chosen server; print and write the results."""
    out = args.json or BENCH / "results" / (
        f"scale-{'-'.join(map(str, args.scale))}.json" if args.scale else f"bench-{args.n}.json"
    )
    with tempfile.TemporaryDirectory(prefix="supporthub-bench-") as tmp:
        workdir = Path(tmp)
        if args.scale:
            result = run_scale(args, workdir)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
            box = result["machine"]
            print(f"\nsupporthub scale run; {box['cores']} cores, {box['cpu']}")
            print(f"load average at start {box['load_average']}, at end {load()}")
            print_settings(result)
            print(print_table(scale_table(result)))
            print(f"wrote {out}")
            return 0
        result = run_benchmark(args, workdir)
    rows = table(result)
    result["table"] = [
        dict(zip(["figure", "value", "target", "verdict"], row.cells(), strict=True))
        for row in rows
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print()
    box = result["machine"]
    print(f"supporthub benchmark, N = {args.n:,} per source; {box['cores']} cores, {box['cpu']}")
    print(f"load average at start {box['load_average']}, at end {result['load_average_end']}")
    print_settings(result)
    print(print_table(rows))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
