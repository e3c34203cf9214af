"""httpx ``Auth`` flows for the two ways CRMs let the hub in.

Pass one as ``auth=`` to :meth:`supporthub.HttpClient.request`; the core's
retries and error classes stay as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Generator

import httpx
import orjson

from supporthub.kit.http import HttpClient, _error_field
from supporthub.vocabulary.errors import ConfigurationError, MalformedPage, SourceRejected
from supporthub.vocabulary.redact import register_secrets

__all__ = ["ApiKeyAuth", "ClientCredentialsAuth"]


class ApiKeyAuth(httpx.Auth):
    """An API key sent in a header on every request (``X-Api-Key``).

    The key is registered for redaction; one that is not printable ASCII
    (HTTP headers are) is refused before anything is sent.

    :param prefix: put before the key (``"Bearer "``).
    :param hint: what to check when the key is refused (the variable's name).
    """

    def __init__(
        self, key: str, *, header: str = "X-Api-Key", prefix: str = "", hint: str = "the API key"
    ) -> None:
        if not key.isascii() or not key.isprintable():
            raise ConfigurationError(f"{hint} must be printable ASCII, as HTTP headers are")
        register_secrets([key])
        self.key, self.header, self.prefix = key, header, prefix

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the header."""
        request.headers[self.header] = self.prefix + self.key
        yield request


def _invalid_token(response: httpx.Response) -> bool:
    return response.status_code == 401 and _error_field(response)[0] == "invalid_token"


class ClientCredentialsAuth(httpx.Auth):
    """OAuth2 client credentials: a bearer token, kept, renewed once when refused.

    The token is fetched at the first request and kept for this object's
    life (one refresh). A request answered ``401 invalid_token`` gets one
    new token and is sent once more; a second such ``401`` fails the source.
    A refusal of the credentials themselves (``401 invalid_client``) is
    final. A transient answer of the token endpoint is handed back as the
    answer, so the core's retries try again.

    :param token_url: the token endpoint, absolute.
    :param hint: what to check when the credentials are refused.
    """

    requires_response_body = True

    def __init__(
        self, token_url: str, client_id: str, client_secret: str, *, title: str, hint: str
    ) -> None:
        register_secrets([client_secret])
        self.token_url, self.title, self.hint = token_url, title, hint
        self._form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        }
        self.token: str | None = None

    @classmethod
    def for_client(
        cls, http: HttpClient, path: str, client_id: str, client_secret: str, *, hint: str
    ) -> ClientCredentialsAuth:
        """A flow whose token endpoint is ``path`` on ``http``'s base URL."""
        return cls(http.url(path), client_id, client_secret, title=http.title, hint=hint)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send with the token; one new token and one repeat on ``401 invalid_token``."""
        if self.token is None:
            answer = yield httpx.Request("POST", self.token_url, data=self._form)
            if not self._take(answer):
                return
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        if not _invalid_token(response):
            return
        logging.getLogger(f"supporthub.{self.title.lower()}").info(
            "%s: the access token was refused (invalid_token); fetching a new one", self.title
        )
        self.token = None
        answer = yield httpx.Request("POST", self.token_url, data=self._form)
        if not self._take(answer):
            return
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        if _invalid_token(response):
            raise SourceRejected(
                f"{self.title} refused a freshly issued access token too (HTTP 401 "
                "invalid_token, twice in a row)",
                status=401,
                error="invalid_token",
            )

    def _take(self, answer: httpx.Response) -> bool:
        """Keep the token of a token answer; ``False`` hands a transient one back."""
        status = answer.status_code
        if status >= 500 or status == 429:
            return False
        if status >= 400:
            error, description = _error_field(answer)
            detail = f"HTTP {status}" + (f" {error}" if error else "")
            detail += f" ({description})" if description else ""
            raise SourceRejected(
                f"{self.title} refused the client credentials: {detail}; check {self.hint}",
                status=status,
                error=error,
            )
        try:
            body = orjson.loads(answer.content)
        except orjson.JSONDecodeError:
            body = None
        token = body.get("access_token") if type(body) is dict else None
        if type(token) is not str or not token:
            # The body is not quoted: it may hold a token after all.
            raise MalformedPage(f"{self.title} answered the token request without an access_token")
        self.token = token
        return True
