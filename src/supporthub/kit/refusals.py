"""A CRM's refusal, said in words that tell an operator what to fix."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from supporthub.vocabulary.errors import SourceRejected

__all__ = ["Words", "reword", "reworded"]

#: Templates by ``(status, error)`` or status; ``0`` fits any other refusal, and
#: a template of ``None`` keeps the refusal as it is.
Words = Mapping[Any, str | None]


def reword(refusal: SourceRejected, words: Words, **values: object) -> SourceRejected:
    """``refusal`` in the words given for its ``(status, error)`` or its status.

    A template may use ``{code}`` (``HTTP 404 NotFound``), ``{detail}`` (the
    code and the CRM's description) and ``values``. The template under ``0``
    fits any other refusal; with none, or ``None``, the refusal comes back as
    it is.
    """
    status, error = refusal.status or 0, refusal.error
    for key in ((status, error or ""), status, 0):
        if key in words:
            template = words[key]
            break
    else:
        template = None
    if template is None:
        return refusal
    code = f"HTTP {status}" + (f" {error}" if error else "")
    detail = str(refusal).partition(" rejected the request: ")[2] or code
    return SourceRejected(
        template.format(code=code, detail=detail, **values), status=refusal.status, error=error
    )


@contextlib.contextmanager
def reworded(words: Words, **values: object) -> Iterator[None]:
    """Raise a :class:`SourceRejected` from the block in :func:`reword`'s words."""
    try:
        yield
    except SourceRejected as refusal:
        raise reword(refusal, words, **values) from None
