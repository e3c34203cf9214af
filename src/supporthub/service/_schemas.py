"""JSON Schemas derived from the hub's attrs classes, for the OpenAPI document.

One declaration, two uses: an attrs class and how the converter sends it
(:data:`supporthub.serialize.SENT`) make both the JSON the service answers
and the schema that describes it; a request body's attrs class makes both
the schema of the body and its check (``_bodies.py``). What is read:

- **names**: answers use the converter's JSON names (camelCase, the renames
  of ``SENT``); request bodies use camelCase, or ``metadata={"json": name}``.
- **types**: the annotations: ``str``, ``int``, ``float``, ``bool``,
  datetimes (UTC strings), ``X | None`` (nullable), ``Literal[...]`` and
  enums (their values), ``tuple[X, ...]``, ``Mapping[str, X]``, unions and
  other attrs classes (a ``$ref`` to their own schema). A sentinel type such
  as :data:`supporthub.vocabulary.work.UNSET`'s only stands for "left out".
- **descriptions**: the class docstring's text before its fields, and one
  ``:ivar name: text`` line (continued by indented lines) per field; a sent
  property's docstring.
- **constraints**: ``metadata`` keys ``min_length``, ``max_length``,
  ``pattern``, ``minimum``, ``maximum``, ``min_items``, ``max_items`` of an
  attrs field.
- **required**: in an answer, every field the converter always sends (all
  but ``omit_if_default`` ones) and the sent properties, so a field that
  disappears from the answers fails the document check of the tests; in a
  request body, the fields without a default.

Why a small generator rather than a library: apischema and pydantic's
``TypeAdapter`` read attrs classes only partly and know nothing of the cattrs
renames, and msgspec's schemas are for its own ``Struct`` types; each would
need the names, the omitted defaults and the sent properties restated for
it, which is the duplication this module removes.
"""

from __future__ import annotations

import collections.abc
import datetime as dt
import enum
import inspect
import re
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal, get_args, get_origin

import attrs

from supporthub.serialize import SENT, Sent

__all__ = [
    "component_schemas",
    "describe",
    "field_docs",
    "request_fields",
    "request_schema",
    "response_schema",
    "schema_name",
    "type_schema",
]

#: Schema names that differ from the class name (kept from the hand-written document).
_NAMES: Mapping[str, str] = {"Page": "Listing"}
_CONSTRAINTS = {
    "min_length": "minLength",
    "max_length": "maxLength",
    "pattern": "pattern",
    "minimum": "minimum",
    "maximum": "maximum",
    "min_items": "minItems",
    "max_items": "maxItems",
}
_IVAR = re.compile(r"^:ivar (\w+):\s*(.*)$")


def schema_name(cls: type[Any]) -> str:
    """The name of ``cls``'s schema under ``#/components/schemas``."""
    return _NAMES.get(cls.__name__, cls.__name__)


def _ref(cls: type[Any]) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{schema_name(cls)}"}


_JSON_WORDS = {"`None`": "null", "`True`": "`true`", "`False`": "`false`"}


def _markdown(text: str) -> str:
    """Docstring text as the document's Markdown: one line, JSON words, a capital first."""
    text = re.sub(r":\w+:`~?(?:[\w.]+\.)?([^`]+)`", r"`\1`", text)
    text = " ".join(text.replace("``", "`").split())
    for python, json in _JSON_WORDS.items():
        text = text.replace(python, json)
    return text[:1].upper() + text[1:]


def _docs(cls: type[Any]) -> tuple[str, Mapping[str, str]]:
    lines = inspect.cleandoc(cls.__doc__ or "").splitlines()
    head: list[str] = []
    fields: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        match = _IVAR.match(line)
        if match:
            current = fields.setdefault(match[1], [])
            current.append(match[2])
        elif current is not None and line.startswith(" "):
            current.append(line)
        else:
            current = None
            head.append(line)
    return _markdown("\n".join(head)), {k: _markdown(" ".join(v)) for k, v in fields.items()}


def describe(cls: type[Any]) -> str:
    """The class docstring's text before its ``:ivar`` lines, as Markdown."""
    return _docs(cls)[0]


