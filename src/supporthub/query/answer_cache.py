"""Finished JSON answers, kept per data version so a repeated list view costs one query.

Every write transaction of the store stamps a new ``data_version`` in the
``meta`` table (see :meth:`SqlStore.writer`), in the same transaction as
the data. A reader that sees version ``V`` therefore sees exactly the data
every other reader of ``V`` saw, and an answer built from ``V`` can be
served again to anyone who reads ``V``: one small query instead of the
rows, their decoding and their encoding (which is where a list view's
time goes with a pure-Python database driver).

Only bounded answers are kept (a page with a ``casesLimit``, or one
aggregated case up to :data:`MAX_ANSWER_BYTES`); an unpaged listing
streams as before and never sits in memory.
"""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Hashable, Iterator
from typing import Any

__all__ = ["MAX_ANSWER_BYTES", "AnswerCache"]

#: The largest answer kept; bigger ones stream through untouched.
MAX_ANSWER_BYTES = 8 * 1024 * 1024
#: What all kept answers may add up to.
MAX_TOTAL_BYTES = 64 * 1024 * 1024
#: How many answers are kept at most.
MAX_ANSWERS = 512


class AnswerCache:
    """A thread-safe LRU of encoded answers keyed by (data version, question)."""

    def __init__(
        self,
        *,
        max_answers: int = MAX_ANSWERS,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        max_total_bytes: int = MAX_TOTAL_BYTES,
    ) -> None:
        self._answers: collections.OrderedDict[Hashable, bytes] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._size = 0
        #: Per key being built: its lock and how many hold or wait for it.
        self._builders: dict[Hashable, list[Any]] = {}
        #: How long a second builder of one answer waits for the first.
        self.max_wait_seconds = 2.0
        self.max_answers = max_answers
        self.max_answer_bytes = max_answer_bytes
        self.max_total_bytes = max_total_bytes

    def get(self, key: Hashable) -> bytes | None:
        """The answer kept for ``key``, or ``None``."""
        with self._lock:
            answer = self._answers.get(key)
            if answer is not None:
                self._answers.move_to_end(key)
            return answer

    def put(self, key: Hashable, answer: bytes) -> None:
        """Keep ``answer`` (unless it is too big), dropping the least recently used."""
        if len(answer) > self.max_answer_bytes:
            return
        with self._lock:
            old = self._answers.pop(key, None)
            if old is not None:
                self._size -= len(old)
            self._answers[key] = answer
            self._size += len(answer)
            while len(self._answers) > self.max_answers or self._size > self.max_total_bytes:
                _, dropped = self._answers.popitem(last=False)
                self._size -= len(dropped)

    def through(self, key: Hashable, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """Yield ``chunks`` as they come, and keep their sum when it is small enough."""
        kept: list[bytes] | None = []
        size = 0
        for chunk in chunks:
            if kept is not None:
                size += len(chunk)
                if size > self.max_answer_bytes:
                    kept = None
                else:
                    kept.append(chunk)
            yield chunk
        if kept is not None:
            self.put(key, b"".join(kept))

    @contextlib.contextmanager
    def building(self, key: Hashable | None) -> Iterator[None]:
        """Hold while building the answer for ``key``: one builder per key at a time.

        When the kept answers turn over (a new data version, a new minute)
        every client asking the same question at that moment would build it
        at once, each slowing the others; the later ones wait here for the
        first instead, then find its answer kept. ``None``: nothing to wait for.

        The wait is bounded (:attr:`max_wait_seconds`, then it builds too): a
        streamed answer is read on by whichever worker thread comes next, so
        waiters that took every thread would otherwise wait forever.
        """
        if key is None:
            yield
            return
        with self._lock:
            entry = self._builders.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        lock: threading.Lock = entry[0]
        held = lock.acquire(timeout=self.max_wait_seconds)
        try:
            yield
        finally:
            if held:
                lock.release()
            with self._lock:
                entry[1] -= 1
                if not entry[1]:
                    del self._builders[key]

    def clear(self) -> None:
        """Forget every answer."""
        with self._lock:
            self._answers.clear()
            self._size = 0

    def __len__(self) -> int:
        return len(self._answers)
