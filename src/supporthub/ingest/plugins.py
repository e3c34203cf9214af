"""The plug-in manager: finds plug-ins, collects adapters and key rules.

Plug-ins are found through the ``supporthub`` entry-point group when
:func:`load_plugins` (or :func:`make_plugin_manager`) runs, never at import
time. ``SUPPORTHUB_BLOCKED_PLUGINS`` keeps named ones out. A hook
implementation whose name matches no hook fails at start-up, not silently.
"""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Iterable, Mapping

import attrs
import pluggy

from supporthub import hookspecs
from supporthub.grouping.consolidate import KeyPipeline, KeyRule
from supporthub.ingest import default_plugin as _default_plugin
from supporthub.kit.adapter import Adapter, SourceConfig
from supporthub.vocabulary.errors import ConfigurationError, PluginError
from supporthub.vocabulary.settings import Settings

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginInfo",
    "collect_adapters",
    "collect_key_pipeline",
    "list_plugins",
    "load_plugins",
    "make_plugin_manager",
    "source_config",
]

#: The entry-point group plug-ins register under; also the project name.
ENTRY_POINT_GROUP = "supporthub"

_DEFAULT_PLUGINS = (_default_plugin,)
_global_lock = threading.Lock()
_global_manager: pluggy.PluginManager | None = None


def make_plugin_manager(
    *, entry_points: bool = True, blocked: Iterable[str] = ()
) -> pluggy.PluginManager:
    """A new plug-in manager with the hookspecs and the core's default plug-in.

    :param entry_points: also load installed plug-ins from the entry points.
    :param blocked: entry-point names not to load.
    """
    manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
    manager.add_hookspecs(hookspecs)
    for plugin in _DEFAULT_PLUGINS:
        manager.register(plugin, name=plugin.__name__)
    for name in blocked:
        manager.set_blocked(name)
    if entry_points:
        manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    manager.check_pending()
    return manager


def load_plugins(settings: Settings | None = None) -> pluggy.PluginManager:
    """The process-wide plug-in manager, created once (idempotent)."""
    global _global_manager  # noqa: PLW0603 - one manager per process, like pytest's
    with _global_lock:
        if _global_manager is None:
            blocked = settings.blocked_plugins if settings else ()
            _global_manager = make_plugin_manager(blocked=blocked)
        return _global_manager


def collect_adapters(manager: pluggy.PluginManager) -> dict[str, type[Adapter]]:
    """Every adapter class the plug-ins register, by name.

    :raises PluginError: a class that is not an :class:`Adapter`, breaks its
        contract, or takes a name already taken.
    """
    adapters: dict[str, type[Adapter]] = {}

    def register(adapter: type[Adapter]) -> None:
        if not (isinstance(adapter, type) and issubclass(adapter, Adapter)):
            raise PluginError(f"register_adapters got {adapter!r}, not an Adapter subclass")
        adapter.check_class()
        existing = adapters.get(adapter.name)
        if existing is not None and existing is not adapter:
            raise PluginError(
                f"two adapters are named {adapter.name!r}: "
                f"{existing.__module__}.{existing.__qualname__} and "
                f"{adapter.__module__}.{adapter.__qualname__}"
            )
        adapters[adapter.name] = adapter

    manager.hook.register_adapters(register=register)
    return dict(sorted(adapters.items()))


def collect_key_pipeline(manager: pluggy.PluginManager, settings: Settings) -> KeyPipeline:
    """The key rules every plug-in registers, in order.

    :raises PluginError: something registered is not a :class:`KeyRule`.
    """
    rules: list[KeyRule] = []

    def register(rule: KeyRule) -> None:
        if not isinstance(rule, KeyRule):
            raise PluginError(f"register_key_rules got {rule!r}, not a KeyRule instance")
        rules.append(rule)

    # pluggy calls the last registered first; reverse so the core's default
    # rule comes before third parties when their orders tie.
    manager.hook.register_key_rules(register=register, settings=settings)
    return KeyPipeline(reversed(rules))


def source_config(adapter: type[Adapter], environ: Mapping[str, str]) -> SourceConfig | None:
    """The adapter's settings from ``SUPPORTHUB_<NAME>_<SETTING>``; ``None`` if not enabled."""
    values: dict[str, str] = {}
    missing: list[str] = []
    for setting in adapter.settings:
        value = environ.get(setting.variable(adapter.name), "").strip() or setting.default
        if value:
            values[setting.name] = value
        elif setting.required:
            missing.append(setting.name)
    if adapter.enabling not in values:
        return None
    for setting in adapter.settings:
        if setting.http_url and setting.name in values:
            _check_http_url(setting.variable(adapter.name), values[setting.name])
    return SourceConfig(adapter.name, values, tuple(missing))


def _check_http_url(variable: str, value: str) -> None:
    # Refused at start-up: httpx would fail every refresh as if the CRM were down.
    parts = urllib.parse.urlsplit(value)
    if parts.scheme.lower() in {"http", "https"} and parts.hostname:
        return
    # The value may hold credentials (user:password@host); show it only without them.
    shown = f"{value!r}" if "@" not in value else f"a {parts.scheme or 'schemeless'} URL"
    raise ConfigurationError(
        f"{variable} must be an http:// or https:// URL with a host, "
        f"like https://crm.example.com; got {shown}"
    )


@attrs.frozen
class PluginInfo:
    """One registered plug-in, for ``supporthub plugins``."""

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]


def list_plugins(manager: pluggy.PluginManager) -> list[PluginInfo]:
    """Every registered plug-in with its distribution, version and hooks."""
    distributions = {id(plugin): dist for plugin, dist in manager.list_plugin_distributions()}
    infos = []
    for name, plugin in manager.list_name_plugin():
        if plugin is None:  # blocked
            continue
        dist = distributions.get(id(plugin))
        hooks = tuple(sorted(caller.name for caller in manager.get_hookcallers(plugin) or ()))
        infos.append(
            PluginInfo(
                name=name,
                distribution=dist.metadata["name"] if dist else None,
                version=dist.version if dist else None,
                hooks=hooks,
            )
        )
    return sorted(infos, key=lambda info: info.name)
