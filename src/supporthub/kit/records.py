"""A CRM record format declared once.

A :class:`RecordFormat` is a list of :class:`Field` declarations (name, JSON
type, whether it may be null or absent, a length bound, allowed values) plus
one mapping function from a typed record to a :class:`~supporthub.Case` or
:class:`~supporthub.Tombstone`. From the declaration come:

- a msgspec struct and a page decoder, so that a clean page is type-checked
  in C while it is parsed (the fast path);
- the record-by-record reader that a page with any malformed record falls
  back to: it checks the same declaration field by field, skips and counts
  the malformed records, and says why in words that name the field, never
  its value (hub contract §4).

The mapping runs on the same typed record in both paths, so they cannot
disagree on what a good record means.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import repeat
from operator import attrgetter
from typing import Annotated, Any, Literal
from urllib.parse import quote

import attrs
import msgspec
import orjson

from supporthub.kit.adapter import Batch, BatchBuilder
from supporthub.kit.fields import MAX_FIELD_LENGTH, _type_name, read_optional_str, read_timestamp
from supporthub.kit.watermark import Watermark
from supporthub.vocabulary.errors import MalformedPage, MalformedRecord, SourceError
from supporthub.vocabulary.models import Case, Tombstone

__all__ = [
    "CustomFields",
    "DecodedPage",
    "Field",
    "RecordFormat",
    "case_url",
    "custom_field_ids",
    "id_field",
    "parse_iso_timestamp",
    "parse_timestamp",
]

#: The JSON types a field may be declared with.
Kind = Literal["str", "int", "bool", "timestamp", "object", "list[str]", "list[object]", "any"]

_EXPECTED: Mapping[str, str] = {
    "str": "a string",
    "int": "an integer",
    "bool": "a boolean",
    "timestamp": "a timestamp",
    "object": "an object",
    "any": "a value",
    "list[str]": "a list of strings",
    "list[object]": "a list of objects",
}
_CHECKS: Mapping[str, Callable[[Any], bool]] = {
    "str": lambda v: type(v) is str,
    "int": lambda v: type(v) is int,
    "bool": lambda v: type(v) is bool,
    "timestamp": lambda v: type(v) is str,
    "object": lambda v: type(v) is dict,
    "list[str]": lambda v: type(v) is list and all(type(x) is str for x in v),
    "list[object]": lambda v: type(v) is list and all(type(x) is dict for x in v),
    "any": lambda v: True,
}
_TYPES: Mapping[str, Any] = {
    "str": str,
    "int": int,
    "bool": bool,
    "timestamp": str,
    "object": dict[str, Any],
    "list[str]": list[str],
    "list[object]": list[dict[str, Any]],
    "any": Any,
}
_fromisoformat = dt.datetime.fromisoformat
_updated_at, _deleted_at = attrgetter("updated_at"), attrgetter("deleted_at")
#: Records mapped between two pauses of the mapping (see :meth:`RecordFormat.read_typed`).
_SLICE = 200
_UTC = dt.UTC


def parse_timestamp(text: Any, field: str) -> dt.datetime:
    """An ISO 8601 timestamp with an offset as aware UTC, fast for the usual forms.

    What is not plainly ``YYYY-MM-DDTHH:MM:SS[.f]`` with ``Z``, ``±HH:MM`` or
    ``±HHMM`` goes through :func:`~supporthub.read_timestamp`, which says in
    words what is wrong (the C parser alone also takes week dates and more).

    :raises MalformedRecord: the value is not such a timestamp.
    """
    # Character checks instead of a regular expression: this runs twice per
    # record, and fromisoformat checks the digits between them.
    if (
        type(text) is str
        and len(text) >= 20
        and text[10] == "T"
        and text[7] == "-"
        and text[16] == ":"
        and (text[-1] == "Z" or text[-5] in "+-" or (text[-6] in "+-" and text[-3] == ":"))
        and "," not in text
    ):
        try:
            parsed = _fromisoformat(text)
        except ValueError:
            pass
        else:
            zone = parsed.tzinfo
            if zone is _UTC:
                return parsed
            if zone is not None:
                return parsed.astimezone(_UTC)
    return read_timestamp({field: text}, field)


def parse_iso_timestamp(text: Any, field: str) -> dt.datetime:
    """Any ISO 8601 timestamp :meth:`datetime.fromisoformat` reads, with an offset, as UTC.

    The lenient sibling of :func:`parse_timestamp` (week dates, a space for
    ``T``, any offset form), for a CRM whose adapter always took what the C
    parser takes; declare such a field ``Field(..., strict=False)``.

    :raises MalformedRecord: it does not parse, or has no offset.
    """
    try:
        parsed = _fromisoformat(text)
    except (TypeError, ValueError):
        return read_timestamp({field: text}, field)  # raises, in words
    zone = parsed.tzinfo
    if zone is _UTC:
        return parsed
    if zone is not None:
        return parsed.astimezone(_UTC)
    return read_timestamp({field: text}, field)


@attrs.frozen
class Field:
    """One field of a record, as the CRM's spec types it.

    :ivar kind: its JSON type; ``timestamp`` is a string that must parse
        (the mapping parses it with :func:`parse_timestamp`, or with
        :func:`parse_iso_timestamp` when not ``strict``).
    :ivar required: present and not null; otherwise absent and null are allowed.
    :ivar nullable: whether null is allowed (default: when not ``required``);
        ``required=False, nullable=False`` is a field that may be left out
        but never null.
    :ivar max_length: longest string allowed.
    :ivar choices: the only values allowed.
    :ivar core: needed for a tombstone too; checked before the rest.
    :ivar absent: the words for a required field that is missing or null,
        instead of "is null, expected …".
    :ivar wrong: the words for a wrong type, instead of "is a number, expected …".
    :ivar wrong_item: the words for a list with an entry of the wrong type.
    """

    name: str
    kind: Kind = "str"
    required: bool = True
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    core: bool = False
    absent: str | None = None
    wrong: str | None = None
    wrong_item: str | None = None
    default: Any = None
    nullable: bool | None = None
    strict: bool = True

    @property
    def may_be_null(self) -> bool:
        """Whether null is allowed."""
        return not self.required if self.nullable is None else self.nullable

    def check(self, record: Mapping[str, Any]) -> None:
        """Raise :class:`MalformedRecord` when ``record`` breaks this declaration."""
        value = record.get(self.name)
        if value is None:
            if self.may_be_null or not (self.required or self.name in record):
                return
            absent = self.absent or f"is null, expected {_EXPECTED[self.kind]}"
            raise MalformedRecord(f"{self.name} {absent}")
        if not _CHECKS[self.kind](value):
            if self.kind.startswith("list"):  # "tags is not a list of strings"
                item = f"holds an entry that is not {_EXPECTED[self.kind[5:-1]]}"
                wrong = self.wrong_item or item if type(value) is list else self.wrong
                raise MalformedRecord(f"{self.name} {wrong or 'is not ' + _EXPECTED[self.kind]}")
            raise MalformedRecord(
                f"{self.name} {self.wrong}"
                if self.wrong
                else f"{self.name} is {_type_name(value)}, expected {_EXPECTED[self.kind]}"
            )
        if self.kind == "timestamp":
            (parse_timestamp if self.strict else parse_iso_timestamp)(value, self.name)
        if self.choices and value not in self.choices:
            shown = value if len(value) <= 32 else value[:32] + "…"
            raise MalformedRecord(f"{self.name} {shown!r} is not one of {', '.join(self.choices)}")
        if self.max_length is not None and len(value) > self.max_length:
            raise MalformedRecord(f"{self.name} is longer than {self.max_length} characters")

    def annotation(self) -> Any:
        """The msgspec type of this field."""
        base: Any = Literal[self.choices] if self.choices else _TYPES[self.kind]
        if self.max_length is not None:
            base = Annotated[base, msgspec.Meta(max_length=self.max_length)]
        return base | None if self.may_be_null else base


def id_field(name: str, kind: Literal["str", "int"] = "str", **options: Any) -> Field:
    """The record's id: required, never empty, at most 255 characters."""
    return Field(
        name, kind, core=True, max_length=MAX_FIELD_LENGTH if kind == "str" else None, **options
    )


