"""The OpenAPI 3.1 description of the service: shapes derived, texts written beside them.

Every answer's shape comes from the library's attrs classes and how the
converter sends them (``_schemas.py`` over ``serialize.SENT``), every
request body's from the attrs class that also checks it (``_bodies.py``),
so a field is named, typed and documented once. What stays written here is
what only the HTTP layer knows: the paths, the operations' summaries and
descriptions, the error answers, and the query parameters (whose bounds come
from the library's constants). ``tests/service/test_openapi.py`` checks
that every route is described and that schemathesis finds no answer the
document does not allow; every JSON answer the service tests receive is
checked against this document too (``tests/service/conftest.py``).
"""

from __future__ import annotations

import functools
import typing
from typing import Any, get_args

import attrs

import supporthub
from supporthub.grouping.overrides import Override
from supporthub.query.listing import MAX_VALUE_LENGTH
from supporthub.service._bodies import OVERRIDE_BODIES, Decision, StopReply
from supporthub.service._envelopes import History, Overrides, Replies, RulesPreview, Trend
from supporthub.service._openapi_work import WORK_SCHEMAS, work_paths
from supporthub.service._params import CASE_PAGING, FILTERS, LISTING, OVERRIDES_ALL, REPLY_SCOPE
from supporthub.service._schemas import component_schemas, field_docs, request_schema, type_schema
from supporthub.steering.explain import Explanation
from supporthub.steering.rule_changes import MAX_WHO, RuleChange
from supporthub.steering.suggest import Suggestions
from supporthub.steering.upgrade import RulesUpgrade
from supporthub.vocabulary.models import AggregatedCase, CasesPage, Health, Page, RefreshReport
from supporthub.vocabulary.replies import (
    Reply,
    ReplyAccepted,
    ReplyPreview,
    ReplyRequest,
    ReplyScope,
)
from supporthub.vocabulary.work import HistoryEntry

__all__ = ["openapi_document"]

_JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _cases_page_tail() -> dict[str, Any]:
    """What a page of one aggregated case's cases adds to it: ``nextCasesCursor``."""
    field = attrs.fields(CasesPage).next_cases_cursor
    cursor = type_schema(typing.get_type_hints(CasesPage)[field.name], set())
    cursor["description"] = field_docs(CasesPage)[field.name]
    return {"type": "object", "properties": {"nextCasesCursor": cursor}}


_CASES_PAGE_TAIL = _cases_page_tail()


def _error(description: str, schema: str = "Error", **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": _ref(schema)}}, **extra}


_BAD_REQUEST = _error("A parameter is wrong; `error` says what, in words.")
_UNAUTHORIZED = _error(
    "The token this request needs is missing or wrong (only when tokens are configured).",
    headers={
        "WWW-Authenticate": {"schema": {"type": "string", "const": 'Bearer realm="supporthub"'}}
    },
)
_UNAVAILABLE = _error("The database does not answer.")
_MOVED = _error(
    "A regroup (a new default rule set, changed aliases, an override) retired this "
    "aggregated case id: `Location` is the same request at the aggregated case that holds "
    "most of its former cases now (ties: the smallest id), also through chains of regroups. "
    "`404` only once none of them remain.",
    headers={
        "Location": {
            "description": "The same path (and query) with the new id.",
            "schema": {"type": "string"},
            "required": True,
        }
    },
)

#: The answers whose shapes come from the library's attrs classes (and the
#: classes they hold): the converter's declaration ``SENT`` makes both.
_ANSWERS = (
    Page,
    AggregatedCase,
    RefreshReport,
    Health,
    Override,
    RuleChange,
    RulesUpgrade,
    Explanation,
    Suggestions,
    HistoryEntry,
    Reply,
    ReplyAccepted,
    ReplyPreview,
)


def _planned_and_stored(schemas: dict[str, Any]) -> None:
    """Split ``Override`` in two: the class's ``id`` is ``int | None``.

    A change answers the overrides it made or, in a dry run, would make;
    those are not stored and have ``"id": null`` (there rather than missing:
    a generated client reads both answers with one model). A stored
    override always has an id, so the listings promise a plain integer.
    """
    planned = schemas["Override"]
    schemas["PlannedOverride"] = {
        **planned,
        "description": "An override a change made, or in a dry run would make.",
    }
    stored_id = {**planned["properties"]["id"], "type": "integer"}
    schemas["Override"] = {**planned, "properties": {**planned["properties"], "id": stored_id}}
    schemas["RuleChange"]["properties"]["overrides"]["items"] = _ref("PlannedOverride")


#: The service's own wrappers around them (``_envelopes.py``).
_ENVELOPES = (Overrides, Replies, History, Trend, RulesPreview)

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string", "description": "What went wrong, in words."}},
    },
    "RefreshNotDue": {
        "type": "object",
        "required": ["error", "dataAgeSeconds", "retryAfterSeconds"],
        "properties": {
            "error": {"type": "string"},
            "dataAgeSeconds": {
                "type": ["integer", "null"],
                "minimum": 0,
                "description": "Age of the oldest last success among the enabled sources "
                "(null when none ever succeeded).",
            },
            "retryAfterSeconds": {
                "type": "integer",
                "minimum": 1,
                "description": "Time until the first source may be fetched again; "
                "also in the `Retry-After` header.",
            },
        },
    },
    **component_schemas(_ANSWERS),
    **component_schemas(_ENVELOPES),
    # The request bodies, from the classes that also check them (``_bodies.py``).
    "NewOverride": {"oneOf": [request_schema(body) for body in OVERRIDE_BODIES.values()]},
    "Decision": request_schema(Decision),
    "NewReply": request_schema(ReplyRequest),
    "StopReply": request_schema(StopReply),
    **WORK_SCHEMAS,
}
_planned_and_stored(_SCHEMAS)

