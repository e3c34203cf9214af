"""Timestamp formatting and parsing for the simulators, fast enough for a million records.

Times are integer milliseconds since the Unix epoch (UTC) everywhere inside
the simulators; only the wire formats below turn them into text.
"""

from __future__ import annotations

import re
import time
from calendar import timegm
from typing import Final

__all__ = [
    "format_offset_ms",
    "format_z_seconds",
    "parse_offset_ms",
    "parse_z_ns",
]

_DAY_S: Final = 86_400
_date_cache: dict[int, str] = {}


def _date_prefix(day: int) -> str:
    """``YYYY-MM-DDT`` for a day number since the epoch, cached: cases share days."""
    prefix = _date_cache.get(day)
    if prefix is None:
        t = time.gmtime(day * _DAY_S)
        prefix = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        _date_cache[day] = prefix
    return prefix


def format_offset_ms(ms: int, offset_minutes: int = 0) -> str:
    """Format as ``2026-11-20T10:00:00.000+0000``, shown at a numeric UTC offset.

    The instant stays the same whatever the offset: ``+0200`` shows a wall
    time two hours ahead of UTC.
    """
    secs, milli = divmod(ms, 1000)
    secs += offset_minutes * 60
    day, rest = divmod(secs, _DAY_S)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    sign = "-" if offset_minutes < 0 else "+"
    off_h, off_m = divmod(abs(offset_minutes), 60)
    return (
        f"{_date_prefix(day)}{hours:02d}:{minutes:02d}:{seconds:02d}.{milli:03d}"
        f"{sign}{off_h:02d}{off_m:02d}"
    )


def format_z_seconds(ms: int) -> str:
    """Format as ``2026-11-20T10:00:00Z``, dropping the milliseconds."""
    day, rest = divmod(ms // 1000, _DAY_S)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{_date_prefix(day)}{hours:02d}:{minutes:02d}:{seconds:02d}Z"


_OFFSET_RE: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})([+-])(\d{2})(\d{2})",
    re.ASCII,
)
_Z_RE: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z", re.ASCII
)


def parse_offset_ms(text: str) -> int:
    """Parse ``2026-11-20T10:00:00.000+0200`` back into epoch milliseconds.

    :raises ValueError: when the text is not in that exact shape.
    """
    match = _OFFSET_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"not a +hhmm timestamp: {text!r}")
    year, month, day, hour, minute, second, milli, sign, off_h, off_m = match.groups()
    secs = timegm((int(year), int(month), int(day), int(hour), int(minute), int(second), 0, 0, 0))
    offset = (int(off_h) * 60 + int(off_m)) * (-1 if sign == "-" else 1)
    return (secs - offset * 60) * 1000 + int(milli)


def parse_z_ns(text: str) -> int:
    """Parse ``2026-11-20T10:00:00Z`` or ``…:00.123Z`` into epoch nanoseconds.

    Strict: exactly that shape, and a real calendar date and time (no
    ``24:00``, no 31st of June).

    :raises ValueError: for anything else.
    """
    match = _Z_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"not an ISO 8601 UTC timestamp with Z: {text!r}")
    year, month, day, hour, minute, second, fraction = match.groups()
    fields = (int(year), int(month), int(day), int(hour), int(minute), int(second))
    # timegm accepts out-of-range fields (month 13, second 61); a round trip
    # through gmtime catches them.
    secs = timegm((*fields, 0, 0, 0))
    if time.gmtime(secs)[:6] != fields:
        raise ValueError(f"not a real date and time: {text!r}")
    nanos = int((fraction or "").ljust(9, "0"))
    return secs * 1_000_000_000 + nanos
