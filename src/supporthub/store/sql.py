"""The SQLAlchemy store: SQLite by default, MariaDB (PyMySQL) in production.

This module owns the engine, the schema's revision and the refresh lock;
``reading.py`` and ``writing.py`` hold what runs inside one snapshot and one
refresh transaction.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import secrets
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from supporthub.store.conflicts import retry_conflicts
from supporthub.store.database import storage_error
from supporthub.store.locks import FileLock, GaleraAwareLock, RefreshLock, causal
from supporthub.store.reading import CountCache, SqlReader
from supporthub.store.shared_counts import SharedCounts
from supporthub.store.versions import VersionProbe, probe_engine_options
from supporthub.store.writing import SqlWriter
from supporthub.vocabulary.errors import ConfigurationError, RefreshInProgress, StorageError

__all__ = ["SCHEMA_REVISION", "SqlStore", "storage_error"]

log = logging.getLogger("supporthub.store")

#: The Alembic revision this code expects (checked against the scripts in a test).
SCHEMA_REVISION = "0007"

_MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_engine(url: sa.URL) -> tuple[sa.Engine, RefreshLock]:
    database = url.database or ""
    if database in {"", ":memory:"} or url.query.get("mode") == "memory":
        raise ConfigurationError(
            "SUPPORTHUB_DATABASE_URL: an in-memory SQLite database vanishes with its "
            "connection; use a file, e.g. sqlite:///supporthub.db"
        )
    path = Path(database).expanduser()
    if not path.parent.exists():
        raise ConfigurationError(
            f"SUPPORTHUB_DATABASE_URL: the folder {str(path.parent)!r} does not exist"
        )
    engine = sa.create_engine(url.set(database=str(path)), pool_pre_ping=True)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (below): pysqlite's own transaction
        # handling would defer it and break snapshot reads and savepoints.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL lets readers see the last committed state while a refresh writes.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql(connection.get_execution_options().get("sqlite_begin", "BEGIN"))

    return engine, FileLock(path.with_name(path.name + ".refresh-lock"))


@functools.cache
def _preferred_ssl_context() -> ssl.SSLContext:
    """PyMySQL's context for its default "TLS if the server offers it" mode, made once.

    PyMySQL builds it (loading the CA bundle, tens of milliseconds) for every
    connection; the hub opens several per refresh and per request burst.
    """
    import pymysql.connections  # noqa: PLC0415 - only MariaDB needs the driver

    probe = pymysql.connections.Connection.__new__(pymysql.connections.Connection)
    context: ssl.SSLContext = probe._create_ssl_ctx({})
    return context


class _PreferredTls:
    """Stands in for PyMySQL's preferred-mode context until a server offers TLS.

    PyMySQL only calls ``wrap_socket`` on it, and only when the server
    offers TLS; a server without TLS then never costs the context at all.
    """

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        return _preferred_ssl_context().wrap_socket(*args, **kwargs)


def _pymysql_connection_class() -> type[Any]:
    import pymysql.connections  # noqa: PLC0415

    class _Connection(pymysql.connections.Connection):  # type: ignore[misc]
        """A PyMySQL connection sharing one preferred-mode TLS context, made when needed.

        It never sends a file the server asks for: inside the hub's own load
        statement it answers with the rows in memory
        (:func:`supporthub.store.loaddata.send_from_memory`), and refuses
        every other request.
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            #: ``(name, rows)`` while the hub's load statement runs.
            self._load_data: tuple[str, bytes] | None = None
            #: The load running in its own thread (``store/loaddata.py``).
            self._pending_load: Any = None
            super().__init__(*args, **kwargs)
            self._local_infile = False

        def _execute_command(self, command: int, sql: Any) -> None:
            # Every command goes through here: none may run beside a load, and
            # a load's error that no one collected fails the next one (a
            # COMMIT, say) instead of being lost.
            pending = self._pending_load
            if pending is not None and not pending.owns_current_thread():
                self._pending_load = None
                error = pending.collect()
                if error is not None:
                    raise error
            super()._execute_command(command, sql)

        def close(self) -> None:
            pending, self._pending_load = self._pending_load, None
            if pending is not None and not pending.owns_current_thread():
                pending.collect()
            super().close()

        def _read_query_result(self, unbuffered: bool = False) -> int:
            if self._load_data is None:
                affected: int = super()._read_query_result(unbuffered=unbuffered)
                return affected
            from supporthub.store.loaddata import MemoryLoadResult  # noqa: PLC0415

            self._result = None
            result = MemoryLoadResult(self, *self._load_data)
            result.read()
            self._result = result
            if result.server_status is not None:
                self.server_status = result.server_status
            rows: int = result.affected_rows
            return rows

        def _create_ssl_ctx(self, sslp: dict[str, Any]) -> ssl.SSLContext | _PreferredTls:
            if not sslp:
                return _PreferredTls()
            context: ssl.SSLContext = super()._create_ssl_ctx(sslp)
            return context

    return _Connection


