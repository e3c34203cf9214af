"""How the library's errors look over HTTP: a status and ``{"error": "<words>"}``.

The library decides what is wrong; this module only translates its error
family into the contract's status codes. Nothing here shows a traceback,
SQL or a setting: the database's own words go to the log, not to the caller.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Mount, Route
from starlette.staticfiles import StaticFiles

from supporthub.service._headers import EVERY_REPLY
from supporthub.vocabulary.errors import (
    ClaimConflict,
    ConfigurationError,
    InvalidQuery,
    Moved,
    NotFound,
    RefreshInProgress,
    RefreshNotDue,
    StorageError,
)

__all__ = ["EXCEPTION_HANDLERS", "error_answer"]

log = logging.getLogger("supporthub.service")

DATABASE_UNAVAILABLE = "the database is unavailable; try again later"
INTERNAL_ERROR = "internal error; the service log has the details"


def error_answer(
    status: int, message: str, headers: Mapping[str, str] | None = None, **fields: Any
) -> JSONResponse:
    """The contract's error answer: ``{"error": message, **fields}``."""
    return JSONResponse({"error": message, **fields}, status_code=status, headers=headers)


async def _invalid_query(_: Request, error: Exception) -> Response:
    return error_answer(400, str(error))


async def _not_found(_: Request, error: Exception) -> Response:
    return error_answer(404, str(error))


async def _moved(request: Request, error: Exception) -> Response:
    """A retired aggregated case id: the same request, at the id that took over."""
    assert isinstance(error, Moved)
    prefix = "/aggregated-cases/"
    path = request.url.path
    old = prefix + error.old_id
    at = path.find(old)
    if at < 0:  # not asked by path: say so in words
        return error_answer(404, str(error), movedTo=error.new_id)
    rest = path[at + len(old) :]
    location = quote(path[:at]) + prefix + quote(error.new_id, safe="") + quote(rest)
    if request.url.query:
        location += "?" + request.url.query
    return error_answer(308, str(error), headers={"Location": location}, movedTo=error.new_id)


async def _not_due(_: Request, error: Exception) -> Response:
    assert isinstance(error, RefreshNotDue)
    retry_after = max(1, math.ceil(error.retry_after.total_seconds()))
    data_age = None if error.data_age is None else int(error.data_age.total_seconds())
    return error_answer(
        429,
        str(error),
        headers={"Retry-After": str(retry_after)},
        dataAgeSeconds=data_age,
        retryAfterSeconds=retry_after,
    )


async def _in_progress(_: Request, error: Exception) -> Response:
    return error_answer(409, str(error))


async def _claimed(_: Request, error: Exception) -> Response:
    assert isinstance(error, ClaimConflict)
    return error_answer(409, str(error), owner=error.owner)


async def _storage(request: Request, error: Exception) -> Response:
    log.warning("%s %s: %s", request.method, request.url.path, error)
    return error_answer(503, DATABASE_UNAVAILABLE)


async def _misconfigured(_: Request, error: Exception) -> Response:
    # The deployment, not the request, is wrong (``/refresh`` with no source
    # enabled): the message names the variables to set, never their values.
    return error_answer(503, str(error))


def _allowed_methods(request: Request) -> str | None:
    """Every method some route serves at this path (Starlette names only one route's)."""
    scope = request.scope
    probe = {
        "type": "http",
        "method": request.method,
        "path": scope["path"],
        "root_path": scope.get("app_root_path", scope.get("root_path", "")),
    }
    methods: set[str] = set()
    for route in request.app.routes:
        if route.matches(probe)[0] is Match.NONE:
            continue
        if isinstance(route, Route):
            methods |= route.methods or set()
        elif isinstance(route, Mount) and isinstance(route.app, StaticFiles):
            methods |= {"GET", "HEAD"}
    return ", ".join(sorted(methods)) or None


async def _http(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    headers = dict(error.headers or {})
    if error.status_code == 405:
        allowed = _allowed_methods(request)
        if allowed is not None:
            headers["Allow"] = allowed
    return error_answer(error.status_code, error.detail, headers=headers)


async def _unexpected(request: Request, error: Exception) -> Response:
    log.error(
        "%s %s failed unexpectedly",
        request.method,
        request.url.path,
        exc_info=(type(error), error, error.__traceback__),
    )
    # Starlette sends this one outside the app's middleware: add their headers.
    return error_answer(500, INTERNAL_ERROR, headers=EVERY_REPLY)


#: For ``Starlette(exception_handlers=…)``; a subclass finds its nearest ancestor.
EXCEPTION_HANDLERS = {
    InvalidQuery: _invalid_query,
    NotFound: _not_found,
    Moved: _moved,
    RefreshNotDue: _not_due,
    RefreshInProgress: _in_progress,
    ClaimConflict: _claimed,
    StorageError: _storage,
    ConfigurationError: _misconfigured,
    HTTPException: _http,
    Exception: _unexpected,
}
