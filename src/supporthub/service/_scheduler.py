"""The scheduled refresh inside ``supporthub serve``: a thread that sleeps until it is due.

The library decides when (``hub.next_scheduled_refresh()``: the first source
whose last success is older than the interval, or at once when the data was
never fetched) and what (``hub.refresh(scheduled=True)`` takes the
cross-process lock and fetches only the sources due by the interval, so N
processes on one database refresh once per interval). This thread only
sleeps, calls, and survives: a failure is logged and tried again one
interval later; nothing it meets stops the service.
"""

from __future__ import annotations

import logging
import threading

from supporthub.hub import Hub

__all__ = ["Scheduler"]

log = logging.getLogger("supporthub.scheduler")

# Wake up at least this often to look again: another process may have
# refreshed meanwhile, or the clock may have jumped.
_MAX_SLEEP_SECONDS = 300.0
# Never run two scheduled refreshes closer than this, whatever the clock says.
_MIN_PAUSE_SECONDS = 1.0


class Scheduler:
    """Runs ``hub.refresh(scheduled=True)`` whenever the library says it is due."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread; the first refresh runs at once when the data is stale."""
        self._thread = threading.Thread(target=self._loop, name="supporthub-scheduler", daemon=True)
        self._thread.start()
        log.info(
            "scheduled refresh every %g hours",
            self.hub.settings.refresh_interval.total_seconds() / 3600,
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop sleeping and wait up to ``timeout`` seconds for a refresh that is running."""
        self._stop.set()
        if self._thread is None:
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning(
                "a scheduled refresh is still running at shutdown; it is abandoned "
                "and none of it is written"
            )

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(self.step())

    def step(self) -> float:
        """Refresh when due; return how many seconds to sleep before looking again."""
        interval = self.hub.settings.refresh_interval.total_seconds()
        try:
            wait = (self.hub.next_scheduled_refresh() - self.hub.clock()).total_seconds()
            if wait > 0:
                return min(wait, _MAX_SLEEP_SECONDS)
            # The library logs the report; a failing source waits one interval
            # (the library remembers the attempt), the others are unaffected.
            self.hub.refresh(scheduled=True)
        except Exception:
            log.exception("the scheduled refresh failed; trying again in %g s", interval)
            return interval
        return _MIN_PAUSE_SECONDS
