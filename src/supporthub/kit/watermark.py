"""The watermark cursor: the newest ``(updated_at, id)`` a sync has read.

A :class:`CursorFormat` writes its moment as the cursor text a CRM's filter
takes (:data:`ZULU_CURSOR`, :data:`UNIX_SECONDS_CURSOR`) and reads a stored cursor back.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections.abc import Callable

import attrs

__all__ = ["UNIX_SECONDS_CURSOR", "ZULU_CURSOR", "CursorFormat", "Watermark"]

_ZULU = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z", re.ASCII)


@attrs.define
class Watermark:
    """The newest change read so far, and its record id.

    Serialized as ``<ISO 8601 UTC>|<id>`` (:meth:`dump`, :meth:`load`). The
    next sync asks the CRM for changes from :attr:`moment` **inclusive**
    (``modifiedSince``, ``updated_after``): records on the boundary come
    again, and the hub's upsert absorbs them, so a change made in the same
    instant as the last one read is never skipped.
    """

    moment: dt.datetime | None = None
    record_id: str | None = None

    def see(self, moment: dt.datetime | None, record_id: str | None = None) -> None:
        """Move forward to ``(moment, record_id)`` when it is newer."""
        if moment is None:
            return
        current = self.moment
        if current is None or (moment, record_id or "") > (current, self.record_id or ""):
            self.moment, self.record_id = moment, record_id

    def dump(self) -> str | None:
        """The cursor text; ``None`` when nothing was read."""
        if self.moment is None:
            return None
        stamp = self.moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        return f"{stamp}|{self.record_id or ''}"

    @classmethod
    def load(cls, cursor: str | None) -> Watermark:
        """The watermark a cursor stands for; an empty one for ``None`` or one not ours."""
        if cursor is None:
            return cls()
        stamp, _, record_id = cursor.partition("|")
        try:
            moment = dt.datetime.fromisoformat(stamp)
        except ValueError:
            return cls()
        if moment.tzinfo is None:
            return cls()
        return cls(moment.astimezone(dt.UTC), record_id or None)

    @staticmethod
    def zulu(moment: dt.datetime) -> str:
        """``moment`` in UTC with ``Z``, as ``modifiedSince`` filters take it.

        Milliseconds when that is exact, else microseconds: never rounded up,
        so an inclusive filter cannot skip the record the cursor came from.
        """
        moment = moment.astimezone(dt.UTC)
        text = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")
        return (text[:-3] if moment.microsecond % 1000 == 0 else text) + "Z"

    @staticmethod
    def from_zulu(cursor: str | None) -> dt.datetime | None:
        """The moment a :meth:`zulu` text stands for; ``None`` for ``None`` or another text."""
        if cursor is None or _ZULU.fullmatch(cursor) is None:
            return None
        try:
            return dt.datetime.fromisoformat(cursor[:-1]).replace(tzinfo=dt.UTC)
        except ValueError:
            return None


@attrs.frozen
class CursorFormat:
    """How a watermark's moment is written as a cursor, and read back.

    :ivar name: what the text is, for the warning about a cursor that is not.
    :ivar dump: the cursor text of a moment; never later than the moment,
        so that an inclusive filter cannot skip the record it came from.
    :ivar load: the moment a text stands for; ``None`` when not one of ours.
    """

    name: str
    dump: Callable[[dt.datetime], str]
    load: Callable[[str], dt.datetime | None]

    def resume(self, cursor: str | None, title: str) -> dt.datetime | None:
        """Where a sync starts: the stored cursor's moment, ``None`` to read everything.

        A stored cursor that is not one of ours (an older adapter wrote it)
        means reading everything again, with a warning.
        """
        if cursor is None:
            return None
        moment = self.load(cursor)
        if moment is None:
            logging.getLogger(f"supporthub.{title.lower()}").warning(
                "%s: the stored cursor is not %s; reading everything again", title, self.name
            )
        return moment


def _from_seconds(cursor: str) -> dt.datetime | None:
    if not (cursor.isascii() and cursor.isdigit()):
        return None
    try:
        return dt.datetime.fromtimestamp(int(cursor), dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None


#: ``2026-11-20T10:02:11.000Z`` (Banana's ``modifiedSince``).
ZULU_CURSOR = CursorFormat("an ISO 8601 UTC time", Watermark.zulu, Watermark.from_zulu)
#: Whole Unix seconds, floored (Strawberry's ``updated_after``): a fraction is read again.
UNIX_SECONDS_CURSOR = CursorFormat(
    "Unix seconds", lambda moment: str(math.floor(moment.timestamp())), _from_seconds
)
