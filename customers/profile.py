"""A 360° profile of one customer from what the system already holds: who they are and where they
write from, their value tier (customers/rfm.py), their orders, their conversations with the bot and
their handoffs to people with the ratings they gave.

`build_profile` is pure (facts in, a typed profile out); the readers below it fetch the facts where
each part of the product keeps them, read-only:

- the order system (any `OrderBackend`): the customer record and their latest orders (at most
  ORDERS_READ: the order API's page limit);
- the channel directory (bot/channels/customers.py's SQLite file, `channel_links`): linked channels;
- Rasa's tracker store (SQLite `events`): conversations (sessions) and the last message;
- the handoff store: handoffs, their agents and CSAT, the dedicated advisor.

A missing source (a fresh install, the tracker in PostgreSQL) leaves its part unknown (None), not an
error: the profile shows what is there.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Optional, Sequence, Tuple

from customers.rfm import Rfm, RfmConfig, rfm_of_orders, spent_band
from orders.backend import OrderBackend
from orders.model import Customer, Order

ORDERS_READ = 50
OPEN_STATES = ("queued", "offered", "active")


@dataclass(frozen=True)
class ChannelLink:
    channel: str
    last_seen: float


@dataclass(frozen=True)
class OrdersSummary:
    count: int  # orders read (at most ORDERS_READ), whatever their status
    purchases: int  # of those, paid and not refunded/cancelled, within the RFM window
    spent: int  # fen, within the RFM window
    spent_band: str  # yuan interval of `spent` by the monetary thresholds
    last_order_number: Optional[str]
    last_order_at: Optional[float]
    open_after_sales: int  # orders with an after-sales request open


@dataclass(frozen=True)
class Contacts:
    conversations: int  # sessions with the bot
    last_contact_at: Optional[float]  # the customer's last message


@dataclass(frozen=True)
class Handoffs:
    count: int
    open: int
    last_at: Optional[float]
    last_agent: Optional[str]
    csat_count: int
    csat_average: Optional[float]
    last_csat: Optional[int]


@dataclass(frozen=True)
class Profile:
    customer_id: str
    known: bool  # the order system has a record of this customer
    name: Optional[str]  # no phone number: its last 4 digits prove orders (orders/verification.py)
    language: Optional[str]
    record_tier: Optional[str]  # the order system's tier
    tier: str  # what routing takes: 'vip' or 'normal'
    segment: str
    vip: bool
    rfm: Rfm
    advisor: Optional[str]
    channels: Tuple[ChannelLink, ...]
    orders: Optional[OrdersSummary]  # None: the order system did not answer
    contacts: Optional[Contacts]  # None: no tracker store to read
    handoffs: Optional[Handoffs]

    def as_dict(self) -> dict:
        data = asdict(self)
        data["rfm"] = self.rfm.as_dict()
        return data


def summarise_orders(orders: Sequence[Order], result: Rfm, config: RfmConfig) -> OrdersSummary:
    latest = max(orders, key=lambda o: o.created_at, default=None)
    return OrdersSummary(
        count=len(orders), purchases=result.purchases, spent=result.spent,
        spent_band=spent_band(result.spent, config),
        last_order_number=latest.number if latest else None,
        last_order_at=latest.created_at.timestamp() if latest else None,
        open_after_sales=sum(1 for o in orders if o.status == "after_sales"))


def summarise_handoffs(handoffs: Sequence) -> Handoffs:
    """`handoffs`: handoff.store.PastHandoff rows, newest first."""
    rated = [h.csat for h in handoffs if h.csat is not None]
    last_taken = next((h for h in handoffs if h.agent_id), None)
    return Handoffs(count=len(handoffs), open=sum(1 for h in handoffs if h.state in OPEN_STATES),
                    last_at=handoffs[0].created_at if handoffs else None,
                    last_agent=last_taken.agent_id if last_taken else None,
                    csat_count=len(rated), csat_average=round(sum(rated) / len(rated), 2) if rated else None,
                    last_csat=rated[0] if rated else None)


def build_profile(customer_id: str, *, now: datetime, config: RfmConfig, customer: Optional[Customer],
                  orders: Optional[Sequence[Order]], channels: Sequence[ChannelLink] = (),
                  contacts: Optional[Contacts] = None, handoffs: Optional[Sequence] = None,
                  advisor: Optional[str] = None) -> Profile:
    """The profile from its facts; `orders` None = the order system did not answer (no RFM then:
    the tier is the record's, if any)."""
    record_tier = customer.tier if customer else None
    result = rfm_of_orders(orders or (), now, config, tier=record_tier or "normal")
    return Profile(
        customer_id=customer_id, known=customer is not None, name=customer.name if customer else None,
        language=customer.language if customer else None, record_tier=record_tier,
        tier=result.tier, segment=result.segment if orders is not None else "unknown", vip=result.vip, rfm=result,
        advisor=advisor, channels=tuple(sorted(channels, key=lambda c: -c.last_seen)),
        orders=summarise_orders(orders, result, config) if orders is not None else None,
        contacts=contacts, handoffs=summarise_handoffs(handoffs) if handoffs is not None else None)


# --- readers (read-only adapters) -------------------------------------------------------------------
async def read_orders(backend: OrderBackend, customer_id: str, request_id: str = ""
                      ) -> Tuple[Optional[Customer], Optional[list]]:
    """(customer record, latest orders); (None, None) when the order system fails."""
    try:
        customer = await backend.get_customer(customer_id, request_id=request_id)
        orders = await backend.recent_orders(customer_id, ORDERS_READ, request_id=request_id)
    except Exception:  # noqa: BLE001 - the profile goes on without the order system
        return None, None
    return customer, list(orders)


def _readonly(path: Path):
    from insight.sources import connect_readonly

    return connect_readonly(path)


def read_channels(channels_db: Path, customer_id: str) -> Tuple[ChannelLink, ...]:
    """Channels linked to the customer (bot/channels/customers.py), latest use per channel; the channel
    users' ids (OpenIDs, app user ids) are not shown."""
    try:
        db = _readonly(channels_db)
    except FileNotFoundError:
        return ()
    try:
        rows = db.execute("SELECT channel, MAX(last_seen) FROM channel_links WHERE customer_id = ? "
                          "GROUP BY channel", (customer_id,)).fetchall()
    except Exception:  # noqa: BLE001 - no such table yet
        return ()
    finally:
        db.close()
    return tuple(ChannelLink(r[0], float(r[1])) for r in rows)


def read_contacts(tracker_db: Path, customer_id: str) -> Optional[Contacts]:
    """Sessions and the last message of the customer's conversation `customer:<id>` in Rasa's SQLite
    tracker store; None when there is no such file."""
    try:
        db = _readonly(tracker_db)
    except FileNotFoundError:
        return None
    try:
        row = db.execute("SELECT SUM(CASE WHEN type_name = 'session_started' THEN 1 ELSE 0 END), "
                         "MAX(CASE WHEN type_name = 'user' THEN timestamp END) FROM events WHERE sender_id = ?",
                         ("customer:" + customer_id,)).fetchone()
    except Exception:  # noqa: BLE001 - not a tracker store (yet)
        return None
    finally:
        db.close()
    return Contacts(int(row[0] or 0), float(row[1]) if row[1] is not None else None)
