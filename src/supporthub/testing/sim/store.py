"""An append-only, (timestamp, id)-ordered store of pre-encoded records.

The store is what makes a simulator fast at a million records:

* each record is kept once, as the JSON bytes the API sends, so a page is a
  ``b",".join`` of slices of a list;
* the paging order is a log of *entries* (timestamp, slot) that is only ever
  appended to. A record that changes gets a new entry at the end, and its
  old entry goes stale (skipped when read). So a position in the log stays
  meaningful forever: a locator or cursor is just a position, and the next
  page costs O(page size), never a rescan;
* the log's timestamps never decrease, so ``modifiedSince`` is a bisect.

Records live in *slots* (0, 1, 2, ...), and a simulator derives each
record's id from its slot such that ids increase with slots. Sorting
entries by (timestamp, slot) is then the same as sorting by (timestamp, id),
and a batch of changes sharing one timestamp is appended in slot order.

A *ghost* entry serves bytes that are not the record's current state (an
out-of-date copy of a record): it is always served, never goes stale and
never changes what :meth:`RecordStore.record` answers.
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from typing import Final

import attrs
import orjson

__all__ = ["Page", "RecordStore", "encode_record"]

_BLOCK: Final = 1024  # entries per counting block (see RecordStore.count_from)


def encode_record(record: object) -> bytes:
    """Encode a record as compact JSON bytes, fit to be kept for long.

    orjson hands back a bytes object whose buffer keeps the spare capacity
    of its output buffer, kilobytes per call (invisible to
    ``sys.getsizeof``): a million kept records would take gigabytes. The copy
    through a memoryview trims it.
    """
    return bytes(memoryview(orjson.dumps(record)))


@attrs.frozen(slots=True)
class Page:
    """One page read from the log."""

    records: list[bytes]
    """The records' JSON bytes, in log order."""
    slots: list[int]
    """The slot of each record (a ghost gives its record's slot)."""
    next_position: int
    """Where the next page starts: the next matching entry, or the end of the log."""
    has_more: bool
    """Whether some matching entry follows this page."""


