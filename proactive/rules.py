"""The notification rules: pure functions from a customer's order facts and `now` to candidate
notifications. No I/O, no clock of their own.

- logistics_delay: a shipped parcel past its promise (`promise_hours` after shipping) whose tracking
  has not moved for `stale_hours`. It "happens" when both are true; one per stall (the key names the
  last update), so a parcel that moves and stalls again is another event.
- delivery_failed: the parcel's latest tracking event is a delivery exception.
- refund_completed: a refund or return request is completed (the money is on its way back).
- after_sales_waiting: a return or exchange is approved and waits on the customer to send the item.

Events older than `lookback_hours` are history, not news: no candidate (a scheduler starting on an
old database does not send last month's events). The two request rules have no event time (the
order system does not say when a request changed state): the store's first sighting stands in.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable, List, Optional

from proactive.model import Candidate, CustomerFacts, OrderFacts

MONEY_BACK = ("refund", "return")
SENT_BACK = ("return", "exchange")


@dataclass(frozen=True)
class RuleConfig:
    promise_hours: float = 72.0
    stale_hours: float = 24.0
    lookback_hours: float = 72.0


def _yuan(fen: int) -> str:
    return f"{fen / 100:.2f}"


def logistics_delay(facts: OrderFacts, language: str, now: datetime, config: RuleConfig) -> Optional[Candidate]:
    order = facts.order
    if order.status != "shipped" or order.shipped_at is None:
        return None
    last = facts.logistics[-1] if facts.logistics else None
    if last is not None and last.code in ("delivered", "exception"):
        return None
    last_update = last.time if last is not None else order.shipped_at
    happened = max(order.shipped_at + timedelta(hours=config.promise_hours),
                   last_update + timedelta(hours=config.stale_hours))
    if happened > now or happened < now - timedelta(hours=config.lookback_hours):
        return None
    hours = int((now - last_update).total_seconds() // 3600)
    return Candidate(kind="logistics_delay", customer_id=order.customer_id, order_number=order.number,
                     dedupe_key=f"logistics_delay:{order.number}:{last_update.isoformat()}", event_time=happened,
                     language=language,
                     params={"order_number": order.number, "hours": str(hours), "carrier": order.carrier or "",
                             "tracking_number": order.tracking_number or ""})


def delivery_failed(facts: OrderFacts, language: str, now: datetime, config: RuleConfig) -> Optional[Candidate]:
    order = facts.order
    if not facts.logistics or order.status not in ("shipped", "delivered"):
        return None
    last = facts.logistics[-1]
    if last.code != "exception" or last.time > now or last.time < now - timedelta(hours=config.lookback_hours):
        return None
    return Candidate(kind="delivery_failed", customer_id=order.customer_id, order_number=order.number,
                     dedupe_key=f"delivery_failed:{order.number}:{last.time.isoformat()}", event_time=last.time,
                     language=language,
                     params={"order_number": order.number, "detail_zh": last.description_zh,
                             "detail_en": last.description_en})


def request_rules(facts: OrderFacts, language: str) -> List[Candidate]:
    order = facts.order
    found: List[Candidate] = []
    for request in facts.requests:
        item = order.item(request.sku)
        params = {"order_number": order.number, "request_number": request.number,
                  "item_zh": item.name_zh if item else request.sku, "item_en": item.name_en if item else request.sku}
        if request.state == "completed" and request.type in MONEY_BACK:
            amount = item.quantity * item.unit_price if item else 0
            found.append(Candidate(kind="refund_completed", customer_id=order.customer_id, order_number=order.number,
                                   dedupe_key=f"refund_completed:{order.number}:{request.number}", event_time=None,
                                   language=language, params={**params, "amount": _yuan(amount)}))
        elif request.state == "approved" and request.type in SENT_BACK:
            found.append(Candidate(kind="after_sales_waiting", customer_id=order.customer_id,
                                   order_number=order.number,
                                   dedupe_key=f"after_sales_waiting:{order.number}:{request.number}",
                                   event_time=None, language=language, params=params))
    return found


def candidates(customers: Iterable[CustomerFacts], now: datetime, config: RuleConfig = RuleConfig()
               ) -> List[Candidate]:
    """Every candidate notification in these facts, in a stable order (customer, order, kind)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    found: List[Candidate] = []
    for facts in customers:
        language = facts.customer.language
        for order_facts in facts.orders:
            for rule in (logistics_delay, delivery_failed):
                candidate = rule(order_facts, language, now, config)
                if candidate is not None:
                    found.append(candidate)
            found.extend(request_rules(order_facts, language))
    return found
