"""Request bodies and path ids of the steering endpoints, checked before the hub sees them.

Only the shape is checked here (a JSON object, known fields, the right JSON
types, lengths the database can hold); what the values mean — whether an id
exists, whether a merge makes sense — is the library's to decide. Anything
wrong is an :class:`~supporthub.vocabulary.errors.InvalidQuery` (``400`` with words),
raised before anything is written.

Bodies must be sent as ``Content-Type: application/json``: a browser cannot
send that to another site without asking it first (CORS), so a foreign page
cannot make a visitor's browser change the grouping.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar, get_args, get_origin

import attrs
import orjson
from starlette.requests import Request

from supporthub.hub import Hub
from supporthub.query.listing import MAX_VALUE_LENGTH
from supporthub.service._schemas import request_fields
from supporthub.steering.rule_changes import MAX_REASON, MAX_WHO, RuleChange
from supporthub.vocabulary.errors import InvalidQuery
from supporthub.vocabulary.models import AggregatedCase
from supporthub.vocabulary.replies import Reply, ReplyAccepted, ReplyRequest, checked_reply
from supporthub.vocabulary.work import UNSET, WorkChange, _Unset

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_ID_LENGTH",
    "OVERRIDE_BODIES",
    "AliasOverride",
    "Decision",
    "MergeOverride",
    "MoveOverride",
    "StopReply",
    "accept_call",
    "checked_body",
    "override_call",
    "override_id",
    "read_json_object",
    "reply_call",
    "stop_call",
    "undo_call",
    "work_call",
]

#: Bodies are small; a bigger one is refused before it is parsed.
MAX_BODY_BYTES = 64 * 1024
#: Aggregated case ids, case ids and sources longer than this are no ids of ours.
MAX_ID_LENGTH = MAX_VALUE_LENGTH


def _text(limit: int, json: str | None = None) -> Any:
    metadata: dict[str, Any] = {"min_length": 1, "max_length": limit}
    if json:
        metadata["json"] = json
    return attrs.field(metadata=metadata)


# The bodies, declared once: each class is both the check below and the
# body's schema in the OpenAPI document (``_schemas.request_schema``).


@attrs.frozen(kw_only=True)
class Decision:
    """Who accepts a suggestion, and why; every override takes the same.

    :ivar by: who decides.
    :ivar reason: why.
    :ivar dry_run: only say what would change.
    """

    by: str = _text(MAX_WHO)
    reason: str = _text(MAX_REASON)
    dry_run: bool = attrs.field(default=False)


@attrs.frozen(kw_only=True)
class MergeOverride(Decision):
    """Every case of aggregated case `from` goes to `into`, now and at every refresh.

    :ivar from_id: the aggregated case whose cases move.
    :ivar into: the aggregated case that receives them.
    """

    kind: Literal["merge"]
    from_id: str = _text(MAX_ID_LENGTH, json="from")
    into: str = _text(MAX_ID_LENGTH)


@attrs.frozen(kw_only=True)
class MoveOverride(Decision):
    """One case leaves its aggregated case: into `into`, or one of its own.

    :ivar source: the case's source.
    :ivar case_id: the case's id in its source.
    :ivar into: the aggregated case that receives it; left out: one of its own.
    """

    kind: Literal["move"]
    source: str = _text(MAX_ID_LENGTH)
    case_id: str = _text(MAX_ID_LENGTH)
    into: str | _Unset = attrs.field(default=UNSET, metadata=_text(MAX_ID_LENGTH).metadata)


@attrs.frozen(kw_only=True)
class AliasOverride(Decision):
    """A provider spelling means another provider, for old and new cases.

    :ivar spelling: the spelling to alias; needs a letter or a digit.
    :ivar provider: the provider it means; needs a letter or a digit.
    """

    kind: Literal["alias"]
    spelling: str = _text(MAX_VALUE_LENGTH)
    provider: str = _text(MAX_VALUE_LENGTH)


@attrs.frozen(kw_only=True)
class StopReply:
    """Who ends a reply's auto-reply.

    :ivar by: who stops it.
    """

    by: str = _text(MAX_WHO)


#: The body of ``POST /overrides`` by its ``kind``.
OVERRIDE_BODIES: Mapping[str, type[MergeOverride | MoveOverride | AliasOverride]] = {
    "merge": MergeOverride,
    "move": MoveOverride,
    "alias": AliasOverride,
}

T = TypeVar("T")
_OVERRIDE_ID = re.compile(r"[0-9]{1,18}")


async def read_json_object(request: Request, *, optional: bool = False) -> dict[str, Any]:
    """The request's body as a JSON object (``{}`` for no body when ``optional``)."""
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > MAX_BODY_BYTES:
            raise InvalidQuery(f"the body is larger than {MAX_BODY_BYTES} bytes")
    if not chunks.strip():
        if optional:
            return {}
        raise InvalidQuery("this request needs a JSON object as its body")
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise InvalidQuery("send the body with 'Content-Type: application/json'")
    try:
        data = orjson.loads(bytes(chunks))
    except orjson.JSONDecodeError:
        raise InvalidQuery("the body is not valid JSON (UTF-8)") from None
    if not isinstance(data, dict):
        raise InvalidQuery("the body must be a JSON object")
    return data


