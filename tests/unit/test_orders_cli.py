"""`python -m orders seed|show` as a user runs them (subprocess, own var dir), and the JSON codec on every
order of the demo fixture."""
from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from orders import codec
from orders.backend import MalformedResponse
from orders.fixture import load_fixture
from orders.model import NewAfterSalesRequest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_NOW = datetime(2031, 3, 15, 10, 0, tzinfo=timezone(timedelta(hours=8)))
FIXTURE = load_fixture(now=FIXTURE_NOW)


def run(var_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CS_")}
    env["CS_VAR_DIR"] = str(var_dir)
    return subprocess.run([sys.executable, "-m", "orders", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A var dir seeded once by `python -m orders seed` (the first CLI test checks that run)."""
    path = tmp_path_factory.mktemp("var")
    done = run(path, "seed")
    assert done.returncode == 0, done.stderr
    assert f"seeded {len(FIXTURE.orders)} orders of {len(FIXTURE.customers)} customers" in done.stdout
    return path


def test_seed_fills_the_database(var_dir: Path):
    db = var_dir / "orders.sqlite3"
    assert count(db, "orders") == len(FIXTURE.orders)
    assert count(db, "customers") == len(FIXTURE.customers)
    assert count(db, "logistics_events") == len(FIXTURE.logistics)
    assert count(db, "after_sales_requests") == len(FIXTURE.requests)


def test_seed_again_without_replace_refuses(var_dir: Path):
    done = run(var_dir, "seed")
    assert done.returncode == 1
    assert "--replace" in done.stderr
    assert count(var_dir / "orders.sqlite3", "orders") == len(FIXTURE.orders)


def test_show_prints_the_order_as_json(var_dir: Path):
    order = next(o for o in FIXTURE.orders if o.status == "after_sales")
    done = run(var_dir, "show", order.number)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["number"] == order.number and shown["status"] == "after_sales"
    assert shown["customer_id"] == order.customer_id and shown["total"] == order.total
    assert [i["sku"] for i in shown["items"]] == [i.sku for i in order.items]
    # the seed shifted the fixture to its own "now": same order, same time gaps
    decoded = codec.decode_order(shown)
    times = ("created_at", "paid_at", "shipped_at", "delivered_at", "cancelled_at")
    assert {k: v for k, v in codec.encode_order(decoded).items() if k not in times} == {
        k: v for k, v in codec.encode_order(order).items() if k not in times}
    assert decoded.delivered_at - decoded.created_at == order.delivered_at - order.created_at
    assert abs(datetime.now(timezone.utc) - decoded.delivered_at - (FIXTURE_NOW - order.delivered_at)) \
        < timedelta(minutes=5)
    assert len(shown["logistics"]) == sum(1 for n, _ in FIXTURE.logistics if n == order.number)
    assert [r["number"] for r in shown["after_sales"]] == [r.number for r in FIXTURE.requests
                                                           if r.order_number == order.number]
    assert order.items[0].name_zh in done.stdout  # readable Chinese, not \u escapes


def test_show_unknown_order(var_dir: Path):
    done = run(var_dir, "show", "999999999999")
    assert done.returncode == 1
    assert "no order 999999999999" in done.stderr and done.stdout == ""


def test_seed_replace_starts_over(tmp_path: Path):
    assert run(tmp_path, "seed").returncode == 0
    db = tmp_path / "orders.sqlite3"
    paid = next(o for o in FIXTURE.orders if o.status == "paid")
    with sqlite3.connect(db) as conn:  # a change the replace must undo
        conn.execute("UPDATE orders SET status = 'cancelled' WHERE number = ?", (paid.number,))
        conn.execute("INSERT INTO idempotency_keys VALUES ('k', 'cancel_order', '{}', '2031-01-01')")
    done = run(tmp_path, "seed", "--replace")
    assert done.returncode == 0, done.stderr
    assert count(db, "orders") == len(FIXTURE.orders) and count(db, "idempotency_keys") == 0
    assert json.loads(run(tmp_path, "show", paid.number).stdout)["status"] == "paid"


def test_seed_with_a_broken_fixture(tmp_path: Path):
    broken = tmp_path / "broken.yml"
    broken.write_text("reference_time: '2026-11-20T12:00:00+08:00'\ncustomers: [{id: C1}]\norders: []\n")
    done = run(tmp_path / "var", "seed", "--fixture", str(broken))
    assert done.returncode == 1 and "error:" in done.stderr
    assert count(tmp_path / "var" / "orders.sqlite3", "orders") == 0


# --- codec ---------------------------------------------------------------------------------------
def wire(data):
    return json.loads(json.dumps(data, ensure_ascii=False))


def test_every_fixture_order_survives_encode_decode():
    assert len(FIXTURE.orders) == 200
    for order in FIXTURE.orders:
        assert codec.decode_order(wire(codec.encode_order(order))) == order
        assert codec.encode_order(codec.decode_order(wire(codec.encode_order(order)))) == codec.encode_order(order)


def test_every_fixture_customer_event_and_request_survives_encode_decode():
    for customer in FIXTURE.customers:
        assert codec.decode_customer(wire(codec.encode_customer(customer))) == customer
    for _, event in FIXTURE.logistics:
        assert codec.decode_event(wire(codec.encode_event(event))) == event
    for request in FIXTURE.requests:
        assert codec.decode_request(wire(codec.encode_request(request))) == request
    new = NewAfterSalesRequest("261118300721", "EB-200-BLK", "exchange", "size", "换大一码")
    assert codec.decode_new_request(wire(codec.encode_new_request(new))) == new


def test_list_wrappers():
    orders = FIXTURE.orders[:3]
    assert codec.decode_list(wire({"orders": [codec.encode_order(o) for o in orders]}), "orders",
                             codec.decode_order) == list(orders)
    with pytest.raises(MalformedResponse, match="orders"):
        codec.decode_list({"events": []}, "orders", codec.decode_order)


ORDER = codec.encode_order(FIXTURE.orders[0])


@pytest.mark.parametrize("change,where", [
    ({"status": None}, "order.status"),
    ({"status": "lost"}, "order.status"),
    ({"total": "100"}, "order.total"),
    ({"total": True}, "order.total"),
    ({"created_at": "2031-03-15T10:00:00"}, "order.created_at"),
    ({"created_at": "yesterday"}, "order.created_at"),
    ({"items": []}, "order.items"),
    ({"items": [{"sku": "X"}]}, "order.items[0]"),
    ({"address": None}, "order.address"),
    ({"address": {**ORDER["address"], "city": 5}}, "order.address.city"),
])
def test_decode_order_names_the_broken_field(change, where):
    with pytest.raises(MalformedResponse, match="^" + re.escape(where)):
        codec.decode_order(wire({**ORDER, **change}))


def test_decode_rejects_non_objects():
    for data in (None, [], "order", 3):
        with pytest.raises(MalformedResponse, match="expected an object"):
            codec.decode_order(data)
