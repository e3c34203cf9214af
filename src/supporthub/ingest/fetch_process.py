"""A source's fetch in a process of its own, feeding the refresh's spool.

Decoding pages, mapping records to cases and keying them are about half of
a full refresh's Python (``docs/performance.md``). In the writer's process
they share one GIL with the writer, so they run one after the other
however many cores there are. Here each source's :class:`.FetchJob` runs in
a child process (this module's :func:`main`), and the
writer's process only receives finished batches in :mod:`.batch_wire`'s
form (kept as they come, decoded by the writer when it takes them).

A plain child, not multiprocessing's: no fork of a process with threads,
no global start method or fork server to share with the application, and
no second import of the application's ``__main__``. Its price is Python's
start and the hub's imports, about 0.4 s beside the writer's own start,
which is why only full reads use it by default.

The job (pickled, with the parent's ``sys.path`` and log levels) goes in on
the child's stdin; frames come back on its stdout, each a 4-byte length and
a body whose first byte says what it is::

    R                           the job is loaded: the fetch starts
    B <rows: 4 bytes> <batch>   a prepared batch, in batch_wire's form
    L <MessagePack record>      a log record, for the parent's loggers
    E <pickle>                  the fetch failed: how, and its traceback
    D                           the fetch ended well

A child that ends before ``R`` (it could not import an adapter, say) leaves
the fetch to a thread of the parent; one that ends later without ``D`` or
``E`` fails its source. When the writer gives up on a source, its child is
killed. The child's log records reach the parent's loggers, whose handlers
redact them; what it prints (a traceback when it cannot start) is kept in a
temporary file and logged by the parent when the child ends early.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from typing import IO, Any

import msgspec

from supporthub.ingest import batch_wire
from supporthub.ingest.fetch_job import FetchJob
from supporthub.ingest.spool import Spool, SpoolCancelled
from supporthub.vocabulary.errors import SupportHubError

__all__ = ["FetchProcessDied", "fetch_in_process", "usable_cpus"]

log = logging.getLogger("supporthub.refresh")

_READY, _BATCH, _LOG, _ERROR, _DONE = b"R", b"B", b"L", b"E", b"D"
_LENGTH_BYTES = 4
_LAST_WORDS_BYTES = 2000
# Not `-m`: the package imports this module before runpy would run it.
_CHILD = f"import sys; from {__name__} import main; sys.exit(main())"
_LOG_FIELDS = ("name", "levelno", "levelname", "pathname", "lineno", "funcName", "created")
_STANDARD_RECORD = frozenset(logging.makeLogRecord({}).__dict__) | {"message"}


class FetchProcessDied(SupportHubError):
    """A fetch process ended without saying how its fetch ended (killed, say):
    its source fails, in words, like a CRM that failed; no adapter is at fault."""


class RemoteError(Exception):
    """A fetch process's error that could not be brought back as itself."""


class RemoteHubError(SupportHubError):
    """The same, for an error the hub describes in words (a :class:`SupportHubError`)."""


def usable_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def fetch_in_process(job: FetchJob, spool: Spool) -> bool:
    """Run ``job`` in a child process that feeds ``spool``; until it ends.

    :returns: ``False`` when the job could not run in a child and nothing
        reached ``spool`` (the caller fetches in this process instead).
    """
    scripted = _defined_in_main(job)
    if scripted is not None:  # another interpreter's __main__ is not this script
        log.debug("%s: fetching in this process: %s is defined in __main__", job.source, scripted)
        return False
    try:
        payload = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:  # a plug-in rule that does not pickle
        log.info("%s: fetching in this process: the job does not pickle (%s)", job.source, error)
        return False
    levels = {
        "": logging.getLogger().getEffectiveLevel(),
        "supporthub": logging.getLogger("supporthub").getEffectiveLevel(),
    }
    # What the child prints (a traceback if it cannot start) is logged here,
    # through this process's handlers, rather than mixed into its stderr.
    with tempfile.TemporaryFile(prefix="supporthub-fetch-") as errors:
        try:
            process = subprocess.Popen(  # noqa: S603 - this interpreter, this module
                [sys.executable, "-c", _CHILD],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                # Out of the terminal's process group: Ctrl-C is the parent's to
                # handle; a child whose parent is gone fails at its next frame.
                start_new_session=True,
            )
        except OSError as error:
            log.warning("%s: fetching in this process: no fetch process (%s)", job.source, error)
            return False
        assert process.stdin is not None
        assert process.stdout is not None
        spool.when_cancelled(process.kill)
        try:
            try:
                process.stdin.write(pickle.dumps((list(sys.path), levels, payload)))
                process.stdin.close()
            except OSError:
                pass  # it died at once: said below, as a child that never became ready
            return _relay(job.source, process, process.stdout, spool, errors)
        finally:
            process.stdout.close()
            if process.poll() is None:
                process.kill()
            process.wait()


def _defined_in_main(job: FetchJob) -> str | None:
    """The name of the job's adapter or key rule class defined in the running script, if one is."""
    for kind in (job.adapter, *(type(rule) for rule in job.pipeline.rules)):
        if kind.__module__ == "__main__":
            return kind.__qualname__
    return None


