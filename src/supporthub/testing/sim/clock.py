"""The simulator clock: the "last modified" time of every change."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

__all__ = ["SimClock"]


class SimClock:
    """Hands out change timestamps that strictly increase and never lag real time.

    Strictly increasing, so that a changed record always sorts after every
    record the client has seen (it lands at the end of the paging order).
    Never behind the wall clock, so that a client's inclusive cursor taken
    from real time works as against a real CRM. At a resolution of a second
    (Strawberry) a burst of changes may run a few seconds ahead of real time;
    a real CRM's clock would rather give them equal timestamps, but equal
    timestamps would break the strict order this clock promises.

    Timestamps are integer milliseconds since the epoch, multiples of the
    resolution. Thread-safe.
    """

    def __init__(
        self,
        *,
        resolution_ms: int = 1,
        floor_ms: int = 0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """Start a clock.

        :param resolution_ms: 1 for millisecond timestamps, 1000 for whole seconds.
        :param floor_ms: every tick is strictly after this (the newest timestamp in the data).
        :param wall_clock: seconds since the epoch; replaceable in tests.
        """
        if resolution_ms < 1:
            raise ValueError("resolution_ms must be at least 1")
        self.resolution_ms = resolution_ms
        self._wall_clock = wall_clock
        self._last = floor_ms
        self._lock = threading.Lock()

    @property
    def last_ms(self) -> int:
        """The latest timestamp handed out (or the floor, before the first tick)."""
        with self._lock:
            return self._last

    def tick(self) -> int:
        """Return a new timestamp: after every earlier one and not before now."""
        res = self.resolution_ms
        now_ms = time_to_ms(self._wall_clock())
        # Round real time *up* to the resolution: the tick is never before now.
        now_ms = -(-now_ms // res) * res
        with self._lock:
            last = self._last
            tick = max(now_ms, -(-(last + 1) // res) * res)
            self._last = tick
            return tick

    def raise_floor(self, floor_ms: int) -> None:
        """Make every later tick strictly after ``floor_ms``."""
        with self._lock:
            self._last = max(self._last, floor_ms)


def time_to_ms(seconds: float) -> int:
    """Turn float epoch seconds into integer milliseconds, rounding up."""
    return math.ceil(seconds * 1000)