class RecordStore:
    """Records in slots plus the append-only log that orders them. Thread-safe.

    Each public method holds the store's lock for its duration, so a reader
    never sees a half-applied batch of changes.
    """

    def __init__(self) -> None:
        """Create an empty store; fill it with :meth:`load`."""
        self._lock = threading.RLock()
        self._records: list[bytes] = []
        self._deleted = bytearray()
        self._slot_position = array("q")
        self._entry_ts = array("q")
        # >= 0: a slot; < 0: ghost number -1 - value.
        self._entry_slot = array("q")
        self._ghosts: list[tuple[int, bytes]] = []
        # Per block of _BLOCK entries: how many are live (current or ghost),
        # and how many of those are not deleted. Sums of these give a result
        # count without walking a million entries.
        self._live_blocks = array("q")
        self._visible_blocks = array("q")

    # -- building ----------------------------------------------------------

    def load(self, records: Iterable[tuple[int, bytes, bool]]) -> None:
        """Fill an empty store with ``(timestamp_ms, json_bytes, deleted)`` per slot.

        Slots are numbered in iteration order; the log is sorted by
        (timestamp, slot).
        """
        with self._lock:
            if self._records:
                raise RuntimeError("load() fills an empty store only")
            timestamps = array("q")
            for ts, data, deleted in records:
                timestamps.append(ts)
                self._records.append(data)
                self._deleted.append(1 if deleted else 0)
            # A stable sort by timestamp alone keeps equal timestamps in slot order.
            order = sorted(range(len(timestamps)), key=timestamps.__getitem__)
            self._entry_slot = array("q", order)
            self._entry_ts = array("q", (timestamps[slot] for slot in order))
            self._slot_position = array("q", bytes(8 * len(order)))
            blocks = (len(order) + _BLOCK - 1) // _BLOCK
            self._live_blocks = array("q", bytes(8 * blocks))
            self._visible_blocks = array("q", bytes(8 * blocks))
            deleted_flags = self._deleted
            for position, slot in enumerate(order):
                self._slot_position[slot] = position
                self._live_blocks[position // _BLOCK] += 1
                self._visible_blocks[position // _BLOCK] += not deleted_flags[slot]

    # -- reading -----------------------------------------------------------

    def __len__(self) -> int:
        """The number of slots: every record ever stored, deleted ones included."""
        return len(self._records)

    @property
    def live_count(self) -> int:
        """How many records are not deleted (ghost entries are not records)."""
        with self._lock:
            return sum(self._visible_blocks) - len(self._ghosts)

    @property
    def end(self) -> int:
        """The position after the last entry of the log."""
        return len(self._entry_slot)

    @property
    def last_timestamp(self) -> int:
        """The newest timestamp in the log (0 when empty)."""
        with self._lock:
            return self._entry_ts[-1] if self._entry_ts else 0

    def record(self, slot: int) -> bytes:
        """The current JSON bytes of the record in ``slot``."""
        with self._lock:
            return self._records[slot]

    def is_deleted(self, slot: int) -> bool:
        """Whether the record in ``slot`` is a tombstone."""
        with self._lock:
            return bool(self._deleted[slot])

    def timestamp_of(self, slot: int) -> int:
        """The log timestamp of the record's current entry."""
        with self._lock:
            return self._entry_ts[self._slot_position[slot]]

    def entry(self, position: int) -> tuple[int, int]:
        """``(timestamp, slot)`` of the entry at ``position`` (stale or not).

        For cursors that check they still point where they pointed.
        """
        with self._lock:
            slot = self._entry_slot[position]
            if slot < 0:
                slot = self._ghosts[-1 - slot][0]
            return self._entry_ts[position], slot

    def first_position(self, since_ms: int) -> int:
        """The first position whose timestamp is at least ``since_ms``."""
        with self._lock:
            return bisect_left(self._entry_ts, since_ms)

    def count_from(self, position: int, *, include_deleted: bool) -> int:
        """How many live entries (ghosts included) lie at ``position`` or after."""
        with self._lock:
            blocks = self._visible_blocks if not include_deleted else self._live_blocks
            total = sum(blocks)
            block = position // _BLOCK
            before = sum(blocks[:block])
            for earlier in range(block * _BLOCK, min(position, self.end)):
                live, visible = self._entry_state(earlier)
                before += live and (visible or include_deleted)
            return total - before

    def page(self, position: int, limit: int, *, include_deleted: bool) -> Page:
        """Read up to ``limit`` live entries from ``position`` on.

        Stale entries are skipped; so are tombstones unless
        ``include_deleted``. After the page, the log is searched for the next
        matching entry, so that :attr:`Page.has_more` is exact and the next
        page starts right on it.
        """
        with self._lock:
            entry_slot = self._entry_slot
            slot_position = self._slot_position
            records = self._records
            deleted = self._deleted
            end = len(entry_slot)
            out: list[bytes] = []
            slots: list[int] = []
            while position < end and len(out) < limit:
                slot = entry_slot[position]
                if slot < 0:
                    ghost_slot, data = self._ghosts[-1 - slot]
                    out.append(data)
                    slots.append(ghost_slot)
                elif slot_position[slot] == position and (include_deleted or not deleted[slot]):
                    out.append(records[slot])
                    slots.append(slot)
                position += 1
            while position < end:
                slot = entry_slot[position]
                if slot < 0 or (
                    slot_position[slot] == position and (include_deleted or not deleted[slot])
                ):
                    break
                position += 1
            return Page(out, slots, position, position < end)

    def iter_current(self) -> Iterator[tuple[int, bytes, bool]]:
        """Yield ``(slot, json_bytes, deleted)`` of every record, in log order.

        A snapshot: changes made while iterating are not seen.
        """
        with self._lock:
            snapshot = [
                (slot, self._records[slot], bool(self._deleted[slot]))
                for position, slot in enumerate(self._entry_slot)
                if slot >= 0 and self._slot_position[slot] == position
            ]
        yield from snapshot

    # -- changing ----------------------------------------------------------

    def write(self, changes: Sequence[tuple[int, bytes, bool]], timestamp: int) -> None:
        """Store new versions of records, all changed at ``timestamp``.

        ``changes`` holds ``(slot, json_bytes, deleted)``; a slot equal to
        ``len(store)`` (then the next one, ...) adds a record. Each changed
        record's old entry goes stale and a new entry is appended, in slot
        order.

        :raises ValueError: when ``timestamp`` is not after the log's newest
            timestamp (the log would no longer be sorted), or a slot is
            neither an existing record nor the next new one, or repeats.
        """
        with self._lock:
            if self._entry_ts and timestamp <= self._entry_ts[-1]:
                raise ValueError("a change must be newer than every entry in the log")
            ordered = sorted(changes, key=lambda change: change[0])
            slots = [slot for slot, _, _ in ordered]
            if len(set(slots)) != len(slots):
                raise ValueError("a batch changes each record once")
            for slot, data, deleted in ordered:
                if slot == len(self._records):
                    self._records.append(data)
                    self._deleted.append(1 if deleted else 0)
                    self._slot_position.append(-1)
                elif 0 <= slot < len(self._records):
                    self._retire(self._slot_position[slot])
                    self._records[slot] = data
                    self._deleted[slot] = 1 if deleted else 0
                else:
                    raise ValueError(f"no record in slot {slot}")
                self._slot_position[slot] = self._append_entry(timestamp, slot, not deleted)

    def add_ghost(self, slot: int, data: bytes, timestamp: int) -> int:
        """Append an entry that serves ``data`` for ``slot`` once, at log time ``timestamp``.

        :returns: the ghost entry's position.
        """
        with self._lock:
            if self._entry_ts and timestamp <= self._entry_ts[-1]:
                raise ValueError("a ghost must be newer than every entry in the log")
            self._ghosts.append((slot, data))
            return self._append_entry(timestamp, -len(self._ghosts), True)

    def _append_entry(self, timestamp: int, slot_value: int, visible: bool) -> int:
        position = len(self._entry_slot)
        self._entry_ts.append(timestamp)
        self._entry_slot.append(slot_value)
        if position // _BLOCK == len(self._live_blocks):
            self._live_blocks.append(0)
            self._visible_blocks.append(0)
        self._live_blocks[position // _BLOCK] += 1
        self._visible_blocks[position // _BLOCK] += visible
        return position

    def _retire(self, position: int) -> None:
        """Account for the entry at ``position`` going stale (call before it does)."""
        _, visible = self._entry_state(position)
        self._live_blocks[position // _BLOCK] -= 1
        self._visible_blocks[position // _BLOCK] -= visible

    def _entry_state(self, position: int) -> tuple[bool, bool]:
        """``(live, visible)``: current or ghost; and, if so, not a tombstone."""
        slot = self._entry_slot[position]
        if slot < 0:
            return True, True
        if self._slot_position[slot] != position:
            return False, False
        return True, not self._deleted[slot]
