"""The core ships its type information, so plug-ins are checked against it."""

from __future__ import annotations

import datetime as dt
import importlib.resources
import inspect

import attrs
import pytest

from supporthub import Case, Status


def test_the_package_is_marked_typed() -> None:
    # Without py.typed, mypy treats `from supporthub import ...` as Any in
    # every plug-in: a typo in an adapter would pass the type check.
    assert importlib.resources.files("supporthub").joinpath("py.typed").is_file()


def test_a_case_is_made_as_attrs_would_make_it() -> None:
    # Case's __init__ fills its slots directly (for speed): same signature, same object.
    now = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
    values = {
        "source": "banana", "source_id": "5003", "number": "1026", "subject": "Declined",
        "status": Status.OPEN, "priority": None, "provider": "Acme", "error_code": "E-1042",
        "created_at": now, "updated_at": now, "url": None,
    }  # fmt: skip
    by_name, by_position = Case(**values), Case(*values.values())
    assert by_name == by_position and hash(by_name) == hash(by_position)
    assert attrs.asdict(by_name, recurse=False) == values
    assert list(inspect.signature(Case).parameters) == [f.name for f in attrs.fields(Case)]
    assert attrs.evolve(by_name, subject="other").subject == "other"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        by_name.subject = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Case(*list(values.values())[:-1])  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Case(**values, email="jane@example.com")  # type: ignore[call-arg]
