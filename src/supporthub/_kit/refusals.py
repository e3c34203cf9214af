"""A CRM's refusal, said in words that tell an operator what to fix."""

from __future__ import annotations

from collections.abc import Mapping

from supporthub._errors import SourceRejected

__all__ = ["reword"]


def reword(
    refusal: SourceRejected, words: Mapping[int | tuple[int, str], str], **values: object
) -> SourceRejected:
    """``refusal`` in the words given for its ``(status, error)`` or its status.

    A template may use ``{code}`` (``HTTP 404 NotFound``), ``{detail}`` (the
    code and the CRM's description) and ``values``. The template under ``0``
    fits any other refusal; with none, the refusal comes back as it is.
    """
    status, error = refusal.status or 0, refusal.error
    template = words.get((status, error or "")) or words.get(status) or words.get(0)
    if template is None:
        return refusal
    code = f"HTTP {status}" + (f" {error}" if error else "")
    detail = str(refusal).partition(" rejected the request: ")[2] or code
    return SourceRejected(
        template.format(code=code, detail=detail, **values), status=refusal.status, error=error
    )
