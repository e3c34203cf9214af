"""A CRM's write rate limit, kept on the client side.

A CRM that takes, say, 100 updates a minute per account answers ``429``
beyond. A reply to a thousand cases must not find that out a thousand
times: each process keeps a log of the writes it sent per account and waits
before the one that would exceed the limit. The window is a little longer
than a minute, so that network delays between the client's clock and the
CRM's do not push a write into the previous minute's count.

Hub processes that share an account each keep their own log; a ``429`` that
still comes (another process, or another client of the account) holds every
writer of this process for its ``Retry-After`` (:meth:`WriteLimiter.hold`,
which :func:`~supporthub.send_write` calls).

An adapter declares the limit as a setting (:func:`write_rate_setting`) and
asks :func:`account_limiter` for its account's limiter.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Final

from supporthub.kit.adapter import Adapter, Setting
from supporthub.vocabulary.errors import ConfigurationError

__all__ = [
    "WINDOW_SECONDS",
    "WriteLimiter",
    "account_limiter",
    "forget_limiters",
    "limiter_for",
    "write_rate_setting",
]

#: A minute, plus a second of margin for delays on the way.
WINDOW_SECONDS: Final = 61.0

_limiters: dict[tuple[str, str], WriteLimiter] = {}
_registry_lock = threading.Lock()


class WriteLimiter:
    """At most ``limit`` sends in any :data:`WINDOW_SECONDS`. Thread-safe.

    :param clock: monotonic seconds (tests pass a fake one).
    :param sleep: how to wait (tests pass a fake one).
    """

    def __init__(
        self,
        limit: int,
        *,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()
        self._held_until = 0.0

    def wait(self) -> float:
        """Seconds until a send would keep to the limit (0: now)."""
        with self._lock:
            return self._wait(self._clock())

    def _wait(self, now: float) -> float:
        while self._sent and now - self._sent[0] >= self.window:
            self._sent.popleft()
        wait = self._held_until - now
        if len(self._sent) >= self.limit:
            wait = max(wait, self._sent[len(self._sent) - self.limit] + self.window - now)
        return max(0.0, wait)

    def acquire(self) -> float:
        """Wait until a send keeps to the limit, and count it. :returns: seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                wait = self._wait(now)
                if wait <= 0:
                    self._sent.append(now)
                    return waited
            self._sleep(wait)
            waited += wait

    def hold(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (the CRM's ``Retry-After``)."""
        with self._lock:
            self._held_until = max(self._held_until, self._clock() + seconds)


def limiter_for(base_url: str, account: str, limit: int) -> WriteLimiter:
    """The process's limiter for one account (base URL and key), made on first use.

    :param account: something that tells accounts apart; not kept as given
        when it is a secret (pass a digest).
    """
    key = (base_url, account)
    with _registry_lock:
        limiter = _limiters.get(key)
        if limiter is None or limiter.limit != limit:
            limiter = _limiters[key] = WriteLimiter(limit)
        return limiter


def forget_limiters() -> None:
    """Drop every account's limiter (for tests: a new simulator may reuse a port)."""
    with _registry_lock:
        _limiters.clear()


#: The setting :func:`write_rate_setting` declares and :func:`account_limiter` reads.
WRITES_PER_MINUTE: Final = "writes_per_minute"


def write_rate_setting(default: int, allowed: str) -> Setting:
    """The ``writes_per_minute`` setting: writes a minute this process sends at most.

    :param default: the CRM's limit per account.
    :param allowed: what the CRM allows, for the setting's description.
    """
    description = f"Writes a minute this process sends at most ({allowed})"
    return Setting(WRITES_PER_MINUTE, description, required=False, default=str(default))


def account_limiter(adapter: Adapter) -> WriteLimiter:
    """The process's limiter for ``adapter``'s account, at its ``writes_per_minute``.

    The account is the base URL and the secret settings (the credentials
    tell accounts apart); only a digest of the secrets is kept.

    :raises ConfigurationError: the setting is not a whole number of at least
        1; the error names its variable.
    """
    raw = adapter.config[WRITES_PER_MINUTE]
    if not (raw.isascii() and raw.isdigit() and int(raw) >= 1):
        variable = Setting(WRITES_PER_MINUTE).variable(adapter.name)
        raise ConfigurationError(f"{variable} must be a whole number of at least 1")
    secrets = "\0".join(adapter.config.get(s.name) or "" for s in adapter.settings if s.secret)
    account = hashlib.sha256(secrets.encode()).hexdigest()
    return limiter_for(adapter.http.base_url, account, int(raw))
