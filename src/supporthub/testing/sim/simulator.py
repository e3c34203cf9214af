"""What every CRM simulator shares: data, changes, faults, the request log, the server.

A concrete simulator (Banana, Strawberry) subclasses :class:`Simulator` and
supplies its *dialect*: how a :class:`~supporthub.testing.sim.datagen.CaseSpec`
becomes a record, how ids map to slots, how a record is closed or deleted,
and the HTTP routes. Everything else lives here, once:

* the records, generated from a seed and kept pre-encoded in a
  :class:`~supporthub.testing.sim.store.RecordStore`;
* changes between (or during) syncs: :meth:`Simulator.mutate` for a share of
  the data, or targeted :meth:`~Simulator.update`, :meth:`~Simulator.close`,
  :meth:`~Simulator.delete`, :meth:`~Simulator.add`,
  :meth:`~Simulator.repeat_on_later_page` and
  :meth:`~Simulator.repeat_with_older_timestamp`. Every change takes a
  timestamp from a :class:`~supporthub.testing.sim.clock.SimClock`;
* accessors tests compute expected results from: :meth:`~Simulator.live_records`,
  :meth:`~Simulator.deleted_ids`, :meth:`~Simulator.record`;
* :attr:`~Simulator.faults` and :attr:`~Simulator.requests`, applied to and
  filled by every request;
* writes: :attr:`~Simulator.comments` (what clients wrote, to count) and
  :attr:`~Simulator.read_only` (credentials without the write right).
"""

from __future__ import annotations

import abc
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, ClassVar, Self

import attrs
import orjson

from supporthub.testing.sim.clock import SimClock
from supporthub.testing.sim.comments import CommentStore
from supporthub.testing.sim.datagen import DEFAULT_ANCHOR, CaseGenerator, CaseSpec, ms_to_datetime
from supporthub.testing.sim.faults import Faults, Interception, MalformedKind
from supporthub.testing.sim.request_log import LoggedRequest, RequestLog
from supporthub.testing.sim.server import SimRequest, SimResponse, SimServer
from supporthub.testing.sim.store import Page, RecordStore, encode_record

__all__ = ["JSONRecord", "MutationResult", "RecordId", "Simulator"]

RecordId = str | int
"""A record's id as the CRM sends it: Banana strings, Strawberry integers."""
JSONRecord = dict[str, Any]
"""A record as decoded JSON."""

# Bits of CaseSpec.quirks this module uses; dialects use bits 8 and up.
_INITIALLY_DELETED_MASK = 0xFF  # 1 case in 256 is already a tombstone at start


@attrs.frozen(slots=True)
class MutationResult:
    """What one :meth:`Simulator.mutate` call changed, all at the same moment."""

    at: datetime
    """The change timestamp every touched record now carries."""
    updated: tuple[RecordId, ...]
    closed: tuple[RecordId, ...]
    deleted: tuple[RecordId, ...]
    added: tuple[RecordId, ...]


