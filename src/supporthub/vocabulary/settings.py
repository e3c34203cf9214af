"""The environment, read once into one attrs object.

Every variable the core reads is listed in :data:`ENVIRONMENT_VARIABLES`
(the documentation is checked against it). Adapters declare their own
settings; they are read from ``SUPPORTHUB_<NAME>_<SETTING>`` by ``ingest/plugins.py``.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Mapping

import attrs
import orjson

from supporthub.vocabulary.errors import ConfigurationError
from supporthub.vocabulary.log_setup import LOG_FORMATS

__all__ = ["ENVIRONMENT_VARIABLES", "EnvironmentVariable", "RetryPolicy", "Settings"]


# Here rather than beside the HTTP client that follows it: settings are read
# below every layer, the client is the adapters' kit.
@attrs.frozen
class RetryPolicy:
    """How hard the hub tries before a source fails.

    :ivar timeout: seconds for one request (connect, read, write, pool).
    :ivar attempts: tries per request, the first included.
    :ivar wait_initial: first backoff; it doubles per attempt, plus jitter.
    :ivar max_wait: longest single wait; also caps ``Retry-After``.
    :ivar total_timeout: give up on a request after this many seconds of retrying.
    """

    timeout: float = 30.0
    attempts: int = 5
    wait_initial: float = 0.5
    wait_jitter: float = 1.0
    max_wait: float = 60.0
    total_timeout: float = 600.0


@attrs.frozen
class EnvironmentVariable:
    """One variable the core reads, with its default and meaning."""

    name: str
    default: str | None
    description: str
    secret: bool = False


ENVIRONMENT_VARIABLES: tuple[EnvironmentVariable, ...] = (
    EnvironmentVariable(
        "SUPPORTHUB_DATABASE_URL",
        "sqlite:///supporthub.db",
        "SQLAlchemy URL of the database; MariaDB: `mysql+pymysql://user:pass@host:3306/db`.",
        secret=True,
    ),
    EnvironmentVariable(
        "SUPPORTHUB_READ_DATABASE_URL",
        None,
        "Optional URL of a read replica (or a read-only proxy) of the database for the "
        "list views; writes, refreshes and reads right after this process wrote use the "
        "database above.",
        secret=True,
    ),
    EnvironmentVariable(
        "SUPPORTHUB_REFRESH_INTERVAL_HOURS",
        "4",
        "Period of the scheduled refresh in `supporthub serve` (fractions allowed).",
    ),
    EnvironmentVariable(
        "SUPPORTHUB_MIN_REFRESH_AGE_MINUTES",
        "15",
        "An on-demand refresh does not fetch a source whose data is younger than this "
        "(fractions allowed); the scheduled refresh and `--force` ignore it.",
    ),
    EnvironmentVariable(
        "SUPPORTHUB_SCHEDULER",
        "on",
        "`off` disables the scheduled refresh in `supporthub serve` (for cron deployments).",
    ),
    EnvironmentVariable(
        "SUPPORTHUB_PROVIDER_ALIASES",
        None,
        "JSON object mapping provider spellings to the provider they mean, e.g. "
        '`{"Acme Pay": "Acme Payments"}`; both sides are compared by provider key.',
    ),
    EnvironmentVariable(
        "SUPPORTHUB_API_TOKEN",
        None,
        "When set, state-changing requests (`/refresh`) need `Authorization: Bearer <token>`.",
        secret=True,
    ),
    EnvironmentVariable(
        "SUPPORTHUB_READ_TOKEN",
        None,
        "When set, every request but `/health` needs `Authorization: Bearer <token>` "
        "(the API token works too).",
        secret=True,
    ),
    EnvironmentVariable(
        "SUPPORTHUB_HTTP_TIMEOUT_SECONDS",
        "30",
        "Timeout of one HTTP request to a CRM (connect, read, write, pool).",
    ),
    EnvironmentVariable(
        "SUPPORTHUB_HTTP_ATTEMPTS",
        "5",
        "Attempts per CRM request before the source fails (transient errors only).",
    ),
    EnvironmentVariable(
        "SUPPORTHUB_HTTP_MAX_WAIT_SECONDS",
        "60",
        "Longest wait between two attempts, also the cap on a CRM's `Retry-After`.",
    ),
    EnvironmentVariable(
        "SUPPORTHUB_DELIVERY_LEASE_SECONDS",
        "30",
        "How long a deliverer holds a reply's delivery row while it sends it; a row whose "
        "deliverer died is taken over by another hub process after this.",
    ),
    EnvironmentVariable(
        "SUPPORTHUB_FETCH_PROCESSES",
        "auto",
        "Where a refresh decodes and keys a source's pages: `auto` in a process per "
        "source for full reads when the machine has more than one CPU and the refresh "
        "is not started with `nice` (the writer keeps its own), `on` for every read, "
        "`off` in threads of the refreshing process.",
    ),
    EnvironmentVariable(
        "SUPPORTHUB_BLOCKED_PLUGINS",
        None,
        "Comma-separated entry-point names of installed plug-ins not to load.",
    ),
    EnvironmentVariable(
        "SUPPORTHUB_LOG_LEVEL",
        "INFO",
        "Log level of the command line and the service (`DEBUG`, `INFO`, `WARNING`, …).",
    ),
    EnvironmentVariable(
        "SUPPORTHUB_LOG_FORMAT",
        "text",
        "`text` (lines for people) or `json` (one JSON object per line, with the "
        "structured fields of each request and refresh, for log collectors).",
    ),
)

_DEFAULTS = {var.name: var.default for var in ENVIRONMENT_VARIABLES}
_ON = {"on", "true", "yes", "1"}
_OFF = {"off", "false", "no", "0"}


def _text(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    if value is None or not value.strip():
        return _DEFAULTS.get(name)
    return value.strip()


def _number(environ: Mapping[str, str], name: str, *, minimum: float, inclusive: bool) -> float:
    raw = _text(environ, name)
    assert raw is not None  # every numeric variable has a default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
    too_small = value < minimum if inclusive else value <= minimum
    if not math.isfinite(value) or too_small:
        bound = f">= {minimum:g}" if inclusive else f"> {minimum:g}"
        raise ConfigurationError(f"{name} must be a finite number {bound}, got {raw!r}")
    return value


def _switch(environ: Mapping[str, str], name: str) -> bool:
    raw = (_text(environ, name) or "").lower()
    if raw in _ON:
        return True
    if raw in _OFF:
        return False
    raise ConfigurationError(f"{name} must be 'on' or 'off', got {raw!r}")


def _aliases(environ: Mapping[str, str]) -> Mapping[str, str]:
    name = "SUPPORTHUB_PROVIDER_ALIASES"
    raw = _text(environ, name)
    if raw is None:
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ConfigurationError(f"{name} is not valid JSON: {error}") from None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigurationError(
            f'{name} must be a JSON object of strings, like {{"Acme Pay": "Acme Payments"}}'
        )
    return value


#: The values ``SUPPORTHUB_FETCH_PROCESSES`` accepts.
FETCH_PROCESS_MODES = ("auto", "on", "off")


def _choice(environ: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (case-insensitive); every such variable has a default."""
    value = (_text(environ, name) or "").lower()
    if value not in choices:
        quoted = [f"'{choice}'" for choice in choices]
        words = f"{', '.join(quoted[:-1])} or {quoted[-1]}"
        raise ConfigurationError(f"{name} must be {words}, got {value!r}")
    return value


