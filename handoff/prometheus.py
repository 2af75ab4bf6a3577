"""The handoff service's Prometheus metrics, served at GET /metrics (docs/monitoring.md).

Two kinds: gauges read from the service and the store at scrape time (what waits where, who is
online, what is late, what the outbox still holds: always the store's truth, also after a restart),
and counters the service bumps where things happen (handoffs opened, first-response targets missed,
messages delivered to customers, messages their channel refused).

No personal data: labels are queue names, reasons, states, statuses and message kinds — never a
sender, customer, agent or text. Agents appear only as counts.
"""
from __future__ import annotations

from collections import Counter as Tally
from typing import Iterable, Optional

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from common.prometheus import RequestMetrics, new_registry
from common.undeliverable import Refusal
from handoff import routing
from handoff.service import HandoffService
from handoff.store import ENDED_INTENT, OPEN_STATES, Conversation, OutboxItem

DELIVERED_KINDS = ("agent", "system", "handoff_ended")


class HandoffMetrics:
    """The service's registry and counters; `observe` is the service's hook, `delivered` the delivery
    worker's, `watch` adds the scrape-time gauges of a service."""

    def __init__(self, registry: Optional[CollectorRegistry] = None) -> None:
        self.registry = registry or new_registry()
        self.requests = RequestMetrics(self.registry)
        self.opened = Counter("cs_handoff_opened", "Handoffs the bot filed, by queue, reason and what they became "
                              "(queued, or ticket when nobody could answer)", ("queue", "reason", "state"),
                              registry=self.registry)
        self.sla_breaches = Counter("cs_handoff_sla_breaches", "Conversations that missed their queue's "
                                    "first-response target, each counted once", ("queue",), registry=self.registry)
        self.delivered_messages = Counter("cs_handoff_messages_delivered", "Messages delivered to customers "
                                          "through Rasa: agents' replies, system notices, ends of handoffs",
                                          ("kind",), registry=self.registry)
        for kind in DELIVERED_KINDS:  # series from the start (0), so rate() sees the first one
            self.delivered_messages.labels(kind)
        self.refused_messages = Counter("cs_handoff_messages_undeliverable", "Messages the customer's channel "
                                        "refused for good (not sent again): by channel and reason, e.g. WeChat's "
                                        "48-hour window closed", ("channel", "reason"), registry=self.registry)

    def observe(self, kind: str, conversation: Conversation) -> None:
        if kind == "opened":
            self.opened.labels(conversation.queue, conversation.reason, conversation.state).inc()
        elif kind == "sla_breached":
            self.sla_breaches.labels(conversation.queue).inc()

    def delivered(self, item: OutboxItem) -> None:
        if item.intent == ENDED_INTENT:
            kind = "handoff_ended"
        else:
            kind = item.entities.get("agent_kind")
            kind = kind if kind in DELIVERED_KINDS else "other"
        self.delivered_messages.labels(kind).inc()

    def undeliverable(self, item: OutboxItem, refusal: Refusal) -> None:
        self.refused_messages.labels(refusal.channel, refusal.reason).inc()

    def watch(self, service: HandoffService) -> None:
        for queue in service.config.queues:
            self.sla_breaches.labels(queue)
        self.registry.register(_ServiceState(service))


class _ServiceState(Collector):
    """Gauges computed from the service at each scrape."""

    def __init__(self, service: HandoffService) -> None:
        self.service = service

    @staticmethod
    def _families() -> dict:
        return {
            "depth": GaugeMetricFamily("cs_handoff_queue_depth", "Conversations waiting in the queue for an agent",
                                       labels=["queue"]),
            "conversations": GaugeMetricFamily("cs_handoff_conversations", "Open conversations with people by "
                                               "queue and state (queued, offered, active)",
                                               labels=["queue", "state"]),
            "oldest": GaugeMetricFamily("cs_handoff_oldest_wait_seconds", "How long the longest-waiting "
                                        "conversation of the queue has waited (0 when none waits)",
                                        labels=["queue"]),
            "breached": GaugeMetricFamily("cs_handoff_sla_breached", "Open conversations past their first-response "
                                          "target without a reply now", labels=["queue"]),
            "agents": GaugeMetricFamily("cs_handoff_agents", "Agents by status (online, away, offline)",
                                        labels=["status"]),
            "outbox": GaugeMetricFamily("cs_handoff_outbox_pending", "Messages and notices to customers not "
                                        "delivered through Rasa yet"),
        }

    def describe(self) -> Iterable:
        return list(self._families().values())

    def collect(self) -> Iterable:
        service, families = self.service, self._families()
        held = Tally((c.queue, c.state) for c in service.store.in_state(*OPEN_STATES))
        for stats in service.queue_stats():
            queue = stats["name"]
            families["depth"].add_metric([queue], stats["waiting"])
            families["oldest"].add_metric([queue], stats["oldest_wait_seconds"] or 0.0)
            families["breached"].add_metric([queue], stats["breached"])
            for state in OPEN_STATES:
                families["conversations"].add_metric([queue, state], held[(queue, state)])
        statuses = Tally(agent.status for agent in service.store.agents())
        for status in routing.AGENT_STATUSES:
            families["agents"].add_metric([status], statuses[status])
        families["outbox"].add_metric([], service.store.outbox_backlog())
        return list(families.values())
