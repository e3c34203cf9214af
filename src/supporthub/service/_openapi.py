"""The OpenAPI 3.1 description of the service, written by hand from the contract (§4).

Written out rather than generated, so that it says what the contract says:
the answer shapes, every error answer, and each parameter's constraints.
The bounds come from the library's own constants, so the document and the
validation cannot drift apart; ``tests/service/test_openapi.py`` checks
that every route is described and that schemathesis finds no answer the
document does not allow.
"""

from __future__ import annotations

import functools
from typing import Any

import supporthub
from supporthub._query import MAX_LIMIT, MAX_VALUE_LENGTH

__all__ = ["openapi_document"]

_JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **extra}


_TIME = {"type": "string", "format": "date-time", "description": "UTC, ending in `Z`."}
_TIME_OR_NULL = {**_TIME, "type": ["string", "null"]}
_COUNT = {"type": "integer", "minimum": 0}


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
            "dataAgeSeconds": _nullable(
                "integer",
                minimum=0,
                description="Age of the oldest last success among the enabled sources "
                "(null when none ever succeeded).",
            ),
            "retryAfterSeconds": {
                "type": "integer",
                "minimum": 1,
                "description": "Time until the first source may be fetched again; "
                "also in the `Retry-After` header.",
            },
        },
    },
    "Status": {"type": "string", "enum": ["open", "closed"]},
    "Case": {
        "type": "object",
        "description": "One CRM case, its text exactly as the CRM sent it. Contact e-mails "
        "and requesters are never returned.",
        "required": [
            "source",
            "id",
            "number",
            "status",
            "subject",
            "priority",
            "createdAt",
            "updatedAt",
            "url",
        ],
        "properties": {
            "source": {"type": "string", "description": "The CRM (adapter name), e.g. `banana`."},
            "id": {"type": "string", "description": "The CRM's own id, always a string."},
            "number": _nullable("string", description="The people-facing case number."),
            "status": _ref("Status"),
            "subject": _nullable("string"),
            "priority": _nullable("string"),
            "provider": _nullable("string", description="The provider as the CRM spells it."),
            "errorCode": _nullable("string", description="The error code as the CRM wrote it."),
            "createdAt": _TIME,
            "updatedAt": _TIME,
            "url": _nullable("string", description="Where the case opens in its CRM."),
        },
    },
    "AggregatedCase": {
        "type": "object",
        "description": "Cases consolidated by (provider key, error code key).",
        "required": [
            "id",
            "provider",
            "errorCode",
            "status",
            "caseCount",
            "openCaseCount",
            "firstCreatedAt",
            "lastUpdatedAt",
            "cases",
        ],
        "properties": {
            "id": {"type": "string", "description": "Derived from the key alone: stable."},
            "provider": _nullable(
                "string", description="The most common spelling among the cases."
            ),
            "errorCode": _nullable("string", description="The error code key."),
            "status": {
                **_ref("Status"),
                "description": "`open` when at least one of its cases is open.",
            },
            "caseCount": {"type": "integer", "minimum": 1},
            "openCaseCount": _COUNT,
            "firstCreatedAt": _TIME,
            "lastUpdatedAt": _TIME,
            "cases": {
                "type": "array",
                "items": _ref("Case"),
                "description": "Most recently updated first; capped by `casesLimit`.",
            },
        },
    },
    "Listing": {
        "type": "object",
        "required": ["aggregatedCases", "count", "total", "nextCursor", "refreshedAt"],
        "properties": {
            "aggregatedCases": {
                "type": "array",
                "items": _ref("AggregatedCase"),
                "description": "Open before closed, then `caseCount` descending, then `id`.",
            },
            "count": {**_COUNT, "description": "Aggregated cases in this answer."},
            "total": {**_COUNT, "description": "Aggregated cases that match, over all pages."},
            "nextCursor": _nullable(
                "string", description="Pass as `cursor` for the next page; null on the last."
            ),
            "refreshedAt": {
                **_TIME_OR_NULL,
                "description": "End of the last refresh in which a source succeeded.",
            },
        },
    },
    "SourceReport": {
        "type": "object",
        "required": ["ok"],
        "properties": {
            "ok": {"type": "boolean"},
            "due": {"type": "boolean", "description": "false: not fetched this time."},
            "fetched": {**_COUNT, "description": "Records and tombstones read, repeats included."},
            "skipped": {**_COUNT, "description": "Those among them that could not be used."},
            "written": _COUNT,
            "deleted": _COUNT,
            "durationSeconds": {"type": "number", "minimum": 0},
            "error": {"type": "string", "description": "Why the source failed."},
        },
    },
    "RefreshReport": {
        "type": "object",
        "required": ["refreshedAt", "sources"],
        "properties": {
            "refreshedAt": _TIME_OR_NULL,
            "startedAt": _TIME,
            "finishedAt": _TIME,
            "trigger": {"type": "string", "enum": ["on_demand", "forced", "scheduled"]},
            "full": {"type": "boolean"},
            "ok": {"type": "boolean", "description": "No source failed."},
            "sources": {"type": "object", "additionalProperties": _ref("SourceReport")},
        },
    },
    "SourceHealth": {
        "type": "object",
        "required": ["lastSuccessAt", "lastError", "refreshableAt"],
        "properties": {
            "enabled": {"type": "boolean"},
            "lastSuccessAt": _TIME_OR_NULL,
            "lastAttemptAt": _TIME_OR_NULL,
            "lastError": _nullable("string"),
            "consecutiveFailures": _COUNT,
            "refreshableAt": {
                **_TIME_OR_NULL,
                "description": "When an on-demand refresh may fetch this source again "
                "(null: the source is disabled). The Refresh button is enabled exactly "
                "when some enabled source's time has passed.",
            },
        },
    },
    "Health": {
        "type": "object",
        "required": [
            "database",
            "refreshing",
            "minRefreshAgeSeconds",
            "refreshIntervalSeconds",
            "sources",
        ],
        "properties": {
            "database": {"type": "string", "enum": ["ok", "unavailable"]},
            "refreshing": {"type": "boolean"},
            "minRefreshAgeSeconds": {"type": "number", "minimum": 0},
            "refreshIntervalSeconds": {"type": "number", "exclusiveMinimum": 0},
            "refreshedAt": _TIME_OR_NULL,
            "sources": {"type": "object", "additionalProperties": _ref("SourceHealth")},
        },
    },
}

