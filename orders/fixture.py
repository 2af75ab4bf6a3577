"""The demo orders fixture (`data/orders/demo-orders.yml`): read, check, shift to the present.

Every time in the file is shifted by (now - reference_time) when it is read, so that the demo data
stays as fresh as on the day it was written: an order "delivered 3 days ago" still is, and the
return-window rules behave the same whenever the demo runs.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, List, Optional, Tuple

import yaml

from orders.model import Address, AfterSalesRequest, Customer, LogisticsEvent, Order, OrderItem

DEFAULT_FIXTURE = Path(__file__).resolve().parent.parent / "data" / "orders" / "demo-orders.yml"


class FixtureError(ValueError):
    """The fixture file is malformed; the message names the entry."""


@dataclass(frozen=True)
class Fixture:
    customers: Tuple[Customer, ...]
    orders: Tuple[Order, ...]
    logistics: Tuple[Tuple[str, LogisticsEvent], ...]  # (order number, event)
    requests: Tuple[AfterSalesRequest, ...]


def _fen(price: Any) -> int:
    return int((Decimal(str(price)) * 100).quantize(Decimal(1)))


def load_fixture(path: Path = DEFAULT_FIXTURE, now: Optional[datetime] = None) -> Fixture:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise FixtureError(f"{path}: {exc}") from None
    try:
        reference = datetime.fromisoformat(raw["reference_time"])
        shift = (now - reference) if now is not None else timedelta(0)

        def when(value: Optional[str]) -> Optional[datetime]:
            return None if value is None else datetime.fromisoformat(value) + shift

        customers = tuple(Customer(id=c["id"], name=c["name"], phone=str(c["phone"]), tier=c["tier"],
                                   language=c["language"]) for c in raw["customers"])
        orders: List[Order] = []
        logistics: List[Tuple[str, LogisticsEvent]] = []
        requests: List[AfterSalesRequest] = []
        for o in raw["orders"]:
            number = str(o["number"])
            items = tuple(OrderItem(sku=i["sku"], name_zh=i["zh"], name_en=i["en"], quantity=int(i["qty"]),
                                    unit_price=_fen(i["price"])) for i in o["items"])
            a = o["address"]
            orders.append(Order(
                number=number, customer_id=o["customer"], status=o["status"], items=items,
                total=sum(i.quantity * i.unit_price for i in items), created_at=when(o["created"]),
                address=Address(recipient=a["recipient"], phone=str(a["phone"]), province=a["province"],
                                city=a["city"], district=a["district"], street=a["street"]),
                paid_at=when(o.get("paid")), shipped_at=when(o.get("shipped")),
                delivered_at=when(o.get("delivered")), cancelled_at=when(o.get("cancelled")),
                carrier=o.get("carrier"), tracking_number=o.get("tracking")))
            for e in o.get("logistics") or []:
                logistics.append((number, LogisticsEvent(time=when(e["time"]), code=e["code"],
                                                         location=e["location"], description_zh=e["zh"],
                                                         description_en=e["en"])))
            for r in o.get("after_sales") or []:
                requests.append(AfterSalesRequest(number=r["number"], order_number=number, sku=r["sku"],
                                                  type=r["type"], reason=r["reason"], state=r["state"],
                                                  created_at=when(r["created"]), note=r.get("note") or ""))
    except (KeyError, TypeError, ValueError) as exc:
        raise FixtureError(f"{path}: malformed entry ({type(exc).__name__}: {exc})") from None
    return Fixture(tuple(customers), tuple(orders), tuple(logistics), tuple(requests))