def field_docs(cls: type[Any]) -> Mapping[str, str]:
    """Each documented field's ``:ivar`` text, by attribute name (base classes' too)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if attrs.has(klass):
            docs.update(_docs(klass)[1])
    return docs


def _sentinel(kind: Any) -> bool:
    """A one-member enum stands for "left out" (``UNSET``), not for a value."""
    return isinstance(kind, type) and issubclass(kind, enum.Enum) and len(kind) == 1


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str):
        nullable = {**schema, "type": [kind, "null"]}
        if "enum" in schema:
            nullable["enum"] = [*schema["enum"], None]
        return nullable
    if "anyOf" in schema:
        return {**schema, "anyOf": [*schema["anyOf"], {"type": "null"}]}
    return {"anyOf": [schema, {"type": "null"}]}


def _container_schema(origin: Any, args: tuple[Any, ...], found: set[type[Any]]) -> dict[str, Any]:
    if origin is tuple and args[1:] != (Ellipsis,):  # fixed length: tuple[str, str]
        item = type_schema(args[0], found)
        return {"type": "array", "items": item, "minItems": len(args), "maxItems": len(args)}
    if origin in (tuple, list, collections.abc.Sequence, frozenset, set):
        return {"type": "array", "items": type_schema(args[0], found)}
    if origin in (dict, collections.abc.Mapping):
        return {"type": "object", "additionalProperties": type_schema(args[1], found)}
    raise TypeError(f"no JSON schema for {origin!r}[{args!r}]")


def type_schema(kind: Any, found: set[type[Any]]) -> dict[str, Any]:
    """The schema of a Python type; attrs classes met are added to ``found``."""
    origin, args = get_origin(kind), get_args(kind)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in args if not _sentinel(arg)]
        nullable = type(None) in members
        rest = [arg for arg in members if arg is not type(None)]
        if len(rest) == 1:
            schema = type_schema(rest[0], found)
        else:
            schema = {"anyOf": [type_schema(arg, found) for arg in rest]}
        return _or_null(schema) if nullable else schema
    if origin is Literal:
        kind_of = {bool: "boolean", int: "integer", str: "string"}
        literal: dict[str, Any] = {"type": kind_of[type(args[0])]}
        if len(args) == 1:
            return {**literal, "const": args[0]}
        return {**literal, "enum": list(args)}
    if origin is not None:
        return _container_schema(origin, args, found)
    if kind is type(None):
        return {"type": "null"}
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return {"type": "string", "enum": [member.value for member in kind]}
    if isinstance(kind, type) and attrs.has(kind):
        found.add(kind)
        return _ref(kind)
    simple = {
        str: {"type": "string"},
        bool: {"type": "boolean"},
        int: {"type": "integer"},
        float: {"type": "number"},
        dt.datetime: {
            "type": "string",
            "format": "date-time",
            "description": "UTC, ending in `Z`.",
        },
        dt.date: {"type": "string", "format": "date"},
    }
    if kind in simple:
        return dict(simple[kind])
    raise TypeError(f"no JSON schema for {kind!r}")


def _described(schema: dict[str, Any], text: str | None) -> dict[str, Any]:
    return {**schema, "description": text} if text else schema


def _field_schema(
    cls: type[Any], field: attrs.Attribute[Any], kind: Any, found: set[type[Any]]
) -> dict[str, Any]:
    schema = type_schema(kind, found)
    for key, name in _CONSTRAINTS.items():
        if key in field.metadata:
            schema[name] = field.metadata[key]
    return _described(schema, field_docs(cls).get(field.name))


def response_schema(cls: type[Any], found: set[type[Any]]) -> dict[str, Any]:
    """The schema of ``cls`` as the converter sends it (:data:`~supporthub.serialize.SENT`)."""
    sent: Sent = SENT[cls]
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in attrs.fields(cls):
        name = sent.json_name(field.name)
        properties[name] = _field_schema(cls, field, hints[field.name], found)
        if field.name not in sent.omit_if_default:
            required.append(name)
    for attribute in sent.properties:
        getter = getattr(cls, attribute).fget
        kind = typing.get_type_hints(getter)["return"]
        name = sent.json_name(attribute)
        doc = _markdown(inspect.getdoc(getter) or "")
        properties[name] = _described(type_schema(kind, found), doc)
        required.append(name)
    return _described(
        {"type": "object", "required": required, "properties": properties}, describe(cls)
    )


def component_schemas(roots: Iterable[type[Any]]) -> dict[str, Any]:
    """The schema of every class in ``roots`` and of every class they refer to."""
    schemas: dict[str, Any] = {}
    pending = list(roots)
    done: set[type[Any]] = set()
    while pending:
        cls = pending.pop()
        if cls in done:
            continue
        done.add(cls)
        found: set[type[Any]] = set()
        schemas[schema_name(cls)] = response_schema(cls, found)
        pending += found - done
    return dict(sorted(schemas.items()))


def _json_default(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def request_fields(cls: type[Any]) -> list[tuple[str, attrs.Attribute[Any], Any]]:
    """Each field of a request body class: (JSON name, attrs field, type)."""
    hints = typing.get_type_hints(cls)
    return [
        (field.metadata.get("json") or Sent().json_name(field.name), field, hints[field.name])
        for field in attrs.fields(cls)
    ]


def request_schema(cls: type[Any], description: str | None = None) -> dict[str, Any]:
    """The schema of a request body declared as attrs class ``cls``: unknown fields refused."""
    found: set[type[Any]] = set()
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, field, kind in request_fields(cls):
        schema = _field_schema(cls, field, kind, found)
        if field.default is attrs.NOTHING:
            required.append(name)
        elif not _sentinel(type(field.default)):
            schema["default"] = _json_default(field.default)
        properties[name] = schema
    if found:
        raise TypeError(f"{cls.__name__}: a request body holds no nested objects")
    return _described(
        {
            "type": "object",
            "required": required,
            "additionalProperties": False,
            "properties": properties,
        },
        description or describe(cls),
    )
