"""The endpoints: parse the request, call the hub in a worker thread, answer.

No rule lives here. A request's parameters become the library's typed
query in ``_params.py`` (the HTTP-only rules: names, repeats, strings to
numbers); the library checks the values and ``_params.http_words`` says its
errors with the HTTP names. Listings are ``hub.iter_json`` (streamed), one aggregated case is
``hub.iter_aggregated_case_json``, refreshes go through the
:class:`~supporthub.service._refresh_gate.RefreshGate`; errors become
answers in ``query/answer_cache.py``. Every library call that touches the database
runs in Starlette's thread pool, so the event loop never blocks.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Generator
from pathlib import Path

import anyio
from prometheus_client.exposition import choose_encoder
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse

from supporthub.hub import Hub
from supporthub.serialize import to_json_dict
from supporthub.service._bodies import (
    accept_call,
    override_call,
    read_json_object,
    reply_call,
    stop_call,
    undo_call,
    work_call,
)
from supporthub.service._envelopes import (
    TREND_DAYS,
    History,
    Overrides,
    Replies,
    RulesPreview,
    Trend,
    TrendDay,
)
from supporthub.service._freshness import TokenReadings
from supporthub.service._metrics import ServiceMetrics
from supporthub.service._openapi import openapi_document
from supporthub.service._params import (
    OVERRIDES_ALL,
    REPLY_SCOPE,
    Param,
    case_paging,
    http_words,
    listing_query,
)
from supporthub.service._refresh_gate import RefreshGate
from supporthub.vocabulary.errors import ClaimConflict, InvalidQuery
from supporthub.vocabulary.replies import ReplyScope

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


def _kept(answer: bytes) -> Response:
    """A kept answer, whole: no stream, no further trip to a thread."""
    return Response(answer, media_type="application/json")


def _no_parameters(request: Request) -> None:
    if request.query_params:
        names = ", ".join(sorted({name[:50] for name in request.query_params}))
        raise InvalidQuery(f"{request.url.path[:100]} takes no parameters, got: {names}")


def _flag(request: Request, param: Param) -> bool:
    """The only parameter a request takes: ``name=true`` or ``name=false``."""
    name = param.http
    params = request.query_params.multi_items()
    unknown = sorted({key[:50] for key, _ in params if key != name})
    if unknown:
        raise InvalidQuery(f"{request.url.path[:100]} takes only {name}, got: {', '.join(unknown)}")
    if len(params) > 1:
        raise InvalidQuery(f"{name} is given twice")
    value = params[0][1].lower() if params else "false"
    if value not in param.enum:
        raise InvalidQuery(f"{name} must be true or false")
    return value == "true"


def _json(value: object) -> JSONResponse:
    return JSONResponse(to_json_dict(value))


class Endpoints:
    """The request handlers, bound to one hub."""

    def __init__(self, hub: Hub, gate: RefreshGate, metrics: ServiceMetrics) -> None:
        self.hub = hub
        self.gate = gate
        self.metrics = metrics
        #: The data tokens, one reading shared by the list views waiting for it.
        self.tokens = TokenReadings(hub.list_tokens)

    async def _listing(self, request: Request, *, filters: bool) -> Response:
        search = listing_query(request.query_params.multi_items(), filters=filters)
        # A kept answer costs a share of one small query, and no thread of its own.
        tokens = await self.tokens.tokens()
        if tokens is not None and (kept := self.hub.kept_json(search, tokens)) is not None:
            return _kept(kept)
        with http_words():
            # Resolving reads the rules and the cursor secret: by the first chunk, in a thread.
            return await _stream_json(self.hub.iter_json(search))

    async def get_all(self, request: Request) -> Response:
        """``GET /get-all``: every aggregated case, paged with limit/cursor."""
        return await self._listing(request, filters=False)

    async def search(self, request: Request) -> Response:
        """``GET /search``: filtered by provider, errorCode and status."""
        return await self._listing(request, filters=True)

    async def aggregated_case(self, request: Request) -> Response:
        """``GET /aggregated-cases/{id}[?casesLimit=&casesCursor=]``: one aggregated case.

        With all its cases, or one page of them.
        """
        cases_limit, cases_cursor = case_paging(request.query_params.multi_items())
        agg_id = request.path_params["id"]
        tokens = await self.tokens.tokens()
        with http_words():
            kept = None
            if tokens is not None:
                kept = self.hub.kept_aggregated_case_json(
                    agg_id, cases_limit=cases_limit, cases_cursor=cases_cursor, tokens=tokens
                )
            if kept is not None:
                return _kept(kept)
            # The cursor is checked by the first chunk, read before the status line.
            return await _stream_json(
                self.hub.iter_aggregated_case_json(
                    agg_id, cases_limit=cases_limit, cases_cursor=cases_cursor
                )
            )

    # -- working an aggregated case (contract §7) --------------------------------

    async def change_work(self, request: Request) -> Response:
        """``PATCH /aggregated-cases/{id}``: owner, state, tracker link, note, claim."""
        _no_parameters(request)
        agg_id = request.path_params["id"]
        call = work_call(agg_id, await read_json_object(request))
        claim = call.keywords.get("claim") is True
        try:
            await run_in_threadpool(call, self.hub)
        except ClaimConflict:
            self.metrics.claims.labels("lost").inc()
            raise
        if claim:
            self.metrics.claims.labels("won").inc()
        return await _stream_json(self.hub.iter_aggregated_case_json(agg_id))

    async def history(self, request: Request) -> Response:
        """``GET /aggregated-cases/{id}/history``: every change of its work, newest first."""
        _no_parameters(request)
        entries = await run_in_threadpool(self.hub.history, request.path_params["id"])
        return _json(History(tuple(entries)))

    async def trend(self, request: Request) -> Response:
        """``GET /aggregated-cases/{id}/trend``: cases created per day, last 14 days."""
        _no_parameters(request)
        days = await run_in_threadpool(
            functools.partial(self.hub.trend, request.path_params["id"], days=TREND_DAYS)
        )
        return _json(Trend(tuple(TrendDay(day, count) for day, count in days)))

    # -- steering the grouping: each handler is one library call ------------------

    async def explain(self, request: Request) -> Response:
        """``GET /aggregated-cases/{id}/explain``: why its cases are together."""
        _no_parameters(request)
        return _json(await run_in_threadpool(self.hub.explain, request.path_params["id"]))

    async def overrides(self, request: Request) -> Response:
        """``GET /overrides[?all=true]``: the operators' overrides, oldest first."""
        include_removed = _flag(request, OVERRIDES_ALL)
        found = await run_in_threadpool(self.hub.overrides, include_removed=include_removed)
        return _json(Overrides(tuple(found)))

    async def make_override(self, request: Request) -> Response:
        """``POST /overrides``: merge, move or alias, applied at once and at every refresh."""
        _no_parameters(request)
        call = override_call(await read_json_object(request))
        return _json(await run_in_threadpool(call, self.hub))

    async def undo_override(self, request: Request) -> Response:
        """``DELETE /overrides/{id}?by=…``: undo one override."""
        call = undo_call(request.path_params["id"], request.query_params.multi_items())
        return _json(await run_in_threadpool(call, self.hub))

    async def preview_rules(self, request: Request) -> Response:
        """``GET /rules/preview``: what regrouping under the configured rules would do.

        ``upgrade`` shows the pending move to a new default rule set, which
        ``supporthub db upgrade`` applies.
        """
        _no_parameters(request)
        diff = await run_in_threadpool(self.hub.preview_rules)
        upgrade = await run_in_threadpool(self.hub.preview_upgrade)
        return _json(RulesPreview(diff=diff, upgrade=upgrade))

    async def apply_rules(self, request: Request) -> Response:
        """``POST /rules/apply``: regroup every stored case under the configured rules."""
        _no_parameters(request)
        if await read_json_object(request, optional=True):
            raise InvalidQuery("/rules/apply takes no fields: it applies the configured rules")
        return _json(await run_in_threadpool(self.hub.apply_rules))

    async def suggestions(self, request: Request) -> Response:
        """``GET /suggestions``: probable aliases and groups, for a person to accept."""
        _no_parameters(request)
        return _json(await run_in_threadpool(self.hub.suggestions))

    async def accept_suggestion(self, request: Request) -> Response:
        """``POST /suggestions/{id}/accept``: the suggestion becomes an override."""
        _no_parameters(request)
        call = accept_call(request.path_params["id"], await read_json_object(request))
        return _json(await run_in_threadpool(call, self.hub))

    # -- replies to every customer: each handler is one library call ----------------

    async def make_reply(self, request: Request) -> Response:
        """``POST /aggregated-cases/{id}/replies``: store the reply and its outbox, 202."""
        _no_parameters(request)
        call = reply_call(request.path_params["id"], await read_json_object(request))
        accepted = await run_in_threadpool(call, self.hub)
        return JSONResponse(to_json_dict(accepted), status_code=202)

    async def replies(self, request: Request) -> Response:
        """``GET /aggregated-cases/{id}/replies``: the replies of one aggregated case."""
        _no_parameters(request)
        found = await run_in_threadpool(self.hub.replies, request.path_params["id"])
        return _json(Replies(tuple(found)))

    async def preview_reply(self, request: Request) -> Response:
        """``GET /aggregated-cases/{id}/replies/preview[?scope=all]``: who a reply reaches."""
        params = request.query_params.multi_items()
        unknown = sorted({key[:50] for key, _ in params if key != REPLY_SCOPE.http})
        if unknown:
            raise InvalidQuery(f"the preview takes only scope, got: {', '.join(unknown)}")
        if len(params) > 1:
            raise InvalidQuery("scope is given twice")
        raw = params[0][1] if params else "open"
        if raw not in REPLY_SCOPE.enum:
            raise InvalidQuery("scope must be open or all")
        scope: ReplyScope = "all" if raw == "all" else "open"
        preview = await run_in_threadpool(
            functools.partial(self.hub.preview_reply, request.path_params["id"], scope=scope)
        )
        return _json(preview)

    async def reply(self, request: Request) -> Response:
        """``GET /replies/{id}``: a reply's progress, with every target case."""
        _no_parameters(request)
        return _json(await run_in_threadpool(self.hub.reply_status, request.path_params["id"]))

    async def stop_reply(self, request: Request) -> Response:
        """``POST /replies/{id}/stop``: end its auto-reply for good."""
        _no_parameters(request)
        call = stop_call(request.path_params["id"], await read_json_object(request))
        return _json(await run_in_threadpool(call, self.hub))

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
