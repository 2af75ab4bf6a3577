"""Customers with chosen orders and their RFM answers worked out by hand under the default
thresholds (customers/rfm.py: R days 30/90/180/365, F orders 2/3/5/8, M yuan 200/1000/3000/10000,
a 365-day window, VIP from 20000 yuan in the core segment), at NOW.

Each case: (customer id, the order system's tier, orders as (days ago, yuan, status), expected
(R, F, M), segment, VIP). The comment says why.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import List, Tuple

from orders.model import Address, Order, OrderItem

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=8)))
C = "completed"

CASES: List[Tuple[str, str, List[Tuple[float, float, str]], Tuple[int, int, int], str, bool]] = [
    # nothing bought: all zero
    ("P01", "normal", [], (0, 0, 0), "prospect", False),
    # only orders that are not purchases (unpaid, cancelled, refunded)
    ("P02", "normal", [(3, 500, "pending_payment"), (40, 800, "cancelled"), (90, 9000, "refunded")],
     (0, 0, 0), "prospect", False),
    # 10 orders, the latest 5 days ago, 6000 yuan: often, recent, much -> core; below the VIP amount
    ("C01", "normal", [(5 + 30 * i, 600, C) for i in range(10)], (5, 5, 4), "core", False),
    # 6 orders, 25000 yuan, the latest 20 days ago: core and over 20000 -> VIP by spending
    ("C02", "normal", [(20 + 40 * i, 25000 / 6, C) for i in range(6)], (5, 4, 5), "core", True),
    # the order system says VIP, whatever the orders: one small order 400 days ago -> dormant VIP
    ("C03", "vip", [(400, 100, C)], (1, 1, 1), "dormant", True),
    # one order 10 days ago -> new
    ("N01", "normal", [(10, 150, C)], (5, 1, 1), "new", False),
    # one big order 60 days ago: F 1 keeps it out of core -> new
    ("N02", "normal", [(60, 5000, "delivered")], (4, 1, 4), "new", False),
    # 6 orders but nothing for 120 days: a frequent buyer fading -> at_risk
    ("A01", "normal", [(120 + 20 * i, 300, C) for i in range(6)], (3, 4, 3), "at_risk", False),
    # 2 orders, 4000 yuan, the latest 200 days ago: a big buyer fading -> at_risk
    ("A02", "normal", [(200, 2000, C), (300, 2000, C)], (2, 2, 4), "at_risk", False),
    # 2 small orders, the latest 250 days ago -> dormant
    ("D01", "normal", [(250, 150, C), (330, 150, C)], (2, 2, 2), "dormant", False),
    # only orders older than the window: R 1, nothing in the window -> dormant
    ("D02", "normal", [(500, 3000, C), (700, 3000, C)], (1, 1, 1), "dormant", False),
    # 3 orders, the latest 40 days ago, 900 yuan -> potential
    ("T01", "normal", [(40, 300, C), (100, 300, C), (160, 300, C)], (4, 3, 2), "potential", False),
    # one small order 100 days ago: R 3 is not "new" any more -> potential
    ("T02", "normal", [(100, 50, C)], (3, 1, 1), "potential", False),
    # thresholds are inclusive: exactly 30 days, 8 orders, 10000 yuan -> R5 F5 M5, core, not VIP
    ("B01", "normal", [(30 + i, 1250, C) for i in range(8)], (5, 5, 5), "core", False),
    # one day past the R threshold: 31 days -> R4; exactly 5 orders and 3000 yuan -> F4 M4, core
    ("B02", "normal", [(31 + i, 600, C) for i in range(5)], (4, 4, 4), "core", False),
    # after-sales orders count, refunded ones do not: 3 purchases, 1500 yuan -> potential
    ("S01", "normal", [(15, 500, C), (45, 500, "after_sales"), (70, 500, "shipped"), (20, 5000, "refunded")],
     (5, 3, 3), "potential", False),
    # the window: 2 of 5 orders are 366 days old and do not count in F and M -> R5 F3 M2
    ("W01", "normal", [(10, 100, C), (100, 100, C), (364, 100, C), (366, 5000, C), (366, 5000, C)],
     (5, 3, 2), "potential", False),
    # an unpaid order yesterday does not make a customer recent: the latest purchase is 200 days old
    ("R01", "normal", [(1, 999, "pending_payment"), (200, 100, C)], (2, 1, 1), "dormant", False),
]

ADDRESS = Address("张三", "13800000000", "上海", "上海", "浦东新区", "世纪大道 1 号")


def orders_of(customer_id: str, orders: List[Tuple[float, float, str]]) -> List[Order]:
    made = []
    for i, (days, yuan, status) in enumerate(orders):
        at = NOW - timedelta(days=days)
        fen = round(yuan * 100)
        paid = None if status in ("pending_payment",) else at
        made.append(Order(f"{customer_id}-{i:02d}", customer_id, status,
                          (OrderItem("SKU1", "商品", "item", 1, fen),), fen, at, ADDRESS, paid_at=paid))
    return made
