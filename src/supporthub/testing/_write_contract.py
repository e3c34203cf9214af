"""The contract rules for writing: an adapter's ``write_case`` against the simulator.

Part of :class:`~supporthub.testing.AdapterContract`. An adapter that
overrides :meth:`~supporthub.Adapter.write_case` must post each write
exactly once, whatever fails, and tell final refusals from transient
failures; one that does not must refuse with a clear reason. The simulator
must then fulfil :class:`WritableSimulator` (every
:class:`~supporthub.testing.sim.Simulator` does): count comments per case,
lose a write's answer after applying it, refuse writes to read-only
credentials.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

import pytest

from supporthub.kit.adapter import Adapter, CaseWrite, CaseWriteResult, ReplyStatus
from supporthub.kit.http import RetryPolicy
from supporthub.testing._checks import check
from supporthub.testing.sim.faults import LostHow
from supporthub.testing.sim.simulator import RecordId
from supporthub.vocabulary.errors import SourceRejected, SourceUnavailable
from supporthub.vocabulary.models import Status

if TYPE_CHECKING:
    from supporthub.testing._contract import ContractHarness, ContractSimulator

__all__ = ["WRITE_RETRIES", "WRITE_RULES", "WritableSimulator", "WriteContract"]

#: The write rules, by the name their failure messages use.
WRITE_RULES: tuple[str, ...] = (
    "an adapter that cannot write says so",
    "a repeated write makes one comment",
    "a write whose answer was lost makes one comment",
    "final write refusals are rejected",
    "transient write failures are unavailable",
    "a write sets the status when asked",
)

#: Retries for the write rules: a short timeout, so that an answer the
#: simulator holds back times out at once, and quick backoff.
WRITE_RETRIES = RetryPolicy(
    timeout=0.5, attempts=4, wait_initial=0.01, wait_jitter=0.0, max_wait=0.1, total_timeout=30
)

#: How long the simulator holds back an answer it "loses" to a timeout.
_HOLD = 1.0

_serial = itertools.count(1)


@runtime_checkable
class WritableSimulator(Protocol):
    """What the write rules need from a simulator, beyond :class:`ContractSimulator`.

    :ivar read_only: when true, the credentials may only read: writes are refused.
    """

    read_only: bool

    def comment_count(self, record_id: RecordId, body: str | None = None) -> int:
        """How many comments the case holds (with exactly this ``body``, when given)."""


class WriteContract:
    """The write rules; mixed into :class:`~supporthub.testing.AdapterContract`.

    A simulator may also offer ``close_for_good(record_id)``: a case its CRM
    then refuses to change (Strawberry's ``closed``), which must be rejected.
    """

    #: Statuses the rules set; a CRM that cannot set one overrides this.
    write_statuses: ClassVar[tuple[ReplyStatus, ...]] = ("pending", "solved")

    def _writer(self, contract: ContractHarness, **overrides: str) -> Adapter:
        adapter = contract.writer(**overrides)
        if not adapter.can_write():
            pytest.skip(f"the {adapter.title} adapter does not write (no write_case)")
        simulator = contract.simulator
        if not isinstance(simulator, WritableSimulator):
            pytest.fail(
                f"the adapter writes, but the simulator {type(simulator).__name__} lacks "
                "read_only and comment_count (WritableSimulator)",
                pytrace=False,
            )
        return adapter

    def test_an_adapter_that_cannot_write_says_so(self, contract: ContractHarness) -> None:
        """Without ``write_case``, a write raises ``SourceRejected`` naming the CRM."""
        rule = "an adapter that cannot write says so"
        adapter = contract.writer()
        if adapter.can_write():
            # A writing adapter is held to it without its hook: the refusal
            # a deliverer reports must still name this CRM.
            without_hook = type(
                f"{type(adapter).__name__}WithoutWrites",
                (type(adapter),),
                {"write_case": Adapter.write_case},
            )
            adapter = without_hook(adapter.config, adapter.http)
            check(not adapter.can_write(), rule, "can_write() is true without write_case")
        case_id = str(contract.simulator.ids()[0])
        try:
            adapter.write_case(_write(case_id))
        except SourceRejected as error:
            check(adapter.title in str(error), rule, f"the reason does not name the CRM: {error}")
        else:
            check(False, rule, "write_case of an adapter that cannot write did not raise")

    def test_a_repeated_write_makes_one_comment(self, contract: ContractHarness) -> None:
        """The same write twice, with the same key: one comment."""
        rule = "a repeated write makes one comment"
        adapter = self._writer(contract)
        write = _write(_open_ids(contract, 1)[0])
        first = _attempt(adapter, write, rule)
        second = _attempt(adapter, write, rule)
        count = _count(contract, write)
        check(count == 1, rule, f"two calls with one idempotency key made {count} comments")
        check(
            not first.replayed,
            rule,
            "the first write of a new key says it was replayed",
        )
        del second  # a CRM may or may not say it replayed; the count is the rule

    def test_a_write_whose_answer_was_lost_makes_one_comment(
        self, contract: ContractHarness
    ) -> None:
        """An applied write whose answer is lost (reset, timeout) is not applied again."""
        rule = "a write whose answer was lost makes one comment"
        adapter = self._writer(contract)
        sim = contract.simulator
        ids = _open_ids(contract, 3)
        # The core's retries repeat the request: the CRM must recognise it.
        hows: tuple[LostHow, ...] = ("reset", "timeout")
        for case_id, how in zip(ids, hows, strict=False):
            sim.faults.lose_write_answers(1, how, hold=_HOLD)
            write = _write(case_id)
            _attempt(adapter, write, rule, f"after one answer lost to a {how}")
            count = _count(contract, write)
            check(count == 1, rule, f"one answer lost to a {how}: {count} comments")
        # Every answer lost: the adapter gives up, the hub repeats later with the same key.
        write = _write(ids[2])
        sim.faults.lose_write_answers(10_000, "reset")
        _unavailable(adapter, write, rule, "every answer lost")
        sim.faults.reset()
        _attempt(adapter, write, rule, "when repeated after the answers were lost")
        count = _count(contract, write)
        check(count == 1, rule, f"repeated by the hub after lost answers: {count} comments")

    def test_final_write_refusals_are_rejected(self, contract: ContractHarness) -> None:
        """A deleted case, read-only credentials, a closed case: ``SourceRejected``, no comment."""
        rule = "final write refusals are rejected"
        adapter = self._writer(contract)
        sim = contract.simulator
        ids = _open_ids(contract, 3)
        deleted = _record_id(sim, ids[0])
        sim.delete(deleted)
        _refused(contract, adapter, _write(ids[0]), rule, "a deleted case")
        assert isinstance(sim, WritableSimulator)
        sim.read_only = True
        try:
            _refused(contract, adapter, _write(ids[1]), rule, "read-only credentials")
        finally:
            sim.read_only = False
        close_for_good = getattr(sim, "close_for_good", None)
        if callable(close_for_good):
            close_for_good(_record_id(sim, ids[2]))
            _refused(contract, adapter, _write(ids[2]), rule, "a case closed for good")

    def test_transient_write_failures_are_unavailable(self, contract: ContractHarness) -> None:
        """5xx and 429 are retried; an outage raises ``SourceUnavailable`` and writes nothing."""
        rule = "transient write failures are unavailable"
        adapter = self._writer(contract)
        sim = contract.simulator
        ids = _open_ids(contract, 2)
        sim.faults.error_burst(1, 503, writes_only=True)
        sim.faults.rate_limit_burst(1, retry_after=0, writes_only=True)
        write = _write(ids[0])
        _attempt(adapter, write, rule, "after one 503 and one 429")
        count = _count(contract, write)
        check(count == 1, rule, f"a 503 and a 429, then success: {count} comments")
        sim.faults.error_burst(10_000, 503, writes_only=True)
        write = _write(ids[1])
        _unavailable(adapter, write, rule, "a CRM answering only 503")
        sim.faults.reset()
        check(_count(contract, write) == 0, rule, "a write answered only 503 left a comment")

    def test_a_write_sets_the_status_when_asked(self, contract: ContractHarness) -> None:
        """``set_status`` changes the case: the next incremental sync brings it, open or solved."""
        rule = "a write sets the status when asked"
        adapter = self._writer(contract)
        hub = contract.hub()
        report = contract.refresh(hub)
        check(report.ok, rule, f"the first sync failed: {report.error}")
        stored = contract.stored(hub)
        open_ids = sorted(i for i, case in stored.items() if case.status is Status.OPEN)
        expected = {"pending": Status.OPEN, "solved": Status.CLOSED}
        targets = dict(zip(self.write_statuses, open_ids, strict=False))
        before = {case_id: stored[case_id].updated_at for case_id in targets.values()}
        for status, case_id in targets.items():
            _attempt(adapter, _write(case_id, set_status=status), rule, f"setting {status}")
        again = contract.refresh(hub)
        check(again.ok, rule, f"the sync after the writes failed: {again.error}")
        now = contract.stored(hub)
        for status, case_id in targets.items():
            case = now.get(case_id)
            check(
                case is not None and case.updated_at > before[case_id],
                rule,
                f"after setting {status!r} on case {case_id}, the next sync did not bring "
                "it with a newer update time",
            )
            assert case is not None
            check(
                case.status is expected[status],
                rule,
                f"case {case_id} set to {status!r} is {case.status.value} in the hub",
            )


def _open_ids(contract: ContractHarness, k: int) -> list[str]:
    """``k`` open cases, as a sync sees them: every CRM takes writes to those."""
    hub = contract.hub()
    report = contract.refresh(hub)
    check(report.ok, "full sync stores every live case", f"the sync failed: {report.error}")
    stored = contract.stored(hub)
    return sorted(i for i, case in stored.items() if case.status is Status.OPEN)[:k]


def _write(case_id: str, *, set_status: ReplyStatus | None = None) -> CaseWrite:
    serial = next(_serial)
    return CaseWrite(
        case_id=case_id,
        message=f"Contract check {serial}: we found the cause and are fixing it.",
        public=True,
        idempotency_key=f"contract-{serial}",
        set_status=set_status,
    )


def _count(contract: ContractHarness, write: CaseWrite) -> int:
    sim = contract.simulator
    assert isinstance(sim, WritableSimulator)
    return sim.comment_count(_record_id(sim, write.case_id), write.message)


def _record_id(sim: ContractSimulator, case_id: str) -> RecordId:
    """The simulator's id (maybe an integer) of the hub's case id (a string)."""
    known = itertools.chain(sim.ids(), sim.deleted_ids())
    return next(i for i in known if str(i) == case_id)


def _attempt(adapter: Adapter, write: CaseWrite, rule: str, when: str = "") -> CaseWriteResult:
    try:
        return adapter.write_case(write)
    except Exception as error:
        suffix = f" {when}" if when else ""
        check(False, rule, f"the write failed{suffix}: {error!r}")
        raise  # not reached: check fails the test


def _unavailable(adapter: Adapter, write: CaseWrite, rule: str, what: str) -> None:
    try:
        adapter.write_case(write)
    except SourceUnavailable:
        return
    except Exception as error:
        check(False, rule, f"{what}: raised {error!r}, not SourceUnavailable")
    check(False, rule, f"{what}, yet write_case reported success")


def _refused(
    contract: ContractHarness, adapter: Adapter, write: CaseWrite, rule: str, what: str
) -> None:
    sim = contract.simulator
    before = len(sim.requests)
    try:
        adapter.write_case(write)
    except SourceRejected as error:
        check(str(error), rule, f"{what}: SourceRejected without a reason")
    except Exception as error:
        check(False, rule, f"{what}: raised {error!r}, not SourceRejected")
    else:
        check(False, rule, f"{what}: the write was accepted")
    refused = [r for r in sim.requests.all()[before:] if 400 <= r.status < 500]
    check(len(refused) <= 2, rule, f"{what}: the refusal was sent {len(refused)} times")
    check(_count(contract, write) == 0, rule, f"{what}: a comment was made anyway")