def _mariadb_engine(url: sa.URL) -> tuple[sa.Engine, RefreshLock, VersionProbe]:
    if not url.database:
        raise ConfigurationError(
            "SUPPORTHUB_DATABASE_URL names no database; add it: mysql+pymysql://user@host:3306/db"
        )
    if "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})
    failover = _failover_hosts(url)
    sync_wait = _sync_wait(url)
    url = url.difference_update_query(["failover", "wsrep_sync_wait"])
    # local_infile: the LOCAL capability for the bulk-load path
    # (_store/loaddata.py); the driver answers a file request only while
    # that path's own statement runs.
    connect_args: dict[str, Any] = {"connect_timeout": 10, "local_infile": True}
    if sync_wait:
        # Every session reads causally on Galera (see docs/deploying.md).
        connect_args["init_command"] = f"SET SESSION wsrep_sync_wait = {sync_wait}"
    engine = sa.create_engine(
        url,
        pool_pre_ping=True,  # a restarted server costs one failed ping, not a failed request
        pool_recycle=1800,
        # The service serves requests from a pool of worker threads: with
        # fewer pooled connections than concurrent requests, the overflow
        # ones are opened and closed again per request (a login each).
        pool_size=20,
        max_overflow=20,
        # Every connection ends its transaction before it goes back (readers
        # commit, writers commit or roll back, the lock commits): the pool's
        # own ROLLBACK on return would be one more round trip per request.
        pool_reset_on_return=None,
        connect_args=connect_args,
    )
    connection_class = _pymysql_connection_class()

    def connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        if not failover:
            return connection_class(*cargs, **cparams)
        return _connect_first(connection_class, cargs, cparams, failover)

    event.listen(engine, "do_connect", connect)
    # The data tokens' probe (store/versions.py): its own few connections,
    # made the same way, in autocommit mode.
    probe = sa.create_engine(url, connect_args=connect_args, **probe_engine_options())
    event.listen(probe, "do_connect", connect)

    @event.listens_for(probe, "connect")
    def _autocommit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.autocommit(True)

    return engine, GaleraAwareLock(engine, str(url.database), sync_wait), VersionProbe(probe)


def _sync_wait(url: sa.URL) -> int:
    """``?wsrep_sync_wait=N``: every session's causality checks on Galera (0-15; 0: none)."""
    raw = url.query.get("wsrep_sync_wait")
    if raw is None:
        return 0
    text = raw if isinstance(raw, str) else ",".join(raw)
    if not text.isdigit() or not 0 <= int(text) <= 15:
        raise ConfigurationError(
            f"SUPPORTHUB_DATABASE_URL: wsrep_sync_wait= takes a whole number from 0 to 15 "
            f"(1: reads wait until the node applied what the cluster committed), not {text[:20]!r}"
        )
    return int(text)


