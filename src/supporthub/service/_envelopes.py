"""The answers the service wraps around the library's values, declared once.

Each is an attrs class registered with the converter
(:func:`supporthub.serialize.declare`), so the endpoint sends it with
``to_json_dict`` and the OpenAPI document derives its schema from it, like
the library's own classes.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import attrs

from supporthub.grouping.overrides import Override
from supporthub.grouping.replay import ReplayDiff
from supporthub.serialize import Sent, declare
from supporthub.steering.upgrade import RulesUpgrade
from supporthub.vocabulary.replies import Reply
from supporthub.vocabulary.work import HistoryEntry

__all__ = ["History", "Overrides", "Replies", "RulesPreview", "Trend", "TrendDay"]

#: Days a trend covers, today included.
TREND_DAYS = 14


@attrs.frozen
class Overrides:
    """The operators' overrides, oldest first."""

    overrides: tuple[Override, ...]


@attrs.frozen
class Replies:
    """The replies of one aggregated case, newest first, without their target lists."""

    replies: tuple[Reply, ...]


@attrs.frozen
class History:
    """Every change of the work on one aggregated case.

    :ivar history: newest first.
    """

    history: tuple[HistoryEntry, ...]


@attrs.frozen
class TrendDay:
    """One UTC day of a trend.

    :ivar cases: its cases whose CRM ``createdAt`` falls on that day.
    """

    date: dt.date
    cases: int


@attrs.frozen
class Trend:
    """Cases created per day.

    :ivar days: the last 14 UTC days, oldest first, today last.
    """

    days: tuple[TrendDay, ...] = attrs.field(
        metadata={"min_items": TREND_DAYS, "max_items": TREND_DAYS}
    )


@attrs.frozen
class RulesPreview:
    """What regrouping under the configured rules would do, and the pending upgrade.

    :ivar applied: always ``False``: nothing changed.
    :ivar upgrade: the pending move to a new default rule set, which
        ``supporthub db upgrade`` applies (``pending`` false: none).
    """

    diff: ReplayDiff
    upgrade: RulesUpgrade
    applied: Literal[False] = False


for _envelope in (Overrides, Replies, History, TrendDay, Trend, RulesPreview):
    declare(_envelope, Sent())
