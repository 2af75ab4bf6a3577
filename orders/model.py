"""The order domain as typed, immutable values: what every backend returns and every action reads.

Money is in fen (1/100 yuan, integers: no float rounding); times are timezone-aware datetimes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional, Tuple

# Order life cycle. `after_sales` = a return/refund/exchange is open on the order; `refunded` = closed
# with money back.
STATUSES = ("pending_payment", "paid", "shipped", "delivered", "completed", "cancelled",
            "after_sales", "refunded")
TIERS = ("normal", "vip")
AFTER_SALES_TYPES = ("return", "refund", "exchange")
# Reasons customers give; the first four are the shop's fault (longer window, free return shipping).
REASONS = ("damaged", "defective", "wrong_item", "not_as_described", "changed_mind", "size", "other")
QUALITY_REASONS = frozenset(REASONS[:4])
REQUEST_STATES = ("open", "approved", "completed", "rejected")


@dataclass(frozen=True)
class Customer:
    id: str
    name: str
    phone: str
    tier: str = "normal"
    language: str = "zh"

    @property
    def is_vip(self) -> bool:
        return self.tier == "vip"


@dataclass(frozen=True)
class Address:
    recipient: str
    phone: str
    province: str
    city: str
    district: str
    street: str


@dataclass(frozen=True)
class OrderItem:
    sku: str
    name_zh: str
    name_en: str
    quantity: int
    unit_price: int  # fen

    def name(self, language: Optional[str]) -> str:
        return self.name_en if language == "en" else self.name_zh


@dataclass(frozen=True)
class Order:
    number: str
    customer_id: str
    status: str
    items: Tuple[OrderItem, ...]
    total: int  # fen, what the customer paid (or owes)
    created_at: datetime
    address: Address
    paid_at: Optional[datetime] = None
    shipped_at: Optional[datetime] = None
    delivered_at: Optional[datetime] = None
    cancelled_at: Optional[datetime] = None
    carrier: Optional[str] = None
    tracking_number: Optional[str] = None

    def item(self, sku: str) -> Optional[OrderItem]:
        return next((i for i in self.items if i.sku == sku), None)


@dataclass(frozen=True)
class LogisticsEvent:
    time: datetime
    code: str  # picked_up, in_transit, arrived, out_for_delivery, delivered, exception
    location: str
    description_zh: str
    description_en: str

    def description(self, language: Optional[str]) -> str:
        return self.description_en if language == "en" else self.description_zh


@dataclass(frozen=True)
class AfterSalesRequest:
    number: str
    order_number: str
    sku: str
    type: str
    reason: str
    state: str
    created_at: datetime
    note: str = ""


@dataclass(frozen=True)
class NewAfterSalesRequest:
    """What the bot asks the order system to open."""
    order_number: str
    sku: str
    type: str
    reason: str
    note: str = ""

    def __post_init__(self) -> None:
        if self.type not in AFTER_SALES_TYPES:
            raise ValueError(f"unknown after-sales type {self.type!r}; known: {AFTER_SALES_TYPES}")
        if self.reason not in REASONS:
            raise ValueError(f"unknown reason {self.reason!r}; known: {REASONS}")


@dataclass(frozen=True)
class OrderDetails:
    """An order with everything a conversation about it needs, fetched once per turn."""
    order: Order
    customer: Customer
    requests: Tuple[AfterSalesRequest, ...] = field(default_factory=tuple)
