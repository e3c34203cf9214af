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

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from supporthub._errors import (
    ClaimConflict,
    InvalidQuery,
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


async def _http(_: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return error_answer(error.status_code, error.detail, headers=error.headers)


async def _unexpected(request: Request, error: Exception) -> Response:
    log.error(
        "%s %s failed unexpectedly",
        request.method,
        request.url.path,
        exc_info=(type(error), error, error.__traceback__),
    )
    return error_answer(500, INTERNAL_ERROR)


#: For ``Starlette(exception_handlers=…)``; a subclass finds its nearest ancestor.
EXCEPTION_HANDLERS = {
    InvalidQuery: _invalid_query,
    NotFound: _not_found,
    RefreshNotDue: _not_due,
    RefreshInProgress: _in_progress,
    ClaimConflict: _claimed,
    StorageError: _storage,
    HTTPException: _http,
    Exception: _unexpected,
}
