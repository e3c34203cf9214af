"""The hub's write path alone against the write floor, on the benchmark's own server.

The same 200,000 synthetic cases (the shape of the simulators'), written
into an empty database twice each way, nothing fetched beside it:

- the hub's path: ``SqlWriter._write_cases`` in batches of 2,000 inside one
  writer (MariaDB: ``LOAD DATA LOCAL`` from memory, loads beside the writer);
- the write floor: PyMySQL ``executemany`` in batches of 5,000, one commit
  (as ``hub_bench.py`` measures it).

::

    python bench/write_path.py [--n 200000]

What a full refresh costs above the first figure is the fetch (decoding,
keying, the simulators) and Python's start.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from pathlib import Path
from typing import Any

import pymysql

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _own_mariadb import own_server

from supporthub.store.schema import cases
from supporthub.store.sql import SqlStore

WHEN = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def synthetic(n: int) -> list[tuple[Any, ...]]:
    """``n`` rows of ``cases``: random ids and aggregated case ids, plain text."""
    rnd = random.Random(1)
    return [
        ("banana" if i % 2 else "strawberry", f"{rnd.getrandbits(64):016x}",
         f"{rnd.getrandbits(128):032x}", f"{i:08d}", f"Refund stuck for customer {i}",
         bool(i % 3), "High", f"Provider {i % 5000}", f"E-{i % 300}",
         WHEN + dt.timedelta(seconds=i), WHEN + dt.timedelta(seconds=2 * i), f"https://crm/{i}")
        for i in range(n)
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="cases (200,000)")
    args = parser.parse_args()
    rows = synthetic(args.n)
    plain = [
        tuple(v.replace(tzinfo=None) if isinstance(v, dt.datetime) else v for v in row)
        for row in rows
    ]
    columns = [column.name for column in cases.columns]
    insert = f"INSERT INTO cases ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
    with own_server() as (host, port):
        admin = pymysql.connect(host=host, port=port, user="root", autocommit=True)

        def fresh(name: str) -> SqlStore:
            with admin.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
            store = SqlStore(f"mysql+pymysql://root@{host}:{port}/{name}")
            store.upgrade()
            return store

        for attempt in range(2):
            store = fresh(f"hub{attempt}")
            began = time.perf_counter()
            with store.writer() as writer:
                for start in range(0, len(rows), 2000):
                    writer._write_cases(rows[start : start + 2000])
            hub = time.perf_counter() - began
            store.close()
            fresh(f"floor{attempt}").close()
            target = pymysql.connect(
                host=host, port=port, user="root", database=f"floor{attempt}", charset="utf8mb4"
            )
            began = time.perf_counter()
            with target.cursor() as cursor:
                for start in range(0, len(plain), 5000):
                    cursor.executemany(insert, plain[start : start + 5000])
            target.commit()
            floor = time.perf_counter() - began
            target.close()
            print(f"{args.n:,} cases: hub's write path {hub:.2f} s, write floor {floor:.2f} s, "
                  f"ratio {hub / floor:.2f}", flush=True)  # fmt: skip
        admin.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
