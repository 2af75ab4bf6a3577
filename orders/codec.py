"""The JSON shapes of the order API (docs/order-api.md): one encoder and one strict decoder per type.

Decoders raise MalformedResponse naming the field, so that a broken order system shows up as a clear
log line instead of a KeyError deep inside an action.
"""
from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any, Callable, Dict, Optional, TypeVar

from orders.backend import MalformedResponse
from orders.model import (
    AFTER_SALES_TYPES,
    REASONS,
    REQUEST_STATES,
    STATUSES,
    TIERS,
    Address,
    AfterSalesRequest,
    Customer,
    LogisticsEvent,
    NewAfterSalesRequest,
    Order,
    OrderItem,
)

T = TypeVar("T")


def _time(value: Optional[datetime]) -> Optional[str]:
    return value.isoformat() if value is not None else None


def encode_customer(c: Customer) -> Dict[str, Any]:
    return asdict(c)


def encode_order(o: Order) -> Dict[str, Any]:
    return {
        "number": o.number, "customer_id": o.customer_id, "status": o.status,
        "items": [asdict(i) for i in o.items], "total": o.total,
        "created_at": _time(o.created_at), "paid_at": _time(o.paid_at),
        "shipped_at": _time(o.shipped_at), "delivered_at": _time(o.delivered_at),
        "cancelled_at": _time(o.cancelled_at), "carrier": o.carrier,
        "tracking_number": o.tracking_number, "address": asdict(o.address),
    }


def encode_event(e: LogisticsEvent) -> Dict[str, Any]:
    return {**asdict(e), "time": _time(e.time)}


def encode_request(r: AfterSalesRequest) -> Dict[str, Any]:
    return {**asdict(r), "created_at": _time(r.created_at)}


def encode_new_request(r: NewAfterSalesRequest) -> Dict[str, Any]:
    return asdict(r)


class _Reader:
    """Typed field access on one JSON object, with the path in every error."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise MalformedResponse(f"{where}: expected an object, got {type(data).__name__}")
        self.data, self.where = data, where

    def _get(self, key: str, kinds: tuple, optional: bool) -> Any:
        value = self.data.get(key)
        if value is None:
            if optional:
                return None
            raise MalformedResponse(f"{self.where}.{key}: missing")
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise MalformedResponse(f"{self.where}.{key}: expected {kinds[0].__name__}, "
                                    f"got {type(value).__name__}")
        return value

    def str(self, key: str, optional: bool = False, choices: tuple = ()) -> Optional[str]:
        value = self._get(key, (str,), optional)
        if value is not None and choices and value not in choices:
            raise MalformedResponse(f"{self.where}.{key}: {value!r} is not one of {choices}")
        return value

    def int(self, key: str) -> int:
        return self._get(key, (int,), False)

    def time(self, key: str, optional: bool = False) -> Optional[datetime]:
        raw = self.str(key, optional)
        if raw is None:
            return None
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise MalformedResponse(f"{self.where}.{key}: {raw!r} is not an ISO 8601 time") from None
        if value.tzinfo is None:
            raise MalformedResponse(f"{self.where}.{key}: {raw!r} has no time zone")
        return value

    def list(self, key: str) -> list:
        return self._get(key, (list,), False)


def decode_customer(data: Any, where: str = "customer") -> Customer:
    r = _Reader(data, where)
    return Customer(id=r.str("id"), name=r.str("name"), phone=r.str("phone"),
                    tier=r.str("tier", choices=TIERS), language=r.str("language", choices=("zh", "en")))


def _decode_item(data: Any, where: str) -> OrderItem:
    r = _Reader(data, where)
    return OrderItem(sku=r.str("sku"), name_zh=r.str("name_zh"), name_en=r.str("name_en"),
                     quantity=r.int("quantity"), unit_price=r.int("unit_price"))


def _decode_address(data: Any, where: str) -> Address:
    r = _Reader(data, where)
    return Address(**{k: r.str(k) for k in ("recipient", "phone", "province", "city", "district", "street")})


def decode_order(data: Any, where: str = "order") -> Order:
    r = _Reader(data, where)
    items = tuple(_decode_item(i, f"{where}.items[{n}]") for n, i in enumerate(r.list("items")))
    if not items:
        raise MalformedResponse(f"{where}.items: an order has at least one item")
    return Order(
        number=r.str("number"), customer_id=r.str("customer_id"), status=r.str("status", choices=STATUSES),
        items=items, total=r.int("total"), created_at=r.time("created_at"),
        address=_decode_address(r.data.get("address"), f"{where}.address"),
        paid_at=r.time("paid_at", True), shipped_at=r.time("shipped_at", True),
        delivered_at=r.time("delivered_at", True), cancelled_at=r.time("cancelled_at", True),
        carrier=r.str("carrier", True), tracking_number=r.str("tracking_number", True))


def decode_event(data: Any, where: str = "event") -> LogisticsEvent:
    r = _Reader(data, where)
    return LogisticsEvent(time=r.time("time"), code=r.str("code"), location=r.str("location"),
                          description_zh=r.str("description_zh"), description_en=r.str("description_en"))


def decode_request(data: Any, where: str = "request") -> AfterSalesRequest:
    r = _Reader(data, where)
    return AfterSalesRequest(
        number=r.str("number"), order_number=r.str("order_number"), sku=r.str("sku"),
        type=r.str("type", choices=AFTER_SALES_TYPES), reason=r.str("reason", choices=REASONS),
        state=r.str("state", choices=REQUEST_STATES), created_at=r.time("created_at"),
        note=r.str("note", True) or "")


def decode_new_request(data: Any, where: str = "body") -> NewAfterSalesRequest:
    r = _Reader(data, where)
    try:
        return NewAfterSalesRequest(order_number=r.str("order_number"), sku=r.str("sku"), type=r.str("type"),
                                    reason=r.str("reason"), note=r.str("note", True) or "")
    except ValueError as exc:
        raise MalformedResponse(f"{where}: {exc}") from None


def decode_list(data: Any, key: str, decode: Callable[[Any, str], T]) -> list:
    r = _Reader(data, "response")
    return [decode(item, f"{key}[{n}]") for n, item in enumerate(r.list(key))]
