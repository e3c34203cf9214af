"""One on-demand refresh at a time in this process, however many requests ask.

The library already serializes refreshes (also across processes) and lets a
waiting caller return the report of the refresh it waited for. What it
cannot know is that every waiting call holds a thread: a burst of clicks on
Refresh would fill the server's thread pool and stall every read. So the
first ``/refresh`` runs the library's refresh on the gate's own thread, and
the requests that arrive meanwhile await that same run on the event loop,
for at most ``wait_seconds``, then get ``409``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

from supporthub.hub import Hub
from supporthub.vocabulary.errors import RefreshInProgress
from supporthub.vocabulary.models import RefreshReport

__all__ = ["RefreshGate"]


def _retrieve(future: asyncio.Future[RefreshReport]) -> None:
    # Marks the outcome as seen when every waiter hung up, so asyncio does not
    # log "exception was never retrieved" for a 429 nobody was left to read.
    if not future.cancelled():
        future.exception()


class RefreshGate:
    """Runs ``hub.refresh()`` for ``/refresh``; concurrent callers share one run.

    :param wait_seconds: how long a request waits for a refresh that another
        request (or process, or the scheduler) started, before ``409``.
    """

    def __init__(self, hub: Hub, *, wait_seconds: float = 60.0) -> None:
        self.hub = hub
        self.wait_seconds = wait_seconds
        self._lock = threading.Lock()
        self._running: concurrent.futures.Future[RefreshReport] | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="supporthub-refresh"
        )

    def _start_or_join(self) -> tuple[concurrent.futures.Future[RefreshReport], bool]:
        with self._lock:
            if self._running is None or self._running.done():
                # The library waits this long for a refresh held by another process.
                self._running = self._executor.submit(self.hub.refresh, timeout=self.wait_seconds)
                return self._running, True
            return self._running, False

    async def refresh(self) -> RefreshReport:
        """The report of the refresh this call started or joined.

        :raises RefreshNotDue: no source may be fetched yet.
        :raises RefreshInProgress: the refresh being waited for outlasted ``wait_seconds``.
        :raises StorageError: the database failed.
        """
        future, started = self._start_or_join()
        # Shielded: a caller who hangs up must not cancel the refresh for the others.
        wrapped = asyncio.wrap_future(future)
        wrapped.add_done_callback(_retrieve)
        result = asyncio.shield(wrapped)
        if started:
            return await result
        try:
            return await asyncio.wait_for(result, self.wait_seconds)
        except TimeoutError:
            raise RefreshInProgress(
                f"another refresh is running and did not finish within {self.wait_seconds:g} s; "
                "its result will show in /health"
            ) from None

    def close(self) -> None:
        """Stop taking refreshes; one still running finishes on its thread."""
        self._executor.shutdown(wait=False, cancel_futures=True)