def _unknown(cls: type[Any], data: Mapping[str, Any], what: str) -> None:
    names = [name for name, _, _ in request_fields(cls)]
    unknown = sorted(name[:50] for name in data if name not in names)
    if unknown:
        raise InvalidQuery(f"{what} takes {', '.join(names)}; unknown: {', '.join(unknown)}")


def _given(cls: type[Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``data`` by their attribute names in ``cls``."""
    return {field.name: data[name] for name, field, _ in request_fields(cls) if name in data}


def _check_value(name: str, value: Any, field: attrs.Attribute[Any], kind: Any) -> None:
    allowed = set(get_args(kind)) or {kind}
    # No field takes null unless it says so: a null dryRun once read as "absent"
    # and applied the change.
    if value is None:
        if type(None) not in allowed:
            raise InvalidQuery(f"{name!r} must not be null; leave it out instead")
        return
    if bool in allowed and not isinstance(value, bool):
        raise InvalidQuery(f"{name!r} must be true or false")
    if get_origin(kind) is Literal and value not in allowed:
        raise InvalidQuery(f"{name!r} must be one of {', '.join(map(str, allowed))}")
    if str in allowed:
        if not isinstance(value, str):
            raise InvalidQuery(f"{name!r} must be a string")
        if len(value) < field.metadata.get("min_length", 0):
            raise InvalidQuery(f"{name!r} must not be empty")
        limit = field.metadata.get("max_length")
        if limit is not None and len(value) > limit:
            raise InvalidQuery(f"{name!r} is longer than {limit} characters")


def checked_body(cls: type[T], data: Mapping[str, Any], what: str) -> T:
    """``data`` as an instance of body class ``cls``, or :class:`InvalidQuery` saying why.

    Unknown fields, missing required ones, nulls where none is allowed,
    wrong JSON types, empty and oversized strings are refused, each in words.
    """
    _unknown(cls, data, what)
    values: dict[str, Any] = {}
    for name, field, kind in request_fields(cls):
        if name not in data:
            if field.default is attrs.NOTHING:
                raise InvalidQuery(f"{what} needs {name!r}")
            continue
        _check_value(name, data[name], field, kind)
        values[field.name] = data[name]
    return cls(**values)


def override_call(data: Mapping[str, Any]) -> Callable[[Hub], RuleChange]:
    """The hub call that ``POST /overrides`` asks for, once its body is checked."""
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in OVERRIDE_BODIES:
        raise InvalidQuery(f"'kind' must be one of {', '.join(OVERRIDE_BODIES)}")
    body = checked_body(OVERRIDE_BODIES[kind], data, f"a {kind} override")
    decision: dict[str, Any] = {"by": body.by, "reason": body.reason, "dry_run": body.dry_run}
    if isinstance(body, MergeOverride):
        return functools.partial(Hub.merge, from_id=body.from_id, into_id=body.into, **decision)
    if isinstance(body, MoveOverride):
        return functools.partial(
            Hub.move,
            source=body.source,
            source_id=body.case_id,
            into_id=None if body.into is UNSET else body.into,
            **decision,
        )
    return functools.partial(
        Hub.add_alias, spelling=body.spelling, provider=body.provider, **decision
    )


def accept_call(suggestion_id: str, data: Mapping[str, Any]) -> Callable[[Hub], RuleChange]:
    """The hub call that ``POST /suggestions/{id}/accept`` asks for."""
    body = checked_body(Decision, data, "accepting a suggestion")
    return functools.partial(
        Hub.accept_suggestion,
        suggestion_id=suggestion_id,
        by=body.by,
        reason=body.reason,
        dry_run=body.dry_run,
    )


def override_id(raw: str) -> int:
    """An override id from a path: a whole number."""
    if not _OVERRIDE_ID.fullmatch(raw):
        raise InvalidQuery(f"an override id is a whole number, got {raw[:50]!r}")
    return int(raw)


def undo_call(raw_id: str, params: list[tuple[str, str]]) -> Callable[[Hub], RuleChange]:
    """The hub call that ``DELETE /overrides/{id}?by=…[&dryRun=true]`` asks for."""
    values: dict[str, Any] = {}
    for name, value in params:
        if name not in ("by", "dryRun"):
            raise InvalidQuery(f"undoing takes by and dryRun; unknown: {name[:50]}")
        if name in values:
            raise InvalidQuery(f"{name} is given twice")
        values[name] = value
    dry_run = values.get("dryRun", "false").lower()
    if dry_run not in ("true", "false"):
        raise InvalidQuery("dryRun must be true or false")
    given = {"by": values["by"]} if "by" in values else {}
    checked = checked_body(StopReply, given, "undoing")
    return functools.partial(
        Hub.undo, override_id=override_id(raw_id), by=checked.by, dry_run=dry_run == "true"
    )


def work_call(agg_id: str, data: Mapping[str, Any]) -> functools.partial[AggregatedCase]:
    """The hub call that ``PATCH /aggregated-cases/{id}`` asks for, its body checked.

    The body is declared by :class:`~supporthub.vocabulary.work.WorkChange`; its values
    are checked here, before the hub is called, so a bad one changes
    nothing, and by the library again in the same words.
    """
    _unknown(WorkChange, data, "this request")
    if "by" not in data:
        raise InvalidQuery("'by' is required: say who makes the change")
    values = _given(WorkChange, data)
    WorkChange.checked(**values)
    return functools.partial(Hub.update_work, agg_id=agg_id, **values)


def reply_call(agg_id: str, data: Mapping[str, Any]) -> Callable[[Hub], ReplyAccepted]:
    """The hub call that ``POST /aggregated-cases/{id}/replies`` asks for.

    The body is declared by :class:`~supporthub.vocabulary.replies.ReplyRequest`. A
    field left out takes its default; a JSON ``null`` is a value, and only
    ``setStatus`` accepts it.
    """
    _unknown(ReplyRequest, data, "a reply")
    given = _given(ReplyRequest, data)
    given.setdefault("message", None)
    given.setdefault("by", None)
    request = checked_reply(**given)
    return functools.partial(
        Hub.reply,
        agg_id=agg_id,
        message=request.message,
        by=request.by,
        public=request.public,
        set_status=request.set_status,
        scope=request.scope,
        auto_reply=request.auto_reply,
    )


def stop_call(reply_id: str, data: Mapping[str, Any]) -> Callable[[Hub], Reply]:
    """The hub call that ``POST /replies/{id}/stop`` asks for (``{"by": …}``)."""
    body = checked_body(StopReply, data, "stopping a reply")
    return functools.partial(Hub.stop_reply, reply_id=reply_id, by=body.by)
