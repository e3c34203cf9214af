"""``/metrics`` in Prometheus's text format, and the request log line.

Three feeds:

- every request: latency by method, route template and status (the
  :class:`RequestObserver` middleware, which also writes the access log);
- every refresh this process runs: a ``refresh_finished`` hook implementation
  (the path any plug-in would take), per source duration, outcome and counts;
- at scrape time: what the database holds (cases per source, open and closed
  aggregated cases, last success per source), read through the library.

Each app has its own registry, so two apps in one process (tests) never
share or clash over metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supporthub.hookspecs import hookimpl
from supporthub.hub import Hub
from supporthub.vocabulary.errors import StorageError
from supporthub.vocabulary.models import RefreshReport

__all__ = ["HubCollector", "RequestObserver", "ServiceMetrics"]

access_log = logging.getLogger("supporthub.access")

_REFRESH_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


class ServiceMetrics:
    """The service's metrics and the ``refresh_finished`` hook that feeds some of them."""

    def __init__(self, hub: Hub) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "supporthub_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.refresh_duration = Histogram(
            "supporthub_source_refresh_duration_seconds",
            "Time one refresh spent on one source (sources that were due).",
            ["source"],
            buckets=_REFRESH_BUCKETS,
            registry=self.registry,
        )
        self.refreshes = Counter(
            "supporthub_source_refreshes",
            "Refreshes by source and outcome: ok, failed, or not_due (not fetched).",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.fetched = Counter(
            "supporthub_source_fetched_records",
            "Records and tombstones read from a CRM, repeats included.",
            ["source"],
            registry=self.registry,
        )
        self.skipped = Counter(
            "supporthub_source_skipped_records",
            "Records read from a CRM that could not be used.",
            ["source"],
            registry=self.registry,
        )
        self.claims = Counter(
            "supporthub_claims",
            "Claims of aggregated cases by outcome: won, or lost (somebody owned it).",
            ["outcome"],
            registry=self.registry,
        )
        self.registry.register(HubCollector(hub))
        self.registry.register(DeliveryCollector(hub))

    @hookimpl
    def refresh_finished(self, report: RefreshReport) -> None:
        """Count what a refresh did, source by source."""
        for name, source in report.sources.items():
            if not source.due:
                self.refreshes.labels(name, "not_due").inc()
                continue
            self.refreshes.labels(name, "ok" if source.ok else "failed").inc()
            self.refresh_duration.labels(name).observe(source.duration_seconds or 0.0)
            self.fetched.labels(name).inc(source.fetched)
            self.skipped.labels(name).inc(source.skipped)


class HubCollector(Collector):
    """What the database holds, read at scrape time (in a worker thread)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def _families(self) -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily("supporthub_database_up", "1 when the database answers, else 0."),
            GaugeMetricFamily("supporthub_cases", "Cases in the hub by source.", labels=["source"]),
            GaugeMetricFamily(
                "supporthub_aggregated_cases",
                "Aggregated cases by status (open, closed).",
                labels=["status"],
            ),
            GaugeMetricFamily(
                "supporthub_unowned_open_aggregated_cases",
                "Open aggregated cases nobody owns (contract §7).",
            ),
            GaugeMetricFamily(
                "supporthub_regressed_aggregated_cases",
                "Aggregated cases in state regressed: fixed, then a new open case came.",
            ),
            GaugeMetricFamily(
                "supporthub_source_last_success_timestamp_seconds",
                "When the last successful fetch of a source started (Unix time).",
                labels=["source"],
            ),
        )

    def describe(self) -> Iterator[Metric]:
        # Names only: registering must not touch the database.
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        up, cases, aggregated, unowned, regressed, last_success = self._families()
        try:
            counts = self.hub.counts()
            health = self.hub.health()
        except StorageError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1 if health.ok else 0)
        for source, count in sorted(counts.cases.items()):
            cases.add_metric([source], count)
        aggregated.add_metric(["open"], counts.open_aggregated_cases)
        aggregated.add_metric(["closed"], counts.closed_aggregated_cases)
        unowned.add_metric([], counts.unowned_open_aggregated_cases)
        regressed.add_metric([], counts.regressed_aggregated_cases)
        for source, state in health.sources.items():
            if state.last_success_at is not None:
                last_success.add_metric([source], state.last_success_at.timestamp())
        yield from (up, cases, aggregated, unowned, regressed, last_success)


class RequestObserver:
    """ASGI middleware: one log line and one latency observation per request.

    The log line holds method, path, query, route template, status and
    duration; never a header (tokens travel in headers).
    """

    def __init__(
        self, app: ASGIApp, *, metrics: ServiceMetrics, routes: Sequence[BaseRoute]
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    def _template(self, scope: Scope) -> str:
        route: BaseRoute | None = scope.get("route")
        if route is None:  # answered before routing (401): find the route it was for
            route = next((r for r in self.routes if r.matches(scope)[0] is Match.FULL), None)
        return getattr(route, "path", None) or "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def observe_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe_send)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        template = self._template(scope)
        method: str = scope["method"]
        self.metrics.requests.labels(method, template, str(status)).observe(seconds)
        query = scope.get("query_string", b"").decode("latin-1")
        target = scope["path"] + (f"?{query}" if query else "")
        access_log.info(
            "%s %s %d %.1f ms",
            method,
            target,
            status,
            seconds * 1000,
            extra={
                "event": "request",
                "method": method,
                "path": scope["path"],
                "query": query,
                "route": template,
                "status": status,
                "durationMs": round(seconds * 1000, 3),
            },
        )


class DeliveryCollector(Collector):
    """The replies' outbox, read at scrape time: delivery rows by source and state."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "supporthub_reply_deliveries",
            "Delivery rows of replies by source and state (pending, delivered, failed).",
            labels=["source", "state"],
        )

    def describe(self) -> Iterator[Metric]:
        yield self._family()

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        try:
            counts = self.hub.delivery_counts()
        except StorageError:
            return
        for (source, state), count in sorted(counts.items()):
            family.add_metric([source, state], count)
        yield family
