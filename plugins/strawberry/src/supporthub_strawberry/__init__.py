"""supporthub's Strawberry CRM plug-in: the adapter and a simulator of Strawberry's API.

Installed, it registers :class:`~supporthub_strawberry.adapter.StrawberryAdapter`
through the ``supporthub`` entry-point group; the source is enabled by
``SUPPORTHUB_STRAWBERRY_URL`` (with ``SUPPORTHUB_STRAWBERRY_API_KEY``).
"""

from __future__ import annotations

from collections.abc import Callable

from supporthub import Adapter, hookimpl
from supporthub_strawberry.adapter import StrawberryAdapter

__all__ = ["StrawberryAdapter", "register_adapters"]


@hookimpl
def register_adapters(register: Callable[[type[Adapter]], None]) -> None:
    """Register the Strawberry adapter.

    :param register: the hub's callback.
    """
    register(StrawberryAdapter)
