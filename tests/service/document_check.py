"""Every JSON answer a service test receives is checked against the served document.

``tests/service/conftest.py`` wraps :class:`starlette.testclient.TestClient`
with :func:`checked_request` for every test here: the answer's status must be
described for its operation, and its JSON body must match the schema the
document gives for that operation and status (``required`` included, so a
field that disappears from an answer fails every test that receives it).
The document is the one the service serves (:func:`openapi_document`), with
``date-time`` formats checked.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import httpx
import jsonschema_rs

from supporthub.service._openapi import openapi_document

__all__ = ["DocumentMismatch", "check_answer", "operation_for"]

#: Answers the document does not describe on purpose: the router's own ``405``,
#: ``404`` for a path that is no route, ``413``/``431`` from the server, and the
#: ``500`` some tests provoke on purpose with a broken hub.
_UNDESCRIBED = {404, 405, 413, 431, 500}


class DocumentMismatch(AssertionError):
    """An answer the served OpenAPI document does not allow."""


@functools.cache
def _paths() -> list[tuple[re.Pattern[str], str]]:
    document = openapi_document()
    patterns = [
        (re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$"), path)
        for path in document["paths"]
    ]
    # A literal path wins over a template that also matches it.
    return sorted(patterns, key=lambda item: item[1].count("{"))


def operation_for(method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """The described path template and operation that serve ``method`` on ``path``."""
    document = openapi_document()
    for pattern, template in _paths():
        if pattern.match(path):
            operation = document["paths"][template].get(method.lower())
            return None if operation is None else (template, operation)
    return None


@functools.cache
def _validator(template: str, method: str, status: str) -> jsonschema_rs.Draft202012Validator:
    document = openapi_document()
    answer = document["paths"][template][method]["responses"][status]
    if "$ref" in answer:
        answer = document["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    schema = dict(answer["content"]["application/json"]["schema"])
    schema["components"] = document["components"]  # where its $refs point
    return jsonschema_rs.Draft202012Validator(schema, validate_formats=True)


def check_answer(method: str, path: str, answer: httpx.Response) -> None:
    """Raise :class:`DocumentMismatch` when ``answer`` is not what the document allows."""
    found = operation_for(method, path)
    if found is None or method.upper() == "HEAD":
        return
    template, operation = found
    status = str(answer.status_code)
    if status not in operation["responses"]:
        if answer.status_code in _UNDESCRIBED:
            return
        raise DocumentMismatch(f"{method} {template}: status {status} is not described")
    media_type = answer.headers.get("content-type", "").partition(";")[0].strip()
    described = operation["responses"][status].get("content", {})
    if media_type != "application/json" or "application/json" not in described:
        return
    body = answer.json()
    errors = [
        f"{error.message} at {'/'.join(map(str, error.instance_path)) or 'the top'}"
        for error in _validator(template, method.lower(), status).iter_errors(body)
    ]
    if errors:
        raise DocumentMismatch(
            f"{method} {template} answered {status} outside the document: " + "; ".join(errors[:5])
        )
