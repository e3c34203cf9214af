"""A simulated Strawberry account for ``supporthub demo``, with data as of now."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import attrs

from supporthub_strawberry.simulator import DEFAULT_API_KEY, StrawberrySimulator

__all__ = ["DemoStrawberry", "start_demo"]


@attrs.define
class DemoStrawberry:
    """A running simulator and the settings that point the hub at it.

    :ivar environment: ``SUPPORTHUB_STRAWBERRY_URL`` and ``_API_KEY``.
    :ivar ui_url: the agent page of the most recently updated ticket.
    """

    simulator: StrawberrySimulator
    environment: Mapping[str, str]
    ui_url: str

    def stop(self) -> None:
        """Stop serving and free the port."""
        self.simulator.stop()


def start_demo(cases: int, seed: int, *, host: str = "127.0.0.1") -> DemoStrawberry:
    """Start a Strawberry simulator on a free port with ``cases`` tickets.

    The tickets are dated relative to now (their newest change is just
    before it), so the demo's data looks fresh whatever the day.
    """
    anchor = dt.datetime.now(dt.UTC).replace(microsecond=0)
    simulator = StrawberrySimulator(
        n=cases, seed=seed, api_key=DEFAULT_API_KEY, host=host, port=0, anchor=anchor
    ).start()
    ids = simulator.ids()
    ui_url = f"{simulator.url}/agent/tickets/{ids[-1]}" if ids else simulator.url
    return DemoStrawberry(
        simulator=simulator,
        environment={
            "SUPPORTHUB_STRAWBERRY_URL": simulator.url,
            "SUPPORTHUB_STRAWBERRY_API_KEY": simulator.api_key,
        },
        ui_url=ui_url,
    )
