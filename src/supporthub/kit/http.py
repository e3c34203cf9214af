"""The HTTP plumbing every adapter shares, so that adapters stay small.

One :class:`HttpClient` per source and refresh: an httpx client with
timeouts, connection reuse, and retries (through stamina: exponential backoff
with jitter, bounded attempts and total time). A CRM's ``Retry-After`` is
honoured, capped. Answers are classed once, here:

- 429, 500, 502, 503, 504, timeouts and connection errors are *transient*:
  retried, then :class:`SourceUnavailable` ("Banana answered 503 5 times");
- any other 4xx is *final*: :class:`SourceRejected` at once, carrying the
  status and the ``error`` field of the answer, so an adapter can act on it
  (Banana renews its token on ``401 invalid_token``).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import orjson
import stamina

from supporthub.vocabulary.errors import MalformedPage, SourceRejected, SourceUnavailable
from supporthub.vocabulary.redact import redact
from supporthub.vocabulary.settings import RetryPolicy

__all__ = ["HttpClient", "RetryPolicy"]

log = logging.getLogger("supporthub.http")

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """The TLS settings every client shares: loading the CA bundle takes tens of
    milliseconds, once per process instead of once per source and refresh."""
    return httpx.create_ssl_context()


class _TransientStatus(Exception):
    """An answer worth another try; carries the wait the server asked for."""

    def __init__(self, response: httpx.Response, retry_after: float | None):
        super().__init__(f"HTTP {response.status_code}")
        self.status = response.status_code
        self.retry_after = retry_after


def _retry_after_seconds(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _error_field(response: httpx.Response) -> tuple[str | None, str | None]:
    """The ``error`` and description fields of a JSON error answer, if any."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    error = body.get("error")
    description = body.get("error_description") or body.get("message")
    return (
        error if isinstance(error, str) else None,
        description if isinstance(description, str) else None,
    )


class HttpClient:
    """An httpx client with the hub's timeouts, retries and error classes.

    :param base_url: the CRM's base URL; relative URLs are appended to it as
        strings, so a base with a path of its own keeps it.
    :param title: the CRM's name for messages (``Banana``).
    :param transport: an httpx transport, for tests (``httpx.MockTransport``).
    """

    def __init__(
        self,
        base_url: str,
        *,
        title: str,
        policy: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.title = title
        self.policy = policy or RetryPolicy()
        self.requests_sent = 0
        self._client = httpx.Client(
            timeout=httpx.Timeout(self.policy.timeout),
            headers=dict(headers or {}),
            transport=transport,
            follow_redirects=False,
            verify=_ssl_context(),
        )

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self._client.close()

    def url(self, path: str) -> str:
        """Append ``path`` to the base URL as a string (``/api`` + ``/v2`` …)."""
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url + ("" if path.startswith("/") else "/") + path

    def _backoff(self, error: Exception) -> bool | float:
        if isinstance(error, _TransientStatus):
            if error.retry_after is not None:
                return min(error.retry_after, self.policy.max_wait)
            return True
        return isinstance(error, httpx.TransportError)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        before_attempt: Callable[[], object] | None = None,
        auth: httpx.Auth | None = None,
    ) -> httpx.Response:
        """Send a request, retrying transient failures; return a 2xx/3xx answer.

        Every attempt sends the same bytes and headers: a write is safe to
        retry here only when it carries the CRM's idempotency key (Banana's
        ``ExternalId``, Strawberry's ``Idempotency-Key``) or is idempotent by
        nature (setting a status).

        :param json: a body to send as JSON, encoded once for every attempt.
        :param before_attempt: called before every attempt, retries included
            (a client-side rate limiter waits there).
        :param auth: an httpx ``Auth`` flow (the kit's ``ClientCredentialsAuth``,
            ``ApiKeyAuth``), run on every attempt.

        :raises SourceUnavailable: transient failures outlasted the attempts.
        :raises SourceRejected: the CRM answered a final 4xx.
        """
        url = self.url(path)
        policy = self.policy
        content: bytes | None = None
        if json is not None:
            content = orjson.dumps(json)
            headers = {**(headers or {}), "Content-Type": "application/json"}
        last_status: int | None = None
        attempts = 0

        def attempt_once() -> httpx.Response:
            nonlocal attempts, last_status
            attempts += 1
            if before_attempt is not None:
                before_attempt()
            response = self._send(method, url, params, data, headers, content=content, auth=auth)
            if response.status_code in TRANSIENT_STATUSES:
                last_status = response.status_code
                raise _TransientStatus(response, _retry_after_seconds(response))
            return response

        try:
            # The first attempt goes without the retry machinery, which costs
            # more than a fast CRM's answer (tens of µs per request); only a
            # transient failure enters stamina's loop, handed in as its first
            # attempt so that the backoff and the count of attempts hold.
            try:
                response = attempt_once()
            except (_TransientStatus, httpx.TransportError) as error:
                first: Exception | None = error
                for attempt in stamina.retry_context(
                    on=self._backoff,
                    attempts=policy.attempts,
                    timeout=policy.total_timeout,
                    wait_initial=policy.wait_initial,
                    wait_max=policy.max_wait,
                    wait_jitter=min(policy.wait_jitter, policy.max_wait),
                ):
                    with attempt:
                        if first is not None:
                            failed, first = first, None
                            raise failed from None
                        response = attempt_once()
        except _TransientStatus as error:
            raise SourceUnavailable(
                f"{self.title} answered {error.status} {attempts} times",
                retry_after=error.retry_after,
            ) from None
        except httpx.TimeoutException:
            raise SourceUnavailable(
                f"{self.title} did not answer within {policy.timeout:g} s, {attempts} times"
            ) from None
        except httpx.TransportError as error:
            detail = redact(str(error)) or type(error).__name__
            suffix = f" (last answer: HTTP {last_status})" if last_status else ""
            raise SourceUnavailable(
                f"{self.title} could not be reached after {attempts} attempts: {detail}{suffix}"
            ) from None
        if response.status_code >= 400:
            error_code, description = _error_field(response)
            words = f"{self.title} rejected the request: HTTP {response.status_code}"
            if error_code:
                words += f" {error_code}"
            if description:
                words += f" ({description})"
            raise SourceRejected(redact(words), status=response.status_code, error=error_code)
        return response

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        data: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        *,
        content: bytes | None = None,
        auth: httpx.Auth | None = None,
    ) -> httpx.Response:
        started = time.perf_counter()
        self.requests_sent += 1
        response = self._client.request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            content=content,
            auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
        )
        # Only the path is logged: query strings are harmless, bodies and
        # headers may hold credentials.
        log.debug(
            "%s %s %s -> %d in %.3f s",
            self.title,
            method,
            response.request.url.path,
            response.status_code,
            time.perf_counter() - started,
        )
        return response

    def get_json(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
    ) -> Any:
        """GET ``path`` and decode its JSON body.

        :raises MalformedPage: the answer is not JSON.
        """
        response = self.request("GET", path, params=params, headers=headers, auth=auth)
        return self.decode(response)

    def decode(self, response: httpx.Response) -> Any:
        """Decode a JSON answer; :class:`MalformedPage` when it is not JSON."""
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise MalformedPage(
                f"{self.title} answered {response.request.url.path} with a body that is not JSON"
            ) from None
