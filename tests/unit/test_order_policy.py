"""orders/policy.py: the cancellation and after-sales rules, on small hand-built orders."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from orders import policy
from orders.model import QUALITY_REASONS, REASONS, STATUSES, Address, AfterSalesRequest, Order, OrderItem

CST = timezone(timedelta(hours=8))
DELIVERED = datetime(2026, 11, 1, 15, 30, tzinfo=CST)
TINY = timedelta(microseconds=1)
CHANGE_OF_MIND = ("changed_mind", "size", "other")

MUG = OrderItem("MUG-1", "马克杯", "Mug", 1, 3900)
LAMP = OrderItem("LAMP-1", "台灯", "Desk lamp", 2, 12900)
ADDRESS = Address("张伟", "13812345678", "上海市", "上海市", "浦东新区", "花木路1号")


def order(status: str = "delivered", delivered_at=DELIVERED, items=(MUG, LAMP)) -> Order:
    shipped = delivered_at - timedelta(days=2) if delivered_at else None
    return Order(number="261101000001", customer_id="C1", status=status, items=tuple(items),
                 total=sum(i.quantity * i.unit_price for i in items), created_at=DELIVERED - timedelta(days=3),
                 address=ADDRESS, paid_at=DELIVERED - timedelta(days=3), shipped_at=shipped,
                 delivered_at=delivered_at)


def request(sku: str, state: str = "open", reason: str = "damaged") -> AfterSalesRequest:
    return AfterSalesRequest(number=f"AS-{sku}-{state}", order_number="261101000001", sku=sku, type="return",
                             reason=reason, state=state, created_at=DELIVERED + timedelta(days=1))


def test_reason_groups_cover_all_reasons():
    assert set(CHANGE_OF_MIND) | QUALITY_REASONS == set(REASONS)
    assert not set(CHANGE_OF_MIND) & QUALITY_REASONS


# --- cancel_block -------------------------------------------------------------------------------
CANCEL = {
    "pending_payment": None,
    "paid": None,
    "shipped": "already_shipped",
    "delivered": "already_delivered",
    "completed": "already_delivered",
    "after_sales": "already_delivered",
    "cancelled": "already_cancelled",
    "refunded": "already_refunded",
}


def test_cancel_table_covers_every_status():
    assert set(CANCEL) == set(STATUSES)


@pytest.mark.parametrize("status,expected", sorted(CANCEL.items()))
def test_cancel_block_per_status(status, expected):
    not_delivered = status in ("pending_payment", "paid", "cancelled")
    assert policy.cancel_block(order(status, delivered_at=None if not_delivered else DELIVERED)) == expected


def test_cancel_block_unknown_status_is_refused():
    assert policy.cancel_block(order("on_hold")) == "not_cancellable"


# --- after_sales_block: status ------------------------------------------------------------------
@pytest.mark.parametrize("status,expected", [
    ("pending_payment", "not_shipped"), ("paid", "not_shipped"), ("shipped", "in_transit"),
    ("cancelled", "already_cancelled"), ("refunded", "already_refunded"),
])
def test_after_sales_blocked_by_status(status, expected):
    delivered = None if status != "refunded" else DELIVERED
    the_order = order(status, delivered_at=delivered)
    now = DELIVERED + timedelta(days=1)
    assert policy.after_sales_block(the_order, [], now) == expected
    assert policy.after_sales_block(the_order, [], now, sku="MUG-1", reason="damaged") == expected
    # the status is decisive: an unknown item or a passed window do not change the answer
    assert policy.after_sales_block(the_order, [], now + timedelta(days=90), sku="NOPE") == expected


@pytest.mark.parametrize("status", ["delivered", "completed", "after_sales"])
def test_after_sales_allowed_after_delivery_within_window(status):
    assert policy.after_sales_block(order(status), [], DELIVERED + timedelta(days=2), sku="MUG-1",
                                    reason="changed_mind") is None


def test_delivered_status_without_delivery_time_counts_as_in_transit():
    assert policy.after_sales_block(order("delivered", delivered_at=None), [], DELIVERED) == "in_transit"


# --- windows ------------------------------------------------------------------------------------
@pytest.mark.parametrize("reason", CHANGE_OF_MIND)
def test_change_of_mind_window_is_7_days_boundary_included(reason):
    the_order = order()
    deadline = DELIVERED + timedelta(days=7)
    assert policy.window_days(reason) == 7
    assert policy.deadline(the_order, reason) == deadline
    assert policy.after_sales_block(the_order, [], deadline, sku="MUG-1", reason=reason) is None
    assert policy.after_sales_block(the_order, [], deadline + TINY, sku="MUG-1", reason=reason) == "window_passed"


@pytest.mark.parametrize("reason", sorted(QUALITY_REASONS) + [None])
def test_quality_window_is_15_days_boundary_included(reason):
    the_order = order()
    deadline = DELIVERED + timedelta(days=15)
    assert policy.window_days(reason) == 15
    assert policy.deadline(the_order, reason) == deadline
    assert policy.after_sales_block(the_order, [], deadline, sku="LAMP-1", reason=reason) is None
    assert policy.after_sales_block(the_order, [], deadline + TINY, sku="LAMP-1", reason=reason) == "window_passed"


def test_between_the_windows_only_quality_reasons_pass():
    now = DELIVERED + timedelta(days=10)
    assert policy.after_sales_block(order(), [], now, sku="MUG-1", reason="changed_mind") == "window_passed"
    assert policy.after_sales_block(order(), [], now, sku="MUG-1", reason="defective") is None
    assert policy.after_sales_block(order(), [], now) is None  # no reason yet: the longest window


def test_boundary_is_an_instant_whatever_the_time_zone():
    deadline_utc = (DELIVERED + timedelta(days=7)).astimezone(timezone.utc)
    assert deadline_utc.tzinfo is timezone.utc
    assert policy.after_sales_block(order(), [], deadline_utc, sku="MUG-1", reason="size") is None
    assert policy.after_sales_block(order(), [], deadline_utc + TINY, sku="MUG-1", reason="size") == "window_passed"


def test_deadline_is_none_before_delivery():
    assert policy.deadline(order("shipped", delivered_at=None), "damaged") is None


def test_request_on_the_delivery_instant_is_allowed():
    assert policy.after_sales_block(order(), [], DELIVERED, sku="MUG-1", reason="size") is None


# --- items and earlier requests -----------------------------------------------------------------
def test_unknown_item():
    assert policy.after_sales_block(order(), [], DELIVERED + timedelta(days=1), sku="NOPE",
                                    reason="damaged") == "unknown_item"


def test_unknown_item_is_reported_before_the_window():
    assert policy.after_sales_block(order(), [], DELIVERED + timedelta(days=60), sku="NOPE",
                                    reason="damaged") == "unknown_item"


@pytest.mark.parametrize("state", policy.ACTIVE_REQUEST_STATES)
def test_item_with_an_active_request_is_already_requested(state):
    now = DELIVERED + timedelta(days=1)
    requests = [request("MUG-1", state)]
    assert policy.after_sales_block(order("after_sales"), requests, now, sku="MUG-1",
                                    reason="damaged") == "already_requested"
    # the other item of the order is still open to a request
    assert policy.after_sales_block(order("after_sales"), requests, now, sku="LAMP-1", reason="damaged") is None


def test_rejected_request_does_not_block_a_new_one():
    assert policy.after_sales_block(order(), [request("MUG-1", "rejected")], DELIVERED + timedelta(days=1),
                                    sku="MUG-1", reason="damaged") is None


def test_without_sku_blocked_only_when_every_item_is_taken():
    now = DELIVERED + timedelta(days=1)
    assert policy.after_sales_block(order(), [request("MUG-1")], now) is None
    taken = [request("MUG-1", "approved"), request("LAMP-1", "completed")]
    assert policy.after_sales_block(order(), taken, now) == "already_requested"
    assert policy.after_sales_block(order(), iter(taken), now) == "already_requested"  # any iterable


def test_already_requested_is_reported_before_the_window():
    assert policy.after_sales_block(order(), [request("MUG-1")], DELIVERED + timedelta(days=60), sku="MUG-1",
                                    reason="damaged") == "already_requested"


def test_eligible_items():
    assert policy.eligible_items(order(), []) == [MUG, LAMP]
    assert policy.eligible_items(order(), [request("MUG-1")]) == [LAMP]
    assert policy.eligible_items(order(), [request("MUG-1", "rejected")]) == [MUG, LAMP]
    assert policy.eligible_items(order(), [request("MUG-1", "completed"), request("LAMP-1", "approved")]) == []
    assert policy.eligible_items(order(), [request("OTHER-SKU")]) == [MUG, LAMP]


def test_single_item_order():
    single = replace(order(), items=(LAMP,), total=LAMP.quantity * LAMP.unit_price)
    now = DELIVERED + timedelta(days=3)
    assert policy.after_sales_block(single, [], now, sku="LAMP-1", reason="size") is None
    assert policy.after_sales_block(single, [request("LAMP-1")], now) == "already_requested"
