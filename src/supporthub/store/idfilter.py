"""A compact "have I written this id in this sync?" filter (a Bloom filter).

A source with no stored cases cannot have old versions of the records it
sends, except the ones it already sent earlier in the same sync (a record
that changed while being paged through shows up again). Asking the database
about every id would double the cost of a first load; remembering every id
in a set would cost tens of megabytes per million. This filter costs 8 MB,
never answers "no" for an id it was given, and answers "maybe" for an id it
was not given about once in a thousand, at a million ids; only those are looked up.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["IdFilter"]

_BITS = 1 << 26  # 8 MiB
_MASK = _BITS - 1
# With this many bits, two probes give ~0.1 % false "maybe" at a million ids.
# The two probes are written out below: a loop and a list per id were a
# fifth of a first load's writer time.
_HASH = 0xFFFFFFFFFFFFFFFF


class IdFilter:
    """A Bloom filter over strings, for the ids written during one sync."""

    def __init__(self) -> None:
        self._bits = bytearray(_BITS // 8)

    def add_all(self, items: Iterable[str]) -> None:
        """Remember ``items``."""
        bits = self._bits
        for item in items:
            # Double hashing from one 64-bit hash; str hashes are stable within a process.
            value = hash(item) & _HASH
            first = value & _MASK
            second = (first + ((value >> 32) | 1)) & _MASK
            bits[first >> 3] |= 1 << (first & 7)
            bits[second >> 3] |= 1 << (second & 7)

    def maybe(self, items: Iterable[str]) -> list[str]:
        """The ``items`` that may have been given (all that were, and about 0.1 % others)."""
        bits = self._bits
        found = []
        for item in items:
            value = hash(item) & _HASH
            first = value & _MASK
            if not bits[first >> 3] & (1 << (first & 7)):
                continue
            second = (first + ((value >> 32) | 1)) & _MASK
            if bits[second >> 3] & (1 << (second & 7)):
                found.append(item)
        return found

    def __contains__(self, item: str) -> bool:
        return bool(self.maybe((item,)))
