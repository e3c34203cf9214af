"""supporthub's Strawberry CRM plug-in: the adapter and a simulator of Strawberry's API.

Installed, it registers :class:`~supporthub_strawberry.adapter.StrawberryAdapter`
through the ``supporthub`` entry-point group; the source is enabled by
``SUPPORTHUB_STRAWBERRY_URL`` (with ``SUPPORTHUB_STRAWBERRY_API_KEY``).
For ``supporthub demo`` it starts a simulated Strawberry account.
"""

from __future__ import annotations

from collections.abc import Callable

from supporthub import Adapter, hookimpl
from supporthub.hookspecs import DemoCrm
from supporthub_strawberry.adapter import StrawberryAdapter

__all__ = ["StrawberryAdapter", "register_adapters", "start_demo_crm"]


@hookimpl
def register_adapters(register: Callable[[type[Adapter]], None]) -> None:
    """Register the Strawberry adapter.

    :param register: the hub's callback.
    """
    register(StrawberryAdapter)


@hookimpl
def start_demo_crm(cases: int, seed: int) -> DemoCrm:
    """Start a simulated Strawberry account for ``supporthub demo``.

    :param cases: how many tickets it holds.
    :param seed: makes the generated tickets repeatable.
    """
    # Imported here: the simulator is only needed by the demo, not by a sync.
    from supporthub_strawberry.demo import start_demo  # noqa: PLC0415

    return start_demo(cases, seed)
