"""The simulator clock and the timestamp wire formats."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from supporthub.testing.sim import (
    SimClock,
    format_offset_ms,
    format_z_seconds,
    parse_offset_ms,
    parse_z_ns,
)

INSTANT_MS = int(datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp()) * 1000


def test_ticks_strictly_increase_even_when_time_stands_still() -> None:
    clock = SimClock(wall_clock=lambda: 1000.0)
    ticks = [clock.tick() for _ in range(5)]
    assert ticks == [1_000_000, 1_000_001, 1_000_002, 1_000_003, 1_000_004]


def test_ticks_are_not_before_the_wall_clock() -> None:
    before = time.time()
    tick = SimClock().tick()
    assert tick >= before * 1000


def test_ticks_round_real_time_up_to_the_resolution() -> None:
    clock = SimClock(resolution_ms=1000, wall_clock=lambda: 1000.2)
    assert clock.tick() == 1_001_000
    assert clock.tick() == 1_002_000  # strictly after, still whole seconds


def test_ticks_come_after_the_floor() -> None:
    clock = SimClock(floor_ms=5_000_000_000_000, wall_clock=lambda: 1000.0)
    assert clock.tick() == 5_000_000_000_001
    clock.raise_floor(6_000_000_000_000)
    assert clock.tick() == 6_000_000_000_001
    assert clock.last_ms == 6_000_000_000_001


def test_ticks_are_unique_across_threads() -> None:
    clock = SimClock(wall_clock=lambda: 1.0)
    ticks: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        mine = [clock.tick() for _ in range(500)]
        with lock:
            ticks.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ticks)) == 2000


def test_resolution_must_be_positive() -> None:
    with pytest.raises(ValueError, match="resolution"):
        SimClock(resolution_ms=0)


def test_banana_format_and_back() -> None:
    assert format_offset_ms(INSTANT_MS + 123) == "2026-11-20T10:00:00.123+0000"
    assert format_offset_ms(INSTANT_MS, 120) == "2026-11-20T12:00:00.000+0200"
    assert format_offset_ms(INSTANT_MS, -330) == "2026-11-20T04:30:00.000-0530"
    for offset in (0, 120, -330):
        assert parse_offset_ms(format_offset_ms(INSTANT_MS + 7, offset)) == INSTANT_MS + 7


def test_strawberry_format_drops_milliseconds() -> None:
    assert format_z_seconds(INSTANT_MS + 999) == "2026-11-20T10:00:00Z"


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("2026-11-20T10:00:00Z", INSTANT_MS * 1_000_000),
        ("2026-11-20T10:00:00.123Z", INSTANT_MS * 1_000_000 + 123_000_000),
        ("2026-11-20T10:00:00.000000001Z", INSTANT_MS * 1_000_000 + 1),
    ],
)
def test_z_timestamps_parse(text: str, nanos: int) -> None:
    assert parse_z_ns(text) == nanos


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-20T10:00:00",
        "2026-11-20T10:00:00+00:00",
        "2026-11-20 10:00:00Z",
        "2026-11-20T10:00:00z",
        "2026-11-20T10:00Z",
        "2026-02-30T10:00:00Z",
        "2026-11-20T24:00:00Z",
        "2026-11-20T10:00:00.Z",
        "1732096800",
        "",
        "２０２６-11-20T10:00:00Z",
    ],
)
def test_z_timestamps_are_strict(text: str) -> None:
    with pytest.raises(ValueError, match=r"timestamp|date"):
        parse_z_ns(text)
