"""The OrderBackend contract, checked on both adapters: SQLite directly, and HTTP against the fake order API.

Each test gets a fresh database seeded from the real demo fixture shifted to a fixed `now` (the same
clock drives the writes), so the two backends must answer every call identically; the last test runs
one scenario on both and compares the encoded answers.
"""
from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Dict, List

import pytest
import pytest_asyncio

from orders import codec
from orders.backend import OrderBackend, RuleViolation
from orders.fixture import load_fixture
from orders.http_backend import HttpOrderBackend
from orders.model import AfterSalesRequest, LogisticsEvent, NewAfterSalesRequest, Order
from orders.policy import ACTIVE_REQUEST_STATES
from orders.sqlite_backend import SqliteOrderBackend
from tests.fakes.order_api import FakeOrderApi, copy_database, seed_database

CST = timezone(timedelta(hours=8))
NOW = datetime(2031, 3, 15, 10, 0, tzinfo=CST)
FIXTURE = load_fixture(now=NOW)
ORDERS: Dict[str, Order] = {o.number: o for o in FIXTURE.orders}
CUSTOMERS = {c.id: c for c in FIXTURE.customers}
EVENTS: Dict[str, List[LogisticsEvent]] = {}
for _number, _event in FIXTURE.logistics:
    EVENTS.setdefault(_number, []).append(_event)
REQUESTS: Dict[str, List[AfterSalesRequest]] = {}
for _request in FIXTURE.requests:
    REQUESTS.setdefault(_request.order_number, []).append(_request)
UNKNOWN_ORDER = "999999999999"
KINDS = ("sqlite", "http")


# --- picking orders from the fixture by what they are ---------------------------------------------
def pick(what: str, test: Callable[[Order], bool]) -> Order:
    found = [o for o in FIXTURE.orders if test(o)]
    assert found, f"the demo fixture has no {what}"
    return found[0]


def days_since_delivery(order: Order) -> float:
    return (NOW - order.delivered_at) / timedelta(days=1)


def untouched(order: Order) -> bool:
    return not REQUESTS.get(order.number)


def delivered_days_ago(low: float, high: float, what: str) -> Order:
    return pick(what, lambda o: o.status == "delivered" and untouched(o)
                and low < days_since_delivery(o) < high)


def with_status(status: str) -> Order:
    return pick(f"{status} order", lambda o: o.status == status)


def with_active_request() -> Order:
    return pick("delivered order with an active request", lambda o: o.delivered_at is not None and any(
        r.state in ACTIVE_REQUEST_STATES for r in REQUESTS.get(o.number, [])) and o.status in (
        "delivered", "completed", "after_sales"))


def busiest_customer() -> str:
    counts: Dict[str, int] = {}
    for o in FIXTURE.orders:
        counts[o.customer_id] = counts.get(o.customer_id, 0) + 1
    return max(counts, key=lambda c: (counts[c], c))


def new_request(order: Order, reason: str = "changed_mind", sku: str = "", kind: str = "return",
                note: str = "") -> NewAfterSalesRequest:
    return NewAfterSalesRequest(order_number=order.number, sku=sku or order.items[0].sku, type=kind, reason=reason,
                                note=note)


# --- the two backends -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seed_database(tmp_path_factory.mktemp("orders") / "template.sqlite3", NOW)


@asynccontextmanager
async def open_backend(kind: str, template: Path, directory: Path):
    db = copy_database(template, directory / f"{kind}.sqlite3")
    if kind == "sqlite":
        backend = SqliteOrderBackend(db, clock=lambda: NOW)
        try:
            yield backend
        finally:
            await backend.close()
        return
    with FakeOrderApi(db, now=NOW) as api:
        backend = HttpOrderBackend(api.url, api.token)
        try:
            yield backend
        finally:
            await backend.close()


@pytest_asyncio.fixture(params=KINDS, loop_scope="function")
async def backend(request: pytest.FixtureRequest, template: Path, tmp_path: Path):
    async with open_backend(request.param, template, tmp_path) as opened:
        assert isinstance(opened, OrderBackend)
        yield opened


def encoded_orders(orders) -> list:
    return [codec.encode_order(o) for o in orders]


# --- reads ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["pending_payment", "paid", "shipped", "delivered", "completed", "cancelled",
                                    "after_sales", "refunded"])
