"""The core ships its type information, so plug-ins are checked against it."""

from __future__ import annotations

import importlib.resources


def test_the_package_is_marked_typed() -> None:
    # Without py.typed, mypy treats `from supporthub import ...` as Any in
    # every plug-in: a typo in an adapter would pass the type check.
    assert importlib.resources.files("supporthub").joinpath("py.typed").is_file()
