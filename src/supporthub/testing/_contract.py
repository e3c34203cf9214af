"""The adapter contract suite: the rules every CRM adapter keeps, as pytest tests.

An adapter author subclasses :class:`AdapterContract` in a test module and
points it at the adapter class and at a running simulator of the CRM::

    import pytest
    from supporthub.testing import AdapterContract
    from supporthub_acme import AcmeAdapter
    from supporthub_acme.simulator import AcmeSimulator


    class TestAcmeContract(AdapterContract):
        adapter = AcmeAdapter

        @pytest.fixture
        def simulator(self):
            with AcmeSimulator(n=450, seed=1) as running:
                yield running

Every inherited test then runs against that pair, through a real
:class:`~supporthub.Hub` on a throw-away SQLite database, over real HTTP.
A broken rule fails with ``contract rule '<rule>' broken: <what happened>``;
:data:`CONTRACT_RULES` lists the rules.

The simulator must fulfil :class:`ContractSimulator`. A simulator built on
:class:`~supporthub.testing.sim.Simulator` has all of it but two methods:
:meth:`~ContractSimulator.contract_settings` and
:meth:`~ContractSimulator.personal_values`. It should hold enough records
for the adapter to read several pages (or the adapter's page size should be
made small in the test module), so that repeats across pages are tried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

import attrs
import pytest

from supporthub.hookspecs import hookimpl
from supporthub.hub import Hub
from supporthub.ingest.plugins import make_plugin_manager, source_config
from supporthub.kit.adapter import Adapter, Batch
from supporthub.kit.http import HttpClient, RetryPolicy
from supporthub.testing._checks import check as _check
from supporthub.testing._checks import contract_failure
from supporthub.testing._checks import sample as _sample
from supporthub.testing._write_contract import (
    WRITE_RETRIES,
    WRITE_RULES,
    WritableSimulator,
    WriteContract,
)
from supporthub.testing.sim.faults import Faults
from supporthub.testing.sim.request_log import RequestLog
from supporthub.testing.sim.simulator import RecordId
from supporthub.vocabulary.errors import SourceRejected, SourceUnavailable
from supporthub.vocabulary.models import Case, RefreshReport, SourceReport, Status
from supporthub.vocabulary.settings import Settings

__all__ = [
    "CONTRACT_RULES",
    "FAST_RETRIES",
    "AdapterContract",
    "ContractHarness",
    "ContractSimulator",
    "WritableSimulator",
    "contract_failure",
]

#: Every rule the suite checks, by the name its failure messages use.
CONTRACT_RULES: tuple[str, ...] = (
    "full sync stores every live case",
    "deleted records are never stored",
    "a sync hands back a cursor",
    "incremental sync reads only changes",
    "incremental sync applies changes",
    "cursors round-trip",
    "tombstones remove cases",
    "duplicates across pages keep the newest",
    "transient failures are retried",
    "lasting outages fail the source as unavailable",
    "auth errors are not retried",
    "malformed records are skipped and counted",
    "a broken page fails the source and keeps its cases",
    "no secret or personal data in the logs",
    *WRITE_RULES,
)

#: Retries within milliseconds, so that the fault tests stay fast; a
#: ``Retry-After`` is honoured up to a tenth of a second.
FAST_RETRIES = RetryPolicy(
    timeout=10, attempts=4, wait_initial=0.01, wait_jitter=0.0, max_wait=0.1, total_timeout=30
)

_HTTP_LOGGERS = ("httpx", "httpcore", "urllib3", "supporthub")


@runtime_checkable
class ContractSimulator(Protocol):
    """What the contract suite needs from a CRM simulator.

    Every :class:`~supporthub.testing.sim.Simulator` has all of it except
    :meth:`contract_settings` and :meth:`personal_values`, which depend on
    the CRM. Record ids are the CRM's (strings or integers); the hub stores
    them as strings.

    :ivar faults: fault switches (server errors, 429, malformed records,
        broken pages), applied to every request.
    :ivar requests: every request answered, for counting retries.
    """

    faults: Faults
    requests: RequestLog

    @property
    def url(self) -> str:
        """The base URL the simulator serves on."""

    def contract_settings(self) -> Mapping[str, str]:
        """The adapter's settings (by setting name, ``url`` included) that point it here."""

    def personal_values(self) -> Collection[str]:
        """Personal data the records carry (e-mails, requester names) that no log may show."""

    def ids(self) -> list[RecordId]:
        """The ids of the live (not deleted) records."""

    def deleted_ids(self) -> set[RecordId]:
        """The ids of the deleted records (tombstones)."""

    def add(self) -> RecordId:
        """Create a case; :returns: its id."""

    def update(self, record_id: RecordId) -> datetime:
        """Change a case (a new modification time at least); :returns: that time."""

    def close(self, record_id: RecordId) -> datetime:
        """Close a case as an agent would; :returns: the change time."""

    def delete(self, record_id: RecordId) -> datetime:
        """Delete a case: the CRM serves a tombstone from now on; :returns: the change time."""

    def repeat_with_older_timestamp(self, record_id: RecordId) -> datetime:
        """Serve an out-of-date copy of a case once more, on a later page; :returns: its time."""


