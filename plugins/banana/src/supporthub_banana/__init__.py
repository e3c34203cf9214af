"""supporthub's Banana CRM plug-in: the adapter and a simulator of Banana's API.

Installed, it registers the ``banana`` source; set ``SUPPORTHUB_BANANA_URL``,
``SUPPORTHUB_BANANA_CLIENT_ID`` and ``SUPPORTHUB_BANANA_CLIENT_SECRET`` to
enable it.
"""

from __future__ import annotations

from collections.abc import Callable

from supporthub import Adapter, hookimpl
from supporthub_banana.adapter import BananaAdapter

__all__ = ["BananaAdapter", "register_adapters"]


@hookimpl
def register_adapters(register: Callable[[type[Adapter]], None]) -> None:
    """Register the Banana adapter."""
    register(BananaAdapter)