class Simulator(abc.ABC):
    """Base of the CRM simulators: a seeded data set served over real HTTP.

    Use it as a context manager (or :meth:`start`/:meth:`stop`); :attr:`url`
    is the base URL a client is configured with. All methods are safe to call
    while a client is paging.
    """

    #: Timestamp resolution of the CRM: 1 ms or 1000 ms (whole seconds).
    clock_resolution_ms: ClassVar[int] = 1

    def __init__(
        self,
        *,
        n: int,
        seed: int,
        host: str = "127.0.0.1",
        port: int = 0,
        path_prefix: str = "",
        anchor: datetime = DEFAULT_ANCHOR,
    ) -> None:
        """Generate ``n`` cases from ``seed`` and prepare (not start) the server.

        :param n: how many cases the CRM holds at start (a few of them already deleted).
        :param seed: the same seed gives the same data.
        :param port: 0 picks a free port.
        :param path_prefix: a path the base URL carries, e.g. ``/tenant-a``.
        :param anchor: generated timestamps lie before this moment.
        """
        if n < 0:
            raise ValueError("n must not be negative")
        self.n = n
        self.seed = seed
        self.generator = CaseGenerator(seed, anchor=anchor)
        self.faults = Faults()
        self.requests = RequestLog()
        self.comments = CommentStore()
        """Every comment clients wrote, per case: count them here."""
        self.read_only = False
        """When true the credentials may only read: every write answers ``403``."""
        self.store = RecordStore()
        self._change_lock = threading.RLock()
        self._mutations = 0
        self.store.load(self._initial_records(n))
        self.clock = SimClock(
            resolution_ms=self.clock_resolution_ms, floor_ms=self.store.last_timestamp
        )
        self._server = SimServer(self._handle, host=host, port=port, path_prefix=path_prefix)
        self.faults.bind_listener(self._server)

    def _initial_records(self, n: int) -> Iterator[tuple[int, bytes, bool]]:
        resolution = self.clock_resolution_ms
        for spec in self.generator.specs(n):
            timestamp = spec.updated_ms - spec.updated_ms % resolution
            record = self._render(spec, timestamp)
            deleted = spec.quirks & _INITIALLY_DELETED_MASK == 0
            if deleted:
                self._mark_deleted(record)
            yield timestamp, encode_record(record), deleted

    # -- lifecycle -------------------------------------------------------

    def start(self) -> Self:
        """Start serving in background threads."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection."""
        self._server.stop()

    def __enter__(self) -> Self:
        """Start serving."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop serving."""
        self.stop()

    @property
    def url(self) -> str:
        """The base URL (path prefix included, no trailing slash); needs :meth:`start`."""
        return self._server.url

    @property
    def port(self) -> int:
        """The port served on (0 before :meth:`start` when none was asked for)."""
        return self._server.port

    @property
    def path_prefix(self) -> str:
        """The path the base URL carries, ``""`` for none."""
        return self._server.path_prefix

    # -- reading the data ------------------------------------------------

    def live_records(self) -> Iterator[JSONRecord]:
        """Every record that is not deleted, as the API sends it, in API order.

        What a complete sync must end up with. Faults that break records on
        the wire do not apply here.
        """
        for _, data, deleted in self.store.iter_current():
            if not deleted:
                yield orjson.loads(data)

    def current_records(self) -> Iterator[JSONRecord]:
        """Every record, tombstones included, as the API sends it, in API order.

        What a full export that includes tombstones returns when nothing
        changes meanwhile (Strawberry's, or Banana's with ``includeDeleted``).
        """
        for _, data, _ in self.store.iter_current():
            yield orjson.loads(data)

    def tombstones(self) -> Iterator[JSONRecord]:
        """Every deleted record, as the API sends its tombstone, in API order."""
        for _, data, deleted in self.store.iter_current():
            if deleted:
                yield orjson.loads(data)

    def deleted_ids(self) -> set[RecordId]:
        """The ids of every deleted record (tombstone)."""
        return {self._id_of(slot) for slot, _, deleted in self.store.iter_current() if deleted}

    def ids(self) -> list[RecordId]:
        """The ids of the records that are not deleted, in API order."""
        return [self._id_of(slot) for slot, _, deleted in self.store.iter_current() if not deleted]

    def record(self, record_id: RecordId) -> JSONRecord:
        """The current state of one record, tombstones included.

        :raises KeyError: for an id the CRM never had.
        """
        record: JSONRecord = orjson.loads(self.store.record(self._slot(record_id)))
        return record

    def live_count(self) -> int:
        """How many records are not deleted."""
        return self.store.live_count

    def comment_count(self, record_id: RecordId, body: str | None = None) -> int:
        """How many comments the case holds (with exactly this ``body``, when given)."""
        return self.comments.count(record_id, body=body)

    def planted_misspellings(self) -> dict[str, str]:
        """The generator's ground truth: misspelled provider → canonical provider."""
        return self.generator.planted_misspellings()

    # -- changing the data -----------------------------------------------

    def update(self, record_id: RecordId, **changes: Any) -> datetime:
        """Change fields of a record (field names as the CRM spells them).

        The record gets a new modification time and moves to the end of the
        paging order. :returns: that time.
        """
        with self._change_lock:
            slot = self._live_slot(record_id)
            record = self._load(slot)
            self._apply_changes(record, changes)
            return self._commit([(slot, record, False)])

    def close(self, record_id: RecordId) -> datetime:
        """Close a record the way an agent would (a closed status). :returns: the change time."""
        with self._change_lock:
            slot = self._live_slot(record_id)
            record = self._load(slot)
            rng = random.Random(f"close-{record_id}")  # noqa: S311 (test data, not secrets)
            self._apply_close(record, rng)
            return self._commit([(slot, record, False)])

    def delete(self, record_id: RecordId) -> datetime:
        """Delete a record: it becomes a tombstone. :returns: the change time."""
        with self._change_lock:
            slot = self._live_slot(record_id)
            record = self._load(slot)
            self._mark_deleted(record)
            return self._commit([(slot, record, True)])

    def add(self, spec: CaseSpec | None = None) -> RecordId:
        """Add a new case, drawn by the generator unless ``spec`` is given.

        A new record is a change: created and last modified at the next
        clock tick (an earlier ``spec.created_ms`` is kept). :returns: its id.
        """
        with self._change_lock:
            slot = len(self.store)
            timestamp = self.clock.tick()
            if spec is None:
                rng = random.Random(f"add-{slot}")  # noqa: S311 (test data, not secrets)
                spec = self.generator.new_spec(slot, rng, timestamp)
            spec = attrs.evolve(
                spec, seq=slot, created_ms=min(spec.created_ms, timestamp), updated_ms=timestamp
            )
            record = self._render(spec, timestamp)
            self.store.write([(slot, encode_record(record), False)], timestamp)
            return self._id_of(slot)

    def repeat_on_later_page(self, record_id: RecordId) -> datetime:
        """Touch a record so it shows up again on a later page, with a newer timestamp.

        What a CRM does when a record changes while a client pages: the
        client has seen the old version and will see the new one at the end.
        :returns: the new modification time.
        """
        return self.update(record_id)

    def repeat_with_older_timestamp(
        self,
        record_id: RecordId,
        older_by: timedelta = timedelta(seconds=60),
        **changes: Any,
    ) -> datetime:
        """Serve an out-of-date copy of a record once more, later in the paging order.

        The copy carries a modification time ``older_by`` before the
        record's current one (and ``changes``, to make it tell apart). The
        record itself does not change: a client that keeps the latest
        timestamp per id keeps the current version, one that keeps the last
        one seen is caught. :returns: the copy's (older) modification time.
        """
        with self._change_lock:
            slot = self._live_slot(record_id)
            record = self._load(slot)
            resolution = self.clock_resolution_ms
            older_ms = -(-int(older_by.total_seconds() * 1000) // resolution) * resolution
            stamp = self.store.timestamp_of(slot) - max(older_ms, resolution)
            self._apply_changes(record, changes)
            self._set_modified(record, stamp)
            self.store.add_ghost(slot, encode_record(record), self.clock.tick())
            return ms_to_datetime(stamp)

    def mutate(
        self,
        update: float = 0.0,
        close: float = 0.0,
        delete: float = 0.0,
        add: float = 0.0,
        seed: int | None = None,
    ) -> MutationResult:
        """Change a share of the data set at once, as a busy day between two syncs does.

        Each share is of the records not deleted now; the touched records
        are distinct. ``close`` picks open records. All changes carry one
        timestamp. Deterministic for a given ``seed`` (by default, the n-th
        call of a simulator is the same in every run).
        """
        for share in (update, close, delete, add):
            if not 0.0 <= share <= 1.0:
                raise ValueError("shares lie between 0 and 1")
        with self._change_lock:
            self._mutations += 1
            rng = random.Random(  # noqa: S311 (test data, not secrets)
                seed if seed is not None else f"mutate-{self.seed}-{self._mutations}"
            )
            live = self.live_count()
            picker = _Picker(rng, self.store)
            closed = picker.pick(round(close * live), self._is_open_slot)
            deleted = picker.pick(round(delete * live))
            updated = picker.pick(round(update * live))
            timestamp = self.clock.tick()
            changes: list[tuple[int, bytes, bool]] = []
            for slot in closed:
                record = self._load(slot)
                self._apply_close(record, rng)
                changes.append(self._stamped(slot, record, timestamp, deleted=False))
            for slot in deleted:
                record = self._load(slot)
                self._mark_deleted(record)
                changes.append(self._stamped(slot, record, timestamp, deleted=True))
            for slot in updated:
                record = self._load(slot)
                fresh = self.generator.new_spec(slot, rng, timestamp)
                self._apply_update(record, fresh, rng)
                changes.append(self._stamped(slot, record, timestamp, deleted=False))
            first_new = len(self.store)
            added = range(first_new, first_new + round(add * live))
            for slot in added:
                spec = self.generator.new_spec(slot, rng, timestamp)
                changes.append((slot, encode_record(self._render(spec, timestamp)), False))
            self.store.write(changes, timestamp)
            return MutationResult(
                at=ms_to_datetime(timestamp),
                updated=tuple(self._id_of(slot) for slot in updated),
                closed=tuple(self._id_of(slot) for slot in closed),
                deleted=tuple(self._id_of(slot) for slot in deleted),
                added=tuple(self._id_of(slot) for slot in added),
            )

    def _written(self, slot: int, record: JSONRecord) -> int:
        """Store a record a client's write changed: a new modification time. :returns: it (ms).

        The caller holds the change lock, so a comment made with that time
        sorts with the change.
        """
        at = self._commit([(slot, record, False)])
        return int(at.timestamp() * 1000)

    def _commit(self, changes: list[tuple[int, JSONRecord, bool]]) -> datetime:
        timestamp = self.clock.tick()
        self.store.write(
            [self._stamped(slot, record, timestamp, deleted=d) for slot, record, d in changes],
            timestamp,
        )
        return ms_to_datetime(timestamp)

    def _stamped(
        self, slot: int, record: JSONRecord, timestamp: int, *, deleted: bool
    ) -> tuple[int, bytes, bool]:
        self._set_modified(record, timestamp)
        return slot, encode_record(record), deleted

    def _load(self, slot: int) -> JSONRecord:
        record: JSONRecord = orjson.loads(self.store.record(slot))
        return record

    def _slot(self, record_id: RecordId) -> int:
        slot = self._slot_of(record_id)
        if slot is None or not 0 <= slot < len(self.store):
            raise KeyError(record_id)
        return slot

    def _live_slot(self, record_id: RecordId) -> int:
        slot = self._slot(record_id)
        if self.store.is_deleted(slot):
            raise ValueError(f"record {record_id!r} is deleted")
        return slot

    def _is_open_slot(self, slot: int) -> bool:
        return self._is_open(self._load(slot))

    # -- serving ---------------------------------------------------------

    def _handle(self, request: SimRequest) -> SimResponse:
        """Answer one request: faults first, then the CRM's routes; log it."""
        started = time.perf_counter()
        if request.path is None:
            response = self._not_found(request)
        else:
            delay = self.faults.take_delay()
            if delay:
                time.sleep(delay)
            interception = self.faults.take_interception(request.path, request.method)
            if interception is not None:
                response = self._intercepted(interception)
            else:
                response = self._route(request)
                if 200 <= response.status < 300:
                    lost = self.faults.take_lost_answer(request.path, request.method)
                    if lost is not None:
                        response = attrs.evolve(response, lost=lost)
        response = self._finish(request, response)
        self.requests.append(
            LoggedRequest(
                method=request.method,
                path=request.path if request.path is not None else request.raw_path,
                query={name: values[0] for name, values in request.query.items() if values},
                status=response.status,
                records=response.records,
                peer_port=request.peer_port,
                duration=time.perf_counter() - started,
                lost=None if response.lost is None else response.lost.how,
            )
        )
        return response

    def _served_records(self, page: Page) -> list[bytes]:
        """The page's records as they go on the wire, with any record faults applied."""
        breaking = self.faults.breaks_records
        if not breaking and not self._restyling():
            return page.records
        out: list[bytes] = []
        for slot, data in zip(page.slots, page.records, strict=True):
            record_id = self._id_of(slot)
            kind = self.faults.malformed_kind(record_id) if breaking else None
            restyle = self._restyles(record_id)
            if kind is None and not restyle:
                out.append(data)
                continue
            record = orjson.loads(data)
            if restyle:
                self._restyle(record)
            if kind is not None:
                self._malform(record, kind)
            out.append(orjson.dumps(record))
        return out

    def _finish(self, request: SimRequest, response: SimResponse) -> SimResponse:
        """Last touch on every answer (Strawberry adds its rate-limit header)."""
        return response

    def _restyling(self) -> bool:
        """Whether some records are sent differently from how they are stored."""
        return False

    def _restyles(self, record_id: RecordId) -> bool:
        """Whether this record is sent differently from how it is stored."""
        return False

    def _restyle(self, record: JSONRecord) -> None:
        """Change how a record is sent, not what it says (Banana's UTC offsets)."""
        return

    # -- the dialect -----------------------------------------------------

    @abc.abstractmethod
    def _render(self, spec: CaseSpec, modified_ms: int) -> JSONRecord:
        """Turn a spec into this CRM's record, last modified at ``modified_ms``."""

    @abc.abstractmethod
    def _id_of(self, slot: int) -> RecordId:
        """The record id of a slot; ids must increase with slots."""

    @abc.abstractmethod
    def _slot_of(self, record_id: RecordId) -> int | None:
        """The slot of a record id, or None when it cannot be one of ours."""

    @abc.abstractmethod
    def _set_modified(self, record: JSONRecord, modified_ms: int) -> None:
        """Write the record's last-modified timestamp."""

    @abc.abstractmethod
    def _mark_deleted(self, record: JSONRecord) -> None:
        """Turn a record into its tombstone."""

    @abc.abstractmethod
    def _is_open(self, record: JSONRecord) -> bool:
        """Whether the record counts as open."""

    @abc.abstractmethod
    def _apply_close(self, record: JSONRecord, rng: random.Random) -> None:
        """Close the record as an agent would."""

    @abc.abstractmethod
    def _apply_update(self, record: JSONRecord, fresh: CaseSpec, rng: random.Random) -> None:
        """Make a realistic edit; ``fresh`` offers newly drawn values to take from."""

    @abc.abstractmethod
    def _apply_changes(self, record: JSONRecord, changes: Mapping[str, Any]) -> None:
        """Apply a test's explicit field changes."""

    @abc.abstractmethod
    def _malform(self, record: JSONRecord, kind: MalformedKind) -> None:
        """Break a record on the wire in the given way."""

    @abc.abstractmethod
    def _route(self, request: SimRequest) -> SimResponse:
        """Answer a request below the base URL that no fault intercepted."""

    @abc.abstractmethod
    def _intercepted(self, interception: Interception) -> SimResponse:
        """The CRM's answer for a fault: 429 or a 5xx, with its error body."""

    @abc.abstractmethod
    def _not_found(self, request: SimRequest) -> SimResponse:
        """The CRM's 404."""


class _Picker:
    """Draws distinct random records that are not deleted, for :meth:`Simulator.mutate`."""

    def __init__(self, rng: random.Random, store: RecordStore) -> None:
        self._rng = rng
        self._store = store
        self._taken: set[int] = set()

    def pick(self, k: int, accept: Callable[[int], bool] | None = None) -> list[int]:
        """Up to ``k`` fresh slots (fewer if the data runs out) for which ``accept`` holds."""
        slots = len(self._store)
        chosen: list[int] = []
        if not slots:
            return chosen
        # Bounded tries: with few candidates left (every open record closed
        # already, say) the pick comes back short instead of spinning.
        for _ in range(50 * k + 1000):
            if len(chosen) >= k:
                break
            slot = self._rng.randrange(slots)
            if slot in self._taken or self._store.is_deleted(slot):
                continue
            if accept is not None and not accept(slot):
                continue
            self._taken.add(slot)
            chosen.append(slot)
        return chosen
