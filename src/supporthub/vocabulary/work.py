"""Working an aggregated case (contract §7): owner, state, tracker link, note, history.

The work on an aggregated case is kept apart from the aggregated case's row,
which every refresh rewrites, so a refresh never clobbers it. This module
holds the rules: what a change may hold (:meth:`WorkChange.checked`), what it
does to the work (:func:`apply_change`), what an aggregated case's lifecycle
is (:func:`lifecycle_of`), and what a merged aggregated case keeps when its
parts disagree (:func:`combine`).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import urlsplit

import attrs

from supporthub.vocabulary.errors import InvalidQuery

__all__ = [
    "HUB_AUTHOR",
    "MAX_BY",
    "MAX_NOTE",
    "MAX_OWNER",
    "MAX_TRACKER_URL",
    "RECENT",
    "UNSET",
    "FieldChange",
    "HistoryEntry",
    "Lifecycle",
    "Work",
    "WorkChange",
    "WorkState",
    "apply_change",
    "combine",
    "lifecycle_of",
]

#: Longest owner, in code points (contract §7).
MAX_OWNER = 200
#: Longest author (``by``): the width of the column that keeps it.
MAX_BY = 200
#: Longest tracker link.
MAX_TRACKER_URL = 2000
#: Longest note.
MAX_NOTE = 4000
#: The author of changes the hub makes itself (regressions, merges).
HUB_AUTHOR = "supporthub"
#: How long an aggregated case stays ``new``, and what counts as a recent case.
RECENT = dt.timedelta(hours=24)


class WorkState(enum.StrEnum):
    """Where the work on an aggregated case stands."""

    UNTRIAGED = "untriaged"
    INVESTIGATING = "investigating"
    FIXED = "fixed"
    IGNORED = "ignored"
    REGRESSED = "regressed"


class Lifecycle(enum.StrEnum):
    """A badge that moves with time: first seen lately, or back after a fix."""

    NEW = "new"
    REGRESSED = "regressed"


class _Unset(enum.Enum):
    UNSET = "unset"

    def __repr__(self) -> str:
        return "UNSET"


#: A field a change leaves as it is (``None`` clears it).
UNSET: Final = _Unset.UNSET


@attrs.frozen
class Work:
    """The work recorded on one aggregated case; the default is "nobody, untriaged"."""

    owner: str | None = None
    state: WorkState = WorkState.UNTRIAGED
    tracker_url: str | None = None
    note: str | None = None


@attrs.frozen
class FieldChange:
    """One field of the work, before and after (published as ``from`` and ``to``).

    :ivar field: ``owner``, ``state``, ``trackerUrl``, ``note``, or
        ``mergedFrom`` (an aggregated case merged into this one: ``from`` its
        id, ``to`` this one's).
    """

    field: str
    before: str | None
    after: str | None


@attrs.frozen
class HistoryEntry:
    """One change of the work, as the history lists it.

    :ivar aggregated_case_id: the aggregated case it was made on; differs
        from the one whose history lists it when that one took over a
        merged-away aggregated case.
    :ivar by: who made it; ``supporthub`` for the hub's own (regressions, merges).
    :ivar note: the note given with the change, if any.
    """

    at: dt.datetime
    by: str
    changes: tuple[FieldChange, ...]
    note: str | None
    aggregated_case_id: str


def _text(name: str, value: object, limit: int, *, nullable: bool) -> str | None:
    if value is None:
        if not nullable:
            raise InvalidQuery(f"{name} cannot be null")
        return None
    if not isinstance(value, str):
        raise InvalidQuery(f"{name} must be a string, got {type(value).__name__}")
    if len(value) > limit:
        raise InvalidQuery(f"{name} is longer than {limit} characters ({len(value)})")
    return value


def _tracker_url(value: object) -> str | None:
    url = _text("trackerUrl", value, MAX_TRACKER_URL, nullable=True)
    if url is None:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        raise InvalidQuery(f"trackerUrl is not a link: {url[:100]!r}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or url != url.strip():
        raise InvalidQuery(f"trackerUrl must be an http(s) link, got {url[:100]!r}")
    return url


def _state(value: object) -> WorkState:
    if value is None:
        raise InvalidQuery("state cannot be null; give one of " + ", ".join(WorkState))
    if isinstance(value, WorkState):
        return value
    if not isinstance(value, str):
        raise InvalidQuery(f"state must be a string, got {type(value).__name__}")
    try:
        return WorkState(value.strip().lower())
    except ValueError:
        known = ", ".join(WorkState)
        raise InvalidQuery(f"state must be one of {known}, got {value[:50]!r}") from None


def _owner(value: object) -> str | None:
    owner = _text("owner", value, MAX_OWNER, nullable=True)
    if owner is None:
        return None
    if not owner.strip():
        raise InvalidQuery("owner is blank; give a name, or null to release it")
    # `owner=none` searches for the unowned, so nobody may be called that.
    if owner.strip().lower() == "none":
        raise InvalidQuery("owner cannot be 'none' (owner=none searches for the unowned)")
    return owner


@attrs.frozen
class WorkChange:
    """A checked change of the work: build it with :meth:`checked`.

    It also declares the body of ``PATCH /aggregated-cases/{id}`` (names,
    types, bounds); a field left out (``UNSET``) stays as it is.

    :ivar by: who makes the change; kept in the history.
    :ivar owner: who works on it; ``None`` releases it. Cannot be ``none``.
    :ivar state: where the work stands (case-insensitive over HTTP).
    :ivar tracker_url: an ``http`` or ``https`` link to the bug tracker's
        ticket; ``None`` clears it.
    :ivar note: a note kept with the change; ``None`` clears it.
    :ivar claim: set the owner to ``by`` only if nobody owns it (or ``by``
        does), else a conflict naming the owner. Not together with ``owner``.
    """

    by: str = attrs.field(metadata={"min_length": 1, "max_length": MAX_BY})
    owner: str | _Unset | None = attrs.field(
        default=UNSET, metadata={"min_length": 1, "max_length": MAX_OWNER}
    )
    state: WorkState | _Unset = UNSET
    tracker_url: str | _Unset | None = attrs.field(
        default=UNSET, metadata={"max_length": MAX_TRACKER_URL}
    )
    note: str | _Unset | None = attrs.field(default=UNSET, metadata={"max_length": MAX_NOTE})
    claim: bool = False

    @classmethod
    def checked(
        cls,
        *,
        by: object,
        owner: object = UNSET,
        state: object = UNSET,
        tracker_url: object = UNSET,
        note: object = UNSET,
        claim: object = False,
    ) -> WorkChange:
        """Validate every value; nothing is written when one is wrong.

        :raises InvalidQuery: a value is missing, null where one is needed,
            of the wrong type, too long, or not allowed.
        """
        author = _text("by", by, MAX_BY, nullable=False)
        assert author is not None
        if not author.strip():
            raise InvalidQuery("by is blank: say who makes the change")
        if claim is None or not isinstance(claim, bool):
            raise InvalidQuery("claim must be true or false")
        if claim and owner is not UNSET:
            raise InvalidQuery("give either claim or owner, not both")
        if claim and author.strip().lower() == "none":
            raise InvalidQuery("by cannot be 'none' when claiming (owner=none means unowned)")
        if claim and len(author) > MAX_OWNER:
            raise InvalidQuery(f"by is longer than {MAX_OWNER} characters, too long for an owner")
        return cls(
            by=author,
            owner=UNSET if owner is UNSET else _owner(owner),
            state=UNSET if state is UNSET else _state(state),
            tracker_url=UNSET if tracker_url is UNSET else _tracker_url(tracker_url),
            note=UNSET if note is UNSET else _text("note", note, MAX_NOTE, nullable=True),
            claim=claim,
        )

    @property
    def given_note(self) -> str | None:
        """The note sent with this change, kept with its history entry."""
        return None if self.note is UNSET else self.note


def _value(value: Any) -> str | None:
    return None if value is None else str(value)


def apply_change(work: Work, change: WorkChange) -> tuple[Work, tuple[FieldChange, ...]]:
    """The work after ``change`` (a claim already won), and what changed."""
    updates: dict[str, Any] = {}
    if change.claim:
        updates["owner"] = change.by
    for name in ("owner", "state", "tracker_url", "note"):
        value = getattr(change, name)
        if value is not UNSET:
            updates[name] = value
    after = attrs.evolve(work, **updates)
    changed = tuple(
        FieldChange(_json_name(name), _value(getattr(work, name)), _value(getattr(after, name)))
        for name in ("owner", "state", "tracker_url", "note")
        if getattr(work, name) != getattr(after, name)
    )
    return after, changed


def _json_name(name: str) -> str:
    return "trackerUrl" if name == "tracker_url" else name


def lifecycle_of(
    state: WorkState, first_seen_at: dt.datetime, now: dt.datetime
) -> Lifecycle | None:
    """``regressed`` while the state is; else ``new`` for 24 hours after first seen."""
    if state is WorkState.REGRESSED:
        return Lifecycle.REGRESSED
    if now - first_seen_at < RECENT:
        return Lifecycle.NEW
    return None


#: When merged parts disagree, the state that asks most of people wins, so a
#: merge never hides work: a regression, then work under way, then work not
#: begun, then done; ``ignored`` only when every part was ignored.
_URGENCY = (
    WorkState.REGRESSED,
    WorkState.INVESTIGATING,
    WorkState.UNTRIAGED,
    WorkState.FIXED,
    WorkState.IGNORED,
)


def combine(target: Work, parts: Sequence[Work]) -> Work:
    """The work of an aggregated case that took over ``parts``.

    The aggregated case that takes over keeps its own owner, tracker link and
    note when it has them, else takes the first part's that has one; its
    state is the most urgent among all (see ``_URGENCY``). Nothing is lost:
    every part's history moves along, and the merge entry names what each
    part held.
    """
    everyone = [target, *parts]

    def first(name: str) -> str | None:
        return next((v for w in everyone if (v := getattr(w, name)) is not None), None)

    state = min((w.state for w in everyone), key=_URGENCY.index)
    return Work(
        owner=first("owner"), state=state, tracker_url=first("tracker_url"), note=first("note")
    )
