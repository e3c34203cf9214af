"""The HTTP service: a thin ASGI wrapper over :class:`supporthub.Hub` (extra ``service``).

Endpoints, the web page, the scheduled refresh and the metrics live here;
every rule they apply lives in the library. ``supporthub serve`` calls
:func:`run`; other programs can mount :func:`create_app` in their own server.
"""

from __future__ import annotations

try:
    import prometheus_client  # noqa: F401 - fail early, with the install command
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as missing:
    raise ImportError(
        f"the supporthub service needs {missing.name}: pip install 'supporthub[service]'",
        name=missing.name,
    ) from None

from supporthub.service._app import create_app
from supporthub.service._server import run, serve

__all__ = ["create_app", "run", "serve"]
