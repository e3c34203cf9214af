"""The query parameters of the HTTP API, declared once.

Each :class:`Param` says a parameter's HTTP name, the Python name the
library knows it by, its type, bounds or allowed values, and its
description. From these one place derives:

- the request parser: unknown names (with "did you mean"), repeated
  parameters, overlong values, strings to numbers; the result is the
  library's typed :class:`~supporthub.query.listing.SearchQuery` (or paging values);
- the answers' words: the library names Python parameters
  (``cases_limit``); :func:`http_words` says them with their HTTP names
  (``casesLimit``), so an HTTP caller reads the names it sent;
- the OpenAPI document's query parameters (:meth:`Param.openapi`).

The rules that hold for every caller (bounds, enums, keys, cursors) stay in
the library; a string is only turned into the type the library checks.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import attrs

from supporthub.query.listing import (
    MAX_LIMIT,
    MAX_VALUE_LENGTH,
    SORTS,
    CursorCodec,
    ParameterError,
    Query,
    SearchQuery,
    bounded,
    resolve,
)
from supporthub.vocabulary.errors import InvalidQuery
from supporthub.vocabulary.models import Status
from supporthub.vocabulary.work import Lifecycle, WorkState

__all__ = [
    "CASE_PAGING",
    "FILTERS",
    "LISTING",
    "OVERRIDES_ALL",
    "REPLY_SCOPE",
    "Param",
    "case_paging",
    "http_words",
    "listing_query",
    "parse_params",
]

_INTEGER = re.compile(r"^[0-9]+$")


@attrs.frozen
class Param:
    """One query parameter as the HTTP API takes it.

    :ivar http: its name in the URL (camelCase).
    :ivar python: the library's name for it (the :class:`SearchQuery` field,
        the ``Hub`` keyword).
    :ivar kind: ``integer`` (a whole number in the URL) or ``string``.
    :ivar description: for the OpenAPI document.
    :ivar minimum: the smallest integer allowed.
    :ivar maximum: the largest integer allowed (``None``: no bound).
    :ivar enum: the values allowed (the library checks them, in any case).
    :ivar repeatable: may be given several times (any value matches).
    :ivar max_length: the longest value accepted (``None``: no cap).
    :ivar min_length: the shortest value the document promises to accept.
    :ivar default: what an absent parameter means, when it is a value.
    """

    http: str
    python: str
    kind: Literal["integer", "string"]
    description: str
    minimum: int | None = None
    maximum: int | None = None
    enum: tuple[str, ...] = ()
    repeatable: bool = False
    max_length: int | None = MAX_VALUE_LENGTH
    min_length: int | None = 1
    default: str | None = None

    def value(self, text: str) -> object:
        """The typed value of one URL value (an int for ``integer``; the library checks bounds).

        :raises ParameterError: not a whole number, or out of bounds, in HTTP words.
        """
        if self.kind == "string":
            return text
        stripped = text.strip()
        if not _INTEGER.match(stripped):
            raise ParameterError(self.http, f"must be a whole number, got {text!r}")
        return bounded(self.http, int(stripped), self.minimum or 0, self.maximum)

    def schema(self) -> dict[str, Any]:
        """The JSON schema of one value."""
        schema: dict[str, Any] = {"type": self.kind}
        if self.enum:
            schema["enum"] = list(self.enum)
        if self.default is not None:
            schema["default"] = self.default
        if self.kind == "integer":
            if self.minimum is not None:
                schema["minimum"] = self.minimum
            if self.maximum is not None:
                schema["maximum"] = self.maximum
        elif not self.enum:
            if self.min_length is not None:
                schema["minLength"] = self.min_length
            if self.max_length is not None:
                schema["maxLength"] = self.max_length
        return schema

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI parameter object."""
        found: dict[str, Any] = {"name": self.http, "in": "query", "description": self.description}
        if self.repeatable:
            found.update(
                schema={"type": "array", "items": self.schema()}, style="form", explode=True
            )
        else:
            found["schema"] = self.schema()
        return found


