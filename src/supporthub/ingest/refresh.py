"""One refresh: lock, decide what is due, fetch concurrently, write once.

::

    lock ─▶ due sources ─▶ fetch threads ──batches──▶ spools
                          (full reads: each in a fetch process)
                                                        │
      one transaction ◀─────────────────────────────────┘
        per source with cases: a savepoint; upsert changed cases, delete
          tombstones, (full read: remove unseen); a failing source rolls
          back to its savepoint and keeps its cases
        first loads: batch by batch as they come, interleaved (not when
          niced); a failing one's cases are deleted (source_writes.py)
      then rewrite the touched aggregated cases, save cursors and states
    commit ─▶ report ─▶ refresh_finished hook

Readers see the state before the commit or after it, never between.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import httpx
import pluggy

from supporthub.grouping.consolidate import AggregateChanges, KeyPipeline
from supporthub.ingest import due as _due
from supporthub.ingest import fetch_process
from supporthub.ingest.fetch_job import FetchJob
from supporthub.ingest.regroup import apply_aggregate_changes, regroup
from supporthub.ingest.source_writes import Outcome, SourceUndo, SourceWrite
from supporthub.ingest.spool import Spool, SpoolCancelled, SpoolSet
from supporthub.kit.adapter import Adapter, SourceConfig
from supporthub.store import outbox
from supporthub.store.base import Store, StoreReader, StoreWriter
from supporthub.store.conflicts import is_conflict, retry_conflicts
from supporthub.vocabulary import priority
from supporthub.vocabulary.converter import from_json_dict, to_json_dict
from supporthub.vocabulary.errors import (
    RefreshInProgress,
    RefreshNotDue,
    StorageError,
    SupportHubError,
)
from supporthub.vocabulary.models import RefreshReport, SourceReport, SourceState, Trigger
from supporthub.vocabulary.redact import redact
from supporthub.vocabulary.settings import Settings

__all__ = ["Refresher", "Source", "report_from_json"]

log = logging.getLogger("supporthub.refresh")

#: Runs of one refresh that lost a write conflict on Galera before it fails.
REFRESH_CONFLICT_ATTEMPTS = 3

Clock = Callable[[], dt.datetime]
TransportFactory = Callable[[str], httpx.BaseTransport | None]


def utcnow() -> dt.datetime:
    """The current time, aware UTC."""
    return dt.datetime.now(dt.UTC)


@attrs.frozen
class Source:
    """A source the hub knows: its adapter and, when enabled, its settings."""

    name: str
    adapter: type[Adapter]
    config: SourceConfig | None

    @property
    def enabled(self) -> bool:
        """Its enabling setting (the URL) is set."""
        return self.config is not None

    @property
    def problem(self) -> str | None:
        """Why an enabled source cannot run (missing settings), in words."""
        if self.config is None or not self.config.missing:
            return None
        names = ", ".join(
            f"SUPPORTHUB_{self.name.upper()}_{setting.upper()}" for setting in self.config.missing
        )
        return f"{self.adapter.title} is enabled but misses settings: {names}"


def report_from_json(data: Mapping[str, Any]) -> RefreshReport:
    """Rebuild a :class:`RefreshReport` from its stored JSON (the converter's reverse)."""
    return from_json_dict(data, RefreshReport)


class Refresher:
    """Runs refreshes for one hub; one at a time in this process and across processes."""

    def __init__(
        self,
        *,
        store: Store,
        sources: Mapping[str, Source],
        pipeline: Callable[[StoreReader], KeyPipeline],
        settings: Settings,
        plugins: pluggy.PluginManager,
        transport_factory: TransportFactory | None = None,
        clock: Clock = utcnow,
        unwritable: Callable[[str], str | None] = lambda source: None,
    ) -> None:
        self.unwritable = unwritable
        self.store = store
        self.sources = dict(sources)
        self.load_pipeline = pipeline
        self.settings = settings
        self.plugins = plugins
        self.transport_factory = transport_factory
        self.clock = clock
        self._local = threading.Lock()

    @property
    def enabled(self) -> dict[str, Source]:
        """The sources whose URL is set."""
        return {name: s for name, s in self.sources.items() if s.enabled}

    # -- deciding -------------------------------------------------------------

    def due_sources(
        self, states: Mapping[str, SourceState], trigger: Trigger, now: dt.datetime
    ) -> list[str]:
        """The enabled sources this trigger fetches now (misconfigured ones always
        "run", to fail in the report)."""
        due = []
        for name, source in self.enabled.items():
            state = states.get(name)
            if source.problem is not None or trigger is Trigger.FORCED:
                due.append(name)
            elif trigger is Trigger.SCHEDULED:
                if _due.due_scheduled(state, now, self.settings.refresh_interval):
                    due.append(name)
            elif _due.due_on_demand(state, now, self.settings.min_refresh_age):
                due.append(name)
        return due

    def not_due_error(self, states: Mapping[str, SourceState], now: dt.datetime) -> RefreshNotDue:
        """The ``429`` answer: how old the data is and when to come back."""
        min_age = self.settings.min_refresh_age
        successes = [
            s.last_success_at
            for name in self.enabled
            if (s := states.get(name)) is not None and s.last_success_at is not None
        ]
        data_age = now - min(successes) if successes else None
        next_at = _due.earliest(
            (_due.refreshable_at(states.get(name), min_age) for name in self.enabled), now
        )
        retry_after = dt.timedelta(seconds=max(1, math.ceil((next_at - now).total_seconds())))
        return RefreshNotDue(
            f"no source is due: data younger than the minimum age "
            f"({min_age.total_seconds():g} s) is not fetched again on demand, and failing "
            f"sources back off; try again in {int(retry_after.total_seconds())} s",
            data_age=data_age,
            retry_after=retry_after,
        )

    # -- running --------------------------------------------------------------

    def run(
        self, *, trigger: Trigger, full: bool = False, timeout: float | None = None
    ) -> RefreshReport:
        """Run one refresh, or return the one that ran while this call waited.

        :param timeout: seconds to wait for a refresh already running
            (``None``: as long as it takes).
        :raises RefreshNotDue: on demand, and no source is due.
        :raises RefreshInProgress: another refresh outlasted ``timeout``.
        :raises StorageError: the database failed; nothing was written.
        """
        requested_at = self.clock()
        if trigger is Trigger.ON_DEMAND:
            states = self._states()
            if not self.due_sources(states, trigger, requested_at):
                raise self.not_due_error(states, requested_at)

        contended = not self._local.acquire(blocking=False)
        if contended and not self._local.acquire(timeout=-1 if timeout is None else timeout):
            raise RefreshInProgress("another refresh is running in this process")
        try:
            with self.store.refresh_lock(timeout) as waited:
                if (contended or waited) and trigger is not Trigger.FORCED:
                    finished = self._run_finished_since(requested_at)
                    if finished is not None:
                        return finished
                now = self.clock()
                with self.store.reader() as reader:
                    states = reader.states()
                    pipeline = self.load_pipeline(reader)
                due = self.due_sources(states, trigger, now)
                if not due and trigger is Trigger.ON_DEMAND:
                    raise self.not_due_error(states, now)
                report = self._run(
                    due, states, pipeline, trigger=trigger, full=full, started_at=now
                )
        finally:
            self._local.release()
        self._announce(report)
        return report

    def _states(self) -> dict[str, SourceState]:
        with self.store.reader() as reader:
            return reader.states()

    def _run_finished_since(self, moment: dt.datetime) -> RefreshReport | None:
        with self.store.reader() as reader:
            data = reader.last_run()
        if data is None:
            return None
        report = report_from_json(data)
        return report if report.finished_at >= moment else None

    def _announce(self, report: RefreshReport) -> None:
        parts = []
        for name, r in report.sources.items():
            if not r.due:
                parts.append(f"{name}: not due")
            elif r.ok:
                parts.append(
                    f"{name}: ok, fetched {r.fetched}, skipped {r.skipped}, written {r.written}, "
                    f"deleted {r.deleted} in {r.duration_seconds or 0:.2f} s"
                )
            else:
                parts.append(f"{name}: FAILED: {r.error}")
        log.info(
            "refresh (%s) finished in %.2f s: %s",
            report.trigger.value,
            (report.finished_at - report.started_at).total_seconds(),
            "; ".join(parts) or "no source enabled",
            extra={"event": "refresh", "report": to_json_dict(report)},
        )
        try:
            self.plugins.hook.refresh_finished(report=report)
        except Exception:
            log.exception("a refresh_finished hook failed; the refresh stands")

    def _start_fetches(
        self,
        names: list[str],
        states: Mapping[str, SourceState],
        pipeline: KeyPipeline,
        full: bool,
        pool: concurrent.futures.ThreadPoolExecutor,
    ) -> SpoolSet:
        spools = SpoolSet(names)
        for name in names:
            source = self.sources[name]
            state = states.get(name)
            cursor = None if full or state is None else state.cursor
            pool.submit(self._fetch, source, cursor, pipeline, spools[name])
        return spools

    def _fetch(
        self, source: Source, cursor: str | None, pipeline: KeyPipeline, spool: Spool
    ) -> None:
        try:
            assert source.config is not None
            job = FetchJob(
                source.name, source.adapter, source.config, cursor, pipeline, self.settings.http
            )
            if self._in_a_process(cursor) and fetch_process.fetch_in_process(job, spool):
                return
            transport = self.transport_factory(source.name) if self.transport_factory else None
            for batch in job.batches(transport):
                spool.put(batch)
            spool.finish()
        except SpoolCancelled:
            pass
        except BaseException as error:
            spool.fail(error)

    def _in_a_process(self, cursor: str | None) -> bool:
        """Whether a fetch runs in a process of its own (``SUPPORTHUB_FETCH_PROCESSES``).

        ``auto``: full reads (the large ones) when a second CPU can take them
        and the refresh runs at normal priority. An incremental read is
        small: a process would only add its start. A refresh started with
        ``nice`` (beside the service, docs/deploying.md) leaves the other
        CPUs to the readers: with fetch processes on both cores the list
        views' p99 rose to 5-8 times its idle value during a full refresh
        at a million cases per source. A transport given in code (tests)
        lives in this process.
        """
        mode = self.settings.fetch_processes
        if mode == "off" or self.transport_factory is not None:
            return False
        if mode == "on":
            return True
        return cursor is None and fetch_process.usable_cpus() > 1 and not priority.niced()

    def _run(
        self,
        due: list[str],
        states: Mapping[str, SourceState],
        pipeline: KeyPipeline,
        *,
        trigger: Trigger,
        full: bool,
        started_at: dt.datetime,
    ) -> RefreshReport:
        failed: dict[str, Outcome] = {}

        def attempt() -> RefreshReport:
            while True:
                try:
                    return self._run_once(
                        due,
                        states,
                        pipeline,
                        failed,
                        trigger=trigger,
                        full=full,
                        started_at=started_at,
                    )
                except SourceUndo as undo:
                    # A writer without savepoints (Galera, streaming) rolled the
                    # whole refresh back: again, without the source that failed.
                    log.warning("%s failed half-way; the refresh runs again without it", undo.name)
                    failed[undo.name] = undo.outcome

        try:
            # On Galera another node's commit may win over this one's
            # (certification): nothing was written, so it runs again, fetching
            # again. A refresh holds the lock: only writers outside it conflict.
            return retry_conflicts(
                attempt,
                attempts=REFRESH_CONFLICT_ATTEMPTS,
                wait_initial=0.5,
                wait_max=5.0,
                what="the refresh",
            )
        except StorageError as error:
            if is_conflict(error):
                self._record_failure(due, states, started_at, str(error))
            raise

    def _run_once(
        self,
        due: list[str],
        states: Mapping[str, SourceState],
        pipeline: KeyPipeline,
        failed: Mapping[str, Outcome],
        *,
        trigger: Trigger,
        full: bool,
        started_at: dt.datetime,
    ) -> RefreshReport:
        runnable = [
            name for name in due if self.sources[name].problem is None and name not in failed
        ]
        outcomes: dict[str, Outcome] = dict(failed)
        durations: dict[str, float] = {}
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, len(runnable)), thread_name_prefix="supporthub-fetch"
        ) as pool:
            spools = self._start_fetches(runnable, states, pipeline, full, pool)
            clock_start = time.perf_counter()
            try:
                with self.store.writer() as writer:
                    regrouped = writer.rules_version() != pipeline.version
                    if regrouped:
                        diff = regroup(writer, pipeline, started_at)
                        log.log(
                            logging.INFO if diff.moved_cases else logging.DEBUG,
                            "rules changed: regrouped, %d cases moved",
                            diff.moved_cases,
                        )
                    changes = AggregateChanges()
                    writes = {
                        name: SourceWrite(
                            writer,
                            spools[name],
                            states.get(name),
                            full=full,
                            describe=self._describe,
                        )
                        for name in runnable
                    }
                    # First loads a batch at a time, interleaved, so that the server
                    # is never idle; not in a refresh started with nice, whose
                    # pauses are the readers' (docs/performance.md).
                    interleave = not priority.niced()
                    pending = set(runnable)
                    while pending:
                        spool = spools.next_ready(pending)
                        write = writes[spool.name]
                        if write.first_load and interleave:
                            outcome = write.write_next()
                        else:
                            outcome = write.write_whole()
                        if outcome is None:
                            continue
                        pending.discard(spool.name)
                        outcomes[spool.name] = outcome
                        durations[spool.name] = time.perf_counter() - clock_start
                        if outcome.error is None:
                            changes.merge(write.changes)
                    apply_aggregate_changes(writer, changes, pipeline.version, started_at)
                    # Auto-replies reach the open cases this refresh brings, in its commit.
                    outbox.after_membership_change(
                        writer.connection,
                        None if regrouped else changes.touched,
                        self.unwritable,
                        started_at,
                    )
                    writer.set_meta("last_refresh_at", started_at.isoformat())
                    finished_at = self.clock()
                    report = self._report(
                        due,
                        outcomes,
                        durations,
                        trigger=trigger,
                        full=full,
                        started_at=started_at,
                        finished_at=finished_at,
                        previous=writer.refreshed_at(),
                    )
                    self._save_states(writer, due, outcomes, states, started_at)
                    if report.refreshed_at is not None and report.refreshed_at == finished_at:
                        writer.set_meta("refreshed_at", finished_at.isoformat())
                    writer.record_run(
                        started_at=started_at,
                        finished_at=finished_at,
                        trigger=trigger.value,
                        ok=report.ok,
                        report=to_json_dict(report),
                    )
            except BaseException as error:
                spools.cancel_all()
                if isinstance(error, StorageError) and not is_conflict(error):
                    self._record_failure(due, states, started_at, str(error))
                raise
        return report

    def _describe(self, name: str, error: BaseException) -> str:
        title = self.sources[name].adapter.title
        if isinstance(error, SupportHubError):
            text = str(error)
        else:
            log.error(
                "%s adapter failed unexpectedly",
                title,
                exc_info=(type(error), error, error.__traceback__),
            )
            text = f"{title} adapter failed unexpectedly: {type(error).__name__}: {error}"[:500]
        return redact(text)

    def _report(
        self,
        due: list[str],
        outcomes: Mapping[str, Outcome],
        durations: Mapping[str, float],
        *,
        trigger: Trigger,
        full: bool,
        started_at: dt.datetime,
        finished_at: dt.datetime,
        previous: dt.datetime | None,
    ) -> RefreshReport:
        reports: dict[str, SourceReport] = {}
        for name, source in self.enabled.items():
            if name not in due:
                reports[name] = SourceReport(ok=True, due=False)
                continue
            problem = source.problem
            outcome = outcomes.get(name, Outcome(error=problem))
            reports[name] = SourceReport(
                ok=outcome.error is None,
                fetched=outcome.fetched,
                skipped=outcome.skipped,
                written=outcome.written,
                deleted=outcome.deleted,
                duration_seconds=round(durations.get(name, 0.0), 3),
                error=outcome.error,
            )
        any_ok = any(r.ok and r.due for r in reports.values())
        return RefreshReport(
            started_at=started_at,
            finished_at=finished_at,
            refreshed_at=finished_at if any_ok else previous,
            trigger=trigger,
            full=full,
            sources=reports,
        )

    def _save_states(
        self,
        writer: StoreWriter,
        due: list[str],
        outcomes: Mapping[str, Outcome],
        states: Mapping[str, SourceState],
        started_at: dt.datetime,
    ) -> None:
        for name in due:
            previous = states.get(name) or SourceState(name=name)
            outcome = outcomes.get(name, Outcome(error=self.sources[name].problem))
            if outcome.error is None:
                state = attrs.evolve(
                    previous,
                    cursor=outcome.cursor,
                    last_success_at=started_at,
                    last_attempt_at=started_at,
                    consecutive_failures=0,
                    last_error=None,
                )
            else:
                state = attrs.evolve(
                    previous,
                    last_attempt_at=started_at,
                    consecutive_failures=previous.consecutive_failures + 1,
                    last_error=outcome.error,
                )
            writer.save_state(state)

    def _record_failure(
        self, due: list[str], states: Mapping[str, SourceState], at: dt.datetime, error: str
    ) -> None:
        """Best effort, after a failed transaction: remember the attempt for the backoff."""
        try:
            with self.store.writer() as writer:
                for name in due:
                    previous = states.get(name) or SourceState(name=name)
                    writer.save_state(
                        attrs.evolve(
                            previous,
                            last_attempt_at=at,
                            consecutive_failures=previous.consecutive_failures + 1,
                            last_error=error,
                        )
                    )
        except StorageError:
            log.warning("could not record the failed refresh: the database is still failing")
        except Exception as other:
            log.warning("could not record the failed refresh: %s", redact(str(other)))
