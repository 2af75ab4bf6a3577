"""Typed, immutable values at the boundaries of proactive notifications."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping, Optional, Tuple

from orders.model import AfterSalesRequest, Customer, LogisticsEvent, Order

KINDS = ("logistics_delay", "delivery_failed", "refund_completed", "after_sales_waiting")
# Final reasons a notification was not sent (state "skipped").
SKIP_REASONS = ("opted_out", "no_channel", "channel_cannot_push", "outside_window", "rate_limited",
                "expired", "before_start", "interrupted")
OUTCOMES = ("opened_conversation", "asked_for_person", "nothing")


@dataclass(frozen=True)
class OrderFacts:
    """One order with what the rules look at."""
    order: Order
    logistics: Tuple[LogisticsEvent, ...] = ()
    requests: Tuple[AfterSalesRequest, ...] = ()


@dataclass(frozen=True)
class CustomerFacts:
    customer: Customer
    orders: Tuple[OrderFacts, ...] = ()


@dataclass(frozen=True)
class Candidate:
    """A notification a rule wants to send. `dedupe_key` names the event: the same event always gives
    the same key, so it is recorded (and sent) once whoever sees it. `event_time` is when it happened,
    None when the order system does not say (a request's state change): then the store's first
    sighting stands in for it."""
    kind: str
    customer_id: str
    order_number: str
    dedupe_key: str
    event_time: Optional[datetime]
    language: str  # the customer's language in the order system (the conversation's wins when known)
    params: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown notification kind {self.kind!r}; known: {KINDS}")


@dataclass(frozen=True)
class Reach:
    """Where the customer can be reached: the channel they wrote from last (Rasa's
    `output_channel=latest` sends there) and when they last wrote on it."""
    channel: str
    user_id: str
    last_inbound: Optional[datetime]


@dataclass(frozen=True)
class Decision:
    action: str  # "send" | "skip" | "postpone"
    reason: str = ""
    retry_at: Optional[datetime] = None

    @classmethod
    def send(cls) -> "Decision":
        return cls("send")

    @classmethod
    def skip(cls, reason: str) -> "Decision":
        return cls("skip", reason)
