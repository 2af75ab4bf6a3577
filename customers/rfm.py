"""A customer's value tier by an RFM model: recency, frequency and monetary value of their orders,
each scored 1-5 against configured thresholds (not quantiles of today's data: a customer's score does
not move because other customers bought, and every score can be explained with one number), then a
segment from a fixed rule table, and the VIP flag. Pure: orders and `now` in, a typed result out.

What counts as a purchase: an order that was paid and not refunded or cancelled (paid, shipped,
delivered, completed, after_sales), at its payment time (else its creation time). Frequency and
monetary value count purchases within the last `window_days`; recency is the age of the latest
purchase, however old.

Scores (thresholds t1 < t2 < t3 < t4, CS_RFM_*; 0 = no purchase at all):

  R  days since the latest purchase:   <= t1 -> 5, <= t2 -> 4, <= t3 -> 3, <= t4 -> 2, else 1
  F  purchases in the window:          >= t4 -> 5, >= t3 -> 4, >= t2 -> 3, >= t1 -> 2, else 1
  M  yuan spent in the window:         >= t4 -> 5, >= t3 -> 4, >= t2 -> 3, >= t1 -> 2, else 1

Segments, the first row that matches (SEGMENT_RULES says the same in words):

  1. prospect   no purchase
  2. core       R >= 4 and F >= 4 and M >= 4       buys often, much, recently
  3. at_risk    R <= 3 and (F >= 4 or M >= 4)      a frequent or big buyer who has not bought lately
  4. dormant    R <= 2                             nothing for a long time
  5. new        R >= 4 and F == 1                  a first purchase, lately
  6. potential  everything else                    recent, not (yet) core

VIP: the order system's customer record says so (tier "vip"), or the segment is core and the money
spent in the window reaches `vip_yuan` (0: only the record decides).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable, Optional, Sequence, Tuple

from orders.model import Order

COUNTED_STATUSES = frozenset({"paid", "shipped", "delivered", "completed", "after_sales"})
SEGMENTS = ("core", "potential", "new", "at_risk", "dormant", "prospect")
SEGMENT_RULES = (
    ("prospect", "no purchase"),
    ("core", "R >= 4 and F >= 4 and M >= 4"),
    ("at_risk", "R <= 3 and (F >= 4 or M >= 4)"),
    ("dormant", "R <= 2"),
    ("new", "R >= 4 and F == 1"),
    ("potential", "otherwise"),
)


def _four(name: str, values: Sequence[float]) -> Tuple[float, ...]:
    values = tuple(values)
    if len(values) != 4 or any(v <= 0 for v in values) or list(values) != sorted(set(values)):
        raise ValueError(f"{name}: four positive numbers in increasing order, e.g. 30,90,180,365")
    return values


def parse_thresholds(name: str, text: str) -> Tuple[float, ...]:
    """'30,90,180,365' -> (30.0, 90.0, 180.0, 365.0); ValueError naming `name` otherwise."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"{name}={text!r}: four comma-separated numbers") from None
    return _four(name, values)


@dataclass(frozen=True)
class RfmConfig:
    recency_days: Tuple[float, ...] = (30, 90, 180, 365)
    frequency_orders: Tuple[float, ...] = (2, 3, 5, 8)
    monetary_yuan: Tuple[float, ...] = (200, 1000, 3000, 10000)
    window_days: int = 365
    vip_yuan: float = 20000.0  # core customers spending this much in the window are VIPs; 0: off

    def __post_init__(self) -> None:
        _four("recency_days", self.recency_days)
        _four("frequency_orders", self.frequency_orders)
        _four("monetary_yuan", self.monetary_yuan)
        if not 1 <= self.window_days <= 3660:
            raise ValueError("window_days: between 1 and 3660")
        if self.vip_yuan < 0:
            raise ValueError("vip_yuan: 0 (off) or a positive amount")

    @classmethod
    def from_settings(cls, settings) -> "RfmConfig":
        return cls(recency_days=parse_thresholds("CS_RFM_RECENCY_DAYS", settings.rfm_recency_days),
                   frequency_orders=parse_thresholds("CS_RFM_FREQUENCY_ORDERS", settings.rfm_frequency_orders),
                   monetary_yuan=parse_thresholds("CS_RFM_MONETARY_YUAN", settings.rfm_monetary_yuan),
                   window_days=settings.rfm_window_days, vip_yuan=settings.rfm_vip_yuan)