async def test_get_order_returns_the_fixture_order(backend, status):
    expected = with_status(status)
    got = await backend.get_order(expected.number, request_id="t-get")
    assert got == expected
    assert codec.encode_order(got) == codec.encode_order(expected)


@pytest.mark.parametrize("number", [UNKNOWN_ORDER, "", "26111830072", "not-a-number"])
async def test_get_order_unknown_is_none(backend, number):
    assert await backend.get_order(number) is None


async def test_get_customer(backend):
    order = with_status("delivered")
    customer = CUSTOMERS[order.customer_id]
    assert await backend.get_customer(customer.id) == customer
    assert await backend.get_customer("C0000") is None


async def test_recent_orders_newest_first_with_limit(backend):
    customer = busiest_customer()
    mine = sorted((o for o in FIXTURE.orders if o.customer_id == customer), key=lambda o: o.created_at,
                  reverse=True)
    assert len(mine) > 5
    default = await backend.recent_orders(customer)
    assert encoded_orders(default) == encoded_orders(mine[:5])
    assert [o.created_at for o in default] == sorted((o.created_at for o in default), reverse=True)
    assert encoded_orders(await backend.recent_orders(customer, 2)) == encoded_orders(mine[:2])
    assert encoded_orders(await backend.recent_orders(customer, 50)) == encoded_orders(mine)
    assert await backend.recent_orders("C0000") == []


async def test_logistics_oldest_first(backend):
    order = pick("delivered order with a parcel exception", lambda o: o.status == "delivered" and any(
        e.code == "exception" for e in EVENTS.get(o.number, [])))
    events = await backend.logistics(order.number)
    assert events == sorted(EVENTS[order.number], key=lambda e: e.time)
    assert [e.time for e in events] == sorted(e.time for e in events)
    assert events[0].code == "picked_up" and events[-1].code == "delivered"


async def test_logistics_of_a_parcel_on_its_way(backend):
    order = with_status("shipped")
    events = await backend.logistics(order.number)
    assert events and events == sorted(EVENTS[order.number], key=lambda e: e.time)
    assert all(e.code != "delivered" for e in events)


@pytest.mark.parametrize("status", ["pending_payment", "paid"])
async def test_logistics_empty_before_shipping(backend, status):
    assert await backend.logistics(with_status(status).number) == []


async def test_logistics_of_unknown_order_is_empty(backend):
    assert await backend.logistics(UNKNOWN_ORDER) == []


async def test_after_sales_requests(backend):
    for state in ("open", "approved", "completed", "rejected"):
        order = pick(f"order with a {state} request", lambda o, s=state: any(
            r.state == s for r in REQUESTS.get(o.number, [])))
        got = await backend.after_sales_requests(order.number)
        assert sorted(got, key=lambda r: r.number) == sorted(REQUESTS[order.number], key=lambda r: r.number)
    assert await backend.after_sales_requests(with_status("paid").number) == []
    assert await backend.after_sales_requests(UNKNOWN_ORDER) == []


# --- create_after_sales ---------------------------------------------------------------------------
async def test_create_after_sales_opens_a_request(backend):
    order = delivered_days_ago(1, 6, "order delivered less than a week ago")
    wanted = new_request(order, "changed_mind", sku=order.items[-1].sku, kind="exchange",
                         note="换个颜色 / other colour")
    created = await backend.create_after_sales(wanted, idempotency_key="k-create-1", request_id="t-create")
    assert (created.order_number, created.sku, created.type, created.reason, created.note) == (
        order.number, order.items[-1].sku, "exchange", "changed_mind", "换个颜色 / other colour")
    assert created.state == "open" and created.created_at == NOW
    assert created.number.startswith("AS") and created.number not in {r.number for r in FIXTURE.requests}
    assert (await backend.get_order(order.number)).status == "after_sales"
    assert await backend.after_sales_requests(order.number) == [created]


async def test_quality_reason_opens_a_request_after_the_change_of_mind_window(backend):
    order = delivered_days_ago(8, 14, "order delivered 8-14 days ago")
    with pytest.raises(RuleViolation) as refused:
        await backend.create_after_sales(new_request(order, "size"), idempotency_key="k-late-size")
    assert refused.value.code == "window_passed"
    created = await backend.create_after_sales(new_request(order, "damaged"), idempotency_key="k-late-damaged")
    assert created.reason == "damaged"


