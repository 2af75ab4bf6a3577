"""Prometheus metrics of the Rasa server at GET /metrics (docs/monitoring.md), as an input channel —
the only way Rasa lets a project add routes (credentials.yml: `bot.channels.monitoring.MonitoringInput`).

Rasa mounts a channel's blueprint at `urljoin("/webhooks/", channel.url_prefix())`; this channel's
prefix is "/", so its blueprint sits at the server root: GET /metrics, next to Rasa's own `/`.
Its `before_server_start` listener, which Sanic runs for the whole app, adds app-level middleware
that times every request of the server (Rasa's HTTP API, every channel's webhook, socket.io polling)
by route template, and wraps `Agent.handle_message` — the one call every channel's messages go
through, whatever agent (model) is loaded — to count messages per input channel and time their
handling. No personal data: labels are route templates, methods, statuses and channel names.

The registry is this process's (Rasa's Sanic 21.12 serves in the main process with one worker, the
only setting its in-memory lock store allows).
"""
from __future__ import annotations

import functools
import logging
import time
from typing import Any, Awaitable, Callable, Dict, FrozenSet, Optional, Text

from prometheus_client import Counter, Histogram
from rasa.core.agent import Agent
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse

from common.prometheus import (
    LATENCY_BUCKETS,
    RequestMetrics,
    install_sanic_middleware,
    new_registry,
    sanic_metrics_response,
)

log = logging.getLogger(__name__)

OTHER_CHANNEL = "other"  # the channel label of messages from a channel that is not configured


class RasaMetrics:
    def __init__(self) -> None:
        self.registry = new_registry()
        self.requests = RequestMetrics(self.registry)
        self.received = Counter("cs_rasa_messages_received", "Customer messages received, by input channel",
                                ("channel",), registry=self.registry)
        self.handling = Histogram("cs_rasa_message_handling_seconds", "Time from a customer message to the "
                                  "end of the bot's turn (NLU, policies, actions), by input channel",
                                  ("channel",), buckets=LATENCY_BUCKETS, registry=self.registry)
        self.channels: FrozenSet[str] = frozenset()

    def channel(self, message: UserMessage) -> str:
        name = message.input_channel
        return name if name in self.channels else OTHER_CHANNEL

    def time_message_handling(self) -> None:
        """Wrap Agent.handle_message (once per process): Rasa has no hook between a channel and the
        agent, and the agent object is replaced when a model is loaded through the HTTP API."""
        original = Agent.handle_message
        if getattr(original, "cs_metrics", None) is self:
            return
        if getattr(original, "cs_metrics", None) is not None:  # another registry's wrapper: replace it
            original = original.__wrapped__

        @functools.wraps(original)
        async def handle_message(agent: Agent, message: UserMessage) -> Optional[Any]:
            channel = self.channel(message)
            self.received.labels(channel).inc()
            start = time.perf_counter()
            try:
                return await original(agent, message)
            finally:
                self.handling.labels(channel).observe(time.perf_counter() - start)

        handle_message.cs_metrics = self  # type: ignore[attr-defined]
        Agent.handle_message = handle_message  # type: ignore[method-assign]


class MonitoringInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "metrics"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        return cls()

    def __init__(self) -> None:
        self.metrics = RasaMetrics()

    def url_prefix(self) -> Text:
        # urljoin("/webhooks/", "/") == "/": this blueprint's routes are at the server root
        return "/"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("prometheus_metrics", __name__)
        metrics = self.metrics

        @bp.route("/metrics", methods=["GET"])
        async def scrape(request: Request) -> HTTPResponse:
            return sanic_metrics_response(metrics.registry)

        @bp.listener("before_server_start")
        async def instrument(app, loop) -> None:
            metrics.channels = frozenset(channel.name() for channel in getattr(app.ctx, "input_channels", ())
                                         if channel is not self)
            for channel in metrics.channels:  # series from the start (0), so rate() sees the first one
                metrics.received.labels(channel)
                metrics.handling.labels(channel)
            install_sanic_middleware(app, metrics.requests)
            metrics.time_message_handling()
            log.info("Prometheus metrics at /metrics", extra={"channels": sorted(metrics.channels)})

        return bp
