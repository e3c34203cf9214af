"""A throw-away 3-node MariaDB Galera cluster on loopback, for the cluster tests.

Each node is a ``mariadbd`` of its own (data folder under one temporary
folder, SQL port 3311-3313, Galera ports from 4571 in steps of 10: group
communication, IST and SST each need a port). The first node bootstraps
the cluster (``--wsrep-new-cluster``), the others join it by SST (rsync).
Small buffers keep the three nodes within a few hundred MB on this machine;
the MariaDB on 3306 is never touched.

Command line (for trying things by hand)::

    python tests/cluster/galera.py start   # prints the three URLs, keeps running
    # Ctrl-C stops and removes everything

Debian's ``galera-4`` package is installed with apt-get when missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pymysql

PROVIDER = Path("/usr/lib/galera/libgalera_smm.so")
MARIADBD = "/usr/sbin/mariadbd"
SQL_PORT_BASE = int(os.environ.get("SUPPORTHUB_CLUSTER_SQL_PORT", "3311"))
GALERA_PORT_BASE = int(os.environ.get("SUPPORTHUB_CLUSTER_GALERA_PORT", "4571"))
START_SECONDS = 120.0
#: Each node's InnoDB buffer pool: small for the regular run, more for the scale run.
BUFFER_POOL = os.environ.get("SUPPORTHUB_CLUSTER_BUFFER_POOL", "64M")


def ensure_galera() -> None:
    """Install Debian's galera-4 when its provider library is missing."""
    if PROVIDER.exists():
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", "galera-4", "rsync"], check=True, env=env)