def _repeat(text: str) -> str:
    return text + " Repeat it to match any of several."


#: Paging of ``/get-all`` and ``/search``, in the order the unknown-name answer lists them.
LISTING: tuple[Param, ...] = (
    Param(
        "limit",
        "limit",
        "integer",
        "Page size. Without it every aggregated case comes back, streamed.",
        minimum=1,
        maximum=MAX_LIMIT,
    ),
    Param(
        "cursor",
        "cursor",
        "string",
        "The previous answer's `nextCursor`; any other value is a `400`.",
    ),
    Param(
        "casesLimit",
        "cases_limit",
        "integer",
        "Embed at most this many cases per aggregated case (the most recently "
        "updated); `caseCount` still counts them all. `0` embeds none.",
        minimum=0,
    ),
    Param(
        "sort",
        "sort",
        "string",
        "Order by `recentCases` (cases created in the last 24 hours), "
        "`caseCount` or `lastUpdated`, descending, ties by `id`, instead of the default "
        "order. A cursor belongs to its sort.",
        enum=SORTS,
    ),
)

#: The filters ``/search`` takes besides paging.
FILTERS: tuple[Param, ...] = (
    Param(
        "provider",
        "provider",
        "string",
        _repeat(
            "Aggregated cases whose provider key equals this value's provider key "
            "(`ACME PAYMENTS INC` finds `Acme Payments`). Must hold a letter or a digit."
        ),
        repeatable=True,
    ),
    Param(
        "errorCode",
        "error_code",
        "string",
        _repeat(
            "Aggregated cases whose error code key equals this value's "
            "(`E-1042` finds `1042`). Must not be empty once trimmed."
        ),
        repeatable=True,
    ),
    Param(
        "status",
        "status",
        "string",
        _repeat("`open` or `closed`, in any case."),
        enum=tuple(Status),
        repeatable=True,
    ),
    Param(
        "q",
        "q",
        "string",
        _repeat(
            "Free text for a search box: aggregated cases whose provider key holds "
            "this value's provider key as a run of whole-word prefixes (`nakatomi` and "
            "`naka trad` find `Nakatomi Trading`), or whose error code key contains this "
            "value's error code key (`104` finds `1042`). Must hold a letter or a digit."
        ),
        repeatable=True,
    ),
    Param(
        "owner",
        "owner",
        "string",
        _repeat("Aggregated cases this person owns (exact); `none` for the unowned."),
        repeatable=True,
    ),
    Param(
        "state",
        "state",
        "string",
        _repeat("Aggregated cases in this state, in any case."),
        enum=tuple(WorkState),
        repeatable=True,
    ),
    Param(
        "lifecycle",
        "lifecycle",
        "string",
        _repeat(
            "`new` (first seen less than 24 hours ago, not regressed) or "
            "`regressed` (state `regressed`), in any case."
        ),
        enum=tuple(Lifecycle),
        repeatable=True,
    ),
)

#: Paging of one aggregated case's cases (``/aggregated-cases/{id}``).
CASE_PAGING: tuple[Param, ...] = (
    Param("casesLimit", "cases_limit", "integer", "Cases per page.", minimum=1, maximum=MAX_LIMIT),
    Param(
        "casesCursor",
        "cases_cursor",
        "string",
        "The previous answer's `nextCasesCursor` for this aggregated case; any other value "
        "is a `400`.",
        # A cases cursor carries a CRM's case id (up to 255 characters): no 200 cap.
        max_length=None,
    ),
)

#: ``GET /overrides?all=true``.
OVERRIDES_ALL = Param(
    "all", "include_removed", "string", "`true`: undone ones too.", enum=("true", "false")
)

#: ``GET /aggregated-cases/{id}/replies/preview?scope=all``.
REPLY_SCOPE = Param(
    "scope",
    "scope",
    "string",
    "`open`: the open member cases; `all`: every member case.",
    enum=("open", "all"),
    default="open",
)

