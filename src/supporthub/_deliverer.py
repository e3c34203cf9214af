"""The deliverer: sends the outbox's rows to the CRMs, one sender per source.

::

    per source, a thread:  due rows ─▶ claim (lease) ─▶ adapter.write_case ─▶ record
                                           │                    │
                 another process's lease ──┘      delivered / failed (final refusal)
                 is skipped until it expires      / pending again after a backoff

Any number of hub processes may run one on the same database: a row is
sent only by the holder of its lease (``_store/outbox.py``), and the
idempotency key is the same on every attempt, so a send repeated after a
crash or a lost answer never makes a second comment. A lease outlives any
single send: the write's HTTP retries are bounded to fit inside it.
"""

from __future__ import annotations

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

import attrs

from supporthub._adapter import Adapter, CaseWrite, CaseWriteResult
from supporthub._errors import SourceRejected, StorageError
from supporthub._http import HttpClient, RetryPolicy
from supporthub._redact import redact
from supporthub._refresh import Clock, Source, TransportFactory
from supporthub._store import outbox
from supporthub._store.conflicts import retry_conflicts
from supporthub._store.sql import SqlStore

__all__ = ["Deliverer", "unwritable_reason"]

log = logging.getLogger("supporthub.delivery")

#: Longest wait between two attempts of one delivery (and the cap on a Retry-After):
#: a restarted hub resumes every delivery within a minute (contract §7).
MAX_BACKOFF_SECONDS = 60.0
_FIRST_BACKOFF_SECONDS = 2.0
#: Rows claimed at a time (one transaction); each is sent at once or given back.
_BATCH = 25
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


@attrs.frozen
class _Sender:
    """One source's adapter instance for writing (it keeps its CRM's pace: write_wait)."""

    adapter: Adapter
    http: HttpClient


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
        store: SqlStore,
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
        self._wake = threading.Event()

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
            sender = _Sender(adapter_class(source.config, http), http)
            self._senders[name] = sender
        return sender

    # -- one pass --------------------------------------------------------------------

    def deliver_due(self, name: str, *, limit: int | None = None) -> int:
        """Claim and send the due rows of source ``name``; return how many were sent.

        Rows are claimed a batch at a time (one transaction for the batch, one
        per row to record its outcome). A claimed row is sent at once or given
        back: when the CRM's rate asks for a wait, the source is paused after a
        failure, or a good part of the lease has gone, the rest of the batch is
        released unsent, so no lease runs out before its send.

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
            size = _BATCH if limit is None else min(_BATCH, limit - sent)
            with self.store.reader() as reader:
                page = outbox.due(reader.connection, name, self.clock(), size)
            if not page:
                break
            claimed_at = time.monotonic()
            claimed = self._claim(name, page)
            if not claimed:
                idle += 1  # another deliverer took them first: look again, a few times
                if idle > 3:
                    break
                continue
            idle = 0
            for n, delivery in enumerate(claimed):
                if not self._may_send(sender, name, claimed_at=claimed_at):
                    with outbox.transaction(self.store) as connection:
                        outbox.release(connection, claimed[n:], owner=self.owner)
                    break
                self._send(sender, name, delivery)
                sent += 1
        return sent

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

    def _may_send(self, sender: _Sender, name: str, *, claimed_at: float) -> bool:
        """Whether a row of the batch claimed at ``claimed_at`` (monotonic) may be sent now."""
        return not (
            self._stop.is_set()
            or time.monotonic() < self._paused_until.get(name, 0.0)
            or sender.adapter.write_wait() > 0
            # A send takes at most a third of the lease: start none after the first third.
            or time.monotonic() - claimed_at > self.lease / 3
        )

    def _send(self, sender: _Sender, name: str, delivery: outbox.DueDelivery) -> None:
        reply_id, case_id = delivery.reply_id, delivery.case_id
        write = CaseWrite(
            case_id=delivery.case_id,
            message=delivery.message,
            public=delivery.public,
            idempotency_key=delivery.idempotency_key,
            set_status=delivery.set_status,
        )
        state, error, result, retry_at = "delivered", None, CaseWriteResult(), None
        try:
            result = sender.adapter.write_case(write)
            self._failures[name] = 0
        except SourceRejected as refusal:
            self._failures[name] = 0
            state, error = "failed", _words(refusal)
            log.warning("reply %s: %s case %s refused for good: %s", reply_id, name, case_id, error)
        except Exception as trouble:  # transient, or an adapter bug: try again later
            state, error = "pending", _words(trouble)
            failures = self._failures[name] = self._failures.get(name, 0) + 1
            wait = backoff(max(delivery.attempts, failures), getattr(trouble, "retry_after", None))
            retry_at = self.clock() + dt.timedelta(seconds=wait)
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
        with outbox.transaction(self.store) as connection:
            kept = outbox.finish(
                connection,
                delivery,
                owner=self.owner,
                state=state,
                now=self.clock(),
                error=error,
                comment_id=result.comment_id,
                next_attempt_at=retry_at,
            )
        if not kept:
            log.warning(
                "reply %s: the lease on %s case %s ran out during its send; "
                "its next holder repeats it with the same idempotency key",
                reply_id,
                name,
                case_id,
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
            sender.http.close()
        self._senders.clear()
