"""The core's own behaviour, registered through its own hooks.

The default aggregation key and the provider aliases are plug-in rules like
any other, so a third party extends the hub the way the core does.
"""

from __future__ import annotations

from collections.abc import Callable

from supporthub.grouping.consolidate import DefaultKey, KeyRule, ProviderAliases
from supporthub.hookspecs import hookimpl
from supporthub.vocabulary.settings import Settings


@hookimpl
def register_key_rules(register: Callable[[KeyRule], None], settings: Settings) -> None:
    """Register the default key and, when configured, the provider aliases."""
    register(DefaultKey())
    if settings.provider_aliases:
        register(ProviderAliases(settings.provider_aliases))
