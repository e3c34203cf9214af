"""A simulated Banana tenant for ``supporthub demo``, with data that looks current."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import attrs

from supporthub_banana.simulator import BananaSimulator

__all__ = ["BananaDemo", "start_demo"]


@attrs.define
class BananaDemo:
    """A running simulator and the settings that point the hub at it.

    :ivar environment: ``SUPPORTHUB_BANANA_URL``, ``_CLIENT_ID`` and
        ``_CLIENT_SECRET`` for this simulator.
    :ivar ui_url: a case page a person can open.
    """

    environment: Mapping[str, str]
    ui_url: str
    simulator: BananaSimulator = attrs.field(repr=False)

    def stop(self) -> None:
        """Stop the simulator and free its port."""
        self.simulator.stop()


def start_demo(cases: int, seed: int, *, host: str = "127.0.0.1") -> BananaDemo:
    """Start a simulator with ``cases`` cases created and changed in the days before now.

    :param seed: the same seed gives the same cases (at other times of day).
    """
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    simulator = BananaSimulator(n=cases, seed=seed, host=host, anchor=now).start()
    first = next(iter(simulator.ids()), None)
    environment = {
        "SUPPORTHUB_BANANA_URL": simulator.url,
        "SUPPORTHUB_BANANA_CLIENT_ID": simulator.client_id,
        "SUPPORTHUB_BANANA_CLIENT_SECRET": simulator.client_secret,
    }
    ui_url = f"{simulator.url}/ui/cases/{first}" if first is not None else simulator.url
    return BananaDemo(environment=environment, ui_url=ui_url, simulator=simulator)
