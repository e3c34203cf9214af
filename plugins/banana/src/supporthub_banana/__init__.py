"""supporthub's Banana CRM plug-in: the adapter and a simulator of Banana's API.

Installed, it registers the ``banana`` source; set ``SUPPORTHUB_BANANA_URL``,
``SUPPORTHUB_BANANA_CLIENT_ID`` and ``SUPPORTHUB_BANANA_CLIENT_SECRET`` to
enable it. ``supporthub demo`` runs a simulated Banana tenant through
:func:`start_demo_crm`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from supporthub import Adapter, hookimpl
from supporthub_banana.adapter import BananaAdapter

if TYPE_CHECKING:
    from supporthub_banana.demo import BananaDemo

__all__ = ["BananaAdapter", "register_adapters", "start_demo_crm"]


@hookimpl
def register_adapters(register: Callable[[type[Adapter]], None]) -> None:
    """Register the Banana adapter."""
    register(BananaAdapter)


@hookimpl
def start_demo_crm(cases: int, seed: int) -> BananaDemo:
    """Start a simulated Banana tenant holding ``cases`` cases, timed relative to now."""
    # Imported here: the simulator and its data generator are for the demo only.
    from supporthub_banana.demo import start_demo  # noqa: PLC0415

    return start_demo(cases, seed)
