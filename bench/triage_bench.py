"""The triage list view at N aggregated cases on MariaDB: p50/p99 of one client.

::

    python bench/triage_bench.py                  # N = 50,000, 300 requests
    python bench/triage_bench.py --n 5000 --requests 100

Fills a throw-away MariaDB database directly (aggregated cases, one case
each, and work on a share of them), then measures
``/search?owner=none&state=investigating&limit=100&casesLimit=0``:

- **cold**: in the library, the kept answers cleared before every request,
  so every request runs its queries and encodes its answer;
- **served**: over HTTP against ``supporthub serve``, as a browser gets it
  (a repeated list view is served from the answers kept per data version).

It prints the figures and the query plan of the filtered page as JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))

from hub_bench import Service, percentile, sequential

import supporthub
from supporthub._store.schema import aggregated_cases, cases, meta, work

SERVER = os.environ.get("BENCH_MARIADB", "mysql+pymysql://root@127.0.0.1:3306")
PATH = "/search?owner=none&state=investigating&limit=100&casesLimit=0"
STATES = ["untriaged"] * 10 + ["investigating"] * 6 + ["fixed"] * 6 + ["ignored"] * 2
CHUNK = 5000


def fill(engine: sa.Engine, n: int, rng: random.Random) -> dict[str, int]:
    """N aggregated cases with one case each; work on a third of them."""
    now = dt.datetime.now(dt.UTC)
    investigating_unowned = 0
    with engine.begin() as connection:
        for start in range(0, n, CHUNK):
            aggs, members, works = [], [], []
            for i in range(start, min(n, start + CHUNK)):
                agg_id = f"{i:032x}"
                created = now - dt.timedelta(minutes=rng.randrange(14 * 24 * 60))
                count = rng.choice([1, 1, 1, 2, 3, 5, 8, 40])
                is_open = rng.random() < 0.6
                aggs.append(
                    {
                        "id": agg_id,
                        "provider_key": f"provider {i % 5000}",
                        "error_code_key": str(i),
                        "provider": f"Provider {i % 5000}",
                        "is_open": is_open,
                        "case_count": count,
                        "open_case_count": count if is_open else 0,
                        "first_created_at": created,
                        "last_updated_at": created,
                        "rules_version": "default@1",
                        "first_seen_at": created,
                    }
                )
                members.append(
                    {
                        "source": "banana",
                        "source_id": f"c{i}",
                        "agg_id": agg_id,
                        "is_open": is_open,
                        "provider": f"Provider {i % 5000}",
                        "error_code": str(i),
                        "created_at": created,
                        "updated_at": created,
                    }
                )
                if rng.random() < 1 / 3:
                    state = rng.choice(STATES)
                    owner = None if rng.random() < 0.5 else f"engineer {rng.randrange(40)}"
                    investigating_unowned += state == "investigating" and owner is None
                    works.append(
                        {"agg_id": agg_id, "owner": owner, "state": state, "updated_at": now}
                    )
            connection.execute(sa.insert(aggregated_cases), aggs)
            connection.execute(sa.insert(cases), members)
            if works:
                connection.execute(sa.insert(work), works)
        connection.execute(
            sa.insert(meta), [{"key": "data_version", "value": secrets.token_hex(8)}]
        )
    return {"aggregatedCases": n, "investigatingUnowned": investigating_unowned}


def cold(hub: supporthub.Hub, requests: int) -> dict[str, Any]:
    query = hub.resolve_query(
        supporthub.SearchQuery(owner="none", state="investigating", limit=100, cases_limit=0)
    )
    latencies = []
    for i in range(requests + 10):
        hub._answers.clear()
        began = time.perf_counter()
        body = b"".join(hub.iter_json(query))
        if i >= 10:  # warm-up first
            latencies.append((time.perf_counter() - began) * 1000)
    assert json.loads(body)["count"] <= 100
    return {
        "requests": len(latencies),
        "p50_ms": round(percentile(latencies, 0.50), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
    }


def plan(engine: sa.Engine, hub: supporthub.Hub) -> list[dict[str, Any]]:
    from supporthub._store.reading import SqlReader  # noqa: PLC0415

    query = hub.resolve_query(
        supporthub.SearchQuery(owner="none", state="investigating", limit=100)
    )
    with engine.connect() as connection:
        reader = SqlReader(connection, hub.store)
        captured: list[str] = []

        @sa.event.listens_for(connection, "before_cursor_execute")
        def keep(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
            captured.append(connection.connection.cursor().mogrify(statement, parameters))

        reader.rows(query, after=None, limit=101)
        rows = connection.exec_driver_sql("EXPLAIN " + captured[-1]).mappings().all()
    return [{k: v for k, v in row.items() if v is not None} for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(14)
    name = f"supporthub_triage_bench_{secrets.token_hex(4)}"
    server = sa.create_engine(SERVER)
    with server.begin() as connection:
        connection.exec_driver_sql(
            f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        )
    url = f"{SERVER}/{name}"
    try:
        hub = supporthub.Hub.from_env({"SUPPORTHUB_DATABASE_URL": url})
        hub.upgrade_db()
        engine = sa.create_engine(url)
        figures: dict[str, Any] = {"data": fill(engine, args.n, rng), "path": PATH}
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE TABLE aggregated_cases, aggregated_case_work")
        figures["cold"] = cold(hub, args.requests)
        service = Service({**os.environ, "SUPPORTHUB_DATABASE_URL": url})
        try:
            figures["served"] = sequential(service.url, [PATH], args.requests)
        finally:
            service.close()
        figures["plan"] = plan(engine, hub)
        figures["load_average"] = list(os.getloadavg())
        hub.close()
        engine.dispose()
        print(json.dumps(figures, indent=2, default=str))
    finally:
        with server.begin() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        server.dispose()


if __name__ == "__main__":
    main()