_HTTP_NAMES = {param.python: param.http for param in (*LISTING, *FILTERS, *CASE_PAGING)}


@contextmanager
def http_words() -> Iterator[None]:
    """Say the library's parameter errors with the HTTP names (``cases_limit`` → ``casesLimit``)."""
    try:
        yield
    except ParameterError as error:
        name = _HTTP_NAMES.get(error.parameter)
        if name is None or name == error.parameter:
            raise
        raise ParameterError(name, error.problem) from None


def _collect(
    params: Iterable[tuple[str, str]], declared: tuple[Param, ...]
) -> dict[str, list[object]]:
    """The typed values by Python name; refuses unknown names, repeats and overlong values."""
    by_name = {param.http: param for param in declared}
    texts: dict[str, list[str]] = {}
    for name, value in params:
        param = by_name.get(name)
        if param is None:
            allowed = list(by_name)
            hint = difflib.get_close_matches(name, allowed, n=1, cutoff=0.5)
            hint = hint or [n for n in allowed if n.lower() == name.lower()]
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise InvalidQuery(
                f"unknown parameter {name[:MAX_VALUE_LENGTH]!r}{suggestion}; "
                f"known: {', '.join(allowed)}"
            )
        if param.max_length is not None and len(value) > param.max_length:
            length = f"longer than {param.max_length} characters ({len(value)})"
            raise InvalidQuery(f"{name} is {length}")
        texts.setdefault(name, []).append(value)
    values: dict[str, list[object]] = {}
    for param in declared:
        found = texts.get(param.http)
        if found is None:
            continue
        if len(found) > 1 and not param.repeatable:
            raise InvalidQuery(f"{param.http} may be given only once")
        values[param.python] = [param.value(text) for text in found]
    return values


_REPEATABLE = {param.python: param.repeatable for param in (*LISTING, *FILTERS)}


def listing_query(params: Iterable[tuple[str, str]], *, filters: bool) -> SearchQuery:
    """The typed query a ``/get-all`` (or with ``filters``, ``/search``) request asks for.

    :param params: name/value pairs, repeats allowed (``?status=open&status=closed``).
    :raises InvalidQuery: what is wrong, in words, with the HTTP names.
    """
    with http_words():
        values = _collect(params, LISTING + FILTERS if filters else LISTING)
        arguments: dict[str, Any] = {
            name: found if _REPEATABLE[name] else found[0] for name, found in values.items()
        }
        return SearchQuery(**arguments)


def case_paging(params: Iterable[tuple[str, str]]) -> tuple[int | None, str | None]:
    """``casesLimit`` (1 to 1000) and ``casesCursor`` of one aggregated case's request.

    :returns: each ``None`` when absent.
    :raises InvalidQuery: what is wrong, in words, with the HTTP names.
    """
    with http_words():
        values = _collect(params, CASE_PAGING)
    limit = values.get("cases_limit", [None])[0]
    cursor = values.get("cases_cursor", [None])[0]
    assert limit is None or isinstance(limit, int)
    assert cursor is None or isinstance(cursor, str)
    return limit, cursor


def parse_params(
    params: Iterable[tuple[str, str]],
    *,
    filters: bool,
    provider_key: Callable[[str], str | None],
    codec: Callable[[], CursorCodec],
    text_keys: Callable[[str], tuple[str | None, str | None]] | None = None,
) -> Query:
    """A request's parameters straight to the store's :class:`Query` (tests, tools).

    :param provider_key: the provider key a searched spelling must match.
    :param codec: gives the :class:`CursorCodec`, only when a cursor is present.
    :param text_keys: the keys of a ``q`` value (default: the default rules).
    """
    search = listing_query(params, filters=filters)
    with http_words():
        if text_keys is None:
            return resolve(search, provider_key=provider_key, codec=codec)
        return resolve(search, provider_key=provider_key, codec=codec, text_keys=text_keys)
