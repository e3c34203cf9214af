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
from supporthub._replies import MAX_MESSAGE
from supporthub._steering import MAX_REASON, MAX_WHO
from supporthub.service._bodies import MAX_ID_LENGTH
from supporthub.service._openapi_work import (
    WORK_FIELDS,
    WORK_PARAMETERS,
    WORK_REQUIRED,
    WORK_SCHEMAS,
    work_paths,
)
from supporthub.service._params import CASE_PAGING, FILTERS, LISTING, OVERRIDES_ALL, REPLY_SCOPE

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
            *WORK_REQUIRED,
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
            "providerKey": _nullable("string"),
            "rulesVersion": _nullable(
                "string", description="The rule set that produced this aggregated case."
            ),
            **WORK_FIELDS,
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
            "writesNeedToken": {
                "type": "boolean",
                "description": "Whether writes need the API token (`SUPPORTHUB_API_TOKEN` "
                "is set); the web page shows its write controls to a user without the "
                "token only when they do not.",
            },
        },
    },
}

_ID_LIST = {"type": "array", "items": {"type": "string"}}

_STEERING_SCHEMAS: dict[str, Any] = {
    "AggregationKey": {
        "type": "object",
        "required": ["id", "providerKey", "errorCodeKey", "extra"],
        "properties": {
            "id": {"type": "string", "description": "The aggregated case id of this key."},
            "providerKey": _nullable("string"),
            "errorCodeKey": _nullable("string"),
            "extra": {
                "type": "array",
                "items": {"type": "array", "items": {"type": "string"}},
                "description": "Further (name, value) parts from plug-in rules or overrides.",
            },
        },
    },
    "CaseRef": {
        "type": "object",
        "required": ["source", "id"],
        "properties": {"source": {"type": "string"}, "id": {"type": "string"}},
    },
    "Override": {
        "type": "object",
        "description": "One operator decision: who, when, why, and whether it was undone.",
        "required": ["id", "kind", "subject", "target", "createdAt", "createdBy", "reason"],
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string", "enum": ["alias", "merge", "move"]},
            "subject": {
                "description": "A provider key (alias), an aggregation key (merge), a case (move).",
                "oneOf": [{"type": "string"}, _ref("AggregationKey"), _ref("CaseRef")],
            },
            "target": {
                "description": "A provider key (alias) or an aggregation key.",
                "oneOf": [{"type": "string"}, _ref("AggregationKey")],
            },
            "createdAt": _TIME,
            "createdBy": {"type": "string"},
            "reason": {"type": "string"},
            "removedAt": _TIME_OR_NULL,
            "removedBy": _nullable("string"),
        },
    },
    "Overrides": {
        "type": "object",
        "required": ["overrides"],
        "properties": {"overrides": {"type": "array", "items": _ref("Override")}},
    },
    "ReplayDiff": {
        "type": "object",
        "description": "How a rule change regroups the stored cases.",
        "required": ["movedCases", "splits", "merges", "appeared", "vanished"],
        "properties": {
            "movedCases": _COUNT,
            "splits": {
                "type": "object",
                "additionalProperties": _ID_LIST,
                "description": "Aggregated cases whose cases go to several, with where they go.",
            },
            "merges": {
                "type": "object",
                "additionalProperties": _ID_LIST,
                "description": "Aggregated cases that receive cases from several, with whence.",
            },
            "appeared": {**_ID_LIST, "description": "Aggregated case ids that are new."},
            "vanished": {**_ID_LIST, "description": "Aggregated case ids left with no case."},
        },
    },
    "RuleChange": {
        "type": "object",
        "description": "What a change did (`applied`), or would do in a dry run. A dry run "
        "and the change it previews run the same plan: the diffs are equal.",
        "required": ["diff", "applied"],
        "properties": {
            "diff": _ref("ReplayDiff"),
            "applied": {"type": "boolean"},
            "overrides": {"type": "array", "items": _ref("PlannedOverride")},
            "removed": {"type": "array", "items": {"type": "integer"}},
        },
    },
    "CarriedOverride": {
        "type": "object",
        "description": "An override made under the old rules, and what replaces it.",
        "required": ["original", "becomes", "reason"],
        "properties": {
            "original": _ref("Override"),
            "becomes": {
                "type": "array",
                "items": _ref("Override"),
                "description": "The same decision on the new keys; empty: retired, see `reason`.",
            },
            "reason": {"type": "string"},
        },
    },
    "RulesUpgrade": {
        "type": "object",
        "description": "The move to a new default rule set that `supporthub db upgrade` "
        "makes: every stored case regrouped, overrides carried over to the new keys.",
        "required": ["fromRules", "toRules", "pending", "applied", "diff", "overrides"],
        "properties": {
            "fromRules": {"type": "string", "description": "What the database is grouped by."},
            "toRules": {"type": "string", "description": "What this version of the hub brings."},
            "pending": {"type": "boolean"},
            "applied": {"type": "boolean"},
            "diff": _ref("ReplayDiff"),
            "overrides": {"type": "array", "items": _ref("CarriedOverride")},
        },
    },
    "RulesPreview": {
        "type": "object",
        "required": ["diff", "applied", "upgrade"],
        "properties": {
            "diff": _ref("ReplayDiff"),
            "applied": {"type": "boolean", "const": False},
            "upgrade": _ref("RulesUpgrade"),
        },
    },
    "ExplainStep": {
        "type": "object",
        "required": ["rule", "key"],
        "properties": {"rule": {"type": "string"}, "key": _ref("AggregationKey")},
    },
    "ExplainedValues": {
        "type": "object",
        "required": ["provider", "errorCode", "caseCount", "steps"],
        "properties": {
            "provider": _nullable("string", description="As the CRMs spelled it."),
            "errorCode": _nullable("string", description="As the CRMs wrote it."),
            "caseCount": {"type": "integer", "minimum": 1},
            "steps": {
                "type": "array",
                "items": _ref("ExplainStep"),
                "description": "The key after each rule that changed it.",
            },
        },
    },
    "Explanation": {
        "type": "object",
        "description": "Why an aggregated case holds its cases.",
        "required": [
            "id",
            "key",
            "rulesVersion",
            "rules",
            "values",
            "overrides",
            "defaultRules",
            "legalForms",
            "madeBy",
        ],
        "properties": {
            "id": {"type": "string"},
            "key": _ref("AggregationKey"),
            "rulesVersion": {"type": "string"},
            "defaultRules": {
                "type": "string",
                "description": "The default rule set the database is grouped by (`default@2`).",
            },
            "legalForms": {
                "type": "array",
                "items": {"type": "string"},
                "description": "The legal forms that rule set drops from provider names.",
            },
            "madeBy": {
                "type": "string",
                "description": "The rules that made this aggregated case, in words: the default "
                "rule set, then each further rule with a digest of what configures it "
                "(`default@2, overrides@1 #1a2b3c4d`).",
            },
            "rules": {
                "type": "array",
                "items": {"type": "string"},
                "description": "`name@version`, in the order they run.",
            },
            "values": {"type": "array", "items": _ref("ExplainedValues")},
            "overrides": {"type": "array", "items": _ref("Override")},
        },
    },
    "AliasSuggestion": {
        "type": "object",
        "required": ["id", "spelling", "provider", "score", "caseCount"],
        "properties": {
            "id": {"type": "string"},
            "spelling": {"type": "string", "description": "A provider key…"},
            "provider": {"type": "string", "description": "…that probably means this one."},
            "score": {"type": "number", "minimum": 0, "maximum": 100},
            "caseCount": _COUNT,
        },
    },
    "GroupSuggestion": {
        "type": "object",
        "required": ["id", "cases", "intoId", "subject", "score"],
        "properties": {
            "id": {"type": "string"},
            "cases": {"type": "array", "items": _ref("CaseRef")},
            "intoId": _nullable(
                "string", description="The aggregated case they resemble; null: a new one."
            ),
            "subject": {"type": "string"},
            "score": {"type": "number", "minimum": 0, "maximum": 100},
        },
    },
    "Suggestions": {
        "type": "object",
        "required": ["aliases", "groups"],
        "properties": {
            "aliases": {"type": "array", "items": _ref("AliasSuggestion")},
            "groups": {"type": "array", "items": _ref("GroupSuggestion")},
        },
    },
}