_WHO = {"type": "string", "minLength": 1, "maxLength": MAX_WHO, "description": "Who decides."}

_TEXT = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_VALUE_LENGTH,
}


_READ_SECURITY: list[dict[str, list[str]]] = [{}, {"bearerAuth": []}]


def _listing_parameters() -> dict[str, Any]:
    """The listings' parameters, from their declarations (``service/_params.py``)."""
    return {param.http: param.openapi() for param in (*LISTING, *FILTERS)}


def _listing_operation(summary: str, description: str, filters: bool) -> dict[str, Any]:
    parameters = [
        {"$ref": f"#/components/parameters/{param.http}"}
        for param in (LISTING + FILTERS if filters else LISTING)
    ]
    return {
        "summary": summary,
        "description": description + " Unknown parameters are a `400`.",
        "operationId": "search" if filters else "getAll",
        "security": _READ_SECURITY,
        "parameters": parameters,
        "responses": {
            "200": {"description": "The page.", "content": {_JSON: {"schema": _ref("Listing")}}},
            "400": _BAD_REQUEST,
            "401": _UNAUTHORIZED,
            "503": _UNAVAILABLE,
        },
    }


def _refresh_operation(method: str) -> dict[str, Any]:
    return {
        "summary": "Refresh from the CRMs that are due",
        "description": "Fetches what changed in every enabled source that is due and rebuilds "
        "the aggregated cases. Only one refresh runs at a time: a request that arrives "
        "while one runs waits for it (up to 60 s) and returns its report, else `409`. "
        "Needs the API token when `SUPPORTHUB_API_TOKEN` is set. Takes no parameters."
        + (" Same as `GET /refresh`." if method == "post" else ""),
        "operationId": f"refresh{method.title()}",
        "security": [{}, {"bearerAuth": []}],
        "responses": {
            "200": {
                "description": "The report, source by source.",
                "content": {_JSON: {"schema": _ref("RefreshReport")}},
            },
            "400": _BAD_REQUEST,
            "401": _UNAUTHORIZED,
            "409": _error("Another refresh is running and did not finish in time."),
            "429": _error(
                "No source is due yet.",
                "RefreshNotDue",
                headers={
                    "Retry-After": {
                        "description": "Seconds until a source may be fetched again.",
                        "schema": {"type": "string", "pattern": "^[1-9][0-9]*$"},
                        "required": True,
                    }
                },
            ),
            "503": _error(
                "The database does not answer, or no source is enabled (the error names "
                "the variables to set)."
            ),
        },
    }


