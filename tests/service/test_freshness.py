"""The data tokens shared among list views: never a reading that began before the request."""

from __future__ import annotations

import asyncio
import threading
import time

from supporthub.service._freshness import TokenReadings


def test_a_reading_serves_only_requests_that_came_before_it_began() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def read() -> tuple[str | None, str | None]:
        with lock:
            number = len(started)
            started.append(number)
        time.sleep(0.01)
        return str(number), None

    readings = TokenReadings(read)

    async def ask(delay: float) -> tuple[int, int]:
        await asyncio.sleep(delay)
        before = len(started)  # readings that had begun when this request came
        tokens = await readings.tokens()
        assert tokens is not None and tokens[0] is not None
        return before, int(tokens[0])

    async def many() -> list[tuple[int, int]]:
        return await asyncio.gather(*(ask(i * 0.002) for i in range(40)))

    answers = asyncio.run(many())
    assert all(reading >= before for before, reading in answers)
    assert len(started) < 20  # shared: far fewer readings than requests


def test_a_failed_reading_sends_its_requests_the_long_way() -> None:
    def read() -> tuple[str | None, str | None]:
        raise RuntimeError("the database is down")

    async def ask() -> object:
        return await TokenReadings(read).tokens()

    assert asyncio.run(ask()) is None
