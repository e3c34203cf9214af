"""MariaDB's bulk-load path: ``LOAD DATA LOCAL INFILE`` of a tab-separated file.

The server parses a tab-separated file far faster than the text of a
multi-row ``INSERT`` (measured here: about 1.8 s against 3.2 s per 100,000
cases), so large batches of cases go to the database this way when it is
allowed, straight into the table with ``REPLACE`` (the ``cases`` table has
its primary key as its only unique key and no foreign keys, so replacing a
row is the upsert). The load is one statement inside the refresh's
transaction: a failure anywhere rolls it back with everything else.

It is used only when all of these hold, and the writer falls back to the
multi-row ``INSERT`` otherwise, logging once why:

- the server allows it: ``@@local_infile`` is ``ON`` (MariaDB's default);
- the connection was opened with the ``LOCAL`` capability by the hub's own
  engine, whose connections answer the server's file request only while
  this module's own statement runs, and then with the rows in memory, never
  a file (see :func:`send_from_memory`);
- the server is not a Galera node: there a refresh streams its write set in
  bounded fragments and must be able to run again without a failed source
  (``store/conflicts.py``, ``locks.py``); ``LOAD DATA`` on Galera is either
  split into separately committed pieces (``wsrep_load_data_splitting``) or
  one write set of the whole file, neither of which fits.

The rows never touch the disk: the statement names a file, the server asks
the client for it, and the connection answers with the batch's text from
memory in packets of 1 MiB. Writing a temporary file, reading it back and
sending it in PyMySQL's 16 KiB packets was a third of the load's time in
the writer.

A load runs in a thread of its own while the writer goes on: the writer
builds the next batch's text while the server takes this one (about a third
of a full refresh's writer time was waiting for the server). While the
server is busy with a load, the text of the next batches is gathered, up to
:data:`LOAD_ROWS` rows, and sent as one load (each load has a fixed cost on
the server); an idle server gets a batch at once, and a process started
with ``nice`` sends each batch as it comes (the pauses between its loads
are the readers'). The writer settles the
load (sends what is gathered, waits for it, and raises its error) before
it uses the connection for anything else
(:meth:`LoadDataReplace.settle`); the hub's connection itself holds every
other command back until the gathered rows are loaded and the load has
ended, and raises the load's error if nobody collected it, so nothing can
run before rows the writer already handed over, or between a load and its
outcome, and a failed load can never be committed.

The file's format, which :func:`tsv_field` writes and the statement states:
fields end at a tab, lines at a newline, the escape character is the
backslash (``\\\\`` ``\\t`` ``\\n`` ``\\r`` ``\\0`` inside a value), ``\\N`` is
NULL, the text is UTF-8 read as ``utf8mb4``. With ``LOCAL`` the server turns
data errors into warnings (it cannot stop the client's upload), so a load
with any warning, or fewer records than rows, raises.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import queue
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from pymysql import err as pymysql_err
from pymysql.connections import LoadLocalPacketWrapper, MySQLResult
from pymysql.constants import CR

from supporthub.store.bulk import BulkInsert, Literals, driver_error
from supporthub.store.schema import UTCDateTime
from supporthub.vocabulary import priority

__all__ = [
    "LOAD_ROWS",
    "MIN_LOAD_ROWS",
    "LoadDataReplace",
    "MemoryLoadResult",
    "PendingLoad",
    "line_function",
    "load_data_refusal",
    "send_from_memory",
    "stamped_lines_function",
    "tell_once",
    "tsv_field",
    "utc_stamps",
]

log = logging.getLogger("supporthub.store")

#: Batches smaller than this go through the multi-row INSERT: a load costs a
#: round trip more.
MIN_LOAD_ROWS = 500
#: Rows gathered from batches, while the server is busy with the load
#: before, up to one load. Each load costs the server about 10 ms besides its
#: rows (9-10 µs each): a full refresh of 200,000 cases in loads of a page
#: (1,000-2,000 rows) spent 1.6 of its 3.5 s of load time on that.
LOAD_ROWS = 20_000
#: Bytes per packet of the load's data: a tenth of the server's default
#: ``max_allowed_packet`` (the multi-row INSERTs need more than that anyway).
_PACKET_BYTES = 1 << 20
#: The name in the statement; the server only echoes it back, nothing opens it.
_LOAD_NAME = "supporthub-rows.tsv"

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": "\\0"})
_SPECIAL = re.compile(r"[\\\t\n\r\x00]")
_STAMP_ENCODER = msgspec.json.Encoder()
_STAMP_TEXTS = msgspec.json.Decoder(list[str])
_RECORDS = re.compile(rb"Records:\s*(\d+)\s+Deleted:\s*\d+\s+Skipped:\s*(\d+)")
#: Reasons already logged by this process: one line each, not one per refresh.
_told: set[str] = set()


def tsv_field(value: str | None, special: Callable[[str], Any] = _SPECIAL.search) -> str:
    """A text value as a field of the load file (``\\N`` for NULL)."""
    if value is None:
        return "\\N"
    return value.translate(_ESCAPES) if special(value) else value


#: Fields of the load file.
TSV_FIELDS = Literals(null="\\N", text=tsv_field, quote="")


def line_function(table: sa.Table, *, escape: bool = True) -> Callable[[Sequence[Any]], str]:
    """A function that turns one row of ``table`` into one line of the load file.

    The same fields as :data:`TSV_FIELDS` gives, with each column's case
    written out inline: a call per value was half of the writer's time. The
    code is made from the column types alone, never from data.

    :param escape: ``False``: text goes in as it is, which is the same line
        only for text without a special character (see
        :meth:`LoadDataReplace.text`).
    """
    line: Callable[[Sequence[Any]], str] = _compiled(
        table, "line", _fields(table, escape=escape, stamped=False)
    )
    return line


def stamped_lines_function(table: sa.Table) -> Callable[..., list[str]]:
    """Like :func:`line_function` (``escape=False``), for many rows at once, with
    the times already written: ``lines(rows, *stamps)``, one list of texts per
    time column of ``table`` in column order (see :func:`utc_stamps`)."""
    fields = _fields(table, escape=False, stamped=True)
    stamps = [f"t{i}" for i, c in enumerate(table.columns) if isinstance(c.type, UTCDateTime)]
    lines: Callable[..., list[str]] = _compiled(table, "lines", fields, stamps)
    return lines


def utc_stamps(values: list[Any]) -> list[str] | None:
    """The load file's text of many aware UTC datetimes, at C speed (msgspec).

    ``None`` when one of them is not an aware UTC datetime (a ``None``, a naive
    or other-zoned time): the caller writes them one by one, as
    :func:`line_function` does. RFC 3339 with its ``Z`` cut off, which MariaDB
    reads as it reads ``YYYY-MM-DD hh:mm:ss.ffffff``: writing two times a row
    in Python was three quarters of a line's cost.
    """
    try:
        texts = _STAMP_TEXTS.decode(_STAMP_ENCODER.encode(values))
    except (TypeError, msgspec.MsgspecError):
        return None
    # "Z" marks UTC and appears nowhere else in these texts.
    if "".join(texts).count("Z") != len(texts):
        return None
    return texts


def _fields(table: sa.Table, *, escape: bool, stamped: bool) -> list[str]:
    fields = []
    for i, column in enumerate(table.columns):
        v = f"r[{i}]"
        kind = column.type
        if isinstance(kind, UTCDateTime):
            if stamped:  # never NULL: utc_stamps() would have said no
                fields.append(f"{{t{i}[:-1]}}")
                continue
            iso = f"{v}.isoformat(' ', 'microseconds')[:-6]"
            formatted = f"({iso} if {v}.tzinfo is UTC else moment({v}))"
        elif isinstance(kind, sa.Boolean):
            formatted = f"('1' if {v} else '0')"
        elif isinstance(kind, sa.Integer):
            formatted = f"str(int({v}))"
        elif isinstance(kind, sa.String | sa.Text):
            formatted = f"({v}.translate(ESCAPES) if special({v}) else {v})" if escape else v
        else:
            raise TypeError(f"no load-file formatter for column {column.name} of type {kind!r}")
        fields.append(f"{{NULL if {v} is None else {formatted}}}")
    return fields


def _compiled(table: sa.Table, name: str, fields: list[str], stamps: Sequence[str] = ()) -> Any:
    line = 'f"' + "\\t".join(fields) + '\\n"'
    if name == "line":
        source = f"def line(r):\n    return {line}\n"
    else:
        columns = ", ".join(f"{t}s" for t in stamps)  # t9s: the texts of column 9
        each = ", ".join(["r", *stamps])
        source = (
            f"def lines(rows, {columns}):\n    return [{line} for {each} in zip(rows, {columns})]\n"
        )
    namespace: dict[str, Any] = {
        "NULL": "\\N",
        "UTC": dt.UTC,
        "moment": TSV_FIELDS.moment,
        "ESCAPES": _ESCAPES,
        "special": _SPECIAL.search,
    }
    exec(compile(source, f"<load {name} of {table.name}>", "exec"), namespace)  # noqa: S102
    return namespace[name]


@contextlib.contextmanager
def send_from_memory(dbapi_connection: Any, data: bytes) -> Iterator[None]:
    """Let the hub's connection answer the server's file request with ``data`` in the block.

    The connection (``store/sql.py``) announces the ``LOCAL`` capability but
    refuses every file request outside such a block, and inside it answers
    only a request for this module's own name, from memory: a server can
    never read a client file.
    """
    dbapi_connection._load_data = (_LOAD_NAME, data)
    try:
        yield
    finally:
        dbapi_connection._load_data = None


class PendingLoad:
    """A load running in its own thread on a connection; its error is collected once."""

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self._done = threading.Event()
        self._collected = False

    @property
    def done(self) -> bool:
        """Whether the load has ended (its error not yet collected, maybe)."""
        return self._done.is_set()

    def finish(self, error: BaseException | None) -> None:
        """The load thread's last word."""
        self.error = error
        self._done.set()

    def collect(self) -> BaseException | None:
        """Wait for the load; its error the first time it is asked for, then ``None``."""
        self._done.wait()
        if self._collected:
            return None
        self._collected = True
        return self.error

    def owns_current_thread(self) -> bool:
        """Whether the caller is the load's own thread (which the barrier lets through)."""
        return threading.current_thread() is self.thread


