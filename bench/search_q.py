"""How fast is ``/search?q=…`` on a big table? (issue 13: q must stay fast.)

Fills a database with ``--n`` aggregated cases (provider names of one to
three pronounceable words, error codes like ``E-1042``), written straight
into the table, then times ``GET /search?q=…&limit=100&casesLimit=0``
through the service for a few typed searches: rare and common word
prefixes, a two-word run, a part of an error code, one that matches nothing.
Prints the median of ``--rounds`` requests per search, each one computed
afresh (the hub's kept answers are cleared first). Run from the
repository root::

    python bench/search_q.py                                   # SQLite, 50,000
    python bench/search_q.py --db mysql+pymysql://root@127.0.0.1:3306/bench_q
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from starlette.testclient import TestClient

import supporthub
from supporthub.grouping.normalize import error_code_key, provider_key
from supporthub.service import create_app
from supporthub.store.schema import aggregated_cases

SEARCHES = ["nakatomi", "naka trad", "ka", "bo", "zu ri", "1042", "xqzz"]


def words(rng: random.Random, count: int) -> list[str]:
    consonants, vowels = "bdfgklmnprstvz", "aeiou"
    found: set[str] = set()
    while len(found) < count:
        length = rng.randint(2, 4)
        found.add("".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(length)))
    return sorted(found)


def fill(url: str, n: int) -> None:
    rng = random.Random(13)
    vocabulary = words(rng, 4000)
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    rows = []
    for number in range(n):
        name = " ".join(rng.choice(vocabulary).title() for _ in range(rng.randint(1, 3)))
        if number == 0:
            name = "Nakatomi Trading"
        code = f"E-{rng.randint(1, 99999)}"
        rows.append(
            {
                "id": f"{number:032x}",
                "provider_key": provider_key(name),
                "error_code_key": error_code_key(code),
                "key_extra": "[]",
                "provider": name,
                "is_open": number % 3 != 0,
                "case_count": 1 + number % 7,
                "open_case_count": number % 3 != 0,
                "first_created_at": now,
                "last_updated_at": now,
                "rules_version": "bench",
                "first_seen_at": now,
            }
        )
    hub = supporthub.Hub.from_env({"SUPPORTHUB_DATABASE_URL": url})
    hub.upgrade_db()
    with hub.store.writer() as writer:
        writer.connection.execute(sa.delete(aggregated_cases))
        for start in range(0, n, 5000):
            writer.connection.execute(sa.insert(aggregated_cases), rows[start : start + 5000])
    hub.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--db", help="SQLAlchemy URL (default: a SQLite file in a temp folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.db or f"sqlite:///{Path(folder) / 'bench.db'}"
        fill(url, args.n)
        hub = supporthub.Hub.from_env({"SUPPORTHUB_DATABASE_URL": url})
        with TestClient(create_app(hub, scheduler=False)) as client:
            for q in SEARCHES:
                times, total = [], 0
                for _ in range(args.rounds):
                    params = {"q": q, "limit": 100, "casesLimit": 0}
                    hub._answers.clear()  # time the query, not the kept answer
                    start = time.perf_counter()
                    answer = client.get("/search", params=params)
                    times.append(time.perf_counter() - start)
                    assert answer.status_code == 200, answer.text
                    total = answer.json()["total"]
                median = statistics.median(times) * 1000
                print(f"q={q!r:12} total={total:6d}  median {median:7.1f} ms")
        hub.close()


if __name__ == "__main__":
    main()