def _relay(
    source: str,
    process: subprocess.Popen[bytes],
    frames: IO[bytes],
    spool: Spool,
    errors: IO[bytes],
) -> bool:
    """Hand the child's frames on until it says how the fetch ended."""
    ready = False
    while (message := _read_frame(frames)) is not None:
        kind, body = message[:1], memoryview(message)[1:]
        if kind == _BATCH:
            rows = int.from_bytes(body[:_LENGTH_BYTES], "big")
            try:
                spool.put_packed(bytes(body[_LENGTH_BYTES:]), rows)
            except SpoolCancelled:
                return True
        elif kind == _LOG:
            _log_here(msgspec.msgpack.decode(body))
        elif kind == _READY:
            ready = True
        elif kind == _ERROR:
            spool.fail(_error_from(body))
            return True
        else:
            if kind == _DONE:
                spool.finish()
            else:
                spool.fail(FetchProcessDied(f"the fetch process of {source} sent {kind!r}"))
            return True
    return spool.cancelled or _ended_early(source, process, spool, errors, ready=ready)


def _ended_early(
    source: str, process: subprocess.Popen[bytes], spool: Spool, errors: IO[bytes], *, ready: bool
) -> bool:
    """The child ended without a word on the fetch: before it began (``False``:
    fetch in a thread instead) or half-way (its source fails)."""
    code = process.wait()
    said = _last_words(errors)
    if not ready:
        log.warning(
            "%s: fetching in this process: the fetch process ended before it started "
            "(exit code %s)%s",
            source,
            code,
            said,
        )
        return False
    if said:
        log.warning("%s: the fetch process ended (exit code %s)%s", source, code, said)
    spool.fail(
        FetchProcessDied(f"the fetch process of {source} ended unexpectedly (exit code {code})")
    )
    return True


def _last_words(errors: IO[bytes]) -> str:
    """The end of what the child printed, to add to a log line ("": nothing)."""
    errors.seek(0, os.SEEK_END)
    errors.seek(max(0, errors.tell() - _LAST_WORDS_BYTES))
    text = errors.read().decode(errors="replace").strip()
    return f"; it said: {text}" if text else ""


def _read_frame(frames: IO[bytes]) -> bytes | None:
    """The next frame's body; ``None`` at the end of the pipe (or a cut frame)."""
    head = frames.read(_LENGTH_BYTES)
    if len(head) < _LENGTH_BYTES:
        return None
    length = int.from_bytes(head, "big")
    body = frames.read(length)
    return body if len(body) == length else None


def _log_here(fields: dict[str, Any]) -> None:
    logger = logging.getLogger(fields["name"])
    if logger.isEnabledFor(fields["levelno"]):
        logger.handle(logging.makeLogRecord(fields))


def _error_from(body: memoryview) -> BaseException:
    """The child's error as itself, or in words when it does not unpickle here."""
    pickled, hub_error, words, text = pickle.loads(body)  # noqa: S301 - our own child
    try:
        error: BaseException = pickle.loads(pickled)  # noqa: S301
    except Exception:
        error = (RemoteHubError if hub_error else RemoteError)(words)
    error.add_note(f"in the fetch process:\n{text}")
    return error


# -- the child's side ---------------------------------------------------------


class _Channel:
    """The child's frames to the parent, from the fetch and the log handler."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._lock = threading.Lock()

    def send(self, *parts: bytes) -> None:
        body = b"".join(parts)
        with self._lock:
            self._out.write(len(body).to_bytes(_LENGTH_BYTES, "big"))
            self._out.write(body)
            self._out.flush()


class _Forward(logging.Handler):
    """Sends each record, its message formatted, to the parent's loggers."""

    def __init__(self, channel: _Channel) -> None:
        super().__init__()
        self._channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields: dict[str, Any] = {name: getattr(record, name) for name in _LOG_FIELDS}
            fields["msg"] = record.getMessage()
            if record.exc_info:
                fields["exc_text"] = "".join(traceback.format_exception(*record.exc_info))
            for name, value in record.__dict__.items():
                if name not in _STANDARD_RECORD and not name.startswith("_"):
                    fields[name] = value
            try:
                data = msgspec.msgpack.encode(fields)
            except (TypeError, ValueError, OverflowError):
                data = msgspec.msgpack.encode({k: _plain(v) for k, v in fields.items()})
            self._channel.send(_LOG, data)
        except Exception:
            self.handleError(record)


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | None) else str(value)


def _forward_logs(channel: _Channel, levels: dict[str, int]) -> None:
    """The child's records go to the parent, at the parent's levels."""
    logging.getLogger().handlers[:] = [_Forward(channel)]
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _run(payload: bytes, channel: _Channel) -> None:
    """Load the job, run it, send its batches, say how it ended."""
    job: FetchJob = pickle.loads(payload)  # noqa: S301 - from the parent
    channel.send(_READY)
    try:
        for batch in job.batches():
            rows = len(batch.rows).to_bytes(_LENGTH_BYTES, "big")
            channel.send(_BATCH, rows, batch_wire.pack(batch))
    except (BrokenPipeError, ConnectionResetError):
        return  # the parent is gone or gave up on this source
    except BaseException as error:
        try:
            pickled = pickle.dumps(error, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            pickled = b""
        hub_error = isinstance(error, SupportHubError)
        words = str(error) if hub_error else f"{type(error).__name__}: {error}"
        text = "".join(traceback.format_exception(error))
        channel.send(_ERROR, pickle.dumps((pickled, hub_error, words, text)))
        return
    channel.send(_DONE)


def main() -> int:
    """The fetch process: the job from stdin, frames on the stdout it had."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides
    frames = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    # Whatever else prints goes to stderr, not into the frames.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    channel = _Channel(frames)
    try:
        path, levels, payload = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 - the parent's
        sys.path[:] = path
        _forward_logs(channel, levels)
        _run(payload, channel)
    except BrokenPipeError:
        return 1  # the parent is gone
    return 0