RULES = {
    "pending_payment": (lambda: with_status("pending_payment"), "damaged", "not_shipped"),
    "paid": (lambda: with_status("paid"), "damaged", "not_shipped"),
    "shipped": (lambda: with_status("shipped"), "damaged", "in_transit"),
    "cancelled": (lambda: with_status("cancelled"), "damaged", "already_cancelled"),
    "refunded": (lambda: with_status("refunded"), "damaged", "already_refunded"),
    "delivered >15 days ago": (lambda: delivered_days_ago(16, 1000, "order delivered >15 days ago"), "damaged",
                               "window_passed"),
    "delivered 8-14 days ago": (lambda: delivered_days_ago(8, 14, "order delivered 8-14 days ago"), "changed_mind",
                                "window_passed"),
    "already requested": (with_active_request, "damaged", "already_requested"),
}


@pytest.mark.parametrize("case", list(RULES))
async def test_create_after_sales_refused_by_the_rules(backend, case):
    choose, reason, code = RULES[case]
    order = choose()
    sku = order.items[0].sku
    if code == "already_requested":
        sku = next(r.sku for r in REQUESTS[order.number] if r.state in ACTIVE_REQUEST_STATES)
    with pytest.raises(RuleViolation) as refused:
        await backend.create_after_sales(new_request(order, reason, sku=sku), idempotency_key=f"k-{case}")
    assert refused.value.code == code
    assert await backend.get_order(order.number) == order  # nothing changed
    assert sorted(await backend.after_sales_requests(order.number), key=lambda r: r.number) == sorted(
        REQUESTS.get(order.number, []), key=lambda r: r.number)


async def test_create_after_sales_unknown_item_and_unknown_order(backend):
    order = delivered_days_ago(1, 6, "order delivered less than a week ago")
    with pytest.raises(RuleViolation) as refused:
        await backend.create_after_sales(new_request(order, "damaged", sku="NO-SUCH-SKU"), idempotency_key="k-sku")
    assert refused.value.code == "unknown_item"
    ghost = NewAfterSalesRequest(order_number=UNKNOWN_ORDER, sku="X", type="refund", reason="other")
    with pytest.raises(RuleViolation) as refused:
        await backend.create_after_sales(ghost, idempotency_key="k-ghost")
    assert refused.value.code == "unknown_order"
    assert (await backend.get_order(order.number)).status == "delivered"


async def test_create_after_sales_same_key_twice_opens_one_request(backend):
    order = delivered_days_ago(1, 6, "order delivered less than a week ago")
    first = await backend.create_after_sales(new_request(order, "defective"), idempotency_key="k-twice")
    again = await backend.create_after_sales(new_request(order, "defective"), idempotency_key="k-twice")
    assert again == first
    assert await backend.after_sales_requests(order.number) == [first]
    # the same key again returns the first result, whatever the repeated body says (docs/order-api.md)
    other = await backend.create_after_sales(new_request(order, "size", kind="refund"), idempotency_key="k-twice")
    assert other == first
    # a new key for the same item is a new request, which the rules refuse: one request per item
    with pytest.raises(RuleViolation) as refused:
        await backend.create_after_sales(new_request(order, "defective"), idempotency_key="k-third")
    assert refused.value.code == "already_requested"


async def test_idempotency_key_reused_for_another_operation(backend):
    delivered = delivered_days_ago(1, 6, "order delivered less than a week ago")
    paid = with_status("paid")
    await backend.create_after_sales(new_request(delivered, "damaged"), idempotency_key="k-shared")
    with pytest.raises(RuleViolation) as refused:
        await backend.cancel_order(paid.number, idempotency_key="k-shared")
    assert refused.value.code == "idempotency_key_reused"
    assert (await backend.get_order(paid.number)).status == "paid"


# --- cancel_order ---------------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["paid", "pending_payment"])
async def test_cancel_order(backend, status):
    order = with_status(status)
    cancelled = await backend.cancel_order(order.number, idempotency_key=f"k-cancel-{status}", request_id="t-c")
    assert cancelled.status == "cancelled" and cancelled.cancelled_at == NOW
    assert cancelled == Order(**{**order.__dict__, "status": "cancelled", "cancelled_at": NOW})
    assert await backend.get_order(order.number) == cancelled


