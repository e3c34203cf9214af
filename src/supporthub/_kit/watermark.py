"""The watermark cursor: the newest ``(updated_at, id)`` a sync has read."""

from __future__ import annotations

import datetime as dt
import re

import attrs

__all__ = ["Watermark"]

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
