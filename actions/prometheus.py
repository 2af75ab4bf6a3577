"""The action server's Prometheus metrics, served at GET /metrics (docs/monitoring.md): request
latencies of the Sanic app, and how long each custom action runs.

Everything here is built by the app factory (actions/server.py), which Sanic calls again in each
spawned worker: the registry lives in the process that serves the requests. With more than one worker
(ACTION_SERVER_SANIC_WORKERS) each keeps its own numbers and a scrape reaches one of them.
"""
from __future__ import annotations

import time
from typing import Any, Dict, Optional

from prometheus_client import CollectorRegistry, Histogram
from rasa_sdk.executor import ActionExecutor
from rasa_sdk.interfaces import ActionExecutionRejection
from sanic import Sanic

from common.prometheus import (
    LATENCY_BUCKETS,
    RequestMetrics,
    install_sanic_middleware,
    new_registry,
    sanic_metrics_response,
)

UNKNOWN_ACTION = "unknown"  # the action label of calls naming no registered action


class TimedExecutor:
    """The ActionExecutor as the webhook sees it, timing each run: `cs_action_run_seconds{action,
    outcome}` (outcome: ok, rejected — a form's validation refused the slot —, error). Everything else
    is the wrapped executor's."""

    def __init__(self, executor: ActionExecutor, duration: Histogram) -> None:
        self._executor = executor
        self._duration = duration

    def __getattr__(self, name: str) -> Any:
        return getattr(self._executor, name)

    async def run(self, action_call: Dict[str, Any], *args, **kwargs):
        name = action_call.get("next_action")
        if not name:
            return await self._executor.run(action_call, *args, **kwargs)
        # only registered names become label values: a caller cannot invent series
        action = name if name in self._executor.actions else UNKNOWN_ACTION
        outcome = "error"
        start = time.perf_counter()
        try:
            result = await self._executor.run(action_call, *args, **kwargs)
            outcome = "ok"
            return result
        except ActionExecutionRejection:
            outcome = "rejected"
            raise
        finally:
            self._duration.labels(action, outcome).observe(time.perf_counter() - start)


class ActionMetrics:
    def __init__(self, registry: Optional[CollectorRegistry] = None) -> None:
        self.registry = registry or new_registry()
        self.requests = RequestMetrics(self.registry)
        self.action_duration = Histogram("cs_action_run_seconds", "Time a custom action takes to run, by action "
                                         "and outcome", ("action", "outcome"), buckets=LATENCY_BUCKETS,
                                         registry=self.registry)

    def timed(self, executor: ActionExecutor) -> TimedExecutor:
        return TimedExecutor(executor, self.action_duration)

    def install(self, app: Sanic) -> None:
        """GET /metrics and the request-latency middleware on the app."""
        install_sanic_middleware(app, self.requests)

        async def metrics(_request):
            return sanic_metrics_response(self.registry)

        app.add_route(metrics, "/metrics", methods=["GET"], name="metrics")
