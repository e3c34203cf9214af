"""When a source may be fetched again: the minimum age, the backoff, the schedule.

Pure functions of a source's stored state and the clock (contract §4):

- on demand, a source is due when its last success is older than the
  minimum age (or it never succeeded) and, after a failure, its backoff has
  passed: 1 minute, doubling with each consecutive failure, capped at the
  minimum age;
- the scheduler fetches a source whose last success is older than the
  interval; after a failed attempt it waits one interval from that attempt.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from supporthub.vocabulary.models import SourceState

__all__ = [
    "backoff",
    "due_on_demand",
    "due_scheduled",
    "refreshable_at",
    "scheduled_at",
]

_FIRST_BACKOFF = dt.timedelta(minutes=1)
# 2**20 minutes is already two years; larger exponents only risk overflow.
_MAX_DOUBLINGS = 20


def backoff(failures: int, min_age: dt.timedelta) -> dt.timedelta:
    """How long an on-demand refresh leaves a failing source alone."""
    if failures <= 0:
        return dt.timedelta(0)
    doubled: dt.timedelta = _FIRST_BACKOFF * 2 ** min(failures - 1, _MAX_DOUBLINGS)
    return min(doubled, min_age)


def refreshable_at(state: SourceState | None, min_age: dt.timedelta) -> dt.datetime | None:
    """When an on-demand refresh may fetch the source again; ``None``: already."""
    if state is None:
        return None
    times = []
    if state.last_success_at is not None:
        times.append(state.last_success_at + min_age)
    if state.consecutive_failures and state.last_attempt_at is not None:
        times.append(state.last_attempt_at + backoff(state.consecutive_failures, min_age))
    return max(times, default=None)


def due_on_demand(state: SourceState | None, now: dt.datetime, min_age: dt.timedelta) -> bool:
    """Whether ``/refresh`` (or ``supporthub refresh`` without ``--force``) fetches it."""
    when = refreshable_at(state, min_age)
    return when is None or when <= now


def scheduled_at(state: SourceState | None, interval: dt.timedelta) -> dt.datetime | None:
    """When the scheduler fetches the source next; ``None``: at once."""
    if state is None:
        return None
    if state.consecutive_failures and state.last_attempt_at is not None:
        return state.last_attempt_at + interval
    if state.last_success_at is None:
        return None
    return state.last_success_at + interval


def due_scheduled(state: SourceState | None, now: dt.datetime, interval: dt.timedelta) -> bool:
    """Whether the scheduled refresh fetches it."""
    when = scheduled_at(state, interval)
    return when is None or when <= now


def earliest(times: Iterable[dt.datetime | None], now: dt.datetime) -> dt.datetime:
    """The first of ``times``, where ``None`` means ``now``."""
    return min((now if t is None else t for t in times), default=now)