class _Gathered:
    """The connection's barrier while rows wait to be sent: a command sends them first.

    Stands where a :class:`PendingLoad` stands on the connection (its
    ``_pending_load``): another command there calls :meth:`collect`, which
    loads the gathered rows and waits for them.
    """

    def __init__(self, loader: LoadDataReplace, connection: sa.Connection) -> None:
        self._loader = loader
        self._connection = connection

    def collect(self) -> BaseException | None:
        """Send the gathered rows, wait for them; the error of that (or the load before)."""
        try:
            self._loader.settle(self._connection)
        except BaseException as error:
            return error
        return None

    def owns_current_thread(self) -> bool:
        """Whether the caller is the load thread: its load, sent before these rows, passes."""
        return threading.current_thread() is self._loader._thread


class MemoryLoadResult(MySQLResult):  # type: ignore[misc]
    """A statement's result whose file request is answered from memory.

    PyMySQL's own result reads the named file and sends it in 16 KiB
    packets; the hub's connection reads the result of a load with this
    instead (``_read_query_result`` in ``store/sql.py``).
    """

    def __init__(self, connection: Any, name: str, data: bytes) -> None:
        super().__init__(connection)
        self._name = name
        self._data = data

    def _read_load_local_packet(self, first_packet: Any) -> None:
        conn = self.connection
        asked = LoadLocalPacketWrapper(first_packet).filename
        try:
            if asked != self._name.encode():
                raise pymysql_err.OperationalError(
                    CR.CR_UNKNOWN_ERROR, "the server asked for a file other than the load's rows"
                )
            view = memoryview(self._data)
            for start in range(0, len(view), _PACKET_BYTES):
                conn.write_packet(view[start : start + _PACKET_BYTES])
        finally:
            # The empty packet ends the data (also after a refusal: no data).
            conn.write_packet(b"")
            ok_packet = conn._read_packet()
        if not ok_packet.is_ok_packet():
            raise pymysql_err.OperationalError(CR.CR_COMMANDS_OUT_OF_SYNC, "Commands Out of Sync")
        self._read_ok_packet(ok_packet)


