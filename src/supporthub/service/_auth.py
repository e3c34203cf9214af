"""Bearer tokens (contract §2): who may read, who may refresh.

- ``SUPPORTHUB_API_TOKEN``, when set, guards state-changing requests:
  ``/refresh`` (``GET`` too: it changes the data) and any other method than
  ``GET``/``HEAD``/``OPTIONS`` — so every steering write (``POST /overrides``,
  ``DELETE /overrides/{id}``, ``POST /rules/apply``,
  ``POST /suggestions/{id}/accept``) without having to be listed. The guard
  answers before the endpoint runs, so a refused request changes nothing.
- ``SUPPORTHUB_READ_TOKEN``, when set, guards every other request; the API
  token is accepted for reads too.
- ``/health`` stays open for load balancers, and so do the web page's own
  files (``/`` and ``/static/…``): they hold no data, and a browser cannot
  send a header when it opens a page; the page asks for the token and sends
  it with every data request.

Tokens are compared in constant time (hashes of equal length, then
:func:`hmac.compare_digest`), so timing says nothing about how much of a
guess was right.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from supporthub.service._answers import error_answer

__all__ = ["OPEN_PATHS", "TokenGuard"]

#: Paths served without a token.
OPEN_PATHS = ("/health", "/")
_OPEN_PREFIXES = ("/static/",)
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_WRITE_PATHS = {"/refresh"}


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class TokenGuard:
    """ASGI middleware answering ``401`` to a request without the token it needs."""

    def __init__(self, app: ASGIApp, *, api_token: str | None, read_token: str | None) -> None:
        self.app = app
        self._api = _digest(api_token) if api_token else None
        self._read = _digest(read_token) if read_token else None

    def accepted(self, method: str, path: str) -> tuple[tuple[bytes, ...], str]:
        """The token digests one of which the request needs (none: open), and their names."""
        if path in OPEN_PATHS or path.startswith(_OPEN_PREFIXES):
            return (), ""
        writes = path in _WRITE_PATHS or method not in _SAFE_METHODS
        if writes and self._api is not None:
            return (self._api,), "SUPPORTHUB_API_TOKEN"
        if self._read is not None:
            both = (self._read,) if self._api is None else (self._read, self._api)
            return both, "SUPPORTHUB_READ_TOKEN or SUPPORTHUB_API_TOKEN"
        return (), ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        needed, names = self.accepted(scope["method"], scope["path"])
        if needed:
            scheme, _, presented = Headers(scope=scope).get("authorization", "").partition(" ")
            given = _digest(presented.strip())
            # Every candidate is compared, so the time taken does not say which matched.
            matches = [hmac.compare_digest(given, token) for token in needed]
            if scheme.lower() != "bearer" or not any(matches):
                answer = error_answer(
                    401,
                    f"this request needs the header 'Authorization: Bearer <token>' with "
                    f"the value of {names}",
                    headers={"WWW-Authenticate": 'Bearer realm="supporthub"'},
                )
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)
