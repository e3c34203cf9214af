"""Headers every reply carries, whatever route, error or middleware made it."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["EVERY_REPLY", "EveryReplyHeaders"]

#: A browser must never guess another type than the one sent: a JSON answer
#: echoing a value must not be run as HTML or script.
EVERY_REPLY = {"X-Content-Type-Options": "nosniff"}


class EveryReplyHeaders:
    """Pure ASGI middleware adding :data:`EVERY_REPLY` to each HTTP reply (streams too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in EVERY_REPLY.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
