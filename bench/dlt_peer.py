"""The peer: what a data engineer would build instead of the hub, with dlt.

Runs in its own process with dlt on ``PYTHONPATH`` (installed by the
benchmark into a private folder with ``pip install --target``; dlt is never
a dependency of supporthub). One ``dlt[sqlalchemy]`` pipeline pages both
simulators with httpx and orjson and merges the cases, flattened to the
hub's columns, into ``cases`` with primary key ``(source, id)``::

    python bench/dlt_peer.py --banana URL ID SECRET --strawberry URL KEY --db SQLALCHEMY_URL

Prints one line of JSON: rows loaded, seconds of the pipeline run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
from sim_throughput import banana_pages, strawberry_pages


def banana(url: str, client_id: str, secret: str) -> Iterator[list[dict[str, Any]]]:
    """Every Banana case, page by page, flattened; tombstones dropped."""
    with httpx.Client(timeout=120) as client:
        for records in banana_pages(client, url, client_id, secret):
            yield [
                {
                    "source": "banana",
                    "id": r["Id"],
                    "number": r["CaseNumber"],
                    "subject": r["Subject"],
                    "is_open": not r["IsClosed"],
                    "priority": r["Priority"],
                    "provider": r.get("Provider__c"),
                    "error_code": r.get("Error_Code__c"),
                    "created_at": r["CreatedDate"],
                    "updated_at": r["LastModifiedDate"],
                }
                for r in records
                if not r.get("IsDeleted")
            ]


def strawberry(url: str, key: str) -> Iterator[list[dict[str, Any]]]:
    """Every Strawberry ticket, page by page, flattened; deleted ones dropped."""
    with httpx.Client(timeout=120) as client:
        fields = client.get(url + "/v1/ticket_fields", headers={"X-Api-Key": key}).json()
        ids = {f["key"]: f["id"] for f in fields["ticket_fields"]}
        provider, error_code = ids.get("provider"), ids.get("error_code")
        for tickets in strawberry_pages(client, url, key):
            rows = []
            for t in tickets:
                if t["status"] == "deleted":
                    continue
                custom = {c.get("id"): c.get("value") for c in t.get("custom_fields") or ()}
                rows.append(
                    {
                        "source": "strawberry",
                        "id": str(t["id"]),
                        "number": str(t["id"]),
                        "subject": t["subject"],
                        "is_open": t["status"] in {"new", "open", "pending", "hold"},
                        "priority": t["priority"],
                        "provider": custom.get(provider),
                        "error_code": custom.get(error_code),
                        "created_at": t["created_at"],
                        "updated_at": t["updated_at"],
                    }
                )
            yield rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--banana", nargs=3, metavar=("URL", "ID", "SECRET"), required=True)
    parser.add_argument("--strawberry", nargs=2, metavar=("URL", "KEY"), required=True)
    parser.add_argument("--db", required=True, help="SQLAlchemy URL of the destination")
    parser.add_argument("--dataset", default="bench_peer", help="dataset (MariaDB: database)")
    args = parser.parse_args()
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    began = time.perf_counter()
    import dlt  # noqa: PLC0415 - only here, from the private folder

    imported = time.perf_counter() - began

    @dlt.resource(name="cases", primary_key=("source", "id"), write_disposition="merge")
    def cases() -> Iterator[list[dict[str, Any]]]:
        yield from banana(*args.banana)
        yield from strawberry(*args.strawberry)

    with tempfile.TemporaryDirectory(prefix="bench-dlt-") as home:
        pipeline = dlt.pipeline(
            pipeline_name="bench_peer",
            pipelines_dir=home,
            destination=dlt.destinations.sqlalchemy(credentials=args.db),
            dataset_name=args.dataset,
            progress=None,
        )
        began = time.perf_counter()
        info = pipeline.run(cases())
        seconds = time.perf_counter() - began
        rows = pipeline.last_trace.last_normalize_info.row_counts.get("cases", 0)
    print(orjson.dumps({"rows": rows, "seconds": seconds, "import_seconds": imported}).decode())
    return 0 if not info.has_failed_jobs else 1


if __name__ == "__main__":
    sys.exit(main())
