"""Prometheus metrics of proactive notifications (GET /metrics of `python -m proactive serve`).

Counts are read from the store at scrape time, so every replica reports the same truth (a counter
per process would count one replica's share): notifications by kind, state (sent, skipped, failed,
queued, sending) and reason (why skipped / postponed), and outcomes of sent ones. Labels carry no
personal data. Plus this process's rounds and failed rounds.
"""
from __future__ import annotations

from collections import Counter as Tally
from typing import Iterable, Optional

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from common.prometheus import RequestMetrics, new_registry
from proactive.store import NotificationStore


class StoreCollector(Collector):
    def __init__(self, store: NotificationStore) -> None:
        self.store = store

    def collect(self) -> Iterable:
        notifications = CounterMetricFamily("cs_proactive_notifications", "Proactive notifications by kind, state "
                                            "(sent, skipped, failed; queued/sending: not done yet) and reason "
                                            "(why skipped or postponed)", labels=("kind", "state", "reason"))
        outcomes = CounterMetricFamily("cs_proactive_outcomes", "What customers did after a sent notification: "
                                       "opened_conversation, asked_for_person, nothing (pending: window open, "
                                       "nothing yet)", labels=("kind", "outcome"))
        by_state: Tally = Tally()
        by_outcome: Tally = Tally()
        for kind, state, reason, outcome, count in self.store.counts():
            by_state[(kind, state, reason)] += count
            if state == "sent":
                by_outcome[(kind, outcome or "pending")] += count
        for labels, count in sorted(by_state.items()):
            notifications.add_metric(labels, count)
        for labels, count in sorted(by_outcome.items()):
            outcomes.add_metric(labels, count)
        yield notifications
        yield outcomes


class ProactiveMetrics:
    def __init__(self, store: NotificationStore, registry: Optional[CollectorRegistry] = None) -> None:
        self.registry = registry or new_registry()
        self.requests = RequestMetrics(self.registry)
        self.rounds = Counter("cs_proactive_rounds", "Scheduler rounds run by this process, by result",
                              ("result",), registry=self.registry)
        for result in ("ok", "error"):
            self.rounds.labels(result)
        self.registry.register(StoreCollector(store))