def _answer(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": _ref(schema)}}}


def _path_id(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": "id",
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema or {"type": "string", "minLength": 1},
    }


def _read_operation(
    operation_id: str, summary: str, answer: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    responses = {"200": answer, "400": _BAD_REQUEST, "401": _UNAUTHORIZED, "503": _UNAVAILABLE}
    responses.update(extra.pop("responses", {}))
    return {
        "summary": summary,
        "operationId": operation_id,
        "security": _READ_SECURITY,
        "responses": responses,
        **extra,
    }


_WRITE_NOTE = (
    " Needs the API token when `SUPPORTHUB_API_TOKEN` is set (else `401`, and nothing "
    "changes). A bad request changes nothing."
)


def _write_operation(
    operation_id: str, summary: str, description: str, **extra: Any
) -> dict[str, Any]:
    responses = {
        "200": _answer("RuleChange", "What changed (or, with `dryRun`, would change)."),
        "400": _BAD_REQUEST,
        "401": _UNAUTHORIZED,
        "404": _error("An id in the request is unknown."),
        "409": _error("A refresh held the lock too long; try again."),
        "503": _UNAVAILABLE,
    }
    return {
        "summary": summary,
        "description": description + _WRITE_NOTE,
        "operationId": operation_id,
        "security": [{}, {"bearerAuth": []}],
        "responses": responses,
        **extra,
    }


def _body(schema: str, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {_JSON: {"schema": _ref(schema)}}}


def _steering_paths() -> dict[str, Any]:
    return {
        "/aggregated-cases/{id}/explain": {
            "get": _read_operation(
                "explainAggregatedCase",
                "Why an aggregated case holds its cases",
                _answer(
                    "Explanation",
                    "The key, the rules that made it, each member's raw values and the "
                    "overrides that shape it.",
                ),
                parameters=[_path_id("The aggregated case id.")],
                responses={"308": _MOVED, "404": _error("No aggregated case has this id.")},
            )
        },
        "/overrides": {
            "get": _read_operation(
                "listOverrides",
                "The operators' overrides, oldest first",
                _answer("Overrides", "The overrides."),
                parameters=[OVERRIDES_ALL.openapi()],
            ),
            "post": _write_operation(
                "makeOverride",
                "Merge, move a case out, or alias a provider",
                "Stores the decision (who, when, why) and regroups every stored case at "
                "once; every later refresh applies it, to new cases too.",
                requestBody=_body("NewOverride"),
            ),
        },
        "/overrides/{id}": {
            "delete": _write_operation(
                "undoOverride",
                "Undo an override",
                "The grouping goes back to what the other rules make.",
                parameters=[
                    _path_id("The override id.", {"type": "string", "pattern": "^[0-9]{1,18}$"}),
                    {
                        "name": "by",
                        "in": "query",
                        "required": True,
                        "description": "Who undoes it.",
                        "schema": _WHO,
                    },
                    {
                        "name": "dryRun",
                        "in": "query",
                        "description": "`true`: only say what would change.",
                        "schema": {"type": "string", "enum": ["true", "false"]},
                    },
                ],
            )
        },
        "/rules/preview": {
            "get": _read_operation(
                "previewRules",
                "What regrouping under the configured rules would do",
                _answer(
                    "RulesPreview",
                    "The diff (`applied` is false); `POST /rules/apply` does exactly this. "
                    "`upgrade` is the pending move to a new default rule set, which "
                    "`supporthub db upgrade` applies (`pending` false: none).",
                ),
            )
        },
        "/rules/apply": {
            "post": _write_operation(
                "applyRules",
                "Regroup every stored case under the configured rules",
                "Applies changed aliases or plug-in rules to all history at once. Takes no "
                "parameters; the body, if any, is an empty JSON object.",
                requestBody={
                    "required": False,
                    "content": {
                        _JSON: {
                            "schema": {"type": "object", "maxProperties": 0},
                        }
                    },
                },
            )
        },
        "/suggestions": {
            "get": _read_operation(
                "suggestions",
                "Probable provider aliases and groups of uncoded cases",
                _answer("Suggestions", "Nothing changes until a person accepts one."),
            )
        },
        "/suggestions/{id}/accept": {
            "post": _write_operation(
                "acceptSuggestion",
                "Accept a suggestion",
                "It becomes an alias, or moves, like any override; undo it the same way.",
                parameters=[_path_id("The suggestion id, from `GET /suggestions`.")],
                requestBody=_body("Decision"),
            )
        },
    }


_SCOPE = {
    "type": "string",
    "enum": list(get_args(ReplyScope)),
    "default": "open",
    "description": "`open`: the open member cases; `all`: every member case.",
}


def _reply_paths() -> dict[str, Any]:
    unknown_case = _error("No aggregated case has this id.")
    return {
        "/aggregated-cases/{id}/replies": {
            "get": _read_operation(
                "listReplies",
                "The replies of one aggregated case, newest first",
                _answer("Replies", "The replies with their counts (without target lists)."),
                parameters=[_path_id("The aggregated case id.")],
                responses={"404": unknown_case},
            ),
            "post": {
                **_write_operation(
                    "reply",
                    "Answer every customer of an aggregated case",
                    "Stores the reply and one delivery per target case in one transaction, "
                    "then the hub posts the comment on each case in its CRM, exactly once, "
                    "through crashes and CRM faults. Follow it at `GET /replies/{id}`.",
                    parameters=[_path_id("The aggregated case id.")],
                    requestBody=_body("NewReply"),
                ),
                "responses": {
                    "202": _answer("ReplyAccepted", "Stored; delivery has begun."),
                    "400": _BAD_REQUEST,
                    "401": _UNAUTHORIZED,
                    "404": unknown_case,
                    "503": _UNAVAILABLE,
                },
            },
        },
        "/aggregated-cases/{id}/replies/preview": {
            "get": _read_operation(
                "previewReply",
                "Who a reply would reach: target cases per source",
                _answer("ReplyPreview", "The count per source, before anything is sent."),
                parameters=[
                    _path_id("The aggregated case id."),
                    REPLY_SCOPE.openapi(),
                ],
                responses={"404": unknown_case},
            )
        },
        "/replies/{id}": {
            "get": _read_operation(
                "replyProgress",
                "A reply's progress, with every target case",
                _answer("Reply", "The reply."),
                parameters=[_path_id("The reply id.")],
                responses={"404": _error("No reply has this id.")},
            )
        },
        "/replies/{id}/stop": {
            "post": {
                **_write_operation(
                    "stopReply",
                    "End a reply's auto-reply for good",
                    "Deliveries already queued still go out; no new case gets it.",
                    parameters=[_path_id("The reply id.")],
                    requestBody=_body("StopReply"),
                ),
                "responses": {
                    "200": _answer("Reply", "The reply, stopped."),
                    "400": _BAD_REQUEST,
                    "401": _UNAUTHORIZED,
                    "404": _error("No reply has this id."),
                    "503": _UNAVAILABLE,
                },
            }
        },
    }


def _link(operation_id: str, path_id: str, **more: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": {"path.id": path_id, **more}}


_FIRST_AGGREGATED = "$response.body#/aggregatedCases/0/id"
_LISTING_LINKS = {
    "getAggregatedCase": _link("getAggregatedCase", _FIRST_AGGREGATED),
    "explainAggregatedCase": _link("explainAggregatedCase", _FIRST_AGGREGATED),
    "workHistory": _link("workHistory", _FIRST_AGGREGATED),
    "trend": _link("trend", _FIRST_AGGREGATED),
    "listReplies": _link("listReplies", _FIRST_AGGREGATED),
    "previewReply": _link("previewReply", _FIRST_AGGREGATED),
    "changeWork": _link("changeWork", _FIRST_AGGREGATED),
    "reply": _link("reply", _FIRST_AGGREGATED),
}
#: Where an answer's ids lead (OpenAPI links): schemathesis follows them in
#: its stateful run, so the operations on one id are tried on ids that exist.
_LINKS: dict[tuple[str, str, str], dict[str, Any]] = {
    ("/get-all", "get", "200"): _LISTING_LINKS,
    ("/search", "get", "200"): _LISTING_LINKS,
    ("/overrides", "post", "200"): {
        "undoOverride": _link(
            "undoOverride", "$response.body#/overrides/0/id", **{"query.by": "$request.body#/by"}
        )
    },
    ("/aggregated-cases/{id}/replies", "post", "202"): {
        "replyProgress": _link("replyProgress", "$response.body#/id"),
        "stopReply": _link("stopReply", "$response.body#/id"),
    },
}


def _with_links(paths: dict[str, Any]) -> dict[str, Any]:
    for (path, method, status), links in _LINKS.items():
        responses = paths[path][method]["responses"]
        responses[status] = {**responses[status], "links": links}
    return paths


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document served at ``/openapi.json``."""
    _work = work_paths(_BAD_REQUEST, _UNAUTHORIZED, _UNAVAILABLE)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Support Aggregation Hub",
            "version": supporthub.__version__,
            "description": "Support cases from several CRMs, consolidated into aggregated "
            "cases by provider and error code. JSON in UTF-8, camelCase fields; more fields "
            'than described may appear. Errors are `{"error": "<words>"}`.',
        },
        "paths": _with_links(
            {
                "/get-all": {
                    "get": _listing_operation(
                        "Every aggregated case",
                        "Every aggregated case, open first, then by `caseCount` descending, "
                        "then by `id`.",
                        filters=False,
                    )
                },
                "/search": {
                    "get": _listing_operation(
                        "Aggregated cases that match",
                        "The filters combine with AND; a repeated filter matches any of its "
                        "values. Without filters it answers what `/get-all` answers.",
                        filters=True,
                    )
                },
                "/aggregated-cases/{id}": {
                    "get": {
                        "summary": "One aggregated case with all its cases, or a page of them",
                        "description": "Without `casesLimit` every case is embedded, streamed. "
                        "With it the cases come a page at a time (most recently updated first) "
                        "and the answer carries `nextCasesCursor`, null on the last page.",
                        "operationId": "getAggregatedCase",
                        "security": _READ_SECURITY,
                        "parameters": [
                            {
                                "name": "id",
                                "in": "path",
                                "required": True,
                                "schema": {"type": "string", "minLength": 1},
                            },
                            *(param.openapi() for param in CASE_PAGING),
                        ],
                        "responses": {
                            "200": {
                                "description": "The aggregated case.",
                                "content": {
                                    _JSON: {
                                        "schema": {
                                            "allOf": [
                                                _ref("AggregatedCase"),
                                                _CASES_PAGE_TAIL,
                                            ]
                                        }
                                    }
                                },
                            },
                            "400": _BAD_REQUEST,
                            "308": _MOVED,
                            "401": _UNAUTHORIZED,
                            "404": _error("No aggregated case has this id."),
                            "503": _UNAVAILABLE,
                        },
                    },
                    "patch": _work["patch"],
                },
                "/aggregated-cases/{id}/history": _work["history"],
                "/aggregated-cases/{id}/trend": _work["trend"],
                **_steering_paths(),
                **_reply_paths(),
                "/refresh": {"get": _refresh_operation("get"), "post": _refresh_operation("post")},
                "/health": {
                    "get": {
                        "summary": "Database, refresh lock and sources",
                        "description": "Never needs a token. The page explains the Refresh "
                        "button's state from `sources.*.refreshableAt`.",
                        "operationId": "health",
                        "responses": {
                            "200": {
                                "description": "The database answers.",
                                "content": {_JSON: {"schema": _ref("Health")}},
                            },
                            "503": {
                                "description": "The database does not answer.",
                                "content": {_JSON: {"schema": _ref("Health")}},
                            },
                        },
                    }
                },
                "/openapi.json": {
                    "get": {
                        "summary": "This document",
                        "operationId": "openapi",
                        "security": _READ_SECURITY,
                        "responses": {
                            "200": {
                                "description": "OpenAPI 3.1.",
                                "content": {_JSON: {"schema": {"type": "object"}}},
                            },
                            "401": _UNAUTHORIZED,
                        },
                    }
                },
                "/metrics": {
                    "get": {
                        "summary": "Prometheus metrics",
                        "description": "Request latency by route and status; refresh duration and "
                        "outcome per source; cases per source; open and closed aggregated cases; "
                        "unowned open and regressed aggregated cases; claims won and lost.",
                        "operationId": "metrics",
                        "security": _READ_SECURITY,
                        "responses": {
                            "200": {
                                "description": "Prometheus text format (OpenMetrics when the "
                                "`Accept` header asks for it).",
                                "content": {
                                    "text/plain": {"schema": {"type": "string"}},
                                    "application/openmetrics-text": {"schema": {"type": "string"}},
                                },
                            },
                            "401": _UNAUTHORIZED,
                        },
                    }
                },
                "/": {
                    "get": {
                        "summary": "The web page for people",
                        "description": "Never needs a token: it holds no data and asks for the "
                        "read token itself when the data endpoints answer `401`.",
                        "operationId": "page",
                        "responses": {
                            "200": {
                                "description": "HTML.",
                                "content": {"text/html": {"schema": {"type": "string"}}},
                            }
                        },
                    }
                },
                "/static/app.js": {
                    "get": {
                        "summary": "The web page's script",
                        "operationId": "pageScript",
                        "responses": {
                            "200": {
                                "description": "JavaScript.",
                                "content": {"text/javascript": {"schema": {"type": "string"}}},
                            }
                        },
                    }
                },
                "/static/app.css": {
                    "get": {
                        "summary": "The web page's style sheet",
                        "operationId": "pageStyle",
                        "responses": {
                            "200": {
                                "description": "CSS.",
                                "content": {"text/css": {"schema": {"type": "string"}}},
                            }
                        },
                    }
                },
            }
        ),
        "components": {
            "schemas": _SCHEMAS,
            "parameters": _listing_parameters(),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "`SUPPORTHUB_READ_TOKEN` (or the API token) for reads when "
                    "it is set; `SUPPORTHUB_API_TOKEN` for `/refresh` and every other write "
                    "when it is set. Without configured tokens no header is needed.",
                }
            },
        },
    }
