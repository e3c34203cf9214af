"""How fast can a bare client page through the CRM simulators?

Starts each simulator in its own process through its command line (as the
demo and the hub's benchmarks run them), measures its start-up time and
resident memory, then pages through every record with one httpx client at
the largest page size, decoding each page with orjson: the floor under any
adapter's sync time. The client runs in this process, the simulator in
another, so they do not share a GIL.

Run from the repository root::

    PYTHONPATH=src:plugins/banana/src:plugins/strawberry/src \\
        python bench/sim_throughput.py --n 100000 1000000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
PYTHONPATH = os.pathsep.join(
    str(ROOT / part) for part in ("src", "plugins/banana/src", "plugins/strawberry/src")
)


def rss_mib(pid: int) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(module: str, n: int) -> tuple[subprocess.Popen[str], str, float]:
    """Start a simulator's CLI; return the process, its URL and its start-up seconds."""
    env = {**os.environ, "PYTHONPATH": PYTHONPATH}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--n", str(n), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    first_line = process.stdout.readline()
    elapsed = time.perf_counter() - started
    url = first_line.rsplit(" at ", 1)[1].strip()
    return process, url, elapsed


def banana_pages(
    client: httpx.Client,
    url: str,
    client_id: str = "banana-demo-client",
    client_secret: str = "banana-demo-secret",
) -> Iterator[list[dict[str, Any]]]:
    """Every page of Banana records (largest pages, tombstones not asked for)."""
    token = client.post(
        url + "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        },
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    response = client.get(url + "/api/v2/cases", params={"pageSize": 2000}, headers=headers)
    while True:
        response.raise_for_status()
        page = orjson.loads(response.content)
        yield page["records"]
        if page["done"]:
            return
        response = client.get(url + page["nextRecordsUrl"], headers=headers)


def strawberry_pages(
    client: httpx.Client, url: str, api_key: str = "strawberry-demo-key"
) -> Iterator[list[dict[str, Any]]]:
    """Every page of Strawberry tickets, by the incremental export from the start."""
    headers = {"X-Api-Key": api_key}
    params: dict[str, str | int] = {"limit": 1000, "updated_after": 0}
    while True:
        response = client.get(url + "/v1/tickets", params=params, headers=headers)
        response.raise_for_status()
        page = orjson.loads(response.content)
        yield page["tickets"]
        if not page["meta"]["has_more"]:
            return
        params = {"limit": 1000, "cursor": page["meta"]["after_cursor"]}


def page_banana(client: httpx.Client, url: str) -> int:
    return sum(len(records) for records in banana_pages(client, url))


def page_strawberry(client: httpx.Client, url: str) -> int:
    return sum(len(tickets) for tickets in strawberry_pages(client, url))


SIMULATORS: dict[str, tuple[str, Callable[[httpx.Client, str], int]]] = {
    "banana": ("supporthub_banana.simulator", page_banana),
    "strawberry": ("supporthub_strawberry.simulator", page_strawberry),
}


def time_datagen(n: int) -> float:
    """Seconds to generate ``n`` neutral case specs (no rendering, no HTTP)."""
    # Imported here: main() puts the source folders on sys.path first.
    from supporthub.testing.sim import generate_cases  # noqa: PLC0415

    began = time.perf_counter()
    for _ in generate_cases(n, seed=1):
        pass
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--only", choices=sorted(SIMULATORS), nargs="*")
    args = parser.parse_args()
    sys.path[:0] = PYTHONPATH.split(os.pathsep)
    print(f"datagen: {max(args.n)} specs in {time_datagen(max(args.n)):.1f} s", flush=True)
    # "server CPU s": what the simulator process spent while the client
    # paged; well below "page s" means the client, not the simulator, is the
    # bottleneck.
    print(f"{'simulator':<11} {'n':>9} {'start s':>8} {'RSS MiB':>8} {'page s':>7} "
          f"{'server CPU s':>12} {'records/s':>10}")  # fmt: skip
    for name in args.only or sorted(SIMULATORS):
        module, page_all = SIMULATORS[name]
        for n in args.n:
            process, url, startup = start(module, n)
            try:
                rss = rss_mib(process.pid)
                cpu_before = cpu_seconds(process.pid)
                with httpx.Client(timeout=60) as client:
                    began = time.perf_counter()
                    count = page_all(client, url)
                    paging = time.perf_counter() - began
                server_cpu = cpu_seconds(process.pid) - cpu_before
            finally:
                process.terminate()
                process.wait(timeout=30)
            print(
                f"{name:<11} {n:>9} {startup:>8.1f} {rss:>8.0f} {paging:>7.2f} "
                f"{server_cpu:>12.2f} {count / paging:>10,.0f}"
                f"   ({count} records, exit {process.returncode})",
                flush=True,
            )


if __name__ == "__main__":
    main()
