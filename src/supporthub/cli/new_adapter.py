"""``supporthub new-adapter NAME``: a new adapter plug-in package from the shipped template.

The template (``supporthub/kit/template/``, package data) is a complete,
pip-installable plug-in: an adapter, a simulator of the CRM built on
:mod:`supporthub.testing.sim`, and a test module that runs the adapter
contract suite (:class:`supporthub.testing.AdapterContract`), which passes
as generated. The author then changes the adapter and the simulator to
speak the real CRM's API, keeping the suite green.
"""

from __future__ import annotations

import importlib.metadata
import re
from importlib import resources
from pathlib import Path

from supporthub.vocabulary.errors import ConfigurationError

__all__ = ["TEMPLATE_FILES", "new_adapter"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

#: Template file → where it goes in the new package (``{name}`` filled in).
TEMPLATE_FILES: dict[str, str] = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "__init__.py.tmpl": "src/supporthub_{name}/__init__.py",
    "adapter.py.tmpl": "src/supporthub_{name}/adapter.py",
    "simulator.py.tmpl": "src/supporthub_{name}/simulator.py",
    "test_contract.py.tmpl": "tests/test_contract.py",
}


def new_adapter(name: str, directory: Path | str = ".") -> Path:
    """Write the package ``supporthub-<name>`` into ``directory``; return its folder.

    :param name: the source name, as an adapter's ``name``: lower-case
        letters, digits and ``_``, starting with a letter.
    :raises ConfigurationError: the name is not usable, an installed plug-in
        already uses it, or the folder exists.
    """
    if not _NAME.match(name):
        raise ConfigurationError(
            f"adapter name {name!r}: use lower-case letters, digits and _, "
            "starting with a letter (at most 32 characters)"
        )
    taken_by = _installed_owner(name)
    if taken_by is not None:
        raise ConfigurationError(
            f"adapter name {name!r} is taken by the installed plug-in {taken_by}; "
            "installing a second one would replace it: choose another name"
        )
    words = name.split("_")
    values = {
        "{{name}}": name,
        "{{NAME}}": name.upper(),
        "{{Class}}": "".join(word.capitalize() for word in words),
        "{{title}}": " ".join(word.capitalize() for word in words if word),
    }
    target = Path(directory) / f"supporthub-{name}"
    if target.exists():
        raise ConfigurationError(f"{target} exists already; choose another --dir or name")
    template = resources.files("supporthub") / "kit" / "template"
    for source, destination in TEMPLATE_FILES.items():
        text = (template / source).read_text(encoding="utf-8")
        for marker, value in values.items():
            text = text.replace(marker, value)
        path = target / destination.format(name=name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (target / "src" / f"supporthub_{name}" / "py.typed").write_text("")
    return target


def _installed_owner(name: str) -> str | None:
    """What installed already uses ``name`` (entry point, distribution or adapter), if any."""
    from supporthub.ingest.plugins import (  # noqa: PLC0415 - loads the plug-ins only when asked
        ENTRY_POINT_GROUP,
        collect_adapters,
        make_plugin_manager,
    )

    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name == name:
            return entry_point.dist.name if entry_point.dist else entry_point.value
    try:
        return importlib.metadata.distribution(f"supporthub-{name}").name
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        adapters = collect_adapters(make_plugin_manager())
    except Exception:  # a broken plug-in is not this command's business
        return None
    adapter = adapters.get(name)
    return None if adapter is None else f"{adapter.__module__} ({adapter.title})"