@attrs.frozen
class DecodedPage:
    """One listing page: its records and the other fields of its envelope."""

    records: list[Any]
    envelope: Mapping[str, Any]
    typed: bool


Item = Case | Tombstone


class RecordFormat:
    """A record format declared once; see the module docstring.

    :param fields: the record's fields; the first is its id.
    :param to_item: the mapping of a typed record (attributes named as the
        fields) and a context (what the adapter passes, e.g. URLs) to a case
        or tombstone; it may raise :class:`MalformedRecord`.
    :param deleted: whether a raw record is a deletion; a tombstone needs
        only the ``core`` fields.
    :param records: the envelope key of the record list.
    :param envelope: the other envelope fields (``done``, ``meta``); a page
        without one declared an object is not a listing.
    :param not_a_listing: the words for an answer that is not a listing.
    :param not_an_object: the words for a record that is not a JSON object.
    :param time_field: the field whose time a skipped record still moves
        the watermark by, when it parses (``None``: a skipped one does not).
    """

    def __init__(
        self,
        name: str,
        fields: Sequence[Field],
        to_item: Callable[[Any, Any], Item],
        *,
        deleted: Callable[[Mapping[str, Any]], bool] = lambda record: False,
        records: str = "records",
        envelope: Sequence[Field] = (),
        time_field: str | None = None,
        not_a_listing: str | None = None,
        not_an_object: str = "the record is not a JSON object",
    ) -> None:
        self.name = name
        self.fields = tuple(fields)
        self.id = self.fields[0].name
        self._core = [f for f in self.fields if f.core]
        self._rest = [f for f in self.fields if not f.core]
        self.to_item = to_item
        self.deleted = deleted
        self.records_key = records
        self.envelope = tuple(envelope)
        self.time_field = time_field
        self.not_a_listing = not_a_listing or f"without a {records} list"
        self.not_an_object = not_an_object
        self.struct: type[msgspec.Struct] = msgspec.defstruct(
            f"{name}Record",
            [
                (f.name, f.annotation()) if f.required else (f.name, f.annotation(), f.default)
                for f in sorted(self.fields, key=lambda f: not f.required)
            ],
            frozen=True,
            gc=False,
        )
        page = msgspec.defstruct(
            f"{name}Page",
            [(records, list[self.struct])]  # type: ignore[name-defined]
            + [
                (f.name, f.annotation()) if f.required else (f.name, f.annotation(), None)
                for f in self.envelope
            ],
            gc=False,
        )
        self._decoder = msgspec.json.Decoder(page)
        self._blank_id = self.fields[0].kind == "str"

    def decode(self, body: bytes, title: str, path: str) -> DecodedPage:
        """Decode a page: typed when every part fits the declaration, else as plain JSON.

        The envelope's values are handed on unchecked when not typed: the
        paginator reading them says what is wrong.

        :raises MalformedPage: the body is not JSON or not a listing.
        """
        try:
            typed = self._decoder.decode(body)
        except (msgspec.DecodeError, ValueError):  # ValueError: bytes that are not UTF-8
            pass
        else:
            envelope = {f.name: getattr(typed, f.name) for f in self.envelope}
            return DecodedPage(getattr(typed, self.records_key), envelope, typed=True)
        try:
            page = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise MalformedPage(f"{title} answered {path} with a body that is not JSON") from None
        if (
            type(page) is not dict
            or type(page.get(self.records_key)) is not list
            or any(f.kind == "object" and type(page.get(f.name)) is not dict for f in self.envelope)
        ):
            raise MalformedPage(f"{title} answered {path} {self.not_a_listing}")
        return DecodedPage(
            page[self.records_key], {f.name: page.get(f.name) for f in self.envelope}, typed=False
        )

    def read(self, record: Any, context: Any) -> Item:
        """One raw (decoded JSON) record, checked field by field, as a case or tombstone.

        :raises MalformedRecord: the record breaks the declaration; the reason
            names the field, never its value.
        """
        if type(record) is not dict:
            raise MalformedRecord(self.not_an_object)
        for field in self._core:
            field.check(record)
        if self._blank_id and not record[self.id].strip():
            raise MalformedRecord(f"{self.id} is empty")
        if not self.deleted(record):
            for field in self._rest:
                field.check(record)
        values = {f.name: record.get(f.name, f.default) for f in self.fields}
        return self.to_item(self.struct(**values), context)

    def read_one(self, record: Any, context: Any) -> Item:
        """One raw record through the typed struct; what it refuses, :meth:`read` decides.

        :raises MalformedRecord: the record breaks the declaration.
        """
        try:
            return self.to_item(msgspec.convert(record, self.struct), context)
        except (msgspec.ValidationError, MalformedRecord):
            return self.read(record, context)

    def batches(
        self,
        pages: Iterable[DecodedPage],
        context: Any,
        source: str,
        mark: Watermark,
        dump: Callable[[dt.datetime], str],
    ) -> Iterator[Batch]:
        """One batch per page, each carrying the cursor ``dump`` makes of ``mark``.

        Only what was read moves the watermark; nothing read keeps the old cursor.
        """
        builder = BatchBuilder(source)
        for page in pages:
            batch, newest = self.read_page(page, context, builder)
            mark.see(newest)
            cursor = None if mark.moment is None else dump(mark.moment)
            yield Batch(batch.cases, batch.tombstones, batch.fetched, batch.skipped, cursor)

    def read_page(
        self, page: DecodedPage, context: Any, builder: BatchBuilder
    ) -> tuple[Batch, dt.datetime | None]:
        """A page as a batch (its cursor still to set) and the newest change it holds.

        A typed page is mapped record by record at C-decoded speed; at the
        first record the mapping refuses (or a blank id), the whole page is
        read again by :meth:`read`, the malformed records skipped and counted.
        """
        records = page.records
        if page.typed:
            fast = self.read_typed(records, context)
            if fast is not None:
                cases, tombstones, newest = fast
                batch = Batch(
                    cases=tuple(cases), tombstones=tuple(tombstones), fetched=len(records)
                )
                return batch, newest
            records = [msgspec.to_builtins(r) for r in records]
        return self._read_slowly(records, context, builder)

    def read_typed(
        self, records: list[Any], context: Any
    ) -> tuple[list[Case], list[Tombstone], dt.datetime | None] | None:
        """Cases, tombstones and the newest change of typed records, when all are good.

        ``None`` at the first record the mapping refuses, or a blank id:
        :meth:`read` decides. Written as whole-list steps (mapping passes,
        one split, ``max`` in C) because it runs once per record of every sync.
        """
        if self._blank_id:
            id_name = self.id
            for record in records:
                rid = getattr(record, id_name)
                if not rid or rid.isspace():
                    return None
        try:
            items: list[Any] = []
            for start in range(0, len(records), _SLICE):
                items += map(self.to_item, records[start : start + _SLICE], repeat(context))
                # The next page is being read on another thread (fetch_pages); pausing
                # here hands it the GIL for each chunk that came in, instead of after
                # the 5 ms switch interval, so reading and mapping truly overlap.
                time.sleep(0)
        except MalformedRecord:
            return None
        cases = [item for item in items if type(item) is Case]
        if len(cases) == len(items):
            tombstones: list[Tombstone] = []
            newest = max(map(_updated_at, cases), default=None)
        else:
            tombstones = [item for item in items if type(item) is not Case]
            moments = [*map(_updated_at, cases), *map(_deleted_at, tombstones)]
            newest = max((m for m in moments if m is not None), default=None)
        return cases, tombstones, newest

    def _read_slowly(
        self, records: list[Any], context: Any, builder: BatchBuilder
    ) -> tuple[Batch, dt.datetime | None]:
        newest: dt.datetime | None = None
        moment: dt.datetime | None
        for record in records:
            try:
                item = self.read(record, context)
            except MalformedRecord as problem:
                builder.skip(str(problem), record.get(self.id) if type(record) is dict else None)
                moment = self._skipped_time(record)
            else:
                if type(item) is Case:
                    builder.add_case(item)
                    moment = item.updated_at
                else:
                    assert isinstance(item, Tombstone)
                    builder.add_tombstone(item)
                    moment = item.deleted_at
            if moment is not None and (newest is None or moment > newest):
                newest = moment
        return builder.build(None), newest

    def _skipped_time(self, record: Any) -> dt.datetime | None:
        if self.time_field is None or type(record) is not dict:
            return None
        try:
            return parse_timestamp(record.get(self.time_field), self.time_field)
        except MalformedRecord:
            return None