def _log_level(environ: Mapping[str, str]) -> str:
    level = (_text(environ, "SUPPORTHUB_LOG_LEVEL") or "INFO").upper()
    if level not in {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"}:
        raise ConfigurationError(
            f"SUPPORTHUB_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {level!r}"
        )
    return level


@attrs.frozen
class Settings:
    """Everything the hub needs to know, read once from the environment.

    Build it with :meth:`from_env`, or directly in code and tests.

    :ivar environ: the variables as read, so that adapters can find their own
        ``SUPPORTHUB_<NAME>_<SETTING>`` values.
    """

    database_url: str = "sqlite:///supporthub.db"
    read_database_url: str | None = attrs.field(default=None, repr=False)
    refresh_interval: dt.timedelta = dt.timedelta(hours=4)
    min_refresh_age: dt.timedelta = dt.timedelta(minutes=15)
    scheduler: bool = True
    provider_aliases: Mapping[str, str] = attrs.field(factory=dict)
    api_token: str | None = attrs.field(default=None, repr=False)
    read_token: str | None = attrs.field(default=None, repr=False)
    http: RetryPolicy = attrs.field(factory=RetryPolicy)
    delivery_lease: dt.timedelta = dt.timedelta(seconds=30)
    blocked_plugins: frozenset[str] = frozenset()
    #: ``auto``, ``on`` or ``off``: see ``SUPPORTHUB_FETCH_PROCESSES``.
    fetch_processes: str = "auto"
    log_level: str = "INFO"
    log_format: str = "text"
    environ: Mapping[str, str] = attrs.field(factory=dict, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``environ`` (default: ``os.environ``).

        :raises ConfigurationError: a variable has a value the hub cannot use;
            the message names the variable.
        """
        env = dict(os.environ if environ is None else environ)
        blocked = _text(env, "SUPPORTHUB_BLOCKED_PLUGINS") or ""
        return cls(
            database_url=_text(env, "SUPPORTHUB_DATABASE_URL") or "sqlite:///supporthub.db",
            read_database_url=_text(env, "SUPPORTHUB_READ_DATABASE_URL"),
            refresh_interval=dt.timedelta(
                hours=_number(env, "SUPPORTHUB_REFRESH_INTERVAL_HOURS", minimum=0, inclusive=False)
            ),
            min_refresh_age=dt.timedelta(
                minutes=_number(
                    env, "SUPPORTHUB_MIN_REFRESH_AGE_MINUTES", minimum=0, inclusive=True
                )
            ),
            scheduler=_switch(env, "SUPPORTHUB_SCHEDULER"),
            provider_aliases=_aliases(env),
            api_token=_text(env, "SUPPORTHUB_API_TOKEN"),
            read_token=_text(env, "SUPPORTHUB_READ_TOKEN"),
            http=RetryPolicy(
                timeout=_number(env, "SUPPORTHUB_HTTP_TIMEOUT_SECONDS", minimum=0, inclusive=False),
                attempts=int(_number(env, "SUPPORTHUB_HTTP_ATTEMPTS", minimum=1, inclusive=True)),
                max_wait=_number(
                    env, "SUPPORTHUB_HTTP_MAX_WAIT_SECONDS", minimum=0, inclusive=True
                ),
            ),
            delivery_lease=dt.timedelta(
                seconds=_number(
                    env, "SUPPORTHUB_DELIVERY_LEASE_SECONDS", minimum=0, inclusive=False
                )
            ),
            blocked_plugins=frozenset(p.strip() for p in blocked.split(",") if p.strip()),
            fetch_processes=_choice(env, "SUPPORTHUB_FETCH_PROCESSES", FETCH_PROCESS_MODES),
            log_level=_log_level(env),
            log_format=_choice(env, "SUPPORTHUB_LOG_FORMAT", LOG_FORMATS),
            environ=env,
        )

    def secret_values(self) -> tuple[str, ...]:
        """Values that must never appear in a log line, an error or an answer."""
        values = [self.api_token, self.read_token]
        values.append(_url_password(self.database_url))
        if self.read_database_url:
            values.append(_url_password(self.read_database_url))
        return tuple(v for v in values if v)


def _url_password(url: str) -> str | None:
    # Parsed by hand so that reading settings does not import SQLAlchemy.
    rest = url.partition("://")[2]
    credentials, at, _ = rest.rpartition("@")
    if not at:
        return None
    _, colon, password = credentials.partition(":")
    return password if colon and password else None