@dataclass
class Node:
    """One ``mariadbd`` of the cluster."""

    index: int
    root: Path
    port: int
    galera_port: int
    extra: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def datadir(self) -> Path:
        return self.root / f"node{self.index}"

    @property
    def log(self) -> Path:
        return self.root / f"node{self.index}.log"

    def url(self, database: str = "") -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/{database}"

    def connect(self, timeout: float = 5.0) -> pymysql.connections.Connection:
        return pymysql.connect(
            host="127.0.0.1",
            port=self.port,
            user="root",
            connect_timeout=max(1, int(timeout)),
            read_timeout=int(timeout) + 30,
            write_timeout=int(timeout) + 30,
            autocommit=True,
        )

    def status(self, name: str) -> str | None:
        """A ``wsrep`` status value, or None when the node does not answer."""
        try:
            connection = self.connect(2)
        except pymysql.MySQLError:
            return None
        try:
            with connection.cursor() as cursor:
                cursor.execute("SHOW GLOBAL STATUS LIKE %s", (name,))
                row = cursor.fetchone()
                return None if row is None else str(row[1])
        except pymysql.MySQLError:
            return None
        finally:
            connection.close()

    def install(self) -> None:
        """The bootstrap node's system tables; joiners start empty and get them by SST."""
        command = [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={self.datadir}",
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ]
        # It failed once in a CI-like run with nothing said: keep its words,
        # and try again on a clean folder (a busy 2-core machine, a bootstrap
        # server that did not start in its time).
        for attempt in range(3):
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode == 0:
                return
            shutil.rmtree(self.datadir, ignore_errors=True)
            time.sleep(1 + attempt)
        raise RuntimeError(
            f"mariadb-install-db failed 3 times for {self.datadir}:\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )

    def server_args(self) -> list[str]:
        """What every test server runs with: its own files and port, small buffers."""
        return [
            MARIADBD,
            "--no-defaults",
            "--user=root",
            f"--datadir={self.datadir}",
            f"--socket={self.root / f'node{self.index}.sock'}",
            f"--pid-file={self.root / f'node{self.index}.pid'}",
            f"--log-error={self.log}",
            "--bind-address=127.0.0.1",
            f"--port={self.port}",
            "--skip-name-resolve",
            "--performance-schema=OFF",
            f"--innodb-buffer-pool-size={BUFFER_POOL}",
            "--innodb-log-file-size=32M",
            "--innodb-flush-log-at-trx-commit=2",
        ]

    def command(self, cluster_address: str, *, bootstrap: bool) -> list[str]:
        gp = self.galera_port
        provider_options = ";".join(
            [
                "base_host=127.0.0.1",
                f"base_port={gp}",
                f"ist.recv_addr=127.0.0.1:{gp + 1}",
                "gcache.size=32M",
                "gcache.page_size=16M",
                # A node that stops answering leaves the group within seconds.
                "evs.suspect_timeout=PT5S",
                "evs.inactive_timeout=PT10S",
                "evs.install_timeout=PT7S",
                "gmcast.peer_timeout=PT3S",
            ]
        )
        command = [
            *self.server_args(),
            "--max-connections=200",
            "--binlog-format=ROW",
            "--default-storage-engine=InnoDB",
            "--innodb-autoinc-lock-mode=2",
            "--wsrep-on=ON",
            f"--wsrep-provider={PROVIDER}",
            f"--wsrep-cluster-address={cluster_address}",
            "--wsrep-cluster-name=supporthub-test",
            f"--wsrep-node-name=node{self.index}",
            f"--wsrep-node-address=127.0.0.1:{gp}",
            f"--wsrep-sst-receive-address=127.0.0.1:{gp + 2}",
            "--wsrep-sst-method=rsyncroot",
            f"--wsrep-provider-options={provider_options}",
            *self.extra,
        ]
        if bootstrap:
            command.append("--wsrep-new-cluster")
        return command

    def start(self, cluster_address: str, *, bootstrap: bool) -> None:
        path = f"{self.root / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}"
        self.process = subprocess.Popen(
            self.command(cluster_address, bootstrap=bootstrap),
            env={**os.environ, "PATH": path},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_synced(self, size: int, timeout: float = START_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"node{self.index} exited: {self.tail()}")
            if self.status("wsrep_local_state_comment") == "Synced" and self.status(
                "wsrep_cluster_size"
            ) == str(size):
                return
            time.sleep(0.25)
        raise RuntimeError(f"node{self.index} not Synced in {timeout:g} s: {self.tail()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            if sig == signal.SIGKILL:
                self.process.wait(30)

    def stop(self) -> None:
        """Shut down cleanly (SIGTERM), or kill after 30 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])


@dataclass
class Cluster:
    """Three Galera nodes; ``nodes[i].url(db)`` reaches node i."""

    root: Path
    nodes: list[Node]

    @property
    def address(self) -> str:
        return "gcomm://" + ",".join(f"127.0.0.1:{n.galera_port}" for n in self.nodes)

    def start(self) -> None:
        first, *others = self.nodes
        first.install()
        for node in others:
            node.datadir.mkdir()  # filled by the state transfer
        self._sst_script()
        first.start(self.address, bootstrap=True)
        first.wait_synced(1)
        for node in others:
            node.start(self.address, bootstrap=False)
        for node in self.nodes:
            node.wait_synced(len(self.nodes))

    def _sst_script(self) -> None:
        """Debian's rsync SST, but with its daemon writing as root, not "nobody".

        ``mariadbd`` runs as root here (no ``mysql`` user owns the folders);
        rsync's daemon would otherwise drop to "nobody" and fail to write.
        """
        bin_dir = self.root / "bin"
        bin_dir.mkdir(exist_ok=True)
        shutil.copy("/usr/bin/wsrep_sst_common", bin_dir)
        script = Path("/usr/bin/wsrep_sst_rsync").read_text()
        script = script.replace("use chroot = no\n", "use chroot = no\nuid = root\ngid = root\n", 1)
        # Its own method name: mariadbd puts /usr/bin first on the script's PATH.
        target = bin_dir / "wsrep_sst_rsyncroot"
        target.write_text(script)
        target.chmod(0o755)

    def restart(self, node: Node) -> None:
        """Bring a stopped or killed node back into the cluster."""
        node.start(self.address, bootstrap=False)
        node.wait_synced(len(self.nodes))

    def wait_size(self, size: int, timeout: float = 60.0) -> None:
        """Wait until every running node sees a cluster of ``size``, Synced."""
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.wait_synced(size, timeout)

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def make_cluster(size: int = 3, extra: list[str] | None = None) -> Cluster:
    ensure_galera()
    root = Path(tempfile.mkdtemp(prefix="supporthub-galera-"))
    nodes = [
        Node(
            index=i + 1,
            root=root,
            port=SQL_PORT_BASE + i,
            galera_port=GALERA_PORT_BASE + 10 * i,
            extra=list(extra or []),
        )
        for i in range(size)
    ]
    return Cluster(root, nodes)


@contextlib.contextmanager
def running_cluster(size: int = 3, extra: list[str] | None = None) -> Iterator[Cluster]:
    cluster = make_cluster(size, extra)
    try:
        cluster.start()
        yield cluster
    finally:
        for node in cluster.nodes:
            node.kill()
        cluster.stop()


def main() -> None:
    if sys.argv[1:] != ["start"]:
        sys.exit("usage: galera.py start")
    started = time.monotonic()
    with running_cluster() as cluster:
        print(f"3 nodes Synced in {time.monotonic() - started:.1f} s:")
        for node in cluster.nodes:
            print(f"  {node.url('DATABASE')}")
        print("Ctrl-C stops and removes them")
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()


# -- a primary with an asynchronous read replica (no Galera) --------------------

REPLICA_PORT_BASE = int(os.environ.get("SUPPORTHUB_REPLICA_SQL_PORT", "3321"))


@dataclass
class PlainNode(Node):
    """A ``mariadbd`` of a primary/replica pair: binary log on, no Galera."""

    def command(self, cluster_address: str, *, bootstrap: bool) -> list[str]:
        return [
            *self.server_args(),
            f"--server-id={self.index}",
            f"--log-bin={self.root / f'node{self.index}-bin'}",
            "--binlog-format=ROW",
            *self.extra,
        ]

    def wait_up(self, timeout: float = START_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"node{self.index} exited: {self.tail()}")
            try:
                self.connect(2).close()
                return
            except pymysql.MySQLError:
                time.sleep(0.25)
        raise RuntimeError(f"node{self.index} did not start in {timeout:g} s: {self.tail()}")

    def sql(self, statement: str) -> None:
        connection = self.connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()


@contextlib.contextmanager
def primary_and_replica() -> Iterator[tuple[PlainNode, PlainNode]]:
    """A primary and a replica following it (GTID), on ports 3321 and 3322."""
    root = Path(tempfile.mkdtemp(prefix="supporthub-replica-"))
    primary = PlainNode(index=1, root=root, port=REPLICA_PORT_BASE, galera_port=0)
    replica = PlainNode(
        index=2, root=root, port=REPLICA_PORT_BASE + 1, galera_port=0, extra=["--read-only"]
    )
    try:
        for node in (primary, replica):
            node.install()
            node.start("", bootstrap=False)
        for node in (primary, replica):
            node.wait_up()
        replica.sql(
            f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={primary.port}, "
            "MASTER_USER='root', MASTER_USE_GTID=current_pos"
        )
        replica.sql("START SLAVE")
        yield primary, replica
    finally:
        for node in (replica, primary):
            node.kill()
        shutil.rmtree(root, ignore_errors=True)
