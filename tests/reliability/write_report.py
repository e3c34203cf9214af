"""Render the reliability trials of one run into ``docs/reliability.md``.

Usage::

    SUPPORTHUB_RELIABILITY_REPORT=trials.jsonl pytest tests/reliability
    python tests/reliability/write_report.py trials.jsonl docs/reliability.md

The trials file holds one JSON object a line (``conftest.py`` writes them:
fault, trials, outcome, database, test). The table replaces whatever stands
between the page's ``<!-- trials:start -->`` and ``<!-- trials:end -->``
markers, headed by when, where and on which databases the run happened.
Exit code 1 when a trial failed or the file holds none: ``tox -e
reliability`` writes the page either way, and fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

START, END = "<!-- trials:start -->", "<!-- trials:end -->"

#: The issue's parts, by the test module that covers each.
PARTS = {
    "test_crm_faults": "1. CRM faults",
    "test_crash": "2. Crash safety",
    "test_reply_crash": "2. Crash safety",
    "test_database_faults": "3. Database faults",
    "test_concurrency": "4. Concurrency",
    "test_hostile_input": "5. Hostile input",
    "test_access": "6. Access",
    "test_secrets": "7. Secrets and personal data",
}


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def part_of(row: dict[str, Any]) -> str:
    module = Path(row["test"].split("::")[0]).stem
    return PARTS.get(module, module)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(rows: Iterable[dict[str, Any]]) -> str:
    order = list(PARTS.values())
    ordered = sorted(
        rows,
        key=lambda r: (
            order.index(part_of(r)) if part_of(r) in order else len(order),
            r["fault"],
            r["database"],
        ),
    )
    lines = [
        "| part | fault | database | trials | outcome |",
        "| --- | --- | --- | ---: | --- |",
    ]
    lines += [
        f"| {_cell(part_of(r))} | {_cell(r['fault'])} | {_cell(r['database'])} "
        f"| {r['trials']} | {_cell(r['outcome'])} |"
        for r in ordered
    ]
    return "\n".join(lines)


def mariadb_version(url: str) -> str:
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(url + "/", connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as connection:
                return str(connection.execute(sa.text("SELECT VERSION()")).scalar())
        finally:
            engine.dispose()
    except Exception as error:  # the page says so instead of failing
        return f"unknown ({type(error).__name__})"


def heading(rows: list[dict[str, Any]], mariadb_url: str) -> str:
    failed = sum(r["outcome"].startswith("FAILED") for r in rows)
    databases = sorted({r["database"] for r in rows} - {"-"})
    versions = ", ".join(
        f"MariaDB {mariadb_version(mariadb_url)}" if name == "mariadb" else "SQLite"
        for name in databases
    )
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    return (
        f"Latest run: {now} on {machine}, Python {platform.python_version()}; "
        f"databases: {versions or 'none'}. "
        f"{len(rows)} rows, {sum(int(r['trials']) for r in rows)} trials, "
        f"{'no failure' if not failed else f'{failed} FAILED'}."
    )


def render(page: str, rows: list[dict[str, Any]], mariadb_url: str) -> str:
    block = f"{START}\n{heading(rows, mariadb_url)}\n\n{table(rows)}\n{END}"
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(page):
        raise SystemExit(f"the page has no {START} … {END} block to fill")
    return pattern.sub(lambda _: block, page)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trials", type=Path, help="the JSON-lines file the tests wrote")
    parser.add_argument("page", type=Path, help="the Markdown page to update")
    parser.add_argument(
        "--mariadb-url",
        default=os.environ.get(
            "SUPPORTHUB_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306"
        ),
        help="the test server, asked for its version",
    )
    args = parser.parse_args(argv)
    rows = read_rows(args.trials) if args.trials.exists() else []
    args.page.write_text(
        render(args.page.read_text(encoding="utf-8"), rows, args.mariadb_url), encoding="utf-8"
    )
    failed = [r for r in rows if r["outcome"].startswith("FAILED")]
    for row in failed:
        print(f"FAILED: {row['test']}: {row['fault']}", file=sys.stderr)
    print(f"{args.page}: {len(rows)} rows, {len(failed)} failed")
    return 1 if failed or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