def load_data_refusal(connection: sa.Connection, *, galera: bool) -> str | None:
    """Why the bulk-load path cannot be used on ``connection``; ``None`` when it can."""
    if connection.dialect.name not in {"mysql", "mariadb"}:
        return f"the {connection.dialect.name} database has its own bulk path"
    if galera:
        return (
            "the server is a Galera node: a refresh streams its write set in bounded "
            "fragments there, which LOAD DATA does not fit"
        )
    from pymysql.constants import CLIENT  # noqa: PLC0415 - only MariaDB needs the driver

    dbapi_connection = connection.connection.dbapi_connection
    if not getattr(dbapi_connection, "client_flag", 0) & CLIENT.LOCAL_FILES:
        return "the connection was opened without the LOCAL capability (local_infile)"
    if not hasattr(dbapi_connection, "_load_data"):
        return "the connection is not the hub's own (it cannot send rows from memory)"
    allowed = connection.exec_driver_sql("SELECT @@local_infile").scalar()
    if not allowed:
        return (
            "the server does not allow LOAD DATA LOCAL INFILE (@@local_infile is OFF; "
            "set local_infile=ON in the server's configuration to enable it)"
        )
    return None


def tell_once(reason: str) -> None:
    """Log, once per process, why cases are written with INSERT statements instead."""
    if reason not in _told:
        _told.add(reason)
        log.info("bulk load off, writing cases with multi-row INSERTs: %s", reason)


