"""A MariaDB server of the benchmark's own, configured as docs/deploying.md recommends.

The shared test server keeps MariaDB's defaults (a 128 MiB buffer pool,
a 96 MiB redo log), which a refresh of millions of cases outgrows: its
per-case cost then measures the server's page reads, not the hub. So the
benchmark starts a ``mariadbd`` of its own (data folder under /tmp, its
own port and socket, ``--no-defaults``) with the production settings,
and removes it at the end. It starts in two or three seconds.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pymysql

MARIADBD = "/usr/sbin/mariadbd"

#: The settings of docs/deploying.md ("Bulk load and server settings for
#: large refreshes"); the benchmark prints what the server reports back.
PRODUCTION_SETTINGS = {
    # Larger than `cases` with its indexes (about 650 bytes a case with
    # the simulators' data): 2,000,000 cases per source, twice, fit.
    "innodb-buffer-pool-size": "4G",
    # A full refresh is one transaction writing about 1 KB of redo a case:
    # a log this size lets it finish without InnoDB forcing a checkpoint.
    "innodb-log-file-size": "2G",
    # Durable commits, as in production (a refresh commits once anyway).
    "innodb-flush-log-at-trx-commit": "1",
    "local-infile": "1",
    "max-allowed-packet": "16M",
    # Debian's packaged configuration (--no-defaults skips it): the dlt peer
    # creates its databases with the server's default character set.
    "character-set-server": "utf8mb4",
    "collation-server": "utf8mb4_general_ci",
}


def available() -> bool:
    """Whether this machine can start a server of its own."""
    return Path(MARIADBD).exists() and shutil.which("mariadb-install-db") is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def own_server(buffer_pool: str | None = None) -> Iterator[tuple[str, int]]:
    """Start a private ``mariadbd``; yield ``(host, port)``; stop it and delete its files."""
    root = Path(tempfile.mkdtemp(prefix="supporthub-bench-mariadb-", dir="/tmp"))
    datadir = root / "data"
    settings = dict(PRODUCTION_SETTINGS)
    if buffer_pool:
        settings["innodb-buffer-pool-size"] = buffer_pool
    process: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={datadir}", "--user=root",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            check=True, capture_output=True,
        )  # fmt: skip
        port = _free_port()
        process = subprocess.Popen(
            [MARIADBD, "--no-defaults", "--user=root", f"--datadir={datadir}",
             f"--socket={root / 'mysqld.sock'}", f"--pid-file={root / 'mysqld.pid'}",
             f"--log-error={root / 'error.log'}", "--bind-address=127.0.0.1", f"--port={port}",
             "--skip-name-resolve", "--performance-schema=OFF",
             *(f"--{name}={value}" for name, value in settings.items())],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                pymysql.connect(host="127.0.0.1", port=port, user="root", connect_timeout=2).close()
                break
            except pymysql.MySQLError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (root / "error.log").read_text(errors="replace")[-2000:]
                    raise SystemExit(f"the own mariadbd did not start:\n{log}") from None
                time.sleep(0.1)
        yield "127.0.0.1", port
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        shutil.rmtree(root, ignore_errors=True)
