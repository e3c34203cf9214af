"""A compact "have I written this id in this sync?" filter (a Bloom filter).

A source with no stored cases cannot have old versions of the records it
sends, except the ones it already sent earlier in the same sync (a record
that changed while being paged through shows up again). Asking the database
about every id would double the cost of a first load; remembering every id
in a set would cost tens of megabytes per million. This filter costs 16 MB,
never answers "no" for an id it was given, and answers "maybe" for an id it
was not given about once in 80,000 at a million ids (once in 10,000 at two
million); only those are looked up.

Each lookup costs more than its query: the writer must wait for the bulk
load still running before it can ask (``store/loaddata.py``), so a batch
with a false "maybe" loses the overlap of its load with the writer's work.
With 8 MB and two probes that was about one id in a thousand at a million
ids, about one lookup per batch at the end of a million-case first load.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["IdFilter"]

_BITS = 1 << 27  # 16 MiB
_MASK = _BITS - 1
# With this many bits, three probes give ~0.001 % false "maybe" at a million
# ids and ~0.01 % at two million. The probes are written out below: a loop
# and a list per id were a fifth of a first load's writer time.
_HASH = 0xFFFFFFFFFFFFFFFF


class IdFilter:
    """A Bloom filter over strings, for the ids written during one sync."""

    def __init__(self) -> None:
        self._bits = bytearray(_BITS // 8)

    def remember(self, items: Iterable[str]) -> list[str]:
        """Remember ``items``; return those that may have been given before (all
        that were, and very few others). One pass: each id hashed once, its bits
        checked, then set."""
        bits = self._bits
        found = []
        for item in items:
            # Double hashing from one 64-bit hash; str hashes are stable within a process.
            value = hash(item) & _HASH
            step = (value >> 32) | 1
            first = value & _MASK
            second = (first + step) & _MASK
            third = (second + step) & _MASK
            a, b, c = first >> 3, second >> 3, third >> 3
            ma, mb, mc = 1 << (first & 7), 1 << (second & 7), 1 << (third & 7)
            if bits[a] & ma and bits[b] & mb and bits[c] & mc:
                found.append(item)
            bits[a] |= ma
            bits[b] |= mb
            bits[c] |= mc
        return found

    def maybe(self, items: Iterable[str]) -> list[str]:
        """The ``items`` that may have been given (all that were, and very few others)."""
        bits = self._bits
        found = []
        for item in items:
            value = hash(item) & _HASH
            first = value & _MASK
            if not bits[first >> 3] & (1 << (first & 7)):
                continue
            step = (value >> 32) | 1
            second = (first + step) & _MASK
            if not bits[second >> 3] & (1 << (second & 7)):
                continue
            third = (second + step) & _MASK
            if bits[third >> 3] & (1 << (third & 7)):
                found.append(item)
        return found

    def __contains__(self, item: str) -> bool:
        return bool(self.maybe((item,)))
