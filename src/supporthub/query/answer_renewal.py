"""Kept answers renewed before their minute turns, so no reader waits for it.

A kept answer is kept by its data tokens and its minute (``recentCaseCount``
and ``lifecycle`` move with time): when the minute turns, every question
would find nothing kept at once, and the first reader of each paid for
building it again, all in the same half second (measured in issue 16: a
one-client p99 of 20-48 ms at the turn of each minute during a refresh,
against 13 ms the rest of the time). The renewer builds, in the last
seconds of each minute, the next minute's answers to the questions asked
in this one, as of the moment the minute turns: what the first reader
of the next minute would have built, ready before it asks.

It is gentle: one answer at a time, each followed by a pause as long as
its build took, at most :data:`MAX_RENEWED` a minute, most recently asked
first, and only answers kept in this minute of at most
:data:`MAX_RENEWED_BYTES`. A question asked again after a write is
renewed under the new tokens on the renewer's next pass (it looks again
every second until the minute turns). What it did not get to, a reader
builds as before.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Hashable

__all__ = [
    "MAX_RENEWED",
    "MAX_RENEWED_BYTES",
    "RENEW_LEAD_SECONDS",
    "AnswerRenewer",
    "AskedQuestions",
    "minute_of",
]

log = logging.getLogger(__name__)

#: How many seconds before the minute turns the renewal starts.
RENEW_LEAD_SECONDS = 10.0
#: How many questions are renewed a minute at most (the most recently asked).
MAX_RENEWED = 64
#: The largest answer renewed: a page of a list or of an aggregated case is
#: tens of kilobytes; a whole aggregated case of thousands of cases, kept up
#: to 8 MiB, would cost the readers more to build ahead than it saves them.
MAX_RENEWED_BYTES = 1024 * 1024
#: How often the renewer looks again, in its lead, for questions to renew.
_LOOK_AGAIN_SECONDS = 1.0
_MINUTE = dt.timedelta(minutes=1)


def minute_of(moment: dt.datetime) -> dt.datetime:
    """The start of the minute ``moment`` falls in."""
    return moment.replace(second=0, microsecond=0)


class AskedQuestions:
    """The questions with kept answers asked lately, most recently asked last (thread-safe)."""

    def __init__(self, limit: int = MAX_RENEWED) -> None:
        self._asked: collections.OrderedDict[Hashable, dt.datetime] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.limit = limit

    def note(self, question: Hashable, at: dt.datetime) -> None:
        """Remember that ``question`` was asked at ``at``."""
        with self._lock:
            self._asked[question] = at
            self._asked.move_to_end(question)
            while len(self._asked) > self.limit:
                self._asked.popitem(last=False)

    def since(self, moment: dt.datetime) -> list[Hashable]:
        """The questions asked at ``moment`` or after, most recently asked first."""
        with self._lock:
            return [q for q, at in reversed(self._asked.items()) if at >= moment]

    def __len__(self) -> int:
        return len(self._asked)


#: Builds the answer to a question as of a moment, keeps it, and says whether
#: it built one (``False``: it was kept already).
Renew = Callable[[Hashable, dt.datetime], bool]


class AnswerRenewer:
    """A thread that renews the asked questions' answers ahead of each new minute.

    :param asked: where the questions asked are noted.
    :param renew: builds and keeps one question's answer as of a moment.
    :param clock: the hub's clock (the minutes the answers are kept by).
    """

    def __init__(
        self,
        asked: AskedQuestions,
        renew: Renew,
        clock: Callable[[], dt.datetime],
        *,
        lead_seconds: float = RENEW_LEAD_SECONDS,
    ) -> None:
        self._asked = asked
        self._renew = renew
        self._clock = clock
        self.lead_seconds = lead_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start renewing in a thread of its own (daemon: it never holds a process up)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="supporthub-answer-renewal", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, after the answer it is building."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            now = self._clock()
            turn = minute_of(now) + _MINUTE
            left = (turn - now).total_seconds()
            if left > self.lead_seconds:
                self._stop.wait(left - self.lead_seconds)
                continue
            try:
                self.renew_for(turn, deadline=time.monotonic() + left)
            except Exception:  # a reader builds what this did not
                log.warning("renewing kept answers failed", exc_info=True)
            self._stop.wait(min(_LOOK_AGAIN_SECONDS, max(left, 0.05)))

    def renew_for(self, turn: dt.datetime, *, deadline: float | None = None) -> int:
        """Renew, as of ``turn``, the questions asked in the minute before it.

        Most recently asked first, each followed by a pause as long as its
        build took; one that fails is skipped (logged; a reader builds it);
        stops at ``deadline`` (``time.monotonic()``) or when the renewer is
        stopped.

        :returns: how many answers it built.
        """
        built = 0
        for question in self._asked.since(turn - _MINUTE):
            if self._stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
                break
            began = time.monotonic()
            try:
                renewed = self._renew(question, turn)
            except Exception:  # one question's failure is not the others'
                log.debug("renewing one kept answer failed", exc_info=True)
                continue
            if renewed:
                built += 1
                # As long again as it took: the readers keep at least half.
                self._stop.wait(time.monotonic() - began)
        return built
