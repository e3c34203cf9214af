"""The ASGI application: routes, middleware, and what runs while it lives.

::

    EveryReplyHeaders (nosniff)  ─▶  RequestObserver (log line + latency)
        ─▶  TokenGuard (401)  ─▶  routes ─▶ Endpoints ─▶ Hub

While the app runs (its lifespan) the metrics hook is registered on the
hub's plug-in manager, the kept answers are renewed ahead of each minute
(``Hub.answer_renewer``) and, unless switched off, the scheduler thread and
the deliverer of replies run.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from supporthub.hub import Hub
from supporthub.service._answers import EXCEPTION_HANDLERS
from supporthub.service._auth import TokenGuard
from supporthub.service._endpoints import STATIC, Endpoints
from supporthub.service._headers import EveryReplyHeaders
from supporthub.service._metrics import RequestObserver, ServiceMetrics
from supporthub.service._refresh_gate import RefreshGate
from supporthub.service._scheduler import Scheduler

__all__ = ["create_app"]


def create_app(
    hub: Hub,
    *,
    scheduler: bool | None = None,
    refresh_wait_seconds: float = 60.0,
    on_ready: Callable[[], None] | None = None,
    deliver: bool = True,
) -> Starlette:
    """The service for ``hub`` as an ASGI app.

    :param scheduler: run the scheduled refresh while the app runs
        (default: ``SUPPORTHUB_SCHEDULER``).
    :param refresh_wait_seconds: how long ``/refresh`` waits for a refresh
        that is already running before it answers ``409``.
    :param on_ready: called once the app has started (the demo prints its URL).
    :param deliver: send the replies' outbox while the app runs (any number
        of processes may, on one database).
    """
    metrics = ServiceMetrics(hub)
    gate = RefreshGate(hub, wait_seconds=refresh_wait_seconds)
    endpoints = Endpoints(hub, gate, metrics)
    run_scheduler = hub.settings.scheduler if scheduler is None else scheduler
    metrics_plugin = f"supporthub.service.metrics.{id(metrics)}"

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        hub.plugins.register(metrics, name=metrics_plugin)
        schedule = Scheduler(hub) if run_scheduler else None
        if schedule is not None:
            schedule.start()
        deliverer = hub.deliverer() if deliver else None
        if deliverer is not None:
            deliverer.start()
        # No reader waits for the kept answers to turn over with the minute.
        renewer = hub.answer_renewer()
        renewer.start()
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            if schedule is not None:
                schedule.stop()
            if deliverer is not None:
                deliverer.stop()
            renewer.stop()
            gate.close()
            hub.plugins.unregister(name=metrics_plugin)

    routes = [
        Route("/", endpoints.page, methods=["GET"]),
        Route("/get-all", endpoints.get_all, methods=["GET"]),
        Route("/search", endpoints.search, methods=["GET"]),
        Route("/aggregated-cases/{id}", endpoints.aggregated_case, methods=["GET"]),
        Route("/aggregated-cases/{id}", endpoints.change_work, methods=["PATCH"]),
        Route("/aggregated-cases/{id}/history", endpoints.history, methods=["GET"]),
        Route("/aggregated-cases/{id}/trend", endpoints.trend, methods=["GET"]),
        Route("/aggregated-cases/{id}/explain", endpoints.explain, methods=["GET"]),
        Route("/aggregated-cases/{id}/replies", endpoints.replies, methods=["GET"]),
        Route("/aggregated-cases/{id}/replies", endpoints.make_reply, methods=["POST"]),
        Route("/aggregated-cases/{id}/replies/preview", endpoints.preview_reply, methods=["GET"]),
        Route("/replies/{id}", endpoints.reply, methods=["GET"]),
        Route("/replies/{id}/stop", endpoints.stop_reply, methods=["POST"]),
        Route("/overrides", endpoints.overrides, methods=["GET"]),
        Route("/overrides", endpoints.make_override, methods=["POST"]),
        Route("/overrides/{id}", endpoints.undo_override, methods=["DELETE"]),
        Route("/rules/preview", endpoints.preview_rules, methods=["GET"]),
        Route("/rules/apply", endpoints.apply_rules, methods=["POST"]),
        Route("/suggestions", endpoints.suggestions, methods=["GET"]),
        Route("/suggestions/{id}/accept", endpoints.accept_suggestion, methods=["POST"]),
        Route("/refresh", endpoints.refresh, methods=["GET", "POST"]),
        Route("/health", endpoints.health, methods=["GET"]),
        Route("/openapi.json", endpoints.openapi, methods=["GET"]),
        Route("/metrics", endpoints.metrics_text, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(EveryReplyHeaders),
            Middleware(RequestObserver, metrics=metrics, routes=routes),
            Middleware(
                TokenGuard, api_token=hub.settings.api_token, read_token=hub.settings.read_token
            ),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
