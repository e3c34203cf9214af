"""The deliverer: sends the outbox's rows to the CRMs, one sender per source.

::

    per source, a thread:  due rows ─▶ claim (lease) ─▶ adapter.write_case ─▶ record
                                           │                    │
                 another process's lease ──┘      delivered / failed (final refusal)
                 is skipped until it expires      / pending again after a backoff

Any number of hub processes may run one on the same database: a row is
sent only by the holder of its lease (``store/outbox.py``), and the
idempotency key is the same on every attempt, so a send repeated after a
crash or a lost answer never makes a second comment. A lease outlives any
single send: the write's HTTP retries are bounded to fit inside it.
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
import logging
import os
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

import attrs

from supporthub.ingest.refresh import Clock, Source, TransportFactory
from supporthub.kit.adapter import Adapter, CaseWrite
from supporthub.kit.http import HttpClient, RetryPolicy
from supporthub.store import outbox
from supporthub.store.base import Store
from supporthub.store.conflicts import retry_conflicts
from supporthub.vocabulary.errors import SourceRejected, StorageError
from supporthub.vocabulary.redact import redact

__all__ = ["Deliverer", "unwritable_reason"]

log = logging.getLogger("supporthub.delivery")

#: Longest wait between two attempts of one delivery (and the cap on a Retry-After):
#: a restarted hub resumes every delivery within a minute (contract §7).
MAX_BACKOFF_SECONDS = 60.0
_FIRST_BACKOFF_SECONDS = 2.0
#: Rows claimed at a time (one transaction); each is sent at once or given back.
#: A CRM with a client-side write limit gets the smaller claims: its rows wait for the limit.
_BATCH = 200
_PACED_BATCH = 25
#: Writes in flight at once to one CRM without a client-side write limit.
_IN_FLIGHT = 4
#: Outcomes are recorded once this many are in, or this many seconds after the last record.
_RECORD_EVERY = 100
_RECORD_WITHIN = 1.0
_MAX_ERROR = 1000


def unwritable_reason(sources: Mapping[str, Source], name: str) -> str | None:
    """Why replies cannot be written to source ``name`` here, or ``None`` when they can."""
    source = sources.get(name)
    if source is None:
        return f"no adapter for the source {name!r} is installed, so the hub cannot write to it"
    if not source.adapter.can_write():
        return (
            f"the {source.adapter.title} adapter cannot write to its CRM "
            "(it does not implement write_case)"
        )
    return None


def backoff(attempts: int, retry_after: object = None) -> float:
    """Seconds until the next attempt: exponential with jitter, or what the CRM asked."""
    if isinstance(retry_after, int | float) and retry_after >= 0:
        return min(float(retry_after), MAX_BACKOFF_SECONDS)
    base: float = min(MAX_BACKOFF_SECONDS, _FIRST_BACKOFF_SECONDS * 2.0 ** min(attempts - 1, 20))
    return base * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not a secret


def _words(error: BaseException) -> str:
    text = redact(str(error)) or type(error).__name__
    return text[:_MAX_ERROR]


@attrs.define
class _Sender:
    """One source's adapter instance for writing, and the threads its writes run on.

    A CRM without a client-side write limit gets :data:`_IN_FLIGHT` writes
    at once and claims of :data:`_BATCH` rows; one with a limit (it
    overrides ``write_wait``, as Strawberry's 100 a minute) gets one write
    at a time, each started only when the limit allows it, and smaller claims.
    """

    adapter: Adapter
    http: HttpClient
    pool: ThreadPoolExecutor
    in_flight: int
    batch: int
    #: Whether a write has succeeded since the last transient failure: until
    #: then, one write at a time (a first token fetch, a CRM coming back).
    warm: bool = False


@attrs.define(eq=False)
class _BatchRun:
    """One claimed batch on its way: rows still to send, outcomes still to record."""

    waiting: collections.deque[outbox.DueDelivery]
    outcomes: list[outbox.Outcome] = attrs.field(factory=list)
    #: Writer threads running (``active``) and started (``workers``) for this batch.
    active: int = 0
    workers: int = 0
    error: BaseException | None = None
    lock: threading.Lock = attrs.field(factory=threading.Lock)
    #: Set when outcomes are ready to record, or the last writer finished.
    ready: threading.Event = attrs.field(factory=threading.Event)


class Deliverer:
    """Sends due delivery rows through the adapters, under leases.

    :param lease: seconds a claimed row stays this deliverer's; another
        deliverer takes it over after that (a process that died).
    :param poll: seconds between looks at an empty outbox.
    :param ready: makes sure the schema is there (called before each look).
    """

    def __init__(
        self,
        *,
        store: Store,
        sources: Mapping[str, Source],
        policy: RetryPolicy,
        transport_factory: TransportFactory | None = None,
        clock: Clock,
        lease: float = 30.0,
        poll: float = 2.0,
        ready: Callable[[], None] = lambda: None,
    ) -> None:
        self.ready = ready
        self.store = store
        self.sources = dict(sources)
        self.clock = clock
        self.lease = lease
        self.poll = poll
        # A write's retries must end well inside its lease.
        self.policy = attrs.evolve(
            policy,
            timeout=min(policy.timeout, lease / 3),
            total_timeout=min(policy.total_timeout, lease / 3),
            max_wait=min(policy.max_wait, lease / 6),
        )
        self.transport_factory = transport_factory
        host = socket.gethostname()[:30]
        self.owner = f"{host}:{os.getpid()}:{secrets.token_hex(6)}"
        self._senders: dict[str, _Sender] = {}
        # Per source: transient failures in a row, and no send before this
        # (monotonic) time, so a CRM that is down gets one probe per backoff,
        # not one per queued row.
        self._failures: dict[str, int] = {}
        self._paused_until: dict[str, float] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # Set when a sender found nothing more due: a follower looks at once.
        self._idle = threading.Event()

    # -- which sources ---------------------------------------------------------------

    def writable_sources(self) -> list[str]:
        """The sources this process can send to: enabled, configured, and able to write."""
        return [
            name
            for name, source in self.sources.items()
            if source.enabled and source.problem is None and source.adapter.can_write()
        ]

    def fail_unwritable(self) -> int:
        """Fail the pending rows of sources that cannot be written to; how many."""
        with self.store.reader() as reader:
            pending = outbox.pending_sources(reader.connection)
        failed = 0
        for name in pending:
            reason = unwritable_reason(self.sources, name)
            if reason is not None:
                with outbox.transaction(self.store) as connection:
                    failed += outbox.fail_pending(connection, name, reason, self.clock())
        return failed

    def _sender(self, name: str) -> _Sender:
        sender = self._senders.get(name)
        if sender is None:
            source = self.sources[name]
            assert source.config is not None
            adapter_class = source.adapter
            http = HttpClient(
                adapter_class.base_url(source.config),
                title=adapter_class.title,
                policy=self.policy,
                transport=self.transport_factory(name) if self.transport_factory else None,
            )
            adapter = adapter_class(source.config, http)
            paced = type(adapter).write_wait is not Adapter.write_wait
            in_flight = 1 if paced else _IN_FLIGHT
            pool = ThreadPoolExecutor(in_flight, thread_name_prefix=f"supporthub-write-{name}")
            batch = _PACED_BATCH if paced else _BATCH
            sender = _Sender(adapter, http, pool, in_flight, batch)
            self._senders[name] = sender
        return sender

    # -- one pass --------------------------------------------------------------------

    def deliver_due(self, name: str, *, limit: int | None = None) -> int:
        """Claim and send the due rows of source ``name``; return how many were sent.

        Rows are claimed a batch at a time (one transaction), sent with up to
        the source's ``in_flight`` writes at once, and their outcomes recorded
        in batches (one transaction each). A claimed row is sent at once or
        given back: when the CRM's rate asks for a wait, the source is paused
        after a failure, or a good part of the lease has gone, the rest of the
        batch is released unsent, so no lease runs out before its send.

        A crash between a write and the record of its outcome leaves the row
        pending under a lease that ends: its next holder sends it again with
        the same idempotency key, which the CRM answers without a second comment.

        :param limit: stop after this many sends (``None``: until none is due).
        """
        sender = self._sender(name)
        sent = 0
        idle = 0
        while limit is None or sent < limit:
            if self._stop.is_set() or time.monotonic() < self._paused_until.get(name, 0.0):
                return sent
            # The adapter knows its CRM's write limit (Strawberry: 100 a
            # minute); wait here, before claiming, so no lease runs out.
            wait = sender.adapter.write_wait()
            if wait > 0 and self._stop.wait(wait):
                return sent
            size = sender.batch if limit is None else min(sender.batch, limit - sent)
            with self.store.reader() as reader:
                page = outbox.due(reader.connection, name, self.clock(), size)
            if not page:
                self._idle.set()
                break
            claimed_at = time.monotonic()
            claimed = self._claim(name, page)
            if not claimed:
                idle += 1  # another deliverer took them first: look again, a few times
                if idle > 3:
                    break
                continue
            idle = 0
            sent += self._send_batch(sender, name, claimed, claimed_at)
        return sent

    def wait_idle(self, timeout: float) -> bool:
        """Wait until a sender finds nothing more due, at most ``timeout`` seconds; whether one did.

        Whoever follows a reply (``Hub.deliver``) looks at its progress then,
        rather than up to a poll interval after its last row was recorded.
        """
        idle = self._idle.wait(timeout)
        self._idle.clear()
        return idle

    def _claim(self, name: str, page: list[tuple[str, str]]) -> list[outbox.DueDelivery]:
        now = self.clock()

        def claim() -> list[outbox.DueDelivery]:
            with outbox.transaction(self.store) as connection:
                return outbox.claim_batch(
                    connection,
                    name,
                    page,
                    owner=self.owner,
                    now=now,
                    lease_until=now + dt.timedelta(seconds=self.lease),
                )

        # On Galera a deliverer on another node may claim the same rows at
        # once: one commit wins, the other runs again and finds them taken.
        return retry_conflicts(claim)

    def _send_batch(
        self, sender: _Sender, name: str, claimed: list[outbox.DueDelivery], claimed_at: float
    ) -> int:
        """Send a claimed batch, several writes at once; record the outcomes in batches.

        The sender's writer threads each take the next row, send it and leave
        its outcome; this thread wakes once per :data:`_RECORD_EVERY` outcomes
        (or :data:`_RECORD_WITHIN` seconds) to record them. A hand-off per
        write (a future, a wait) cost a tenth of the write's own CPU.
        """
        run = _BatchRun(collections.deque(claimed))
        run.workers = run.active = 1 if not sender.warm else sender.in_flight
        for _ in range(run.workers):
            sender.pool.submit(self._work, run, sender, name, claimed_at)
        sent = 0
        finished = False
        try:
            while not finished:
                run.ready.wait(_RECORD_WITHIN)
                with run.lock:
                    run.ready.clear()
                    outcomes, run.outcomes = run.outcomes, []
                    finished = run.active == 0
                if outcomes:
                    sent += len(outcomes)
                    self._record(outcomes)
        finally:
            # On the way out of an error too: what was sent is recorded when it can be.
            # Writes still running then end unrecorded; their rows' leases end.
            with run.lock:
                outcomes, run.outcomes = run.outcomes, []
            if outcomes:
                sent += len(outcomes)
                self._record(outcomes)
        if run.error is not None:
            raise run.error
        if run.waiting:  # not sent: the CRM asked for a wait, a pause, a stop, or time ran out
            with outbox.transaction(self.store) as connection:
                outbox.release(connection, list(run.waiting), owner=self.owner)
        return sent

    def _work(self, run: _BatchRun, sender: _Sender, name: str, claimed_at: float) -> None:
        """A writer thread's part of a batch: take a row, send it, leave its outcome; again."""
        try:
            while self._may_send(sender, name, claimed_at=claimed_at):
                try:
                    delivery = run.waiting.popleft()
                except IndexError:
                    return
                outcome = self._write(sender, name, delivery)
                with run.lock:
                    run.outcomes.append(outcome)
                    if len(run.outcomes) >= _RECORD_EVERY:
                        run.ready.set()
                    # The first success after a cold start: all writers now (counted
                    # here, under the lock, so that two writers never both add them).
                    more = sender.in_flight - run.workers if sender.warm else 0
                    run.workers += more
                    run.active += more
                for _ in range(more):
                    sender.pool.submit(self._work, run, sender, name, claimed_at)
        except BaseException as error:  # recorded by the batch's thread, which re-raises it
            run.error = error
        finally:
            with run.lock:
                run.active -= 1
                if run.active == 0:
                    run.ready.set()

    def _may_send(self, sender: _Sender, name: str, *, claimed_at: float) -> bool:
        """Whether a row of the batch claimed at ``claimed_at`` (monotonic) may be sent now."""
        return not (
            self._stop.is_set()
            or time.monotonic() < self._paused_until.get(name, 0.0)
            or sender.adapter.write_wait() > 0
            # A send takes at most a third of the lease: start none after the first third.
            or time.monotonic() - claimed_at > self.lease / 3
        )

    def _write(self, sender: _Sender, name: str, delivery: outbox.DueDelivery) -> outbox.Outcome:
        """Send one row (on a pool thread); how it went, to be recorded."""
        reply_id, case_id = delivery.reply_id, delivery.case_id
        write = CaseWrite(
            case_id=delivery.case_id,
            message=delivery.message,
            public=delivery.public,
            idempotency_key=delivery.idempotency_key,
            set_status=delivery.set_status,
        )
        try:
            result = sender.adapter.write_case(write)
        except SourceRejected as refusal:
            self._failures[name] = 0
            error = _words(refusal)
            log.warning("reply %s: %s case %s refused for good: %s", reply_id, name, case_id, error)
            return outbox.Outcome(delivery, "failed", error)
        except Exception as trouble:  # transient, or an adapter bug: try again later
            error = _words(trouble)
            sender.warm = False
            failures = self._failures[name] = self._failures.get(name, 0) + 1
            wait = backoff(max(delivery.attempts, failures), getattr(trouble, "retry_after", None))
            self._paused_until[name] = time.monotonic() + wait
            log.info(
                "reply %s: %s case %s failed (attempt %d), again in %.0f s: %s",
                reply_id,
                name,
                case_id,
                delivery.attempts,
                wait,
                error,
            )
            retry_at = self.clock() + dt.timedelta(seconds=wait)
            return outbox.Outcome(delivery, "pending", error, next_attempt_at=retry_at)
        self._failures[name] = 0
        sender.warm = True
        return outbox.Outcome(delivery, "delivered", comment_id=result.comment_id)

    def _record(self, outcomes: list[outbox.Outcome]) -> None:
        """Record sent rows' outcomes in one transaction (they stay leased until then)."""
        with outbox.transaction(self.store) as connection:
            kept = outbox.finish_many(connection, outcomes, owner=self.owner, now=self.clock())
        if kept < len(outcomes):
            log.warning(
                "the lease on %d of %d sent rows ran out during their send; "
                "their next holder repeats them with the same idempotency key",
                len(outcomes) - kept,
                len(outcomes),
            )

    # -- threads ---------------------------------------------------------------------

    def start(self) -> None:
        """Start one sender thread per writable source, and the sweeper of unwritable ones."""
        self._stop.clear()
        names = self.writable_sources()
        for name in names:
            self._spawn(f"supporthub-deliver-{name}", functools.partial(self.deliver_due, name))
        self._spawn("supporthub-deliver-sweep", self.fail_unwritable)
        log.info("delivering replies to %s", ", ".join(names) or "no source")

    def _spawn(self, thread_name: str, step: Callable[[], int]) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.ready()  # the schema, once the database answers
                    step()
                except StorageError as error:
                    log.warning("delivery: %s; trying again in %g s", error, self.poll)
                except Exception:
                    log.exception("delivery failed unexpectedly; trying again in %g s", self.poll)
                self._stop.wait(self.poll)

        thread = threading.Thread(target=loop, name=thread_name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self, timeout: float | None = None) -> None:
        """Stop the threads (a send under way finishes, within its bounded time)."""
        self._stop.set()
        wait = self.lease if timeout is None else timeout
        for thread in self._threads:
            thread.join(wait)
        self._threads.clear()
        for sender in self._senders.values():
            sender.pool.shutdown(wait=True)
            sender.http.close()
        self._senders.clear()