def _failover_hosts(url: sa.URL) -> list[tuple[str, int]]:
    """``?failover=host:port,host:port``: the nodes to try when the URL's host fails."""
    raw = url.query.get("failover")
    if raw is None:
        return []
    hosts = []
    for part in (raw if isinstance(raw, str) else ",".join(raw)).split(","):
        host, _, port = part.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ConfigurationError(
                "SUPPORTHUB_DATABASE_URL: failover= takes host:port pairs separated by "
                f"commas, not {part.strip()!r}"
            )
        hosts.append((host, int(port)))
    return hosts


def _connect_first(
    connection_class: type[Any],
    cargs: Any,
    cparams: dict[str, Any],
    failover: list[tuple[str, int]],
) -> Any:
    """Connect to the URL's node, else to the first failover node that answers and is ready.

    A Galera node cut off from the rest accepts connections but refuses
    queries (not in the primary component): it is skipped like a dead one.
    """
    import pymysql  # noqa: PLC0415 - only MariaDB needs the driver

    first = (cparams.get("host", "localhost"), int(cparams.get("port", 3306)))
    error: BaseException | None = None
    for host, port in [first, *(h for h in failover if h != first)]:
        try:
            connection = connection_class(*cargs, **{**cparams, "host": host, "port": port})
        except pymysql.err.OperationalError as failed:
            error = failed
            continue
        if _node_ready(connection):
            return connection
        connection.close()
        error = pymysql.err.OperationalError(1047, f"{host}:{port} is not a ready cluster node")
    assert error is not None
    raise error


def _node_ready(connection: Any) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SHOW VARIABLES LIKE 'wsrep_on'")
        row = cursor.fetchone()
        if row is None or str(row[1]).upper() != "ON":
            return True  # not a Galera node: reachable is ready
        cursor.execute("SHOW STATUS LIKE 'wsrep_ready'")
        row = cursor.fetchone()
    return row is not None and str(row[1]).upper() == "ON"