_TEXT = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_VALUE_LENGTH,
}

_PARAMETERS: dict[str, Any] = {
    "limit": {
        "name": "limit",
        "in": "query",
        "description": "Page size. Without it every aggregated case comes back, streamed.",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
    },
    "cursor": {
        "name": "cursor",
        "in": "query",
        "description": "The previous answer's `nextCursor`; any other value is a `400`.",
        "schema": {"type": "string", "maxLength": MAX_VALUE_LENGTH},
    },
    "casesLimit": {
        "name": "casesLimit",
        "in": "query",
        "description": "Embed at most this many cases per aggregated case (the most recently "
        "updated); `caseCount` still counts them all. `0` embeds none.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "provider": {
        "name": "provider",
        "in": "query",
        "description": "Aggregated cases whose provider key equals this value's provider key "
        "(`ACME PAYMENTS INC` finds `Acme Payments`). Must hold a letter or a digit. "
        "Repeat it to match any of several.",
        "schema": {"type": "array", "items": _TEXT},
        "style": "form",
        "explode": True,
    },
    "errorCode": {
        "name": "errorCode",
        "in": "query",
        "description": "Aggregated cases whose error code key equals this value's "
        "(`E-1042` finds `1042`). Must not be empty once trimmed. Repeat to match any of several.",
        "schema": {"type": "array", "items": _TEXT},
        "style": "form",
        "explode": True,
    },
    "status": {
        "name": "status",
        "in": "query",
        "description": "`open` or `closed`, in any case. Repeat to match any of several.",
        "schema": {"type": "array", "items": {"type": "string", "enum": ["open", "closed"]}},
        "style": "form",
        "explode": True,
    },
}

_READ_SECURITY: list[dict[str, list[str]]] = [{}, {"bearerAuth": []}]

_PAGING = [
    {"$ref": "#/components/parameters/limit"},
    {"$ref": "#/components/parameters/cursor"},
    {"$ref": "#/components/parameters/casesLimit"},
]


def _listing_operation(summary: str, description: str, filters: bool) -> dict[str, Any]:
    parameters = list(_PAGING)
    if filters:
        parameters += [
            {"$ref": f"#/components/parameters/{name}"}
            for name in ("provider", "errorCode", "status")
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
            "503": _UNAVAILABLE,
        },
    }


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document served at ``/openapi.json``."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Support Aggregation Hub",
            "version": supporthub.__version__,
            "description": "Support cases from several CRMs, consolidated into aggregated "
            "cases by provider and error code. JSON in UTF-8, camelCase fields; more fields "
            'than described may appear. Errors are `{"error": "<words>"}`.',
        },
        "paths": {
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
                    "summary": "One aggregated case with all its cases",
                    "operationId": "getAggregatedCase",
                    "security": _READ_SECURITY,
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The aggregated case.",
                            "content": {_JSON: {"schema": _ref("AggregatedCase")}},
                        },
                        "400": _BAD_REQUEST,
                        "401": _UNAUTHORIZED,
                        "404": _error("No aggregated case has this id."),
                        "503": _UNAVAILABLE,
                    },
                }
            },
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
                    "outcome per source; cases per source; open and closed aggregated cases.",
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
        },
        "components": {
            "schemas": _SCHEMAS,
            "parameters": _PARAMETERS,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "`SUPPORTHUB_READ_TOKEN` (or the API token) for reads when "
                    "it is set; `SUPPORTHUB_API_TOKEN` for `/refresh` when it is set. Without "
                    "configured tokens no header is needed.",
                }
            },
        },
    }
