"""Listing and search queries: parameters in, validated :class:`Query` out.

The HTTP service and the library both build queries here, so a bad
parameter gets the same words everywhere (HTTP ``400``). Paging cursors are
positions in the listing order, signed with a secret kept in the database,
so any process on that database accepts them and nobody can forge one.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import difflib
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable

import attrs
import orjson

from supporthub._errors import InvalidQuery
from supporthub._models import Status
from supporthub._normalize import error_code_key, provider_key
from supporthub._rows import Position, SortPosition
from supporthub._work import Lifecycle, WorkState

__all__ = [
    "LIFECYCLES",
    "MAX_LIMIT",
    "MAX_VALUE_LENGTH",
    "SORTS",
    "CasePosition",
    "CursorCodec",
    "Position",
    "Query",
    "SortPosition",
    "parse_case_paging",
    "parse_params",
]

#: Longest parameter value accepted, in code points, before normalization.
MAX_VALUE_LENGTH = 200
#: Largest page.
MAX_LIMIT = 1000
# casesLimit beyond this means "all"; keeps SQL integers in range.
_MAX_CASES_LIMIT = 1_000_000_000

_PAGING = ("limit", "cursor", "casesLimit", "sort")
_FILTERS = ("provider", "errorCode", "status", "q", "owner", "state", "lifecycle")
#: Lifecycle filters (contract §7): first seen in the last 24 hours; regressed.
LIFECYCLES = tuple(Lifecycle)
_INTEGER = re.compile(r"^[0-9]+$")


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
        invalid = InvalidQuery(
            "casesCursor is not one this hub issued for this aggregated case; "
            "start again without it"
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
        invalid = InvalidQuery("cursor is not one this hub issued; start again without it")
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


def _integer(name: str, value: str, low: int, high: int | None) -> int:
    text = value.strip()
    if not _INTEGER.match(text):
        raise InvalidQuery(f"{name} must be a whole number, got {value!r}")
    number = int(text)
    if number < low or (high is not None and number > high):
        bound = f"between {low} and {high}" if high is not None else f"{low} or more"
        raise InvalidQuery(f"{name} must be {bound}, got {number}")
    return number


def _filters(
    values: dict[str, list[str]], provider_key: Callable[[str], str | None]
) -> tuple[list[str], list[str], list[Status]]:
    provider_keys: list[str] = []
    for raw in values.get("provider", ()):
        key = provider_key(raw)
        if key is None:
            raise InvalidQuery(f"provider {raw!r} has no letters or digits; give a provider name")
        provider_keys.append(key)
    error_keys: list[str] = []
    for raw in values.get("errorCode", ()):
        code = error_code_key(raw)
        if code is None:
            raise InvalidQuery(f"errorCode {raw!r} is empty once trimmed; give an error code")
        error_keys.append(code)
    statuses: list[Status] = []
    for raw in values.get("status", ()):
        try:
            statuses.append(Status(raw.strip().lower()))
        except ValueError:
            raise InvalidQuery(f"status must be 'open' or 'closed', got {raw!r}") from None

    return provider_keys, error_keys, statuses


def _work_filters(
    values: dict[str, list[str]],
) -> tuple[list[str | None], list[WorkState], list[Lifecycle]]:
    owners: list[str | None] = []
    for raw in values.get("owner", ()):
        if not raw.strip():
            raise InvalidQuery("owner is empty; give a name, or 'none' for the unowned")
        owners.append(None if raw.strip().lower() == "none" else raw)
    states: list[WorkState] = []
    for raw in values.get("state", ()):
        try:
            states.append(WorkState(raw.strip().lower()))
        except ValueError:
            known = ", ".join(WorkState)
            raise InvalidQuery(f"state must be one of {known}, got {raw!r}") from None
    lifecycle: list[Lifecycle] = []
    for raw in values.get("lifecycle", ()):
        try:
            lifecycle.append(Lifecycle(raw.strip().lower()))
        except ValueError:
            raise InvalidQuery(f"lifecycle must be 'new' or 'regressed', got {raw!r}") from None
    return owners, states, lifecycle


def _texts(
    raws: Iterable[str], text_keys: Callable[[str], tuple[str | None, str | None]]
) -> list[tuple[str, str | None]]:
    texts: list[tuple[str, str | None]] = []
    for raw in raws:
        provider, code = text_keys(raw)
        if provider is None:
            raise InvalidQuery(f"q {raw!r} has no letters or digits; type a provider or error code")
        texts.append((provider, code))
    return texts


def _default_text_keys(raw: str) -> tuple[str | None, str | None]:
    return provider_key(raw), error_code_key(raw)


def parse_params(
    params: Iterable[tuple[str, str]],
    *,
    filters: bool,
    provider_key: Callable[[str], str | None],
    codec: Callable[[], CursorCodec],
    text_keys: Callable[[str], tuple[str | None, str | None]] = _default_text_keys,
) -> Query:
    """Validate query parameters into a :class:`Query`.

    :param params: name/value pairs, repeats allowed (``?status=open&status=closed``).
    :param filters: accept ``provider``, ``errorCode`` and ``status`` (``/search``).
    :param provider_key: the provider key a searched spelling must match
        (aliases applied).
    :param codec: gives the cursor codec, only when a cursor is present.
    :param text_keys: the provider key and error code key of a ``q`` value
        (the rule set the database is grouped by).
    :raises InvalidQuery: what is wrong, in words.
    """
    values = _collect(params, _PAGING + _FILTERS if filters else _PAGING)
    for name in _PAGING:
        if len(values.get(name, ())) > 1:
            raise InvalidQuery(f"{name} may be given only once")

    def single(name: str) -> str | None:
        found = values.get(name)
        return found[0] if found else None

    limit_text, cursor_text, cases_text = single("limit"), single("cursor"), single("casesLimit")
    limit = None if limit_text is None else _integer("limit", limit_text, 1, MAX_LIMIT)
    cases_limit = None if cases_text is None else _integer("casesLimit", cases_text, 0, None)
    if cases_limit is not None and cases_limit > _MAX_CASES_LIMIT:
        cases_limit = None
    after = None if cursor_text is None else codec().decode(cursor_text)
    sort = single("sort")
    if sort is not None and sort not in SORTS:
        raise InvalidQuery(f"sort must be one of {', '.join(SORTS)}, got {sort!r}")
    if after is not None and (after.sort if isinstance(after, SortPosition) else None) != sort:
        raise InvalidQuery("cursor belongs to another sort; start again without it")

    provider_keys, error_keys, statuses = _filters(values, provider_key)
    owners, states, lifecycle = _work_filters(values)
    return Query(
        provider_keys=tuple(dict.fromkeys(provider_keys)),
        error_code_keys=tuple(dict.fromkeys(error_keys)),
        statuses=tuple(dict.fromkeys(statuses)),
        owners=tuple(dict.fromkeys(owners)),
        states=tuple(dict.fromkeys(states)),
        lifecycle=tuple(dict.fromkeys(lifecycle)),
        texts=tuple(dict.fromkeys(_texts(values.get("q", ()), text_keys))),
        limit=limit,
        after=after,
        cases_limit=cases_limit,
        sort=sort,
    )


def parse_case_paging(params: Iterable[tuple[str, str]]) -> tuple[int | None, str | None]:
    """Validate the parameters of one aggregated case's answer: ``casesLimit``, ``casesCursor``.

    :returns: the cases limit (1 to :data:`MAX_LIMIT`) and the cursor, each
        ``None`` when absent.
    :raises InvalidQuery: what is wrong, in words.
    """
    # A cases cursor carries a CRM's case id (up to 255 characters): no 200 cap.
    values = _collect(params, ("casesLimit", "casesCursor"), uncapped=("casesCursor",))
    for name, found in values.items():
        if len(found) > 1:
            raise InvalidQuery(f"{name} may be given only once")
    limit_text = values.get("casesLimit", [None])[0]
    limit = None if limit_text is None else _integer("casesLimit", limit_text, 1, MAX_LIMIT)
    return limit, values.get("casesCursor", [None])[0]


def _collect(
    params: Iterable[tuple[str, str]], allowed: tuple[str, ...], uncapped: tuple[str, ...] = ()
) -> dict[str, list[str]]:
    """Group parameter values by name; refuse unknown names and overlong values."""
    values: dict[str, list[str]] = {}
    for name, value in params:
        if name not in allowed:
            hint = difflib.get_close_matches(name, allowed, n=1, cutoff=0.5)
            hint = hint or [n for n in allowed if n.lower() == name.lower()]
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            known = ", ".join(allowed)
            raise InvalidQuery(
                f"unknown parameter {name[:MAX_VALUE_LENGTH]!r}{suggestion}; known: {known}"
            )
        if len(value) > MAX_VALUE_LENGTH and name not in uncapped:
            raise InvalidQuery(
                f"{name} is longer than {MAX_VALUE_LENGTH} characters ({len(value)})"
            )
        values.setdefault(name, []).append(value)
    return values
