"""A first load far over ``wsrep_max_ws_size``: refused as one write set, stored when streamed.

``SUPPORTHUB_CLUSTER_SCALE_CASES`` cases of one source (default 8,000:
the short version in ``tox -e cluster``; ``tox -e cluster-scale`` runs
1,000,000) with subjects of ``SUPPORTHUB_CLUSTER_SCALE_SUBJECT_BYTES``
bytes, on a cluster whose write-set limit is lowered to
``SUPPORTHUB_CLUSTER_SCALE_WS_BYTES`` (default 2 MB). Each refresh runs in a
process of its own (``scale_refresh.py``) so that its peak memory is its
own. Readers on the two other nodes poll the counts throughout: they see
the state before the refresh or after it, never a part.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cluster_kit import Watcher, count_cases, max_ws_size

CASES = int(os.environ.get("SUPPORTHUB_CLUSTER_SCALE_CASES", "8000"))
SUBJECT_BYTES = int(os.environ.get("SUPPORTHUB_CLUSTER_SCALE_SUBJECT_BYTES", "500"))
WS_LIMIT = int(os.environ.get("SUPPORTHUB_CLUSTER_SCALE_WS_BYTES", str(2 << 20)))
#: The hub's default fragment (``SqlStore.fragment_bytes``) unless told otherwise.
FRAGMENT = int(os.environ.get("SUPPORTHUB_CLUSTER_SCALE_FRAGMENT_BYTES", str(1 << 20)))
#: The cases already there before the big refresh (it updates them and adds the rest).
BASE = 100
SCRIPT = Path(__file__).with_name("scale_refresh.py")


def refresh_in_process(url: str, cases: int, fragment: int) -> tuple[dict[str, Any], float]:
    """One full refresh in a child process: its answer and its peak RSS in MiB."""
    child = subprocess.Popen(
        [sys.executable, str(SCRIPT), url, str(cases), str(SUBJECT_BYTES), str(fragment)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    with child.stdout:
        out = child.stdout.read()
    _pid, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    assert child.returncode == 0, out
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss / 1024


def status_of(node: Any, name: str) -> int:
    return int(node.status(name) or 0)


def test_a_first_load_over_the_write_set_limit_streams_and_lands_at_once(
    cluster: Any, cluster_urls: list[str]
):
    first, second, third = cluster.nodes
    answer, _ = refresh_in_process(cluster_urls[0], BASE, FRAGMENT)
    assert answer["ok"], answer
    before, after = (BASE, BASE), (CASES, CASES)
    with max_ws_size(cluster, WS_LIMIT):
        # Today's single write set: refused by the cluster, nothing written.
        single, single_rss = refresh_in_process(cluster_urls[0], CASES, 0)
        assert not single["ok"]
        assert "size" in single["error"].lower() or "ws" in single["error"].lower(), single
        assert count_cases(cluster_urls[1]) == before
        # Streamed in fragments: stored whole, visible at once.
        paused_before = status_of(first, "wsrep_flow_control_paused_ns")
        every = 0.02 if CASES <= 50_000 else 1.0  # a count of 1M rows takes a while
        with Watcher(cluster_urls[1], every) as w2, Watcher(cluster_urls[2], every) as w3:
            started = time.monotonic()
            streamed, streamed_rss = refresh_in_process(cluster_urls[0], CASES, FRAGMENT)
            seconds = time.monotonic() - started
            paused = (status_of(first, "wsrep_flow_control_paused_ns") - paused_before) / 1e9
            load = os.getloadavg()
            print(
                f"\n{CASES:,} cases of {SUBJECT_BYTES} B, write-set limit {WS_LIMIT / 2**20:g} MB: "
                f"one write set refused after {single['seconds']} s (peak RSS "
                f"{single_rss:.0f} MiB); streamed in {FRAGMENT / 2**20:g} MB fragments: "
                f"{streamed} ({seconds:.1f} s with the process start), peak RSS "
                f"{streamed_rss:.0f} MiB, flow control paused node 1 for {paused:.1f} s; "
                f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
                flush=True,
            )
            # The readers' last count shows the new state (a count of 1M rows
            # on a busy machine takes a while).
            deadline = time.monotonic() + 900
            while after not in w2.seen or after not in w3.seen:
                assert time.monotonic() < deadline, (w2.seen, w3.seen)
                time.sleep(0.2)
            caught_up = time.monotonic() - started - seconds
    print(
        f"readers on nodes 2 and 3 polled {w2.polls} + {w3.polls} times and saw "
        f"{sorted(w2.seen | w3.seen)}; both saw the new state {caught_up:.1f} s after the "
        f"refresh process ended"
    )
    assert streamed["ok"], streamed
    assert w2.seen | w3.seen <= {before, after}
    assert w2.polls > 1 and w3.polls > 1
    assert count_cases(cluster_urls[2]) == after
    for node in (first, second, third):
        connection = node.connect()
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM mysql.wsrep_streaming_log")
            assert cursor.fetchone() == (0,)
        connection.close()