def custom_field_ids(
    body: Any, *, title: str, path: str, listed: str, keys: Sequence[str]
) -> list[int]:
    """The ids of an account's custom fields, matched on their ``key``, in ``keys``' order.

    Ids differ from one account to the next, so an adapter looks them up at
    the start of every sync (Strawberry's ``/v1/ticket_fields``).

    :param listed: the answer's key of the field list (``ticket_fields``).
    :raises MalformedPage: the answer has not that shape, or an id is not a number.
    :raises SourceError: a key is missing or taken twice, or two keys share an
        id: the account is misconfigured.
    """
    fields = body.get(listed) if type(body) is dict else None
    if type(fields) is not list:
        raise MalformedPage(f"{title} answered {path} without a {listed} list")
    found = [f.get("key") if type(f) is dict else None for f in fields]
    wrong = f"{title} account is misconfigured: "
    ids: list[int] = []
    for key in keys:
        matching = [f.get("id") for f, k in zip(fields, found, strict=True) if k == key]
        if not matching:
            present = ", ".join(sorted(k for k in found if isinstance(k, str))) or "none"
            raise SourceError(
                f"{wrong}no {listed[:-1].replace('_', ' ')} has the key {key!r} (its keys: "
                f"{present}); without it no case can be consolidated by provider and error code"
            )
        if len(matching) > 1:
            raise SourceError(
                f"{wrong}{len(matching)} {listed.replace('_', ' ')} have the key {key!r}, so "
                "which one holds the value is unclear"
            )
        if type(matching[0]) is not int:
            raise MalformedPage(
                f"{title} answered {path} with an id of {key!r} that is not a number"
            )
        ids.append(matching[0])
    if len(set(ids)) != len(ids):
        raise SourceError(
            f"{wrong}its {' and '.join(keys)} {listed.replace('_', ' ')} have the same id"
        )
    return ids


