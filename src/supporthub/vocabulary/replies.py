"""Replies to every customer of an aggregated case: what one is, checked, and how it is named.

A reply is stored with one *delivery* per target case (its outbox row); each
delivery is sent to its CRM with an idempotency key derived here, the same
on every attempt, so a repeated send never makes a second comment.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Mapping
from typing import Literal, get_args

import attrs

from supporthub.vocabulary.errors import InvalidQuery

__all__ = [
    "MAX_MESSAGE",
    "Delivery",
    "DeliveryState",
    "Reply",
    "ReplyAccepted",
    "ReplyPreview",
    "ReplyScope",
    "ReplyState",
    "ReplyStatus",
    "checked_reply",
    "idempotency_key",
    "new_reply_id",
]

#: The smallest comment limit among the shipped CRMs (contract §7).
MAX_MESSAGE = 4000
#: Longest author name (the column holding it, as for overrides).
MAX_WHO = 255

#: A status a reply may set, in the hub's words; each adapter maps it to its CRM's.
ReplyStatus = Literal["pending", "solved"]
ReplyScope = Literal["open", "all"]
DeliveryState = Literal["pending", "delivered", "failed"]
ReplyState = Literal["delivering", "done", "done-with-failures"]
_STATUSES: tuple[str, ...] = get_args(ReplyStatus)
_SCOPES: tuple[str, ...] = get_args(ReplyScope)


def new_reply_id() -> str:
    """A reply id: 128 random bits, so no two hub databases ever share one."""
    return secrets.token_hex(16)


def idempotency_key(reply_id: str, source: str, case_id: str) -> str:
    """The key of one delivery: stable, unique across databases, ≤ 64 of ``[A-Za-z0-9._:-]``.

    The reply id is random (it makes the key unique across hub databases);
    the case part is a digest, since case ids may hold any character.
    """
    case = hashlib.sha256(f"{source}\0{case_id}".encode()).hexdigest()[:24]
    return f"sh1-{reply_id}-{case}"


@attrs.frozen
class ReplyRequest:
    """A reply as asked for, its values checked (:func:`checked_reply`).

    It also declares the body of ``POST /aggregated-cases/{id}/replies``.

    :ivar message: the comment, posted as written on each target case.
    :ivar by: who replies.
    :ivar public: ``False``: an internal note the customer does not see.
    :ivar set_status: also set each case to waiting on the customer
        (``pending``) or ``solved``; ``None`` leaves the status alone.
    :ivar scope: ``open``: the open member cases; ``all``: every member case.
    :ivar auto_reply: also send it to every open case that joins the
        aggregated case later, on the refresh that brings it, until stopped
        or ``fixed``.
    """

    message: str = attrs.field(
        metadata={"min_length": 1, "max_length": MAX_MESSAGE, "pattern": r"\S"}
    )
    by: str = attrs.field(metadata={"min_length": 1, "max_length": MAX_WHO, "pattern": r"\S"})
    public: bool = True
    set_status: ReplyStatus | None = None
    scope: ReplyScope = "open"
    auto_reply: bool = False


def checked_reply(
    *,
    message: object,
    by: object,
    public: object = True,
    set_status: object = None,
    scope: object = "open",
    auto_reply: object = False,
) -> ReplyRequest:
    """The reply's values, or :class:`InvalidQuery` saying what is wrong.

    :raises InvalidQuery: an empty or oversized message, no author, a value
        of the wrong type, an unknown status or scope.
    """
    if not isinstance(message, str):
        raise InvalidQuery("'message' must be a string")
    if not message.strip():
        raise InvalidQuery("'message' is empty")
    if len(message) > MAX_MESSAGE:
        raise InvalidQuery(f"'message' is longer than {MAX_MESSAGE} characters ({len(message)})")
    if not isinstance(by, str) or not by.strip():
        raise InvalidQuery("'by' must name who replies (a non-empty string)")
    if len(by) > MAX_WHO:
        raise InvalidQuery(f"'by' is longer than {MAX_WHO} characters")
    if not isinstance(public, bool):
        raise InvalidQuery("'public' must be true or false")
    if set_status is not None and set_status not in _STATUSES:
        raise InvalidQuery(f"'setStatus' must be null or one of {', '.join(_STATUSES)}")
    if scope not in _SCOPES:
        raise InvalidQuery(f"'scope' must be one of {', '.join(_SCOPES)}")
    if not isinstance(auto_reply, bool):
        raise InvalidQuery("'autoReply' must be true or false")
    return ReplyRequest(
        message=message,
        by=by,
        public=public,
        set_status=set_status,  # type: ignore[arg-type]
        scope=scope,  # type: ignore[arg-type]
        auto_reply=auto_reply,
    )


@attrs.frozen
class ReplyAccepted:
    """A reply stored with its outbox rows: delivery has begun.

    :ivar id: the reply id, for ``GET /replies/{id}``.
    :ivar targets: how many target cases it has.
    """

    id: str
    targets: int


@attrs.frozen
class ReplyPreview:
    """Who a reply would reach, before it is sent.

    :ivar scope: ``open``: the open member cases; ``all``: every member case.
    :ivar targets: target cases in all.
    :ivar by_source: target cases per source.
    :ivar unwritable: sources among them whose adapter cannot write, and why:
        their cases would be ``failed`` at once.
    """

    aggregated_case_id: str
    scope: ReplyScope
    targets: int
    by_source: Mapping[str, int]
    unwritable: Mapping[str, str]


@attrs.frozen
class Delivery:
    """One target case of a reply, and how its delivery went.

    :ivar error: the CRM's reason for a ``failed`` delivery; for a
        ``pending`` one the last transient error, if any.
    """

    source: str
    case_id: str
    state: DeliveryState
    attempts: int
    error: str | None = None


@attrs.frozen
class Reply:
    """A reply and its progress (``GET /replies/{id}``).

    :ivar state: ``delivering`` while a target is pending, then ``done``
        or ``done-with-failures``.
    :ivar aggregated_case_id: follows the cases when a regroup changes the id.
    :ivar scope: ``open``: the open member cases; ``all``: every member case.
    :ivar stopped_at: when auto-reply was ended (stopped, or the aggregated
        case became ``fixed``); ``None`` while it runs or was never asked.
    :ivar cases: every target case; empty in lists of replies.
    """

    id: str
    aggregated_case_id: str
    message: str
    by: str
    created_at: dt.datetime
    public: bool
    set_status: ReplyStatus | None
    scope: ReplyScope
    auto_reply: bool
    stopped_at: dt.datetime | None
    stopped_by: str | None
    targets: int
    delivered: int
    pending: int
    failed: int
    cases: tuple[Delivery, ...] = ()

    @property
    def state(self) -> ReplyState:
        """``delivering``, ``done`` or ``done-with-failures``."""
        if self.pending:
            return "delivering"
        return "done-with-failures" if self.failed else "done"

    @property
    def auto_reply_active(self) -> bool:
        """New open cases of the aggregated case still get this reply."""
        return self.auto_reply and self.stopped_at is None