def _open(url: str, variable: str) -> tuple[sa.Engine, RefreshLock, str, VersionProbe | None]:
    """The engine and refresh lock of a URL, the URL to show (no password), its probe.

    The probe of the data tokens is MariaDB's alone (SQLite reads them in-process).
    """
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        raise ConfigurationError(
            f"{variable} is not a database URL; expected e.g. "
            "sqlite:///supporthub.db or mysql+pymysql://user:pass@host:3306/db"
        ) from None
    display_url = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    try:
        probe = None
        if backend == "sqlite":
            engine, lock = _sqlite_engine(parsed)
        elif backend in {"mysql", "mariadb"}:
            engine, lock, probe = _mariadb_engine(parsed)
        else:
            raise ConfigurationError(
                f"{variable}: unsupported database {backend!r}; "
                "use sqlite:///… or mysql+pymysql://… (MariaDB)"
            )
    except (ImportError, sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as error:
        raise ConfigurationError(f"{variable} ({display_url}) cannot be used: {error}") from None
    return engine, lock, display_url, probe


def _catch_up(connection: sa.Connection, base: int) -> None:
    """Wait until this Galera node applied what the cluster had committed (a causal read)."""
    with causal(connection, base):
        connection.exec_driver_sql("SELECT 1").all()


class SqlStore:
    """The store on a SQLAlchemy URL (``sqlite:///…`` or ``mysql+pymysql://…``).

    :raises ConfigurationError: the URL is not one the hub can use.
    """

    def __init__(self, url: str, *, read_url: str | None = None) -> None:
        self.engine, self._lock, self.display_url, self._probe = _open(
            url, "SUPPORTHUB_DATABASE_URL"
        )
        self.dialect_name = self.engine.dialect.name
        #: A replica for the list views (``SUPPORTHUB_READ_DATABASE_URL``), or None.
        self.read_engine: sa.Engine | None = None
        self._read_probe: VersionProbe | None = None
        if read_url:
            self.read_engine, _, _, self._read_probe = _open(
                read_url, "SUPPORTHUB_READ_DATABASE_URL"
            )
        #: After this process wrote, list views read the primary this long:
        #: a replica may not have the write yet (read your own writes).
        self.read_your_writes_seconds = 10.0
        self._wrote_at = -math.inf
        self._cursor_secret: bytes | None = None
        #: Totals of listings, kept per data version (see :meth:`SqlReader.count`).
        self.counts = CountCache(
            shared=None if self._probe is None else SharedCounts(self._probe.engine)
        )
        #: On Galera, writers stream their write set in fragments of this many
        #: bytes: a refresh of any size stays under ``wsrep_max_ws_size`` and
        #: other nodes apply it piece by piece, yet it commits (and becomes
        #: visible) at once.
        self.fragment_bytes = 1 << 20

    def is_galera(self) -> bool:
        """Whether the database is a Galera cluster node."""
        lock = self._lock
        return isinstance(lock, GaleraAwareLock) and lock.is_galera()

    def __repr__(self) -> str:
        return f"SqlStore({self.display_url!r})"

    # -- schema -------------------------------------------------------------

    def revision(self) -> str | None:
        """The schema revision in the database; ``None`` when it has no schema."""
        try:
            with self.engine.connect() as connection:
                if self.dialect_name != "sqlite" and self.is_galera():
                    # A node applies a `db upgrade` run on another a moment later.
                    lock = self._lock
                    assert isinstance(lock, GaleraAwareLock)  # is_galera() says so
                    _catch_up(connection, lock.lease.sync_wait)
                if not sa.inspect(connection).has_table("alembic_version"):
                    return None
                return connection.execute(
                    sa.text("SELECT version_num FROM alembic_version")
                ).scalar()
        except sa.exc.SQLAlchemyError as error:
            raise storage_error(error) from None

    def upgrade(self) -> None:
        from alembic import command  # noqa: PLC0415 - Alembic loads only to migrate
        from alembic.config import Config  # noqa: PLC0415

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        with self.refresh_lock(timeout=None):
            try:
                with self.engine.begin() as connection:
                    config.attributes["connection"] = connection
                    command.upgrade(config, "head")
            except sa.exc.SQLAlchemyError as error:
                raise storage_error(error) from None
        # A migration may change rows without a new data version.
        self.counts.clear()
        log.info("database schema at revision %s (%s)", SCHEMA_REVISION, self.display_url)

    def check_schema(self, *, create_if_empty: bool) -> None:
        found = self.revision()
        if found == SCHEMA_REVISION:
            return
        if found is None and create_if_empty and not self._has_tables():
            self.upgrade()
            return
        if found is None:
            raise StorageError(
                f"the database {self.display_url} has no supporthub schema; "
                "run `supporthub db upgrade`"
            )
        raise StorageError(
            f"the database schema is at revision {found}, this version needs "
            f"{SCHEMA_REVISION}; run `supporthub db upgrade`"
        )

    def _has_tables(self) -> bool:
        with self.engine.connect() as connection:
            return bool(sa.inspect(connection).get_table_names())

    # -- reading and writing ------------------------------------------------

    @contextlib.contextmanager
    def reader(self) -> Iterator[SqlReader]:
        with self._reader(self.engine) as reader:
            yield reader

    def _list_replica(self) -> bool:
        """Whether the list views read the replica now (not for a while after this process wrote,
        so that a person sees their own claim or override in the next answer)."""
        recent = time.monotonic() - self._wrote_at < self.read_your_writes_seconds
        return self.read_engine is not None and not recent

    def list_reader(self) -> contextlib.AbstractContextManager[SqlReader]:
        """A snapshot for the list views: on the read replica when there is one."""
        if self.read_engine is not None and self._list_replica():
            return self._reader(self.read_engine)
        return self._reader(self.engine)

    def list_versions(self) -> tuple[str | None, str | None]:
        """``(data_version, work_version)`` as :meth:`list_reader` would see them now.

        One query in autocommit mode on MariaDB (:mod:`.versions`), never
        older than what a list reader opened now would read.
        """
        probe = self._read_probe if self._list_replica() else self._probe
        if probe is None:
            with self.list_reader() as reader:
                return reader.data_version(), reader.work_version()
        try:
            return probe.read()
        except (sa.exc.SQLAlchemyError, probe.engine.dialect.loaded_dbapi.Error) as error:
            raise storage_error(error) from None

    @contextlib.contextmanager
    def _reader(self, engine: sa.Engine) -> Iterator[SqlReader]:
        try:
            with engine.connect() as connection, connection.begin():
                yield SqlReader(connection, self)
        except sa.exc.SQLAlchemyError as error:
            raise storage_error(error) from None

    def reader_on(self, connection: sa.Connection) -> SqlReader:
        """A reader inside a transaction the caller opened (``outbox.transaction``)."""
        return SqlReader(connection, self)

    @contextlib.contextmanager
    def writer(self, *, stamp: str = "data_version") -> Iterator[SqlWriter]:
        """One write transaction; it stamps a new token under ``stamp`` in ``meta``.

        Changes of the work on an aggregated case stamp ``work_version``
        instead, so they never wait for the ``data_version`` row a long
        refresh holds (answers are kept by both tokens).
        """
        try:
            with self.engine.connect() as connection:
                if self.dialect_name == "sqlite":
                    # Take the write lock up front: no upgrade from a read lock
                    # that could fail half-way.
                    connection.execution_options(sqlite_begin="BEGIN IMMEDIATE")
                streaming = self.dialect_name != "sqlite" and self.is_galera()
                if streaming:
                    self._stream(connection, self.fragment_bytes)
                with connection.begin():
                    writer = SqlWriter(connection, self)
                    writer.streaming = streaming and self.fragment_bytes > 0
                    try:
                        yield writer
                        writer.settle()
                        # In the same transaction as the data: readers that see
                        # this token see this data (answers are kept by it).
                        writer.set_meta(stamp, secrets.token_hex(8))
                        # Last, so the lease row is locked only for the commit.
                        self._lock.fence(connection)
                    finally:
                        writer.close()
                self._wrote_at = time.monotonic()
        except sa.exc.SQLAlchemyError as error:
            raise storage_error(error) from None

    @staticmethod
    def _stream(connection: sa.Connection, fragment_bytes: int) -> None:
        """Galera 4 streaming replication for this session (0: off, one write set).

        Only writers set it; a pooled connection keeps it, which is harmless:
        a transaction smaller than one fragment is one write set anyway.
        """
        connection.exec_driver_sql("SET SESSION wsrep_trx_fragment_unit = 'bytes'")
        connection.exec_driver_sql(f"SET SESSION wsrep_trx_fragment_size = {int(fragment_bytes)}")
        connection.commit()

    def cursor_secret(self) -> bytes:
        """The secret that signs paging cursors, shared by every process on the database."""
        if self._cursor_secret is None:
            with self.reader() as reader:
                value = reader.meta("cursor_secret")
            if value is None:
                # Older databases get one now; concurrent creators agree on the first.
                def create() -> str:
                    with self.writer() as writer:
                        made = writer.meta("cursor_secret") or secrets.token_hex(32)
                        writer.set_meta("cursor_secret", made)
                    return made

                value = retry_conflicts(create)
            self._cursor_secret = bytes.fromhex(value)
        return self._cursor_secret

    # -- locking and health -------------------------------------------------

    @contextlib.contextmanager
    def refresh_lock(self, timeout: float | None) -> Iterator[bool]:
        try:
            contended = not self._lock.acquire(0)
            if contended and not self._lock.acquire(timeout):
                raise RefreshInProgress(
                    f"another refresh is running and did not finish within {timeout:g} s"
                )
        except sa.exc.SQLAlchemyError as error:
            raise storage_error(error) from None
        try:
            yield contended
        finally:
            self._lock.release()

    def is_refreshing(self) -> bool:
        try:
            return self._lock.is_held()
        except sa.exc.SQLAlchemyError as error:
            raise storage_error(error) from None

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return False
        return True

    def close(self) -> None:
        self.engine.dispose()
        if self.read_engine is not None:
            self.read_engine.dispose()
        for probe in (self._probe, self._read_probe):
            if probe is not None:
                probe.close()