async def test_cancel_order_repeated_with_the_same_key_is_idempotent(backend):
    order = with_status("paid")
    first = await backend.cancel_order(order.number, idempotency_key="k-cancel-twice")
    again = await backend.cancel_order(order.number, idempotency_key="k-cancel-twice")
    assert again == first
    with pytest.raises(RuleViolation) as refused:  # a new key is a new attempt: already done
        await backend.cancel_order(order.number, idempotency_key="k-cancel-third")
    assert refused.value.code == "already_cancelled"


@pytest.mark.parametrize("status,code", [
    ("shipped", "already_shipped"), ("delivered", "already_delivered"), ("completed", "already_delivered"),
    ("after_sales", "already_delivered"), ("cancelled", "already_cancelled"), ("refunded", "already_refunded"),
])
async def test_cancel_order_refused(backend, status, code):
    order = with_status(status)
    with pytest.raises(RuleViolation) as refused:
        await backend.cancel_order(order.number, idempotency_key=f"k-refused-{status}")
    assert refused.value.code == code
    assert await backend.get_order(order.number) == order


async def test_cancel_unknown_order(backend):
    with pytest.raises(RuleViolation) as refused:
        await backend.cancel_order(UNKNOWN_ORDER, idempotency_key="k-ghost-cancel")
    assert refused.value.code == "unknown_order"


# --- the same calls, the same answers ------------------------------------------------------------
async def scenario(backend) -> list:
    """Every read on every order and customer, then a series of writes; answers encoded (errors as codes)."""
    out: list = []

    async def record(label: str, call) -> None:
        try:
            result = await call
        except RuleViolation as exc:
            out.append((label, "RuleViolation", exc.code))
            return
        if isinstance(result, list):
            out.append((label, [_encode(x) for x in result]))
        else:
            out.append((label, _encode(result)))

    for order in FIXTURE.orders:
        await record(f"get {order.number}", backend.get_order(order.number))
        await record(f"logistics {order.number}", backend.logistics(order.number))
        await record(f"after-sales {order.number}", backend.after_sales_requests(order.number))
    for customer in FIXTURE.customers:
        await record(f"customer {customer.id}", backend.get_customer(customer.id))
        await record(f"recent {customer.id}", backend.recent_orders(customer.id, 10))
    fresh = [o for o in FIXTURE.orders if o.status == "delivered" and untouched(o) and days_since_delivery(o) < 7]
    for n, order in enumerate(fresh[:3]):
        request = new_request(order, "damaged", sku=order.items[-1].sku, note=f"note {n}")
        await record(f"create {order.number}", backend.create_after_sales(request, idempotency_key=f"s-{n}"))
        await record(f"create again {order.number}", backend.create_after_sales(request, idempotency_key=f"s-{n}"))
        await record(f"create new key {order.number}",
                     backend.create_after_sales(request, idempotency_key=f"s-{n}-b"))
        await record(f"requests {order.number}", backend.after_sales_requests(order.number))
    for status in ("paid", "pending_payment", "shipped", "refunded"):
        order = with_status(status)
        await record(f"cancel {order.number}", backend.cancel_order(order.number, idempotency_key=f"c-{status}"))
        await record(f"cancel again {order.number}",
                     backend.cancel_order(order.number, idempotency_key=f"c-{status}"))
        await record(f"get {order.number} after", backend.get_order(order.number))
    await record("reused key", backend.cancel_order(with_status("paid").number, idempotency_key="s-0"))
    return out


def _encode(value):
    if value is None:
        return None
    for kind, encode in ((Order, codec.encode_order), (AfterSalesRequest, codec.encode_request),
                         (LogisticsEvent, codec.encode_event)):
        if isinstance(value, kind):
            return encode(value)
    return codec.encode_customer(value)


async def test_both_backends_give_equal_answers(template, tmp_path):
    answers = {}
    for kind in KINDS:
        async with open_backend(kind, template, tmp_path) as backend:
            answers[kind] = await scenario(backend)
    sqlite, http = answers["sqlite"], answers["http"]
    assert len(sqlite) == len(http) > 3 * len(FIXTURE.orders)
    for mine, theirs in zip(sqlite, http, strict=True):
        assert mine == theirs
    codes = [a[2] for a in sqlite if a[1:2] == ("RuleViolation",)]
    assert {"already_requested", "already_shipped", "already_refunded", "idempotency_key_reused"} <= set(codes)
