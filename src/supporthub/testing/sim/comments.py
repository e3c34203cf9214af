"""The comments a simulated CRM holds per case, for the write endpoints and for tests.

A test counts what a client wrote, from outside the client::

    assert sim.comments.count(case_id, body="We found the cause") == 1
    assert sim.comments.duplicates() == {}

Each simulator serves the same list over its CRM's own ``GET …/comments``
endpoint, so a test in another process can count over HTTP too.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import attrs

__all__ = ["Comment", "CommentStore"]

RecordKey = str | int
"""A case id as the CRM spells it (Banana strings, Strawberry integers)."""


@attrs.frozen(slots=True)
class Comment:
    """One comment on one case, as the simulator stores it."""

    id: str | int
    case_id: RecordKey
    body: str
    public: bool
    created_ms: int
    external_id: str | None = None
    """The client's own id (Banana's ``ExternalId``), unique per case."""


class CommentStore:
    """Comments per case, oldest first, with the external-id index. Thread-safe."""

    def __init__(self) -> None:
        """Start empty."""
        self._lock = threading.Lock()
        self._by_case: dict[RecordKey, list[Comment]] = {}
        self._by_external: dict[tuple[RecordKey, str], Comment] = {}

    def add(self, comment: Comment) -> None:
        """Store a comment.

        :raises ValueError: its external id is already used on that case.
        """
        with self._lock:
            if comment.external_id is not None:
                key = (comment.case_id, comment.external_id)
                if key in self._by_external:
                    raise ValueError("external id already used on this case")
                self._by_external[key] = comment
            self._by_case.setdefault(comment.case_id, []).append(comment)

    def by_external_id(self, case_id: RecordKey, external_id: str) -> Comment | None:
        """The comment of ``case_id`` with that external id, or None."""
        with self._lock:
            return self._by_external.get((case_id, external_id))

    def on(self, case_id: RecordKey) -> list[Comment]:
        """The comments of one case, oldest first."""
        with self._lock:
            return list(self._by_case.get(case_id, ()))

    def count(self, case_id: RecordKey, *, body: str | None = None) -> int:
        """How many comments the case has (with exactly this ``body``, when given)."""
        return sum(1 for c in self.on(case_id) if body is None or c.body == body)

    def duplicates(self) -> dict[RecordKey, int]:
        """Cases that hold the same comment text more than once: case id → most copies."""
        with self._lock:
            cases = {case: list(comments) for case, comments in self._by_case.items()}
        out: dict[RecordKey, int] = {}
        for case, comments in cases.items():
            copies = max(Counter(c.body for c in comments).values())
            if copies > 1:
                out[case] = copies
        return out

    def total(self) -> int:
        """How many comments there are, over every case."""
        with self._lock:
            return sum(len(comments) for comments in self._by_case.values())

    def __iter__(self) -> Iterator[Comment]:
        """Every comment, case by case (a snapshot)."""
        with self._lock:
            snapshot = [c for comments in self._by_case.values() for c in comments]
        return iter(snapshot)

    def clear(self) -> None:
        """Forget every comment."""
        with self._lock:
            self._by_case.clear()
            self._by_external.clear()
