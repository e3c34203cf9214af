"""Keeps secrets and personal data out of logs, errors and answers.

Every secret the hub knows (tokens, passwords, client secrets, API keys) is
registered here once; :func:`redact` replaces them in any text, and
:class:`RedactingFilter` applies it to every log record.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

__all__ = ["RedactingFilter", "redact", "register_secrets"]

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()
_pattern: re.Pattern[str] | None = None

# E-mail addresses are personal data; no log line needs one.
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")

# Secrets shorter than this would redact ordinary words; they are still never
# logged on purpose, but a tiny value cannot be hunted in free text.
_MIN_SECRET_LENGTH = 4


def register_secrets(values: Iterable[str | None]) -> None:
    """Remember secret values so that :func:`redact` removes them from text."""
    global _secrets, _pattern  # noqa: PLW0603 - one process-wide registry on purpose
    new = {v for v in values if v and len(v) >= _MIN_SECRET_LENGTH}
    if not new - _secrets:
        return
    with _lock:
        _secrets = _secrets | new
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(v) for v in ordered))


def redact(text: str) -> str:
    """Return ``text`` without any registered secret or any e-mail address."""
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub("***", text)
    return _EMAIL.sub("<email>", text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the final message of every record.

    Attach it to handlers (not loggers) so that records from every library
    pass through it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True
