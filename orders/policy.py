"""The shop's after-sales and cancellation rules, as pure functions of an order and the time.

Each check returns None when allowed, or a stable reason code the bot explains to the customer
(actions/texts.py) and the order system reports in a 409 (orders/api.py). The bot checks before it
asks the customer anything further; the order system checks again when it writes.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterable, List, Optional

from orders.model import QUALITY_REASONS, AfterSalesRequest, Order, OrderItem

# "7 days, no reason needed" for changes of mind; longer when the shop is at fault.
CHANGE_OF_MIND_DAYS = 7
QUALITY_DAYS = 15
CANCELLABLE = ("pending_payment", "paid")
ACTIVE_REQUEST_STATES = ("open", "approved", "completed")

_CANCEL_BLOCKS = {
    "shipped": "already_shipped",
    "delivered": "already_delivered",
    "completed": "already_delivered",
    "after_sales": "already_delivered",
    "cancelled": "already_cancelled",
    "refunded": "already_refunded",
}
_AFTER_SALES_BLOCKS = {
    "pending_payment": "not_shipped",
    "paid": "not_shipped",
    "shipped": "in_transit",
    "cancelled": "already_cancelled",
    "refunded": "already_refunded",
}


def cancel_block(order: Order) -> Optional[str]:
    if order.status in CANCELLABLE:
        return None
    return _CANCEL_BLOCKS.get(order.status, "not_cancellable")


def window_days(reason: Optional[str]) -> int:
    """Days after delivery a request may be opened; unknown reason -> the longest window."""
    if reason is None or reason in QUALITY_REASONS:
        return QUALITY_DAYS
    return CHANGE_OF_MIND_DAYS


def deadline(order: Order, reason: Optional[str]) -> Optional[datetime]:
    if order.delivered_at is None:
        return None
    return order.delivered_at + timedelta(days=window_days(reason))


def after_sales_block(order: Order, requests: Iterable[AfterSalesRequest], now: datetime,
                      sku: Optional[str] = None, reason: Optional[str] = None) -> Optional[str]:
    """May a return/refund/exchange be opened on this order (item, reason), now?"""
    if order.status in _AFTER_SALES_BLOCKS:
        return _AFTER_SALES_BLOCKS[order.status]
    if order.delivered_at is None:
        return "in_transit"
    if sku is not None:
        if order.item(sku) is None:
            return "unknown_item"
        if any(r.sku == sku and r.state in ACTIVE_REQUEST_STATES for r in requests):
            return "already_requested"
    elif not eligible_items(order, requests):
        return "already_requested"
    if now > deadline(order, reason):
        return "window_passed"
    return None


def eligible_items(order: Order, requests: Iterable[AfterSalesRequest]) -> List[OrderItem]:
    """Items of the order without an open or completed request."""
    taken = {r.sku for r in requests if r.state in ACTIVE_REQUEST_STATES}
    return [item for item in order.items if item.sku not in taken]
