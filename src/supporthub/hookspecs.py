"""Every hook a plug-in can implement, typed and documented.

A plug-in is a module or object with functions marked ``@hookimpl``, found
through the ``supporthub`` entry-point group::

    # pyproject.toml
    [project.entry-points.supporthub]
    banana = "supporthub_banana"

    # supporthub_banana/__init__.py
    from supporthub import hookimpl

    @hookimpl
    def register_adapters(register):
        register(BananaAdapter)

The core registers its own default behaviour through these same hooks
(``supporthub.ingest.default_plugin``), so a plug-in takes the path the core takes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

import pluggy

if TYPE_CHECKING:
    from supporthub.grouping.consolidate import KeyRule
    from supporthub.kit.adapter import Adapter
    from supporthub.vocabulary.models import RefreshReport
    from supporthub.vocabulary.settings import Settings

__all__ = ["DemoCrm", "hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("supporthub")
hookimpl = pluggy.HookimplMarker("supporthub")


@hookspec
def register_adapters(register: Callable[[type[Adapter]], None]) -> None:
    """Register CRM adapter classes.

    :param register: call it with each :class:`~supporthub.Adapter` subclass.
        It raises :class:`~supporthub.PluginError` for a class that breaks the
        adapter contract or a name another plug-in already took.
    """


@hookspec
def register_key_rules(register: Callable[[KeyRule], None], settings: Settings) -> None:
    """Register rules that build or change the aggregation key of a case.

    Rules run in ascending ``order`` (the default key is order 0, provider
    aliases order 10), each receiving the key so far; what the last returns
    decides the aggregated case. Changing a rule's ``version`` regroups every
    stored case at the next refresh.

    :param register: call it with each :class:`~supporthub.KeyRule` instance.
    :param settings: the hub's settings, for rules that are configured.
    """


@hookspec
def refresh_finished(report: RefreshReport) -> None:
    """Called after every refresh that ran, committed or not.

    For notifications and metrics. An exception here is logged and ignored:
    it never undoes the refresh.

    :param report: what the refresh did, source by source.
    """


class DemoCrm(Protocol):
    """A simulated CRM running for ``supporthub demo``.

    :ivar environment: the ``SUPPORTHUB_<NAME>_*`` settings that point the
        hub at it (URL and credentials).
    :ivar ui_url: where a person would open it, for the demo's banner.
    """

    environment: Mapping[str, str]
    ui_url: str

    def stop(self) -> None:
        """Stop it and free its port."""


@hookspec
def start_demo_crm(cases: int, seed: int) -> DemoCrm | None:
    """Start a simulated CRM for ``supporthub demo``; ``None`` if the plug-in has none.

    An adapter plug-in that ships a simulator implements this so that the
    demo shows its CRM with realistic data and no set-up.

    :param cases: how many cases the simulated CRM should hold.
    :param seed: makes the generated data repeatable.
    """