class LoadDataReplace(BulkInsert):
    """Writes rows with ``LOAD DATA LOCAL INFILE … REPLACE`` (see the module's notes)."""

    def __init__(self, table: sa.Table, upsert_keys: Sequence[str]) -> None:
        unique = {
            tuple(c.name for c in index.columns) for index in table.indexes if index.unique
        } | {
            tuple(c.name for c in constraint.columns)
            for constraint in table.constraints
            if isinstance(constraint, sa.UniqueConstraint)
        }
        if (
            table.foreign_keys
            or unique
            or tuple(upsert_keys) != tuple(c.name for c in table.primary_key.columns)
        ):
            # REPLACE deletes every row a new one collides with, and cascades.
            raise TypeError(f"REPLACE is not an upsert of {table.name}")
        self._columns = [column.name for column in table.columns]
        self._table = table.name
        self._width = len(self._columns)
        self._line = line_function(table)
        self._raw_line = line_function(table, escape=False)
        self._stamped_lines = stamped_lines_function(table)
        self._stamp_columns = [
            i for i, column in enumerate(table.columns) if isinstance(column.type, UTCDateTime)
        ]
        self._pending: PendingLoad | None = None
        #: Whether batches are gathered into larger loads: not in a process
        #: started with ``nice``, whose loads leave the server pauses for readers.
        self._gather = not priority.niced()
        #: The text of batches not yet sent, and their rows.
        self._gathered: list[bytes] = []
        self._gathered_rows = 0
        self._jobs: queue.SimpleQueue[Any] | None = None
        self._thread: threading.Thread | None = None

    def statement(self) -> str:
        """The load statement; the connection sends the rows as the file it names."""
        names = ", ".join(f"`{name}`" for name in self._columns)
        # Names come from our own schema.
        return (
            f"LOAD DATA LOCAL INFILE '{_LOAD_NAME}' REPLACE INTO TABLE `{self._table}` "
            "CHARACTER SET utf8mb4 "
            "FIELDS TERMINATED BY '\\t' ENCLOSED BY '' ESCAPED BY '\\\\' "
            f"LINES STARTING BY '' TERMINATED BY '\\n' ({names})"
        )

    def text(self, rows: Sequence[Sequence[Any]]) -> bytes:
        """The load file's content for ``rows``.

        Nearly no text needs escaping, and a regex search per value was a
        third of a line's cost: the batch is written without escaping first,
        and kept when its special characters are exactly the separators
        and the NULLs' backslashes; otherwise it is written again, escaped.
        """
        width = self._width
        if any(len(row) != width for row in rows):
            raise ValueError(f"a row of {self._table} without {width} values")
        text = "".join(self._unescaped_lines(rows))
        if (
            text.count("\t") != (width - 1) * len(rows)
            or text.count("\n") != len(rows)
            or "\r" in text
            or "\x00" in text
            or text.count("\\") != sum([row.count(None) for row in rows])
        ):
            line = self._line
            text = "".join([line(row) for row in rows])
        return text.encode()

    def _unescaped_lines(self, rows: Sequence[Sequence[Any]]) -> list[str]:
        """The rows' lines without escaping, their times written all at once when
        they are all aware UTC (:func:`utc_stamps`), else one by one."""
        columns = self._stamp_columns
        stamps = utc_stamps([row[i] for i in columns for row in rows]) if columns else None
        if stamps is None:
            raw = self._raw_line
            return [raw(row) for row in rows]
        n = len(rows)
        return self._stamped_lines(
            rows, *(stamps[k * n : (k + 1) * n] for k in range(len(columns)))
        )

    def execute(self, connection: sa.Connection, rows: Sequence[Sequence[Any]]) -> None:
        """Load ``rows``: gathered with the batches before, then sent in a load that
        goes on in its own thread (see :meth:`settle`)."""
        if not rows:
            return
        self._gathered.append(self.text(rows))  # while the previous load may still run
        self._gathered_rows += len(rows)
        # An idle server takes what there is; a busy one gets it in larger loads
        # (unless the readers come first: then a batch a load, with pauses).
        if (
            not self._gather
            or self._gathered_rows >= LOAD_ROWS
            or self._pending is None
            or self._pending.done
        ):
            self._send(connection)
            return
        # Any other command on the connection sends these rows first.
        dbapi_connection: Any = connection.connection.dbapi_connection
        if not isinstance(dbapi_connection._pending_load, _Gathered):
            dbapi_connection._pending_load = _Gathered(self, connection)

    def _send(self, connection: sa.Connection) -> None:
        """Start loading the gathered rows, after the running load (whose error it raises)."""
        data, count = b"".join(self._gathered), self._gathered_rows
        self._gathered, self._gathered_rows = [], 0
        self._wait(connection)
        dbapi_connection = connection.connection.dbapi_connection
        if self._jobs is None:
            # One thread per writer, not per load: starting a thread waits
            # for it to get the GIL from the fetch threads, 6% of the writer.
            self._jobs = queue.SimpleQueue()
            self._thread = threading.Thread(
                target=self._serve, args=(self._jobs,), name="supporthub-load", daemon=True
            )
            self._thread.start()
        pending = PendingLoad()
        pending.thread = self._thread
        dbapi_connection._pending_load = pending  # type: ignore[union-attr]
        self._pending = pending
        self._jobs.put((dbapi_connection, data, count, pending))

    def _serve(self, jobs: queue.SimpleQueue[Any]) -> None:
        """The load thread: one load after another, until the writer ends."""
        while (job := jobs.get()) is not None:
            self._load(*job)

    def _load(
        self, dbapi_connection: Any, data: bytes, expected: int, pending: PendingLoad
    ) -> None:
        error: BaseException | None = None
        try:
            cursor = dbapi_connection.cursor()
            try:
                with send_from_memory(dbapi_connection, data):
                    cursor.execute(self.statement())
                self._check(cursor, expected)
            finally:
                cursor.close()
        except BaseException as failure:  # handed to the writer's thread
            error = failure
        finally:
            pending.finish(error)

    def settle(self, connection: sa.Connection, *, quiet: bool = False) -> None:
        """Load the gathered rows, wait for the load, and raise its error.

        ``quiet`` is for a writer ending on another error: that one stands,
        the gathered rows are dropped with its transaction, and a connection
        the running load lost is still invalidated.
        """
        if self._gathered_rows and not quiet:
            self._send(connection)
        self._gathered, self._gathered_rows = [], 0
        self._wait(connection, quiet=quiet)

    def _wait(self, connection: sa.Connection, *, quiet: bool = False) -> None:
        """Wait for the running load, if any, and raise its error (``quiet``: only wait)."""
        dbapi_connection: Any = connection.connection.dbapi_connection
        if isinstance(getattr(dbapi_connection, "_pending_load", None), _Gathered):
            dbapi_connection._pending_load = None
        pending: PendingLoad | None = self._pending
        if pending is None:
            return
        self._pending = None
        error = pending.collect()
        if getattr(dbapi_connection, "_pending_load", None) is pending:
            dbapi_connection._pending_load = None
        if error is None:
            return
        if isinstance(error, connection.dialect.loaded_dbapi.Error):
            error = driver_error(connection, self.statement().split(" REPLACE ")[0], error)
        if not quiet:
            raise error

    def close(self, connection: sa.Connection) -> None:
        """Wait for a load still running (the writer ends on another error); end the thread."""
        self.settle(connection, quiet=True)
        if self._jobs is not None:
            self._jobs.put(None)
            self._jobs = self._thread = None

    def _check(self, cursor: Any, expected: int) -> None:
        """Raise unless the server took every row as it was (LOCAL makes errors warnings)."""
        message = getattr(getattr(cursor, "_result", None), "message", None) or b""
        counts = _RECORDS.search(message)
        records = int(counts.group(1)) if counts else expected
        skipped = int(counts.group(2)) if counts else 0
        if not cursor.warning_count and records == expected and not skipped:
            return
        # Codes only: a warning's text may quote the case data.
        cursor.execute("SHOW WARNINGS LIMIT 5")
        warnings = ", ".join(sorted({str(code) for _level, code, _text in cursor.fetchall()}))
        import pymysql  # noqa: PLC0415

        raise pymysql.err.DataError(
            1262,
            f"LOAD DATA of {self._table} took {records} of {expected} rows "
            f"({skipped} skipped, {cursor.warning_count} warnings, codes: {warnings or 'none'})",
        )
