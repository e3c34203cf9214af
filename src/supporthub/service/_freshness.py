"""The data tokens for the list views of one event loop: one reading serves every request before it.

A kept answer is served when the data tokens read *after its request
arrived* are those it was built from (``Hub.kept_json``). A reading that
starts after several requests arrived is fresh enough for all of them:
any write committed before the last of them arrived is in it. So while one
reading runs, the requests that arrive join the next one, which starts as
soon as it ends: under 16 concurrent clients a handful of readings a
millisecond apart serve them all, and a kept answer is then found on the
event loop itself, without a trip to a worker thread of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

__all__ = ["TokenReadings", "Tokens"]

log = logging.getLogger("supporthub.service")

Tokens = tuple[str | None, str | None]


class TokenReadings:
    """Shares readings of the data tokens among the requests waiting for one."""

    def __init__(self, read: Callable[[], Tokens]) -> None:
        self._read = read
        self._loop: asyncio.AbstractEventLoop | None = None
        #: The reading that starts next; requests arriving now wait for it.
        self._next: asyncio.Future[Tokens | None] | None = None
        self._running = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def tokens(self) -> Tokens | None:
        """Tokens read after this call began; ``None`` when the reading failed.

        ``None`` sends the request the long way, which reports the failure
        itself (a database error is the long way's to answer).
        """
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop (tests run one app in several)
            self._loop, self._next, self._running = loop, None, False
        waiting = self._next
        if waiting is None:
            waiting = self._next = loop.create_future()
            if not self._running:
                self._start()
        return await asyncio.shield(waiting)

    def _start(self) -> None:
        future, self._next = self._next, None
        assert future is not None
        self._running = True
        task = asyncio.get_running_loop().create_task(self._reading(future))
        self._tasks.add(task)  # the loop keeps only a weak reference
        task.add_done_callback(self._tasks.discard)

    async def _reading(self, future: asyncio.Future[Tokens | None]) -> None:
        found: Tokens | None = None
        try:
            found = await run_in_threadpool(self._read)
        except Exception as error:
            log.debug("reading the data tokens failed: %s", type(error).__name__)
        finally:
            self._running = False
            if not future.done():
                future.set_result(found)
            if self._next is not None and asyncio.get_running_loop() is self._loop:
                self._start()
