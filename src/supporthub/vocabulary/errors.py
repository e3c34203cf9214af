"""Every error the hub raises on purpose, in one family.

Catch :class:`SupportHubError` to catch them all; catch a subclass when you
can act on it::

    SupportHubError
    ├── ConfigurationError    settings missing or wrong; fix the environment
    ├── PluginError           a plug-in is broken (duplicate name, wrong type)
    ├── StorageError          the database failed or its schema is not current
    ├── SourceError           one CRM failed; that source keeps its last good data
    │   ├── SourceUnavailable   transient failures outlasted the retries
    │   └── SourceRejected      the CRM refused the request (4xx): retrying won't help
    ├── MalformedRecord       one CRM record is unusable; it is skipped and counted
    ├── MalformedPage         a whole CRM answer is unusable; the source fails
    ├── InvalidQuery          a caller's parameter is wrong (HTTP 400)
    ├── NotFound              no aggregated case with that id (HTTP 404)
    │   └── Moved                 a regroup retired the id; ``new_id`` took over (HTTP 308)
    ├── ClaimConflict         someone else owns the aggregated case (HTTP 409)
    ├── RefreshNotDue         no source may be fetched yet (HTTP 429)
    └── RefreshInProgress     another refresh holds the lock (HTTP 409)

Messages are written for people and never carry a secret: sources redact the
values of their secret settings before raising.
"""

from __future__ import annotations

import datetime as dt

__all__ = [
    "ClaimConflict",
    "ConfigurationError",
    "InvalidQuery",
    "MalformedPage",
    "MalformedRecord",
    "Moved",
    "NotFound",
    "PluginError",
    "RefreshInProgress",
    "RefreshNotDue",
    "SourceError",
    "SourceRejected",
    "SourceUnavailable",
    "StorageError",
    "SupportHubError",
]


class SupportHubError(Exception):
    """Base of every error the hub raises on purpose."""


class ConfigurationError(SupportHubError):
    """A setting is missing or has a value the hub cannot use."""


class PluginError(SupportHubError):
    """A plug-in registered something the hub cannot accept."""


class StorageError(SupportHubError):
    """The database failed, or its schema is missing or out of date."""


class SourceError(SupportHubError):
    """One source (CRM) failed in this refresh; its previous cases stay."""


class SourceUnavailable(SourceError):
    """Transient failures (5xx, 429, timeouts, resets) outlasted the retries.

    :ivar retry_after: seconds the CRM asked to wait (its last ``Retry-After``,
        or a client-side rate limit's wait), when it said; a deliverer waits
        at least this long before the next try.
    """

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class SourceRejected(SourceError):
    """The CRM refused the request for good (wrong credentials, bad request).

    :ivar status: the HTTP status code, when there was one.
    :ivar error: the ``error`` field of the CRM's answer, when there was one.
    """

    def __init__(self, message: str, *, status: int | None = None, error: str | None = None):
        super().__init__(message)
        self.status = status
        self.error = error


class MalformedRecord(SupportHubError):
    """One record from a CRM cannot be used; it is skipped and counted."""


class MalformedPage(SourceError):
    """A whole answer from a CRM cannot be used (not JSON, wrong shape)."""


class InvalidQuery(SupportHubError):
    """A query parameter is wrong; the message says what, in words."""


class NotFound(SupportHubError):
    """No aggregated case has that id."""


class Moved(NotFound):
    """The aggregated case id was retired by a regroup; ``new_id`` took over its cases.

    :ivar old_id: the id asked for.
    :ivar new_id: the aggregated case that holds most of its former cases now.
    """

    def __init__(self, old_id: str, new_id: str) -> None:
        super().__init__(f"aggregated case {old_id[:100]!r} is now {new_id!r}")
        self.old_id = old_id
        self.new_id = new_id


class ClaimConflict(SupportHubError):
    """A claim lost: somebody else owns the aggregated case.

    :ivar owner: who owns it.
    """

    def __init__(self, message: str, *, owner: str):
        super().__init__(message)
        self.owner = owner


class RefreshNotDue(SupportHubError):
    """No enabled source may be fetched yet (minimum age or failure backoff).

    :ivar data_age: age of the oldest last success among the enabled sources.
    :ivar retry_after: time until the first source may be fetched again.
    """

    def __init__(self, message: str, *, data_age: dt.timedelta | None, retry_after: dt.timedelta):
        super().__init__(message)
        self.data_age = data_age
        self.retry_after = retry_after


class RefreshInProgress(SupportHubError):
    """Another refresh holds the lock and did not finish in the time allowed."""
