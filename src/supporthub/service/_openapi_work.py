"""The OpenAPI parts of contract §7 (working an aggregated case), for ``_openapi.py``.

Kept apart so the §7 filters, the ``PATCH`` and the history read in one
place. The §7 fields of an aggregated case and of a history entry come from
their attrs classes, the ``PATCH`` body from :class:`~supporthub.vocabulary.work.WorkChange`
(``_schemas.py``); the filters' bounds come from the library's constants.
"""

from __future__ import annotations

from typing import Any

from supporthub.query.listing import MAX_VALUE_LENGTH
from supporthub.service._schemas import request_schema
from supporthub.vocabulary.work import WorkChange

__all__ = [
    "WORK_SCHEMAS",
    "work_paths",
]

_JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str, schema: str = "Error") -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": _ref(schema)}}}


WORK_SCHEMAS: dict[str, Any] = {
    "WorkChange": request_schema(
        WorkChange,
        "Any of the fields; `by` is required. A field left out stays as it is; `owner: null` "
        "releases, `trackerUrl: null` and `note: null` clear. `null` for `state`, `by` or "
        "`claim` is a `400`. An owner cannot be called `none` (any case). Every bad value is "
        "a `400` with the reason, and nothing changes.",
    ),
    "ClaimConflict": {
        "type": "object",
        "required": ["error", "owner"],
        "properties": {
            "error": {"type": "string"},
            "owner": {"type": "string", "description": "Who owns it."},
        },
    },
}

_ITEM = {"type": "string", "minLength": 1, "maxLength": MAX_VALUE_LENGTH}


def work_paths(
    bad_request: dict[str, Any], unauthorized: dict[str, Any], unavailable: dict[str, Any]
) -> dict[str, Any]:
    """The ``PATCH`` of ``/aggregated-cases/{id}`` and ``/aggregated-cases/{id}/history``."""
    path_id = {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
    }
    not_found = _error("No aggregated case has this id.")
    return {
        "patch": {
            "summary": "Change the work on an aggregated case: owner, state, tracker, note",
            "description": "Every change names its author (`by`) and is kept in the history. "
            "Needs the API token when `SUPPORTHUB_API_TOKEN` is set (else `401`). A bad "
            "request changes nothing. Send it as `Content-Type: application/json`.",
            "operationId": "changeWork",
            "security": [{}, {"bearerAuth": []}],
            "parameters": [path_id],
            "requestBody": {"required": True, "content": {_JSON: {"schema": _ref("WorkChange")}}},
            "responses": {
                "200": {
                    "description": "The aggregated case after the change, with its cases.",
                    "content": {_JSON: {"schema": _ref("AggregatedCase")}},
                },
                "400": bad_request,
                "401": unauthorized,
                "404": not_found,
                "409": _error("A claim lost: somebody else owns it.", "ClaimConflict"),
                "503": unavailable,
            },
        },
        "trend": {
            "get": {
                "summary": "Cases created per day over the last 14 days (a sparkline)",
                "operationId": "trend",
                "security": [{}, {"bearerAuth": []}],
                "parameters": [path_id],
                "responses": {
                    "200": {
                        "description": "One count per day.",
                        "content": {_JSON: {"schema": _ref("Trend")}},
                    },
                    "400": bad_request,
                    "401": unauthorized,
                    "404": not_found,
                    "503": unavailable,
                },
            }
        },
        "history": {
            "get": {
                "summary": "Every change of the work on an aggregated case, newest first",
                "operationId": "workHistory",
                "security": [{}, {"bearerAuth": []}],
                "parameters": [path_id],
                "responses": {
                    "200": {
                        "description": "The history.",
                        "content": {_JSON: {"schema": _ref("History")}},
                    },
                    "400": bad_request,
                    "401": unauthorized,
                    "404": not_found,
                    "503": unavailable,
                },
            }
        },
    }