@attrs.define
class _Calls:
    """What the hub asked of the adapter: the cursors, and what fetch raised."""

    cursors: list[str | None] = attrs.Factory(list)
    raised: list[BaseException] = attrs.Factory(list)
    batches: list[Batch] = attrs.Factory(list)


def _observed(adapter: type[Adapter], calls: _Calls) -> type[Adapter]:
    """A subclass of ``adapter`` that records each fetch's cursor, batches and exception."""

    class Observed(adapter):  # type: ignore[valid-type,misc]
        def fetch(self, cursor: str | None) -> Iterator[Batch]:
            calls.cursors.append(cursor)
            try:
                for batch in super().fetch(cursor):
                    calls.batches.append(batch)
                    yield batch
            except BaseException as error:
                calls.raised.append(error)
                raise

    Observed.__qualname__ = Observed.__name__ = f"Observed{adapter.__name__}"
    return Observed


class _Register:
    def __init__(self, adapter: type[Adapter]) -> None:
        self.adapter = adapter

    @hookimpl
    def register_adapters(self, register: Callable[[type[Adapter]], None]) -> None:
        register(self.adapter)


@attrs.define
class ContractHarness:
    """A hub with only the adapter under test, pointed at the simulator.

    :ivar calls: what the adapter was asked and what it raised, all hubs together.
    """

    adapter: type[Adapter]
    simulator: ContractSimulator
    database_url: str
    calls: _Calls = attrs.Factory(_Calls)
    hubs: list[Hub] = attrs.Factory(list)
    clients: list[HttpClient] = attrs.Factory(list)

    @property
    def source(self) -> str:
        """The source name, the adapter's ``name``."""
        return self.adapter.name

    def environment(self, **overrides: str) -> dict[str, str]:
        """The hub's environment: the test database and the adapter's settings."""
        prefix = f"SUPPORTHUB_{self.source.upper()}_"
        values = {**self.simulator.contract_settings(), **overrides}
        return {
            "SUPPORTHUB_DATABASE_URL": self.database_url,
            "SUPPORTHUB_MIN_REFRESH_AGE_MINUTES": "0",
            **{prefix + name.upper(): value for name, value in values.items()},
        }

    def hub(self, **overrides: str) -> Hub:
        """A new hub on the same database (as a restarted process would be)."""
        manager = make_plugin_manager(entry_points=False)
        manager.register(_Register(_observed(self.adapter, self.calls)))
        settings = attrs.evolve(Settings.from_env(self.environment(**overrides)), http=FAST_RETRIES)
        hub = Hub(settings, plugins=manager)
        self.hubs.append(hub)
        return hub

    def writer(self, **overrides: str) -> Adapter:
        """An adapter instance to call ``write_case`` on, as a deliverer would hold one.

        Its HTTP client times out after half a second (:data:`WRITE_RETRIES`),
        so that an answer the simulator holds back is lost quickly.
        """
        config = source_config(self.adapter, self.environment(**overrides))
        assert config is not None  # the simulator's settings carry the url
        http = HttpClient(
            self.adapter.base_url(config), title=self.adapter.title, policy=WRITE_RETRIES
        )
        self.clients.append(http)
        return self.adapter(config, http)

    def refresh(self, hub: Hub) -> SourceReport:
        """Refresh now; the adapter's report."""
        report: RefreshReport = hub.refresh(force=True)
        return report.sources[self.source]

    def stored(self, hub: Hub) -> dict[str, Case]:
        """The cases the hub holds for the source, by id."""
        return {
            case.source_id: case
            for aggregated in hub.all().aggregated_cases
            for case in aggregated.cases
            if case.source == self.source
        }

    def cursor(self, hub: Hub) -> str | None:
        """The cursor the hub stored after the source's last successful sync."""
        with hub.store.reader() as reader:
            state = reader.states().get(self.source)
        return None if state is None else state.cursor

    def live_ids(self) -> set[str]:
        """The simulator's live records, as the hub's ids."""
        return {str(record_id) for record_id in self.simulator.ids()}

    def secret_values(self) -> set[str]:
        """The values of the adapter's secret settings."""
        settings = self.simulator.contract_settings()
        return {
            settings[setting.name]
            for setting in self.adapter.settings
            if setting.secret and settings.get(setting.name)
        }

    def close(self) -> None:
        """Close every hub made."""
        for hub in self.hubs:
            hub.close()
        for client in self.clients:
            client.close()


