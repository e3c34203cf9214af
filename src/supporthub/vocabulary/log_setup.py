"""Log set-up for the command line and the service: text or JSON lines, always redacted.

Text (the default) reads well in a terminal; JSON (``SUPPORTHUB_LOG_FORMAT=json``)
gives one object per line for log collectors, with the structured fields a
record carries in ``extra`` (``event``, ``report``, ``method``, ``status`` …)
as fields of their own.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import orjson

from supporthub.vocabulary.redact import RedactingFilter, redact

__all__ = ["LOG_FORMATS", "JsonFormatter", "configure_logging"]

#: The values ``SUPPORTHUB_LOG_FORMAT`` accepts.
LOG_FORMATS = ("text", "json")

# Attributes every LogRecord has; anything else on a record came in `extra`.
# Uvicorn adds `color_message`, the message again with terminal colour codes.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and the ``extra`` fields.

    The whole line is redacted, not only the message: a secret must not slip
    out through an ``extra`` field either.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        line = orjson.dumps(entry, default=str).decode()
        return redact(line)


def configure_logging(level: str, log_format: str = "text") -> None:
    """Log to stderr in ``log_format``, every line passed through the secret redactor.

    :param log_format: ``"text"`` or ``"json"`` (see :data:`LOG_FORMATS`).
    """
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request with its full URL at INFO; the hub logs its
    # CRM requests itself (path only, at DEBUG), since a third-party CRM may
    # take a credential in the query string. Alembic's plug-in set-up is noise.
    for chatty in ("httpx", "httpcore", "alembic.runtime.plugins"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