_WHO = {"type": "string", "minLength": 1, "maxLength": MAX_WHO, "description": "Who decides."}
_WHY = {"type": "string", "minLength": 1, "maxLength": MAX_REASON, "description": "Why."}
_DRY_RUN = {"type": "boolean", "default": False, "description": "Only say what would change."}
# minLength as the endpoints check it: no id, case id or source is empty.
_AGG_ID = {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH}
_SPELLING = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_VALUE_LENGTH,
    "description": "Needs a letter or a digit.",
}


def _decision(kind: str, description: str, **fields: Any) -> dict[str, Any]:
    required = [name for name, (_, needed) in fields.items() if needed]
    return {
        "type": "object",
        "description": description,
        "required": ["kind", *required, "by", "reason"],
        "additionalProperties": False,
        "properties": {
            "kind": {"type": "string", "const": kind},
            **{name: schema for name, (schema, _) in fields.items()},
            "by": _WHO,
            "reason": _WHY,
            "dryRun": _DRY_RUN,
        },
    }


# A change answers the overrides it made or, in a dry run, would make; those
# are not stored and have no id. `id` is there and null then, rather than
# missing: a generated client reads both answers with one model, and the
# listing's `Override.id` stays a plain integer, as it always is there.
_STEERING_SCHEMAS["PlannedOverride"] = {
    **_STEERING_SCHEMAS["Override"],
    "description": "An override a change made, or in a dry run would make.",
    "properties": {
        **_STEERING_SCHEMAS["Override"]["properties"],
        "id": _nullable("integer", description="Null in a dry run: nothing was stored."),
    },
}
_STEERING_SCHEMAS["NewOverride"] = {
    "oneOf": [
        _decision(
            "merge",
            "Every case of aggregated case `from` goes to `into`, now and at every refresh.",
            **{"from": (_AGG_ID, True), "into": (_AGG_ID, True)},
        ),
        _decision(
            "move",
            "One case leaves its aggregated case: into `into`, or one of its own.",
            source=(_AGG_ID, True),
            caseId=(_AGG_ID, True),
            into=(_AGG_ID, False),
        ),
        _decision(
            "alias",
            "A provider spelling means another provider, for old and new cases.",
            spelling=(_SPELLING, True),
            provider=(_SPELLING, True),
        ),
    ]
}
_STEERING_SCHEMAS["Decision"] = {
    "type": "object",
    "required": ["by", "reason"],
    "additionalProperties": False,
    "properties": {"by": _WHO, "reason": _WHY, "dryRun": _DRY_RUN},
}
_SCHEMAS.update(_STEERING_SCHEMAS)
_SCHEMAS.update(WORK_SCHEMAS)

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
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_VALUE_LENGTH},
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
    "q": {
        "name": "q",
        "in": "query",
        "description": "Free text for a search box: aggregated cases whose provider key holds "
        "this value's provider key as a run of whole-word prefixes (`nakatomi` and "
        "`naka trad` find `Nakatomi Trading`), or whose error code key contains this value's "
        "error code key (`104` finds `1042`). Must hold a letter or a digit. Repeat it to "
        "match any of several.",
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

_PARAMETERS.update(WORK_PARAMETERS)

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


_STRING_OR_NULL = {"type": ["string", "null"]}
_SCOPE = {
    "type": "string",
    "enum": ["open", "all"],
    "default": "open",
    "description": "`open`: the open member cases; `all`: every member case.",
}
_SCHEMAS.update(
    {
        "NewReply": {
            "type": "object",
            "required": ["message", "by"],
            "additionalProperties": False,
            "properties": {
                "message": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_MESSAGE,
                    "pattern": "\\S",
                    "description": "The comment, posted as written on each target case.",
                },
                "by": {**_WHO, "pattern": "\\S", "description": "Who replies."},
                "public": {
                    "type": "boolean",
                    "default": True,
                    "description": "`false`: an internal note the customer does not see.",
                },
                "setStatus": {
                    "type": ["string", "null"],
                    "enum": ["pending", "solved", None],
                    "default": None,
                    "description": "Also set each case to waiting on the customer (`pending`) "
                    "or `solved`; null leaves the status alone.",
                },
                "scope": _SCOPE,
                "autoReply": {
                    "type": "boolean",
                    "default": False,
                    "description": "Also send it to every open case that joins the aggregated "
                    "case later, on the refresh that brings it, until stopped or `fixed`.",
                },
            },
        },
        "ReplyAccepted": {
            "type": "object",
            "required": ["id", "targets"],
            "properties": {
                "id": {"type": "string", "description": "The reply id, for `GET /replies/{id}`."},
                "targets": {**_COUNT, "description": "Target cases."},
            },
        },
        "ReplyPreview": {
            "type": "object",
            "required": ["targets", "bySource", "unwritable"],
            "properties": {
                "aggregatedCaseId": {"type": "string"},
                "scope": _SCOPE,
                "targets": _COUNT,
                "bySource": {
                    "type": "object",
                    "additionalProperties": _COUNT,
                    "description": "Target cases per source.",
                },
                "unwritable": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "Sources whose adapter cannot write, and why: their "
                    "cases would fail at once.",
                },
            },
        },
        "Delivery": {
            "type": "object",
            "required": ["source", "caseId", "state", "attempts", "error"],
            "properties": {
                "source": {"type": "string"},
                "caseId": {"type": "string"},
                "state": {"type": "string", "enum": ["pending", "delivered", "failed"]},
                "attempts": _COUNT,
                "error": {
                    **_STRING_OR_NULL,
                    "description": "Why it failed for good (the CRM's reason), or the last "
                    "transient error of a pending one.",
                },
            },
        },
        "Reply": {
            "type": "object",
            "required": ["id", "state", "delivered", "pending", "failed", "cases"],
            "properties": {
                "id": {"type": "string"},
                "aggregatedCaseId": {
                    "type": "string",
                    "description": "Follows the cases when a regroup changes the id.",
                },
                "state": {"type": "string", "enum": ["delivering", "done", "done-with-failures"]},
                "targets": _COUNT,
                "delivered": _COUNT,
                "pending": _COUNT,
                "failed": _COUNT,
                "message": {"type": "string"},
                "by": {"type": "string"},
                "createdAt": _TIME,
                "public": {"type": "boolean"},
                "setStatus": {"type": ["string", "null"], "enum": ["pending", "solved", None]},
                "scope": _SCOPE,
                "autoReply": {"type": "boolean"},
                "autoReplyActive": {"type": "boolean"},
                "stoppedAt": _TIME_OR_NULL,
                "stoppedBy": _STRING_OR_NULL,
                "cases": {
                    "type": "array",
                    "items": _ref("Delivery"),
                    "description": "Every target case (empty in lists of replies).",
                },
            },
        },
        "Replies": {
            "type": "object",
            "required": ["replies"],
            "properties": {"replies": {"type": "array", "items": _ref("Reply")}},
        },
        "StopReply": {
            "type": "object",
            "required": ["by"],
            "additionalProperties": False,
            "properties": {"by": _WHO},
        },
    }
)


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
                                            {
                                                "type": "object",
                                                "properties": {
                                                    "nextCasesCursor": {
                                                        "type": ["string", "null"],
                                                        "description": "With `casesLimit`: "
                                                        "the next page's `casesCursor`, null "
                                                        "on the last page.",
                                                    }
                                                },
                                            },
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
        },
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