def case_url(base: str, record_id: str) -> str:
    """``base`` followed by ``record_id``, percent-quoted unless plainly alphanumeric."""
    if record_id.isalnum() and record_id.isascii():
        return base + record_id
    return base + quote(record_id, safe="")


class CustomFields:
    """Reads an account's custom fields from a record's list of ``{"id", "value"}``.

    A CRM whose fields are defined per account (Strawberry's ``custom_fields``)
    keeps the provider and error code in such a list; :func:`custom_field_ids`
    finds their ids. Calling it with the list gives each value in ``names``'
    order, ``None`` when absent: a string of at most ``max_length`` characters.

    :raises MalformedRecord: a value is not such a string; the reason names it.
    """

    def __init__(
        self, ids: Sequence[int], names: Sequence[str], max_length: int = MAX_FIELD_LENGTH
    ) -> None:
        self.ids, self.names, self.max_length = tuple(ids), tuple(names), max_length
        self._index = {field_id: i for i, field_id in enumerate(self.ids)}

    @classmethod
    def from_answer(
        cls, body: Any, *, title: str, path: str, listed: str, keys: Sequence[str]
    ) -> CustomFields:
        """The fields named ``keys`` in an answer listing the account's fields.

        :raises MalformedPage: the answer has not that shape (:func:`custom_field_ids`).
        :raises SourceError: the account is misconfigured.
        """
        ids = custom_field_ids(body, title=title, path=path, listed=listed, keys=keys)
        return cls(ids, keys)

    def __repr__(self) -> str:
        return f"CustomFields({dict(zip(self.names, self.ids, strict=True))})"

    def __call__(self, entries: Iterable[Mapping[str, Any]] | None) -> list[str | None]:
        """The values of the fields, checked, in ``names``' order."""
        values: list[Any] = [None] * len(self.ids)
        index, max_length = self._index, self.max_length
        for entry in entries or ():
            try:
                at = index.get(entry.get("id"))  # type: ignore[arg-type]
            except TypeError:  # an id that is a list or an object: not one of ours
                continue
            if at is not None:
                values[at] = entry.get("value")
        for value in values:
            if value is not None and (type(value) is not str or len(value) > max_length):
                for name, bad in zip(self.names, values, strict=True):
                    read_optional_str({name: bad}, name, max_length=max_length)  # raises
        return values
