"""The scheduler: every `interval` seconds, one round —

1. close claims a crashed replica left behind (as skipped "interrupted": never sent twice);
2. gather the facts of every customer the channels can reach, run the rules, record the candidates
   (the store ignores events it already has: dedupe keys are unique);
3. for each due notification: claim it (only one replica wins), ask the policy, then send it through
   Rasa's `trigger_intent` (intent EXTERNAL_notification, `output_channel=latest`: the customer's own
   channel, as an agent's reply), or record why not, or postpone it (quiet hours);
4. update the outcomes of sent notifications from the conversations.

Several replicas may run it on one store: claims are atomic, so each notification is handled once.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Awaitable, Callable, Dict, Optional

from handoff.rasa_client import RasaUnavailable, Undeliverable
from orders.backend import OrderBackend
from proactive import policy, rules
from proactive.facts import ChannelReach, gather
from proactive.outcomes import TrackerEvents, classify
from proactive.store import Notification, NotificationStore

log = logging.getLogger(__name__)

INTENT = "EXTERNAL_notification"
Send = Callable[[str, str, dict], Awaitable[None]]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def conversation_of(customer_id: str) -> str:
    return f"customer:{customer_id}"  # bot/channels/customers.py: one conversation per verified customer


@dataclass(frozen=True)
class SchedulerConfig:
    rules: rules.RuleConfig = field(default_factory=rules.RuleConfig)
    policy: policy.PolicyConfig = field(default_factory=policy.PolicyConfig)
    outcome_window: timedelta = timedelta(hours=24)
    lease_seconds: float = 600.0

    @classmethod
    def from_settings(cls, settings) -> "SchedulerConfig":
        from handoff.hours import parse_offset

        return cls(
            rules=rules.RuleConfig(settings.proactive_promise_hours, settings.proactive_stale_hours,
                                   settings.proactive_lookback_hours),
            policy=policy.PolicyConfig(
                quiet=policy.parse_quiet_hours(settings.proactive_quiet_hours),
                utc_offset_minutes=parse_offset(settings.handoff_utc_offset),
                window_hours=settings.proactive_window_hours, rate_count=settings.proactive_rate_count,
                rate_hours=settings.proactive_rate_hours, max_age_hours=settings.proactive_lookback_hours),
            outcome_window=timedelta(hours=settings.proactive_outcome_hours))


@dataclass
class RoundReport:
    new: int = 0
    sent: int = 0
    skipped: int = 0
    postponed: int = 0
    failed: int = 0
    outcomes: int = 0

    def as_dict(self) -> Dict[str, int]:
        return dict(vars(self))


class Scheduler:
    def __init__(self, store: NotificationStore, reach: ChannelReach, backend: OrderBackend, send: Send,
                 events: TrackerEvents, config: SchedulerConfig = SchedulerConfig(),
                 clock: Callable[[], datetime] = utc_now, worker: Optional[str] = None) -> None:
        self.store, self.reach, self.backend, self.send, self.events = store, reach, backend, send, events
        self.config = config
        self.clock = clock
        self.worker = worker or worker_id()

    async def run_once(self) -> RoundReport:
        report = RoundReport()
        now = self.clock()
        interrupted = self.store.expire_claims(now, self.config.lease_seconds)
        if interrupted:
            log.warning("claims of a stopped replica closed as interrupted", extra={"count": interrupted})
        facts = await gather(self.backend, self.reach.customers())
        report.new = self.store.offer(rules.candidates(facts, now, self.config.rules), now,
                                      customers=[f.customer.id for f in facts])
        for notification in self.store.due(now):
            if not self.store.claim(notification.id, self.worker, self.clock()):
                continue  # another replica has it (or is busy with this customer)
            await self._handle(notification, report)
        report.outcomes = self._outcomes()
        if any(report.as_dict().values()):
            log.info("proactive round", extra={"worker": self.worker, **report.as_dict()})
        return report

    async def _handle(self, n: Notification, report: RoundReport) -> None:
        now = self.clock()
        reach = self.reach.reach(n.customer_id)
        since = now - timedelta(hours=self.config.policy.rate_hours)
        decision = policy.decide(
            n.as_candidate(), now=now, happened_at=n.happened_at, reach=reach,
            opted_out=self.store.opted_out(n.customer_id), sent_recently=self.store.sent_since(n.customer_id, since),
            config=self.config.policy)
        extra = {"notification": n.id, "kind": n.kind, "customer_id": n.customer_id,
                 "channel": reach.channel if reach else None}
        if decision.action == "postpone":
            self.store.postpone(n.id, self.worker, decision.retry_at, decision.reason)
            report.postponed += 1
            log.info("notification postponed", extra={**extra, "reason": decision.reason,
                                                      "until": decision.retry_at.isoformat()})
            return
        if decision.action == "skip":
            self.store.skipped(n.id, self.worker, now, decision.reason, reach.channel if reach else "")
            report.skipped += 1
            log.info("notification not sent", extra={**extra, "reason": decision.reason})
            return
        conversation = conversation_of(n.customer_id)
        entities = {"notification_id": str(n.id), "notification_kind": n.kind,
                    "notification_language": n.language,
                    "notification_params": json.dumps(n.params, ensure_ascii=False)}
        try:
            await self.send(conversation, INTENT, entities)
        except (RasaUnavailable, Undeliverable) as exc:  # Undeliverable: the channel refused it for good
            self.store.failed(n.id, self.worker, self.clock(), str(exc), reach.channel)
            report.failed += 1
            log.error("notification failed", extra={**extra, "error": str(exc)})
            return
        self.store.sent(n.id, self.worker, self.clock(), reach.channel, conversation)
        report.sent += 1
        log.info("notification sent", extra=extra)

    def _outcomes(self) -> int:
        changed = 0
        now = self.clock()
        for n in self.store.awaiting_outcome():
            if n.finished_at is None or not n.conversation:
                continue
            outcome, final = classify(self.events.after(n.conversation, n.finished_at), n.finished_at, now,
                                      self.config.outcome_window)
            if outcome != n.outcome or final:
                self.store.set_outcome(n.id, outcome, final)
                changed += 1
        return changed