class AdapterContract(WriteContract):
    """Subclass me in a test module (named ``Test...``) to run the contract suite.

    Give the adapter class as :attr:`adapter` (or override the
    ``adapter_class`` fixture) and a ``simulator`` fixture yielding a running
    :class:`ContractSimulator`. See the module docstring for an example.

    :cvar adapter: the adapter class under test.
    :cvar incremental_slack: records an incremental sync may read on top of
        the changes (an inclusive ``modified since`` reads the boundary again).
    """

    adapter: ClassVar[type[Adapter] | None] = None
    incremental_slack: ClassVar[int] = 20

    # -- fixtures --------------------------------------------------------

    @pytest.fixture
    def adapter_class(self) -> type[Adapter]:
        """The adapter under test: :attr:`adapter` unless overridden."""
        if self.adapter is None:
            pytest.fail(
                f"{type(self).__name__}: set `adapter = YourAdapter` or define an "
                "`adapter_class` fixture",
                pytrace=False,
            )
        return self.adapter

    @pytest.fixture
    def simulator(self) -> ContractSimulator:
        """The running simulator; a subclass must define this fixture."""
        pytest.fail(
            f"{type(self).__name__}: define a `simulator` fixture yielding a running simulator",
            pytrace=False,
        )

    @pytest.fixture
    def contract(
        self, adapter_class: type[Adapter], simulator: ContractSimulator, tmp_path: Path
    ) -> Iterator[ContractHarness]:
        """A hub (and its database) for the adapter and simulator under test."""
        if not isinstance(simulator, ContractSimulator):
            pytest.fail(
                f"the simulator {type(simulator).__name__} lacks part of ContractSimulator",
                pytrace=False,
            )
        harness = ContractHarness(adapter_class, simulator, f"sqlite:///{tmp_path / 'hub.db'}")
        yield harness
        harness.close()

    # -- syncing ---------------------------------------------------------

    def test_full_sync_stores_every_live_case(self, contract: ContractHarness) -> None:
        """A first sync stores one case per live record, skipping nothing."""
        rule = "full sync stores every live case"
        hub = contract.hub()
        report = contract.refresh(hub)
        _check(report.ok, rule, f"the sync failed: {report.error}")
        _check(report.skipped == 0, rule, f"{report.skipped} clean records were skipped")
        stored = contract.stored(hub)
        live = contract.live_ids()
        missing, extra = live - set(stored), set(stored) - live
        _check(not missing, rule, lambda: f"live records not stored: {_sample(missing, 5)}")
        deleted = {str(i) for i in contract.simulator.deleted_ids()} & extra
        _check(
            not deleted,
            "deleted records are never stored",
            lambda: f"deleted records stored as cases: {_sample(deleted, 5)}",
        )
        _check(not extra, rule, lambda: f"cases the CRM does not have: {_sample(extra, 5)}")
        _check(
            all(case.source == contract.source for case in stored.values()),
            rule,
            f"cases must carry the source name {contract.source!r}",
        )
        _check(
            contract.cursor(hub) is not None,
            "a sync hands back a cursor",
            "no batch of a successful sync carried a cursor",
        )

    def test_incremental_sync_reads_and_applies_only_changes(
        self, contract: ContractHarness
    ) -> None:
        """After a sync, the next one reads what changed since its cursor, and applies it."""
        hub = contract.hub()
        first = contract.refresh(hub)
        _check(first.ok, "full sync stores every live case", f"the sync failed: {first.error}")
        sim = contract.simulator
        ids = sim.ids()
        updated, closed = ids[0], ids[1]
        updated_at = sim.update(updated)
        sim.close(closed)
        added = sim.add()
        second = contract.refresh(hub)
        rule = "incremental sync applies changes"
        _check(second.ok, rule, f"the incremental sync failed: {second.error}")
        stored = contract.stored(hub)
        _check(str(added) in stored, rule, f"the new case {added} is not stored")
        _check(
            str(updated) in stored and stored[str(updated)].updated_at == updated_at,
            rule,
            lambda: (
                f"case {updated} should be last updated at {updated_at.isoformat()}, "
                f"got {getattr(stored.get(str(updated)), 'updated_at', None)}"
            ),
        )
        _check(
            str(closed) in stored and stored[str(closed)].status is Status.CLOSED,
            rule,
            f"case {closed} was closed in the CRM but is not closed in the hub",
        )
        _check(
            set(stored) == contract.live_ids(),
            rule,
            "after the incremental sync the hub does not hold the CRM's live cases",
        )
        _check(
            3 <= second.fetched <= 3 + self.incremental_slack,
            "incremental sync reads only changes",
            f"3 records changed, the sync read {second.fetched} "
            f"(a full read is {first.fetched}; allowed: 3 to {3 + self.incremental_slack})",
        )

    def test_cursors_round_trip(self, contract: ContractHarness) -> None:
        """The cursor a sync hands back is what the next sync gets, even in a new process."""
        rule = "cursors round-trip"
        report = contract.refresh(contract.hub())
        _check(report.ok, rule, f"the first sync failed: {report.error}")
        last_cursor = next(
            (b.cursor for b in reversed(contract.calls.batches) if b.cursor is not None), None
        )
        _check(
            last_cursor is not None,
            "a sync hands back a cursor",
            "no batch of a successful sync carried a cursor",
        )
        _check(
            contract.calls.cursors[0] is None,
            rule,
            "the first sync must get no cursor",
        )
        restarted = contract.hub()
        added = contract.simulator.add()
        again = contract.refresh(restarted)
        _check(again.ok, rule, f"the sync from the stored cursor failed: {again.error}")
        _check(
            contract.calls.cursors[-1] == last_cursor,
            rule,
            f"the second sync got cursor {contract.calls.cursors[-1]!r}, "
            f"the first handed back {last_cursor!r}",
        )
        _check(
            str(added) in contract.stored(restarted),
            rule,
            f"a case created after the cursor ({added}) was not read from it",
        )
        _check(
            again.fetched <= 1 + self.incremental_slack,
            rule,
            f"one record changed after the cursor, the sync read {again.fetched}: "
            "the cursor was not honoured",
        )

    def test_tombstones_remove_cases(self, contract: ContractHarness) -> None:
        """A record deleted in the CRM leaves the hub at the next sync."""
        rule = "tombstones remove cases"
        hub = contract.hub()
        first = contract.refresh(hub)
        _check(first.ok, rule, f"the first sync failed: {first.error}")
        victims = contract.simulator.ids()[2:5]
        for record_id in victims:
            contract.simulator.delete(record_id)
        second = contract.refresh(hub)
        _check(second.ok, rule, f"the sync after the deletions failed: {second.error}")
        left = {str(i) for i in victims} & set(contract.stored(hub))
        _check(
            not left,
            rule,
            lambda: (
                f"{len(left)} of {len(victims)} cases deleted in the CRM are still "
                f"in the hub: {_sample(left, 5)}"
            ),
        )
        _check(
            second.deleted == len(victims),
            rule,
            f"the refresh reports {second.deleted} deletions, expected {len(victims)}",
        )

    def test_duplicates_across_pages_keep_the_newest(self, contract: ContractHarness) -> None:
        """An out-of-date copy of a record served on a later page does not win."""
        rule = "duplicates across pages keep the newest"
        sim = contract.simulator
        repeated = sim.ids()[:3]
        older = {str(i): sim.repeat_with_older_timestamp(i) for i in repeated}
        hub = contract.hub()
        report = contract.refresh(hub)
        _check(report.ok, rule, f"the sync failed: {report.error}")
        stored = contract.stored(hub)
        stale = {i for i, at in older.items() if i not in stored or stored[i].updated_at <= at}
        _check(
            not stale,
            rule,
            lambda: f"the older copy won (or the case vanished) for {_sample(stale, 5)}",
        )
        _check(set(stored) == contract.live_ids(), rule, "the repeats changed the set of cases")

    # -- failures --------------------------------------------------------

    def test_transient_failures_are_retried(self, contract: ContractHarness) -> None:
        """5xx answers and 429 are retried, and the sync succeeds."""
        rule = "transient failures are retried"
        faults = contract.simulator.faults
        faults.error_burst(1, 503)
        faults.rate_limit_burst(1, retry_after=0)
        faults.error_burst(1, 502)
        hub = contract.hub()
        report = contract.refresh(hub)
        _check(report.ok, rule, f"two 5xx answers and one 429 failed the sync: {report.error}")
        failed = [r for r in contract.simulator.requests.all() if r.status in (429, 502, 503)]
        _check(len(failed) == 3, rule, f"expected 3 failed answers, saw {len(failed)}")
        _check(
            set(contract.stored(hub)) == contract.live_ids(),
            rule,
            "after the retries the hub does not hold every live case",
        )

    def test_lasting_outage_fails_the_source_as_unavailable(
        self, contract: ContractHarness
    ) -> None:
        """Errors that outlast the retries fail the source; its previous cases stay."""
        rule = "lasting outages fail the source as unavailable"
        hub = contract.hub()
        first = contract.refresh(hub)
        _check(first.ok, rule, f"the first sync failed: {first.error}")
        before = contract.stored(hub)
        contract.simulator.update(contract.simulator.ids()[0])
        contract.simulator.faults.error_burst(10_000, 503)
        second = contract.refresh(hub)
        _check(not second.ok, rule, "a CRM answering only 503 did not fail the source")
        raised = contract.calls.raised
        _check(
            raised and isinstance(raised[-1], SourceUnavailable),
            rule,
            f"fetch raised {raised[-1]!r} instead of SourceUnavailable"
            if raised
            else "fetch raised nothing",
        )
        _check(contract.stored(hub) == before, rule, "a failed sync changed the stored cases")

    def test_auth_errors_are_not_retried(self, contract: ContractHarness) -> None:
        """Wrong credentials fail the source at once, as rejected."""
        rule = "auth errors are not retried"
        secrets = [s.name for s in contract.adapter.settings if s.secret]
        if not secrets:
            pytest.skip("the adapter has no secret setting to get wrong")
        hub = contract.hub(**dict.fromkeys(secrets, "wrong-credential"))
        report = contract.refresh(hub)
        _check(not report.ok, rule, "wrong credentials did not fail the source")
        raised = contract.calls.raised
        _check(
            raised and isinstance(raised[-1], SourceRejected),
            rule,
            f"fetch raised {raised[-1]!r} instead of SourceRejected"
            if raised
            else "fetch raised nothing",
        )
        refused = [r for r in contract.simulator.requests.all() if r.status in (401, 403)]
        _check(
            1 <= len(refused) <= 2,
            rule,
            f"{len(refused)} requests were refused as unauthorized: the refusal was retried",
        )

    def test_malformed_records_are_skipped_and_counted(self, contract: ContractHarness) -> None:
        """Broken records are skipped, counted, and the rest is stored."""
        rule = "malformed records are skipped and counted"
        sim = contract.simulator
        broken = sim.ids()[5:11]
        sim.faults.malformed_records(ids=broken)
        hub = contract.hub()
        report = contract.refresh(hub)
        _check(report.ok, rule, f"malformed records failed the whole sync: {report.error}")
        _check(
            report.skipped == len(broken),
            rule,
            f"{len(broken)} records were malformed, the report counts {report.skipped} skipped",
        )
        stored = set(contract.stored(hub))
        expected = contract.live_ids() - {str(i) for i in broken}
        _check(
            expected <= stored,
            rule,
            lambda: f"good records not stored: {_sample(expected - stored, 5)}",
        )

    def test_broken_page_fails_the_source_and_keeps_its_cases(
        self, contract: ContractHarness
    ) -> None:
        """A page that is not JSON fails the source; the hub keeps what it had."""
        rule = "a broken page fails the source and keeps its cases"
        hub = contract.hub()
        first = contract.refresh(hub)
        _check(first.ok, rule, f"the first sync failed: {first.error}")
        before = contract.stored(hub)
        contract.simulator.update(contract.simulator.ids()[0])
        contract.simulator.faults.bad_json_page(1)
        second = contract.refresh(hub)
        _check(not second.ok, rule, "a page that is not JSON did not fail the source")
        _check(contract.stored(hub) == before, rule, "a failed sync changed the stored cases")

    def test_no_secret_or_personal_data_in_logs(
        self, contract: ContractHarness, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Neither a secret setting nor a record's personal data reaches a log line or error."""
        rule = "no secret or personal data in the logs"
        caplog.set_level(logging.DEBUG)
        for name in _HTTP_LOGGERS:
            caplog.set_level(logging.DEBUG, logger=name)
        sim = contract.simulator
        sim.faults.error_burst(1, 503)
        sim.faults.malformed_records(ids=sim.ids()[:5])
        errors = [contract.refresh(contract.hub()).error]
        secrets = [s.name for s in contract.adapter.settings if s.secret]
        if secrets:
            errors.append(contract.refresh(contract.hub(**dict.fromkeys(secrets, "x"))).error)
        sim.faults.bad_json_page(1)
        errors.append(contract.refresh(contract.hub()).error)
        text = caplog.text + "\n".join(error or "" for error in errors)
        leaked_secrets = [value for value in contract.secret_values() if value in text]
        _check(not leaked_secrets, rule, "a secret setting's value appears in the logs or errors")
        personal = {value for value in sim.personal_values() if len(value) >= 5}
        leaked = sorted(value for value in personal if value in text)
        _check(
            not leaked,
            rule,
            f"{len(leaked)} personal values (e-mails, names) appear in the logs or errors",
        )
