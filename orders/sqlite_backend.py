"""The embedded order system: SQLite, seeded from the demo fixture. The default backend.

Reads and writes run in a worker thread (`asyncio.to_thread`), so a write waiting on the database
lock never stalls the action server's event loop. Writes are transactions (`BEGIN IMMEDIATE`) that
re-check the rules of orders/policy.py, and remember their idempotency key with the result: the same
request sent twice (a retry after a timeout) opens one after-sales request, not two.
"""
from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, List, Optional

from common.sqlite import connect, immediate, initialise
from orders import codec, policy
from orders.backend import RuleViolation
from orders.fixture import Fixture
from orders.model import (
    Address,
    AfterSalesRequest,
    Customer,
    LogisticsEvent,
    NewAfterSalesRequest,
    Order,
    OrderItem,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    id        TEXT PRIMARY KEY,
    name      TEXT NOT NULL,
    phone     TEXT NOT NULL UNIQUE,
    tier      TEXT NOT NULL CHECK (tier IN ('normal', 'vip')),
    language  TEXT NOT NULL CHECK (language IN ('zh', 'en'))
);
CREATE TABLE IF NOT EXISTS orders (
    number          TEXT PRIMARY KEY,
    customer_id     TEXT NOT NULL REFERENCES customers (id),
    status          TEXT NOT NULL,
    total           INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    paid_at         TEXT,
    shipped_at      TEXT,
    delivered_at    TEXT,
    cancelled_at    TEXT,
    carrier         TEXT,
    tracking_number TEXT,
    recipient       TEXT NOT NULL,
    recipient_phone TEXT NOT NULL,
    province        TEXT NOT NULL,
    city            TEXT NOT NULL,
    district        TEXT NOT NULL,
    street          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_customer ON orders (customer_id, created_at);
CREATE TABLE IF NOT EXISTS order_items (
    order_number TEXT NOT NULL REFERENCES orders (number),
    position     INTEGER NOT NULL,
    sku          TEXT NOT NULL,
    name_zh      TEXT NOT NULL,
    name_en      TEXT NOT NULL,
    quantity     INTEGER NOT NULL,
    unit_price   INTEGER NOT NULL,
    PRIMARY KEY (order_number, position)
);
CREATE TABLE IF NOT EXISTS logistics_events (
    order_number   TEXT NOT NULL REFERENCES orders (number),
    time           TEXT NOT NULL,
    code           TEXT NOT NULL,
    location       TEXT NOT NULL,
    description_zh TEXT NOT NULL,
    description_en TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logistics_order ON logistics_events (order_number, time);
CREATE TABLE IF NOT EXISTS after_sales_requests (
    number       TEXT PRIMARY KEY,
    order_number TEXT NOT NULL REFERENCES orders (number),
    sku          TEXT NOT NULL,
    type         TEXT NOT NULL,
    reason       TEXT NOT NULL,
    state        TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    note         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS after_sales_order ON after_sales_requests (order_number);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key        TEXT PRIMARY KEY,
    operation  TEXT NOT NULL,
    result     TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _time(value: Optional[str]) -> Optional[datetime]:
    return datetime.fromisoformat(value) if value else None


def _iso(value: Optional[datetime]) -> Optional[str]:
    """ISO 8601 with the value's own offset (sorted by julianday(), which understands offsets)."""
    return value.isoformat() if value else None


class SqliteOrderBackend:
    def __init__(self, path: Path, clock: Callable[[], datetime] = utc_now) -> None:
        self.path = initialise(path, SCHEMA)
        self.clock = clock

    # --- seeding -------------------------------------------------------------------------------
    def is_empty(self) -> bool:
        with connect(self.path) as db:
            return db.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 0

    def seed(self, fixture: Fixture, replace: bool = False) -> int:
        """Load the fixture (all or nothing); `replace` empties the tables first. Returns orders loaded."""
        db = connect(self.path)
        try:
            with db:
                if replace:
                    for table in ("idempotency_keys", "after_sales_requests", "logistics_events",
                                  "order_items", "orders", "customers"):
                        db.execute(f"DELETE FROM {table}")
                db.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?)",
                               [(c.id, c.name, c.phone, c.tier, c.language) for c in fixture.customers])
                for o in fixture.orders:
                    a = o.address
                    db.execute("INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                               (o.number, o.customer_id, o.status, o.total, _iso(o.created_at), _iso(o.paid_at),
                                _iso(o.shipped_at), _iso(o.delivered_at), _iso(o.cancelled_at), o.carrier,
                                o.tracking_number, a.recipient, a.phone, a.province, a.city, a.district,
                                a.street))
                    db.executemany("INSERT INTO order_items VALUES (?,?,?,?,?,?,?)",
                                   [(o.number, n, i.sku, i.name_zh, i.name_en, i.quantity, i.unit_price)
                                    for n, i in enumerate(o.items)])
                db.executemany("INSERT INTO logistics_events VALUES (?,?,?,?,?,?)",
                               [(number, _iso(e.time), e.code, e.location, e.description_zh, e.description_en)
                                for number, e in fixture.logistics])
                db.executemany("INSERT INTO after_sales_requests VALUES (?,?,?,?,?,?,?,?)",
                               [(r.number, r.order_number, r.sku, r.type, r.reason, r.state,
                                 _iso(r.created_at), r.note) for r in fixture.requests])
        finally:
            db.close()
        return len(fixture.orders)

    # --- rows to values --------------------------------------------------------------------------
    @staticmethod
    def _order(db: sqlite3.Connection, row: tuple) -> Order:
        items = tuple(OrderItem(*r) for r in db.execute(
            "SELECT sku, name_zh, name_en, quantity, unit_price FROM order_items WHERE order_number = ? "
            "ORDER BY position", (row[0],)))
        return Order(number=row[0], customer_id=row[1], status=row[2], total=row[3], created_at=_time(row[4]),
                     paid_at=_time(row[5]), shipped_at=_time(row[6]), delivered_at=_time(row[7]),
                     cancelled_at=_time(row[8]), carrier=row[9], tracking_number=row[10], items=items,
                     address=Address(*row[11:17]))

    @staticmethod
    def _request(row: tuple) -> AfterSalesRequest:
        return AfterSalesRequest(number=row[0], order_number=row[1], sku=row[2], type=row[3], reason=row[4],
                                 state=row[5], created_at=_time(row[6]), note=row[7])

    def _read_order(self, db: sqlite3.Connection, number: str) -> Optional[Order]:
        row = db.execute("SELECT * FROM orders WHERE number = ?", (number,)).fetchone()
        return self._order(db, row) if row else None

    def _read_requests(self, db: sqlite3.Connection, number: str) -> List[AfterSalesRequest]:
        return [self._request(r) for r in db.execute(
            "SELECT * FROM after_sales_requests WHERE order_number = ? ORDER BY julianday(created_at)", (number,))]

    def _run(self, work: Callable[[sqlite3.Connection], object]):
        def job():
            db = connect(self.path)
            try:
                return work(db)
            finally:
                db.close()
        return asyncio.to_thread(job)

    # --- OrderBackend ----------------------------------------------------------------------------
    async def get_order(self, number: str, *, request_id: str = "") -> Optional[Order]:
        return await self._run(lambda db: self._read_order(db, number))

    async def get_customer(self, customer_id: str, *, request_id: str = "") -> Optional[Customer]:
        def work(db):
            row = db.execute("SELECT id, name, phone, tier, language FROM customers WHERE id = ?",
                             (customer_id,)).fetchone()
            return Customer(*row) if row else None
        return await self._run(work)

    async def recent_orders(self, customer_id: str, limit: int = 5, *, request_id: str = "") -> List[Order]:
        def work(db):
            rows = db.execute("SELECT * FROM orders WHERE customer_id = ? ORDER BY julianday(created_at) DESC LIMIT ?",
                              (customer_id, max(0, int(limit)))).fetchall()
            return [self._order(db, row) for row in rows]
        return await self._run(work)

    async def logistics(self, number: str, *, request_id: str = "") -> List[LogisticsEvent]:
        def work(db):
            return [LogisticsEvent(_time(r[0]), *r[1:]) for r in db.execute(
                "SELECT time, code, location, description_zh, description_en FROM logistics_events "
                "WHERE order_number = ? ORDER BY julianday(time)", (number,))]
        return await self._run(work)

    async def after_sales_requests(self, number: str, *, request_id: str = "") -> List[AfterSalesRequest]:
        return await self._run(lambda db: self._read_requests(db, number))

    async def create_after_sales(self, request: NewAfterSalesRequest, *, idempotency_key: str,
                                 request_id: str = "") -> AfterSalesRequest:
        def work(db: sqlite3.Connection) -> AfterSalesRequest:
            with immediate(db):
                done = self._remembered(db, idempotency_key, "create_after_sales")
                if done is not None:
                    return codec.decode_request(done)
                order = self._read_order(db, request.order_number)
                if order is None:
                    raise RuleViolation("unknown_order")
                now = self.clock()
                block = policy.after_sales_block(order, self._read_requests(db, order.number), now,
                                                 sku=request.sku, reason=request.reason)
                if block:
                    raise RuleViolation(block)
                created = AfterSalesRequest(
                    number=self._next_request_number(db, now), order_number=order.number,
                    sku=request.sku, type=request.type, reason=request.reason, state="open", created_at=now,
                    note=request.note)
                db.execute("INSERT INTO after_sales_requests VALUES (?,?,?,?,?,?,?,?)",
                           (created.number, created.order_number, created.sku, created.type, created.reason,
                            created.state, _iso(created.created_at), created.note))
                db.execute("UPDATE orders SET status = 'after_sales' WHERE number = ?", (order.number,))
                self._remember(db, idempotency_key, "create_after_sales", codec.encode_request(created), now)
                return created
        return await self._run(work)

    async def cancel_order(self, number: str, *, idempotency_key: str, request_id: str = "") -> Order:
        def work(db: sqlite3.Connection) -> Order:
            with immediate(db):
                done = self._remembered(db, idempotency_key, "cancel_order")
                if done is not None:
                    return codec.decode_order(done)
                order = self._read_order(db, number)
                if order is None:
                    raise RuleViolation("unknown_order")
                block = policy.cancel_block(order)
                if block:
                    raise RuleViolation(block)
                now = self.clock()
                db.execute("UPDATE orders SET status = 'cancelled', cancelled_at = ? WHERE number = ?",
                           (_iso(now), number))
                cancelled = self._read_order(db, number)
                self._remember(db, idempotency_key, "cancel_order", codec.encode_order(cancelled), now)
                return cancelled
        return await self._run(work)

    async def close(self) -> None:
        return None

    @staticmethod
    def _next_request_number(db: sqlite3.Connection, now: datetime) -> str:
        prefix = f"AS{now.astimezone(timezone.utc):%y%m%d}"
        seq = db.execute("SELECT COUNT(*) FROM after_sales_requests WHERE number LIKE ?",
                         (prefix + "%",)).fetchone()[0] + 1
        while db.execute("SELECT 1 FROM after_sales_requests WHERE number = ?",
                         (f"{prefix}{seq:04d}",)).fetchone():
            seq += 1
        return f"{prefix}{seq:04d}"

    # --- idempotency -----------------------------------------------------------------------------
    @staticmethod
    def _remembered(db: sqlite3.Connection, key: str, operation: str) -> Optional[dict]:
        row = db.execute("SELECT operation, result FROM idempotency_keys WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        if row[0] != operation:
            raise RuleViolation("idempotency_key_reused", f"key {key!r} was used for {row[0]}")
        return json.loads(row[1])

    @staticmethod
    def _remember(db: sqlite3.Connection, key: str, operation: str, result: dict, now: datetime) -> None:
        db.execute("INSERT INTO idempotency_keys VALUES (?, ?, ?, ?)",
                   (key, operation, json.dumps(result, ensure_ascii=False), _iso(now)))