@dataclass(frozen=True)
class Purchase:
    at: datetime
    amount: int  # fen


@dataclass(frozen=True)
class Rfm:
    recency: int  # 0-5 (0: no purchase)
    frequency: int
    monetary: int
    segment: str
    vip: bool
    days_since_last: Optional[int]  # None: no purchase
    purchases: int  # in the window
    spent: int  # fen, in the window

    @property
    def code(self) -> str:
        """'R5F4M3', as agents and analysts write it."""
        return f"R{self.recency}F{self.frequency}M{self.monetary}"

    @property
    def tier(self) -> str:
        """What routing takes: 'vip' or 'normal'."""
        return "vip" if self.vip else "normal"

    def as_dict(self) -> dict:
        return {"recency": self.recency, "frequency": self.frequency, "monetary": self.monetary,
                "code": self.code, "segment": self.segment, "vip": self.vip,
                "days_since_last": self.days_since_last, "purchases": self.purchases, "spent": self.spent}


def purchases(orders: Iterable[Order]) -> Tuple[Purchase, ...]:
    """The orders that count as purchases, at their payment time."""
    return tuple(Purchase(o.paid_at or o.created_at, o.total) for o in orders if o.status in COUNTED_STATUSES)


def score_recency(days: float, thresholds: Sequence[float]) -> int:
    for score, limit in zip((5, 4, 3, 2), thresholds, strict=True):
        if days <= limit:
            return score
    return 1


def score_at_least(value: float, thresholds: Sequence[float]) -> int:
    """1-5: how many thresholds the value reaches, plus one."""
    return 1 + sum(1 for limit in thresholds if value >= limit)


def segment_of(recency: int, frequency: int, monetary: int) -> str:
    if recency == 0:
        return "prospect"
    if recency >= 4 and frequency >= 4 and monetary >= 4:
        return "core"
    if recency <= 3 and (frequency >= 4 or monetary >= 4):
        return "at_risk"
    if recency <= 2:
        return "dormant"
    if recency >= 4 and frequency == 1:
        return "new"
    return "potential"


def spent_band(spent_fen: int, config: RfmConfig = RfmConfig()) -> str:
    """The monetary interval an amount falls in, in yuan, for display: '<200', '1000-3000', '>=10000'."""
    t = [int(v) for v in config.monetary_yuan]
    yuan = spent_fen / 100
    if yuan < t[0]:
        return f"<{t[0]}"
    for low, high in zip(t, t[1:], strict=False):
        if yuan < high:
            return f"{low}-{high}"
    return f">={t[-1]}"


def rfm(bought: Iterable[Purchase], now: datetime, config: RfmConfig = RfmConfig(),
        explicit_vip: bool = False) -> Rfm:
    """The scores, segment and VIP flag of one customer's purchases at `now` (timezone-aware)."""
    bought = list(bought)
    if not bought:
        return Rfm(0, 0, 0, "prospect", explicit_vip, None, 0, 0)
    latest = max(p.at for p in bought)
    days = max(0, (now - latest).days)
    since = now - timedelta(days=config.window_days)
    recent = [p for p in bought if p.at >= since]
    spent = sum(p.amount for p in recent)
    r = score_recency(days, config.recency_days)
    f = score_at_least(len(recent), config.frequency_orders)
    m = score_at_least(spent / 100, config.monetary_yuan)
    segment = segment_of(r, f, m)
    vip = explicit_vip or (segment == "core" and config.vip_yuan > 0 and spent / 100 >= config.vip_yuan)
    return Rfm(r, f, m, segment, vip, days, len(recent), spent)


def rfm_of_orders(orders: Iterable[Order], now: datetime, config: RfmConfig = RfmConfig(),
                  tier: str = "normal") -> Rfm:
    """rfm() of a customer's orders; `tier` is the order system's customer record ('vip': VIP)."""
    return rfm(purchases(orders), now, config, explicit_vip=tier == "vip")
