"""Adapters that gather what the rules and the policy look at.

- `ChannelReach`: reachable customers and where, from the channel directory (`var/channels.sqlite3`,
  table `channel_links`, owned by bot/channels/customers.py; read only here). Only customers the
  channels have identified can be notified: anonymous users have no customer id to match orders to.
  A customer's reach is the channel they wrote from last (Rasa's `output_channel=latest` delivers
  there) and when. A WeChat link made by the shop's back end without a message since (`last_seen` =
  `linked_at`) is not an inbound message: it opens no customer-service window.
- `gather`: each such customer's record and recent orders with their tracking and after-sales
  requests, through the `OrderBackend` protocol (SQLite or the external order API alike).
"""
from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, List, Optional

from orders.backend import OrderBackend, OrderBackendError
from proactive.model import CustomerFacts, OrderFacts, Reach

log = logging.getLogger(__name__)

STICKY_LINK_CHANNELS = ("wechat", "wecom")  # links are made by the shop's back end, not by messages
TRACKED = ("shipped", "delivered")
WITH_REQUESTS = ("after_sales", "refunded", "delivered", "completed")


class ChannelReach:
    def __init__(self, channels_db: Path) -> None:
        self.path = Path(channels_db)

    def _query(self, sql: str, args: tuple = ()) -> list:
        if not self.path.exists():
            return []
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:  # no table yet: no channel has identified anybody
            if "no such table" in str(exc):
                return []
            raise
        finally:
            db.close()

    def customers(self) -> List[str]:
        return [r[0] for r in self._query("SELECT DISTINCT customer_id FROM channel_links ORDER BY customer_id")]

    def reach(self, customer_id: str) -> Optional[Reach]:
        rows = self._query("SELECT channel, user_id, last_seen, linked_at FROM channel_links WHERE customer_id = ? "
                           "ORDER BY last_seen DESC LIMIT 1", (customer_id,))
        if not rows:
            return None
        channel, user_id, last_seen, linked_at = rows[0]
        wrote = not (channel in STICKY_LINK_CHANNELS and last_seen == linked_at)
        return Reach(channel, user_id, datetime.fromtimestamp(last_seen, timezone.utc) if wrote else None)


async def customer_facts(backend: OrderBackend, customer_id: str, orders_per_customer: int = 10
                         ) -> Optional[CustomerFacts]:
    customer = await backend.get_customer(customer_id)
    if customer is None:
        return None
    facts: List[OrderFacts] = []
    for order in await backend.recent_orders(customer_id, limit=orders_per_customer):
        logistics = await backend.logistics(order.number) if order.status in TRACKED else []
        requests = await backend.after_sales_requests(order.number) if order.status in WITH_REQUESTS else []
        facts.append(OrderFacts(order, tuple(logistics), tuple(requests)))
    return CustomerFacts(customer, tuple(facts))


async def gather(backend: OrderBackend, customer_ids: Iterable[str], concurrency: int = 4) -> List[CustomerFacts]:
    """Facts of these customers; one whose orders cannot be read now is left out of this round."""
    gate = asyncio.Semaphore(concurrency)

    async def one(customer_id: str) -> Optional[CustomerFacts]:
        async with gate:
            try:
                return await customer_facts(backend, customer_id)
            except OrderBackendError as exc:
                log.warning("order facts unavailable this round", extra={"customer_id": customer_id,
                                                                         "error": str(exc)})
                return None

    found = await asyncio.gather(*(one(c) for c in customer_ids))
    return [f for f in found if f is not None]
