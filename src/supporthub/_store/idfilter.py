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
_PROBES = 2


class IdFilter:
    """A Bloom filter over strings, for the ids written during one sync."""

    def __init__(self) -> None:
        self._bits = bytearray(_BITS // 8)

    @staticmethod
    def _positions(item: str) -> list[int]:
        # Double hashing from one 64-bit hash; str hashes are stable within a process.
        value = hash(item) & 0xFFFFFFFFFFFFFFFF
        first, step = value & _MASK, (value >> 32) | 1
        return [(first + i * step) & _MASK for i in range(_PROBES)]

    def add_all(self, items: Iterable[str]) -> None:
        """Remember ``items``."""
        bits = self._bits
        for item in items:
            for position in self._positions(item):
                bits[position >> 3] |= 1 << (position & 7)

    def __contains__(self, item: str) -> bool:
        bits = self._bits
        return all(bits[p >> 3] & (1 << (p & 7)) for p in self._positions(item))
