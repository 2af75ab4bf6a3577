"""Prometheus metrics shared by the four services (docs/monitoring.md): a registry per process, the
request-latency histogram every service exposes, the text exposition of GET /metrics, and the
middleware that fills the histogram on aiohttp (handoff service, web page) and Sanic (Rasa server,
action server).

Imported by both environments (Rasa 3.10 with Sanic 21.12, main 3.11 with Sanic 25 and aiohttp 3.14):
only prometheus_client at module level; the web frameworks are imported where they are used.

Labels never carry personal data or unbounded values: the route is the route's template
(`/api/conversations/{id}/accept`, never the path with an id), `unmatched` for requests no route
took; the method is one of the standard ones or `other`; the status is the HTTP status code.
"""
from __future__ import annotations

import time
from typing import Callable, Optional, Tuple

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

# Prometheus text format 0.0.4: what generate_latest writes, and what prometheus_client's own handlers
# announce for it (CONTENT_TYPE_LATEST says 1.0.0, the same format plus quoted UTF-8 names, which the
# output never uses); every Prometheus version and compatible scraper reads it.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

# From a cache hit of the web page (~5 ms) to a slow Rasa turn or action (several seconds).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUEST_DURATION = "cs_http_request_duration_seconds"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # the route label of requests that matched no route (404s, scanners)


def new_registry(process: bool = True) -> CollectorRegistry:
    """A registry for this process's metrics (not prometheus_client's global REGISTRY: each app builds
    its own, so tests can build several apps in one process). `process`: add the standard process_*
    (CPU, memory, open files), python_info and python_gc_* collectors. The *_created series of
    counters and histograms are switched off for the whole process: nothing here uses them."""
    disable_created_metrics()
    registry = CollectorRegistry()
    if process:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
    return registry


def exposition(registry: CollectorRegistry) -> Tuple[bytes, str]:
    """The body and Content-Type of a GET /metrics answer."""
    return generate_latest(registry), CONTENT_TYPE


def method_label(method: str) -> str:
    method = (method or "").upper()
    return method if method in METHODS else "other"


def is_websocket(headers) -> bool:
    """A WebSocket upgrade: its "latency" is the session's length, so it is not observed."""
    return (headers.get("Upgrade") or "").lower() == "websocket"


class RequestMetrics:
    """`cs_http_request_duration_seconds{method, route, status}`: one observation per HTTP request
    (its _count gives request and error rates)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Histogram(
            REQUEST_DURATION, "Time from receiving an HTTP request to its response, by route template",
            ("method", "route", "status"), buckets=LATENCY_BUCKETS, registry=registry)

    def observe(self, method: str, route: Optional[str], status: int, seconds: float) -> None:
        self.duration.labels(method_label(method), route or UNMATCHED, str(int(status))).observe(seconds)


# --- aiohttp -----------------------------------------------------------------------------------------
def aiohttp_route(request) -> str:
    """The template of the route that matched (`/api/conversations/{id}`; a static directory's
    prefix), or UNMATCHED."""
    info = request.match_info
    resource = getattr(getattr(info, "route", None), "resource", None)
    if resource is None or getattr(info, "http_exception", None) is not None:
        return UNMATCHED
    return resource.canonical or UNMATCHED


class AiohttpLatency:
    """Request latency of an aiohttp app, in two parts: `middleware` (first in the app's list) notes
    when the request came in; `on_response_prepare` (append it to the app's signal of that name)
    observes when the response's headers go out, with the status the client gets — errors turned into
    answers by other middleware or by aiohttp itself included, and a static file's 404 or 304, which
    aiohttp decides only then. A request the client gave up on before the answer is not observed."""

    def __init__(self, metrics: RequestMetrics, clock: Callable[[], float] = time.perf_counter) -> None:
        from aiohttp import web

        self.metrics = metrics
        self.clock = clock
        started = self._started = web.RequestKey("cs_request_started", float)

        @web.middleware
        async def request_started(request, handler):
            if not is_websocket(request.headers):
                request[started] = clock()
            return await handler(request)

        self.middleware = request_started

    async def on_response_prepare(self, request, response) -> None:
        started = request.pop(self._started, None)
        if started is not None:
            self.metrics.observe(request.method, aiohttp_route(request), response.status, self.clock() - started)


def aiohttp_metrics_handler(registry: CollectorRegistry):
    """The GET /metrics handler of an aiohttp app."""
    from aiohttp import web

    async def metrics_endpoint(request):
        body, content_type = exposition(registry)
        return web.Response(body=body, headers={"Content-Type": content_type})

    return metrics_endpoint


# --- Sanic (21.12 in the Rasa env, 25 in the main env) --------------------------------------------
def sanic_route(request) -> str:
    """The template of the route that matched (`/conversations/<conversation_id:path>/tracker`), or
    UNMATCHED."""
    route = getattr(request, "route", None)
    return f"/{route.path}" if route is not None else UNMATCHED


def install_sanic_middleware(app, metrics: RequestMetrics, clock: Callable[[], float] = time.perf_counter) -> None:
    """App-level request/response middleware observing every request's latency (responses made by
    exception handlers included: Sanic runs response middleware on them too)."""

    async def start_timer(request) -> None:
        if not is_websocket(request.headers):
            request.ctx.cs_request_started = clock()

    async def observe(request, response) -> None:
        started = getattr(request.ctx, "cs_request_started", None)
        if started is not None and response is not None:
            metrics.observe(request.method, sanic_route(request), response.status, clock() - started)

    app.register_middleware(start_timer, "request")
    app.register_middleware(observe, "response")


def sanic_metrics_response(registry: CollectorRegistry):
    """The answer of a Sanic GET /metrics route."""
    from sanic import response

    body, content_type = exposition(registry)
    return response.raw(body, content_type=content_type)
