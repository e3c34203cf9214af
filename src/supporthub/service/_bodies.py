"""Request bodies and path ids of the steering endpoints, checked before the hub sees them.

Only the shape is checked here (a JSON object, known fields, the right JSON
types, lengths the database can hold); what the values mean — whether an id
exists, whether a merge makes sense — is the library's to decide. Anything
wrong is an :class:`~supporthub._errors.InvalidQuery` (``400`` with words),
raised before anything is written.

Bodies must be sent as ``Content-Type: application/json``: a browser cannot
send that to another site without asking it first (CORS), so a foreign page
cannot make a visitor's browser change the grouping.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from starlette.requests import Request

from supporthub._errors import InvalidQuery
from supporthub._hub import Hub
from supporthub._models import AggregatedCase
from supporthub._query import MAX_VALUE_LENGTH
from supporthub._replies import Reply, ReplyAccepted, checked_reply
from supporthub._steering import MAX_REASON, MAX_WHO, RuleChange
from supporthub._work import WorkChange

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_ID_LENGTH",
    "OVERRIDE_FIELDS",
    "accept_call",
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

#: Fields each kind of override takes: name → (JSON type, max length, required).
OVERRIDE_FIELDS: Mapping[str, Mapping[str, tuple[type, int, bool]]] = {
    "merge": {"from": (str, MAX_ID_LENGTH, True), "into": (str, MAX_ID_LENGTH, True)},
    "move": {
        "source": (str, MAX_ID_LENGTH, True),
        "caseId": (str, MAX_ID_LENGTH, True),
        "into": (str, MAX_ID_LENGTH, False),
    },
    "alias": {
        "spelling": (str, MAX_VALUE_LENGTH, True),
        "provider": (str, MAX_VALUE_LENGTH, True),
    },
}
#: Fields every decision takes.
DECISION_FIELDS: Mapping[str, tuple[type, int, bool]] = {
    "by": (str, MAX_WHO, True),
    "reason": (str, MAX_REASON, True),
    "dryRun": (bool, 0, False),
}

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


def _checked(
    data: Mapping[str, Any], fields: Mapping[str, tuple[type, int, bool]], what: str
) -> dict[str, Any]:
    unknown = sorted(name[:50] for name in data if name not in fields)
    if unknown:
        known = ", ".join(fields)
        raise InvalidQuery(f"{what} takes {known}; unknown: {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, (kind, limit, required) in fields.items():
        if name not in data:
            if required:
                raise InvalidQuery(f"{what} needs {name!r}")
            continue
        value = data[name]
        # No field takes null: a null dryRun once read as "absent" and applied the change.
        if value is None:
            raise InvalidQuery(f"{name!r} must not be null; leave it out instead")
        if kind is bool and not isinstance(value, bool):
            raise InvalidQuery(f"{name!r} must be true or false")
        if kind is str:
            if not isinstance(value, str):
                raise InvalidQuery(f"{name!r} must be a string")
            if not value:
                raise InvalidQuery(f"{name!r} must not be empty")
            if len(value) > limit:
                raise InvalidQuery(f"{name!r} is longer than {limit} characters")
        values[name] = value
    return values


def override_call(data: Mapping[str, Any]) -> Callable[[Hub], RuleChange]:
    """The hub call that ``POST /overrides`` asks for, once its body is checked."""
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in OVERRIDE_FIELDS:
        raise InvalidQuery(f"'kind' must be one of {', '.join(OVERRIDE_FIELDS)}")
    fields = {"kind": (str, 10, True), **OVERRIDE_FIELDS[kind], **DECISION_FIELDS}
    values = _checked(data, fields, f"a {kind} override")
    decision = {
        "by": values["by"],
        "reason": values["reason"],
        "dry_run": values.get("dryRun", False),
    }
    if kind == "merge":
        return functools.partial(
            Hub.merge, from_id=values["from"], into_id=values["into"], **decision
        )
    if kind == "move":
        return functools.partial(
            Hub.move,
            source=values["source"],
            source_id=values["caseId"],
            into_id=values.get("into"),
            **decision,
        )
    return functools.partial(
        Hub.add_alias, spelling=values["spelling"], provider=values["provider"], **decision
    )


def accept_call(suggestion_id: str, data: Mapping[str, Any]) -> Callable[[Hub], RuleChange]:
    """The hub call that ``POST /suggestions/{id}/accept`` asks for."""
    values = _checked(data, DECISION_FIELDS, "accepting a suggestion")
    return functools.partial(
        Hub.accept_suggestion,
        suggestion_id=suggestion_id,
        by=values["by"],
        reason=values["reason"],
        dry_run=values.get("dryRun", False),
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
    checked = _checked(given, {"by": DECISION_FIELDS["by"]}, "undoing")
    return functools.partial(
        Hub.undo, override_id=override_id(raw_id), by=checked["by"], dry_run=dry_run == "true"
    )


#: Fields of ``PATCH /aggregated-cases/{id}`` (contract §7), JSON name → library name.
WORK_FIELDS: Mapping[str, str] = {
    "owner": "owner",
    "state": "state",
    "trackerUrl": "tracker_url",
    "note": "note",
    "by": "by",
    "claim": "claim",
}


def work_call(agg_id: str, data: Mapping[str, Any]) -> functools.partial[AggregatedCase]:
    """The hub call that ``PATCH /aggregated-cases/{id}`` asks for, its body checked.

    Every value is checked here, before the hub is called, so a bad one
    changes nothing; the library checks them again in the same words.
    """
    unknown = sorted(name[:50] for name in data if name not in WORK_FIELDS)
    if unknown:
        known = ", ".join(WORK_FIELDS)
        raise InvalidQuery(f"this request takes {known}; unknown: {', '.join(unknown)}")
    if "by" not in data:
        raise InvalidQuery("'by' is required: say who makes the change")
    values = {WORK_FIELDS[name]: value for name, value in data.items()}
    WorkChange.checked(**values)
    return functools.partial(Hub.update_work, agg_id=agg_id, **values)


#: ``POST /aggregated-cases/{id}/replies``: JSON name → the library's name.
REPLY_FIELDS: Mapping[str, str] = {
    "message": "message",
    "by": "by",
    "public": "public",
    "setStatus": "set_status",
    "scope": "scope",
    "autoReply": "auto_reply",
}


def reply_call(agg_id: str, data: Mapping[str, Any]) -> Callable[[Hub], ReplyAccepted]:
    """The hub call that ``POST /aggregated-cases/{id}/replies`` asks for.

    A field left out takes its default; a JSON ``null`` is a value, and only
    ``setStatus`` accepts it.
    """
    unknown = sorted(name[:50] for name in data if name not in REPLY_FIELDS)
    if unknown:
        raise InvalidQuery(
            f"a reply takes {', '.join(REPLY_FIELDS)}; unknown: {', '.join(unknown)}"
        )
    given = {python: data[json] for json, python in REPLY_FIELDS.items() if json in data}
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
    values = _checked(data, {"by": DECISION_FIELDS["by"]}, "stopping a reply")
    return functools.partial(Hub.stop_reply, reply_id=reply_id, by=values["by"])
