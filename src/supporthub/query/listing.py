"""Listing and search queries: typed values in, validated :class:`Query` out.

:class:`SearchQuery` is what a caller asks for, in Python values; it refuses
a bad value with :class:`ParameterError`, which names the Python parameter
(``cases_limit must be 0 or more, got -1``). :func:`resolve` turns it into
the :class:`Query` the store runs: spellings become keys (by the rule set
the database is grouped by) and the cursor becomes a position. The HTTP
layer (``supporthub.service._params``) turns a request's strings into a
:class:`SearchQuery` and speaks its own parameter names in its answers.

Every wrong value, a wrong type included, is an :class:`InvalidQuery`
(a :class:`ParameterError`), never a ``TypeError``: one exception to catch
for "the caller asked wrongly", the one the HTTP service answers ``400``.

Paging cursors are positions in the listing order, signed with a secret
kept in the database, so any process on that database accepts them and
nobody can forge one.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
from collections.abc import Callable
from enum import StrEnum
from typing import TypeVar

import attrs
import orjson

from supporthub.grouping.normalize import error_code_key, provider_key
from supporthub.vocabulary.errors import InvalidQuery
from supporthub.vocabulary.models import Status
from supporthub.vocabulary.rows import Position, SortPosition
from supporthub.vocabulary.work import Lifecycle, WorkState

__all__ = [
    "LIFECYCLES",
    "MAX_CASES_LIMIT",
    "MAX_LIMIT",
    "MAX_VALUE_LENGTH",
    "SORTS",
    "CasePosition",
    "CursorCodec",
    "ParameterError",
    "Position",
    "Query",
    "SearchQuery",
    "SortPosition",
    "bounded",
    "checked_case_paging",
    "resolve",
]

#: Longest parameter value accepted, in code points, before normalization.
MAX_VALUE_LENGTH = 200
#: Largest page.
MAX_LIMIT = 1000
#: A cases limit beyond this means "all"; keeps SQL integers in range.
MAX_CASES_LIMIT = 1_000_000_000
#: Lifecycle filters (contract §7): first seen in the last 24 hours; regressed.
LIFECYCLES = tuple(Lifecycle)


class ParameterError(InvalidQuery):
    """One parameter's value is wrong; the message names the parameter first.

    :ivar parameter: the parameter's Python name (``cases_limit``).
    :ivar problem: what is wrong with it, the message without the name
        (so the HTTP service can say it with its own name, ``casesLimit``).
    """

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter} {problem}")
        self.parameter = parameter
        self.problem = problem


#: Orders a listing may take besides the contract's (``sort`` parameter).
SORTS = ("recentCases", "caseCount", "lastUpdated")


@attrs.frozen
class CasePosition:
    """A place among one aggregated case's cases: most recently updated first.

    :ivar agg_id: the aggregated case the position belongs to; a cursor of one
        aggregated case is refused by another.
    """

    agg_id: str
    updated_at: dt.datetime
    source: str
    source_id: str


@attrs.frozen
class Query:
    """What to list: filters (AND between kinds, OR within one), paging, embedding.

    :ivar provider_keys: aggregated cases whose provider key is one of these.
    :ivar texts: free text typed by people, as ``(provider key, error code
        key)`` of each value: an aggregated case matches when its provider
        key holds the first as a run of whole-word prefixes, or its error
        code key contains the second.
    :ivar owners: aggregated cases owned by one of these (``None``: unowned).
    :ivar states: aggregated cases in one of these states.
    :ivar lifecycle: ``new`` and/or ``regressed`` (see :data:`LIFECYCLES`).
    :ivar after: start after this position (from a cursor).
    :ivar sort: one of :data:`SORTS`, descending, ties by id; ``None``: the
        contract's order.
    :ivar cases_limit: embed at most this many cases per aggregated case
        (most recently updated first); ``None`` embeds them all.
    """

    provider_keys: tuple[str, ...] = ()
    error_code_keys: tuple[str, ...] = ()
    statuses: tuple[Status, ...] = ()
    owners: tuple[str | None, ...] = ()
    states: tuple[WorkState, ...] = ()
    lifecycle: tuple[Lifecycle, ...] = ()
    texts: tuple[tuple[str, str | None], ...] = ()
    limit: int | None = None
    after: Position | SortPosition | None = None
    cases_limit: int | None = None
    sort: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """Encodes positions as opaque, signed cursor strings."""

    _VERSION = 1
    # Cursors into the cases of one aggregated case carry their own tag, so
    # one kind is never taken for the other.
    _CASES_VERSION = 2

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:16]

    def encode(self, position: Position | SortPosition) -> str:
        """The cursor for ``position``."""
        if isinstance(position, SortPosition):
            payload = orjson.dumps([3, position.sort, position.value, position.id])
        else:
            payload = orjson.dumps(
                [self._VERSION, position.is_open, position.case_count, position.id]
            )
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def encode_cases(self, position: CasePosition) -> str:
        """The cases cursor for ``position``."""
        payload = orjson.dumps(
            [
                self._CASES_VERSION,
                position.agg_id,
                position.updated_at.astimezone(dt.UTC).isoformat(),
                position.source,
                position.source_id,
            ]
        )
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def decode_cases(self, cursor: str, agg_id: str) -> CasePosition:
        """The case position ``cursor`` stands for, within aggregated case ``agg_id``.

        :raises InvalidQuery: the hub did not issue this cursor for ``agg_id``.
        """
        invalid = ParameterError(
            "cases_cursor",
            "is not one this hub issued for this aggregated case; start again without it",
        )
        payload = self._verified(cursor, invalid)
        try:
            version, cursor_agg_id, updated_at, source, source_id = orjson.loads(payload)
            position = CasePosition(
                str(cursor_agg_id),
                dt.datetime.fromisoformat(updated_at),
                str(source),
                str(source_id),
            )
        except (orjson.JSONDecodeError, ValueError, TypeError):
            raise invalid from None
        if version != self._CASES_VERSION or position.agg_id != agg_id:
            raise invalid
        return position

    def _verified(self, cursor: str, invalid: InvalidQuery) -> bytes:
        """The payload of a cursor this hub signed, else ``invalid`` is raised."""
        body, dot, _ = cursor.partition(".")
        if not dot:
            raise invalid
        try:
            payload = _unb64(body)
        except (binascii.Error, ValueError):
            raise invalid from None
        # Compare the whole canonical text, not the decoded bytes: base64
        # decoding forgives stray characters and spare bits, and a cursor
        # the hub did not write character for character is not one it issued.
        issued = f"{_b64(payload)}.{_b64(self._sign(payload))}"
        if not hmac.compare_digest(issued.encode(), cursor.encode()):
            raise invalid
        return payload

    def decode(self, cursor: str) -> Position | SortPosition:
        """The position ``cursor`` stands for.

        :raises InvalidQuery: the hub did not issue this cursor.
        """
        invalid = ParameterError("cursor", "is not one this hub issued; start again without it")
        payload = self._verified(cursor, invalid)
        try:
            version, first, second, agg_id = orjson.loads(payload)
        except (orjson.JSONDecodeError, ValueError, TypeError):
            raise invalid from None
        if version == 3 and first in SORTS and isinstance(second, int | str):
            return SortPosition(str(first), second, str(agg_id))
        if version != self._VERSION:
            raise invalid
        return Position(bool(first), int(second), str(agg_id))


# -- the typed query: Python values, checked, in the caller's words ---------------------

_E = TypeVar("_E", bound=StrEnum)


def bounded(parameter: str, value: object, low: int, high: int | None) -> int:
    """``value`` if it is an int from ``low`` to ``high`` (``None``: no upper bound).

    :raises ParameterError: a wrong type, or out of range, naming ``parameter``.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(parameter, f"must be an int, got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"{low} or more"
        raise ParameterError(parameter, f"must be {bound}, got {value}")
    return value


def _text(parameter: str, value: object, *, capped: bool = True) -> str:
    if not isinstance(value, str):
        raise ParameterError(parameter, f"must be a str, got {type(value).__name__}")
    if capped and len(value) > MAX_VALUE_LENGTH:
        raise ParameterError(
            parameter, f"is longer than {MAX_VALUE_LENGTH} characters ({len(value)})"
        )
    return value


def _many(value: object) -> tuple[object, ...]:
    """One value or a collection of them (a list, tuple or set) as a tuple; ``None`` is none."""
    if value is None:
        return ()
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(value)
    return (value,)


def _texts(parameter: str, value: object) -> tuple[str, ...]:
    # An int is taken as its digits (``error_code=1042``), as before.
    texts = (
        str(v) if isinstance(v, int) and not isinstance(v, bool) else _text(parameter, v)
        for v in _many(value)
    )
    return tuple(dict.fromkeys(texts))


def _choice(parameter: str, enum: type[_E], value: object, words: str) -> _E:
    if isinstance(value, enum):
        return value
    text = _text(parameter, value)
    try:
        return enum(text.strip().lower())
    except ValueError:
        raise ParameterError(parameter, f"must be {words}, got {text!r}") from None


def _choices(parameter: str, enum: type[_E], words: str, value: object) -> tuple[_E, ...]:
    return tuple(dict.fromkeys(_choice(parameter, enum, v, words) for v in _many(value)))


# Named converters, one per field (mypy's attrs plugin reads only named functions).


def _providers(value: object) -> tuple[str, ...]:
    return _texts("provider", value)


def _error_codes(value: object) -> tuple[str, ...]:
    return _texts("error_code", value)


def _free_texts(value: object) -> tuple[str, ...]:
    return _texts("q", value)


def _statuses(value: object) -> tuple[Status, ...]:
    return _choices("status", Status, "'open' or 'closed'", value)


def _states(value: object) -> tuple[WorkState, ...]:
    return _choices("state", WorkState, f"one of {', '.join(WorkState)}", value)


def _lifecycles(value: object) -> tuple[Lifecycle, ...]:
    return _choices("lifecycle", Lifecycle, "'new' or 'regressed'", value)


def _owners(value: object) -> tuple[str | None, ...]:
    owners: list[str | None] = []
    for raw in _many(value):
        text = _text("owner", raw)
        if not text.strip():
            raise ParameterError("owner", "is empty; give a name, or 'none' for the unowned")
        owners.append(None if text.strip().lower() == "none" else text)
    return tuple(dict.fromkeys(owners))


def _limit(value: object) -> int | None:
    return None if value is None else bounded("limit", value, 1, MAX_LIMIT)


def _cases_limit(value: object) -> int | None:
    return None if value is None else bounded("cases_limit", value, 0, None)


def _cursor(value: object) -> str | None:
    return None if value is None else _text("cursor", value)


def _sort(value: object) -> str | None:
    if value is None:
        return None
    text = _text("sort", value)
    if text not in SORTS:
        raise ParameterError("sort", f"must be one of {', '.join(SORTS)}, got {text!r}")
    return text


@attrs.frozen
class SearchQuery:
    """What a caller asks to list, in Python values (:meth:`supporthub.Hub.search`'s keywords).

    Each filter takes one value or a list of them (any of them matches);
    filters of different kinds must all match. Strings are accepted for the
    enum filters, in any case. Building one checks every value:

    >>> SearchQuery(status="OPEN", limit=20).status
    (<Status.OPEN: 'open'>,)

    :ivar provider: provider spellings, compared by provider key.
    :ivar error_code: error code spellings, compared by error code key.
    :ivar status: ``open`` and/or ``closed``.
    :ivar owner: exact owners; ``"none"`` (kept as ``None``) for the unowned.
    :ivar state: work states (:class:`~supporthub.WorkState`).
    :ivar lifecycle: ``new`` and/or ``regressed``.
    :ivar q: free text as typed in a search box (``q``).
    :ivar limit: page size, 1 to :data:`MAX_LIMIT`; ``None``: everything.
    :ivar cursor: the previous page's ``next_cursor``.
    :ivar cases_limit: cases embedded per aggregated case, 0 or more; ``None``: all.
    :ivar sort: one of :data:`SORTS`; ``None``: the contract's order.
    :raises ParameterError: a value is wrong; the message names the Python
        parameter (``error_code``, ``cases_limit``, …).
    """

    provider: tuple[str, ...] = attrs.field(default=(), converter=_providers)
    error_code: tuple[str, ...] = attrs.field(default=(), converter=_error_codes)
    status: tuple[Status, ...] = attrs.field(default=(), converter=_statuses)
    owner: tuple[str | None, ...] = attrs.field(default=(), converter=_owners)
    state: tuple[WorkState, ...] = attrs.field(default=(), converter=_states)
    lifecycle: tuple[Lifecycle, ...] = attrs.field(default=(), converter=_lifecycles)
    q: tuple[str, ...] = attrs.field(default=(), converter=_free_texts)
    limit: int | None = attrs.field(default=None, converter=_limit)
    cursor: str | None = attrs.field(default=None, converter=_cursor)
    cases_limit: int | None = attrs.field(default=None, converter=_cases_limit)
    sort: str | None = attrs.field(default=None, converter=_sort)


def _default_text_keys(raw: str) -> tuple[str | None, str | None]:
    return provider_key(raw), error_code_key(raw)


def resolve(
    search: SearchQuery,
    *,
    provider_key: Callable[[str], str | None],
    codec: Callable[[], CursorCodec],
    text_keys: Callable[[str], tuple[str | None, str | None]] = _default_text_keys,
) -> Query:
    """The :class:`Query` the store runs for ``search``: keys and a position.

    :param provider_key: the provider key a searched spelling must match
        (aliases applied).
    :param codec: gives the cursor codec, only when a cursor is present.
    :param text_keys: the provider key and error code key of a free text
        (the rule set the database is grouped by).
    :raises ParameterError: a spelling has no key, or the cursor is not
        ours or belongs to another sort.
    """
    after = None if search.cursor is None else codec().decode(search.cursor)
    if after is not None and (after.sort if isinstance(after, SortPosition) else None) != (
        search.sort
    ):
        raise ParameterError("cursor", "belongs to another sort; start again without it")
    provider_keys: list[str] = []
    for raw in search.provider:
        key = provider_key(raw)
        if key is None:
            problem = f"{raw!r} has no letters or digits; give a provider name"
            raise ParameterError("provider", problem)
        provider_keys.append(key)
    error_keys: list[str] = []
    for raw in search.error_code:
        code = error_code_key(raw)
        if code is None:
            raise ParameterError("error_code", f"{raw!r} is empty once trimmed; give an error code")
        error_keys.append(code)
    texts: list[tuple[str, str | None]] = []
    for raw in search.q:
        provider, code = text_keys(raw)
        if provider is None:
            problem = f"{raw!r} has no letters or digits; type a provider or error code"
            raise ParameterError("q", problem)
        texts.append((provider, code))
    cases_limit = search.cases_limit
    if cases_limit is not None and cases_limit > MAX_CASES_LIMIT:
        cases_limit = None
    return Query(
        provider_keys=tuple(dict.fromkeys(provider_keys)),
        error_code_keys=tuple(dict.fromkeys(error_keys)),
        statuses=search.status,
        owners=search.owner,
        states=search.state,
        lifecycle=search.lifecycle,
        texts=tuple(dict.fromkeys(texts)),
        limit=search.limit,
        after=after,
        cases_limit=cases_limit,
        sort=search.sort,
    )


def checked_case_paging(
    cases_limit: object, cases_cursor: object, *, low: int = 1
) -> tuple[int | None, str | None]:
    """One aggregated case's paging values, checked: a limit from ``low`` to
    :data:`MAX_LIMIT` and a cursor string, each ``None`` when absent.

    :raises ParameterError: naming ``cases_limit`` or ``cases_cursor``.
    """
    limit = None if cases_limit is None else bounded("cases_limit", cases_limit, low, MAX_LIMIT)
    # A cases cursor carries a CRM's case id (up to 255 characters): no 200 cap.
    cursor = None if cases_cursor is None else _text("cases_cursor", cases_cursor, capped=False)
    return limit, cursor
