"""The endpoints: parse the request, call the hub in a worker thread, answer.

No rule lives here. Validation is ``hub.parse_query``, listings are
``hub.iter_json`` (streamed), one aggregated case is
``hub.iter_aggregated_case_json``, refreshes go through the
:class:`~supporthub.service._refresh_gate.RefreshGate`; errors become
answers in ``_answers.py``. Every library call that touches the database
runs in Starlette's thread pool, so the event loop never blocks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from pathlib import Path

import anyio
from prometheus_client.exposition import choose_encoder
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse

from supporthub._errors import InvalidQuery
from supporthub._hub import Hub
from supporthub._serialize import to_json_dict
from supporthub.service._metrics import ServiceMetrics
from supporthub.service._openapi import openapi_document
from supporthub.service._refresh_gate import RefreshGate

__all__ = ["STATIC", "Endpoints"]

#: The web page's files, shipped inside the package.
STATIC = Path(__file__).parent / "static"

_PAGE_HEADERS = {
    # The page builds every element from data with textContent; the policy
    # makes sure no injected markup could run a script even if one slipped in.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _next_chunk(chunks: Generator[bytes, None, None]) -> bytes | None:
    return next(chunks, None)


async def _stream_json(chunks: Generator[bytes, None, None]) -> Response:
    """Stream a JSON answer the library encodes chunk by chunk.

    The first chunk is read before the status line is sent, so a missing
    aggregated case (404) or a database outage (503) still gets its own
    answer; later chunks are read one at a time in worker threads, and the
    library's snapshot is closed even when the client hangs up half-way.
    """
    first = await run_in_threadpool(_next_chunk, chunks)

    async def body() -> AsyncIterator[bytes]:
        try:
            chunk = first
            while chunk is not None:
                yield chunk
                chunk = await run_in_threadpool(_next_chunk, chunks)
        finally:
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(chunks.close)

    return StreamingResponse(body(), media_type="application/json")


def _no_parameters(request: Request) -> None:
    if request.query_params:
        names = ", ".join(sorted({name[:50] for name in request.query_params}))
        raise InvalidQuery(f"{request.url.path} takes no parameters, got: {names}")


class Endpoints:
    """The request handlers, bound to one hub."""

    def __init__(self, hub: Hub, gate: RefreshGate, metrics: ServiceMetrics) -> None:
        self.hub = hub
        self.gate = gate
        self.metrics = metrics

    async def _listing(self, request: Request, *, filters: bool) -> Response:
        params = request.query_params.multi_items()
        # Decoding a cursor reads its signing secret from the database: a thread.
        query = await run_in_threadpool(self.hub.parse_query, params, filters=filters)
        return await _stream_json(self.hub.iter_json(query))

    async def get_all(self, request: Request) -> Response:
        """``GET /get-all``: every aggregated case, paged with limit/cursor."""
        return await self._listing(request, filters=False)

    async def search(self, request: Request) -> Response:
        """``GET /search``: filtered by provider, errorCode and status."""
        return await self._listing(request, filters=True)

    async def aggregated_case(self, request: Request) -> Response:
        """``GET /aggregated-cases/{id}``: one aggregated case with all its cases."""
        _no_parameters(request)
        return await _stream_json(self.hub.iter_aggregated_case_json(request.path_params["id"]))

    async def refresh(self, request: Request) -> Response:
        """``GET``/``POST /refresh``: run (or wait for) one on-demand refresh."""
        _no_parameters(request)
        report = await self.gate.refresh()
        return JSONResponse(to_json_dict(report))

    async def health(self, request: Request) -> Response:
        """``GET /health``: 200 when the database answers, else 503."""
        health = await run_in_threadpool(self.hub.health)
        return JSONResponse(to_json_dict(health), status_code=200 if health.ok else 503)

    async def openapi(self, request: Request) -> Response:
        """``GET /openapi.json``: the hand-written description of this API."""
        return JSONResponse(openapi_document())

    async def metrics_text(self, request: Request) -> Response:
        """``GET /metrics``: Prometheus's text format (or OpenMetrics when asked)."""
        # Prometheus says in Accept which text versions (or OpenMetrics) it reads.
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        text = await run_in_threadpool(encode, self.metrics.registry)
        return Response(text, headers={"Content-Type": content_type})

    async def page(self, request: Request) -> Response:
        """``GET /``: the web page."""
        return FileResponse(STATIC / "index.html", headers=_PAGE_HEADERS)
