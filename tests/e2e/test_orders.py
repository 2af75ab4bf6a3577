"""End-to-end order conversations (status, logistics, verification, identity, after-sales, cancel) through
the REST channel of the real Rasa server + action server, in Chinese and English.

Orders are picked from the demo fixture by their properties (status, age, items, customer), never by
number, and each test takes orders (or whole customers) no other test of this module touches: the
writes (cancel, after-sales) and the lockouts (per order number) stay out of each other's way.
"""
from __future__ import annotations

import json
import re
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

import pytest

from actions.order_texts import REASON_LABELS, STATUS_LABELS, TYPE_LABELS, text
from actions.order_views import carrier_name, mask_name, money
from common.identity import issue_token
from common.masking import mask_pii
from common.settings import Settings
from ops.services import build_services
from ops.supervisor import Supervisor
from orders import policy
from orders.fixture import Fixture, load_fixture
from orders.model import Customer, LogisticsEvent, Order
from tests.conftest import IDENTITY_SECRET, Stack, free_port
from tests.e2e.chat import new_sender, rest_say

pytestmark = [pytest.mark.e2e, pytest.mark.rasa]

LANGS = ["zh", "en"]
SAY = {
    "status": {"zh": "帮我查一下订单状态", "en": "what's the status of my order"},
    "status_listed": {"zh": "我的订单现在什么状态", "en": "where is my order"},
    "logistics": {"zh": "我的快递到哪了", "en": "where is my parcel?"},
    "logistics_again": {"zh": "那物流到哪了", "en": "and where is the parcel now?"},
    "return": {"zh": "我要退货", "en": "I'd like to return an item"},
    "cancel": {"zh": "我要取消订单", "en": "I want to cancel my order"},
    "stop": {"zh": "算了", "en": "never mind"},
    "hello": {"zh": "你好", "en": "hello"},
    "faq_payment": {"zh": "你们支持哪些支付方式？", "en": "which payment methods do you accept?"},
    "affirm": {"zh": "确认", "en": "yes"},
    # free-text reasons the reason parser reads as "damaged" (the 15-day window)
    "reason_damaged": {"zh": "收到时外壳就裂了", "en": "it arrived broken"},
}
GREETING = {"zh": "请问有什么可以帮您", "en": "How can I help you"}
PAYMENT_ANSWER = {"zh": "微信支付", "en": "WeChat Pay"}
HUMAN = "/request_human"
REF = re.compile(r"\bE-([0-9a-f]{12})\b")
AS_NUMBER = re.compile(r"\bAS\d+\b")


# --- talking ------------------------------------------------------------------------------------

@dataclass
class Chat:
    """One customer's conversation; keeps the transcript for assertion messages."""
    rasa_url: str
    sender: str
    metadata: Optional[dict] = None
    log: List[str] = field(default_factory=list)

    def say(self, message: str) -> List[dict]:
        replies = rest_say(self.rasa_url, self.sender, message, self.metadata)
        self.log.append(f">> {message}")
        for r in replies:
            shown = (r.get("text") or "").replace("\n", " | ")
            buttons = [b.get("payload") for b in r.get("buttons") or []]
            self.log.append(f"<< {shown}" + (f"  {buttons}" if buttons else ""))
        return replies

    @property
    def transcript(self) -> str:
        return "\n".join(self.log)


def chat(stack, prefix: str, customer: Optional[str] = None) -> Chat:
    metadata = {"customer_token": issue_token(IDENTITY_SECRET, customer)} if customer else None
    return Chat(stack.rasa_url, new_sender(prefix), metadata)


def texts_of(replies: List[dict]) -> List[str]:
    return [r.get("text") or "" for r in replies]


def joined(replies: List[dict]) -> str:
    return "\n".join(texts_of(replies))


def payloads(replies: List[dict]) -> List[str]:
    return [b.get("payload") or "" for r in replies for b in r.get("buttons") or []]


def inform(payload: str) -> dict:
    """The entities of a button payload `/inform{...}`."""
    assert payload.startswith("/inform{"), payload
    return json.loads(payload[len("/inform"):])


# --- the demo orders ------------------------------------------------------------------------------

@dataclass
class Demo:
    """The seeded demo orders, and which ones the tests of this module have taken."""
    fixture: Fixture
    now: datetime
    db: Path  # the stack's order database
    identity_db: Path  # ... and its record of failed verifications
    taken_orders: set = field(default_factory=set)
    reserved_customers: set = field(default_factory=set)
    touched_customers: set = field(default_factory=set)

    def customer(self, order: Order) -> Customer:
        return next(c for c in self.fixture.customers if c.id == order.customer_id)

    def last4(self, order: Order) -> str:
        return self.customer(order).phone[-4:]

    def wrong4(self, order: Order, n: int = 1) -> str:
        right = int(self.last4(order))
        return f"{(right + 1111 * n) % 10000:04d}"

    def events(self, order: Order) -> List[LogisticsEvent]:
        return sorted((e for number, e in self.fixture.logistics if number == order.number), key=lambda e: e.time)

    def requests(self, order: Order) -> list:
        return [r for r in self.fixture.requests if r.order_number == order.number]

    def orders_of(self, customer_id: str) -> List[Order]:
        return sorted((o for o in self.fixture.orders if o.customer_id == customer_id),
                      key=lambda o: o.created_at, reverse=True)

    def _untouched(self, order: Order) -> bool:
        """As seeded: no other test (of any module) changed it or failed its verification."""
        rows = query(self.db, "SELECT status FROM orders WHERE number = ?", order.number)
        return rows == [{"status": order.status}] and not failures(self.identity_db, order.number)

    def pick(self, what: str, accept: Callable[[Order], bool]) -> Order:
        for order in self.fixture.orders:
            if order.number in self.taken_orders or order.customer_id in self.reserved_customers:
                continue
            if accept(order) and self._untouched(order):
                self.taken_orders.add(order.number)
                self.touched_customers.add(order.customer_id)
                return order
        raise AssertionError(f"no demo order left that is {what}")

    def reserve_customer(self, what: str, accept: Callable[[str, List[Order]], bool]) -> str:
        """A customer none of whose orders another test of this module uses."""
        for customer in self.fixture.customers:
            if customer.id in self.reserved_customers or customer.id in self.touched_customers:
                continue
            orders = self.orders_of(customer.id)
            if accept(customer.id, orders) and all(self._untouched(o) for o in orders):
                self.reserved_customers.add(customer.id)
                self.taken_orders.update(o.number for o in orders)
                return customer.id
        raise AssertionError(f"no demo customer left who {what}")

    def delivered_days_ago(self, order: Order) -> float:
        return (self.now - order.delivered_at).total_seconds() / 86400 if order.delivered_at else float("inf")

    def unknown_number(self) -> str:
        known = {o.number for o in self.fixture.orders}
        known |= {row["number"] for row in query(self.db, "SELECT number FROM orders")}
        number = 261119000001
        while str(number) in known | self.taken_orders or failures(self.identity_db, str(number)):
            number += 7
        self.taken_orders.add(str(number))
        return str(number)


def query(path: Path, sql: str, *args: object) -> List[Dict[str, object]]:
    """Rows of one of the stack's SQLite databases, opened read-only."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute(sql, args)]


def failures(identity_db: Path, number: str) -> int:
    try:
        return len(query(identity_db, "SELECT at FROM verification_failures WHERE order_number = ?", number))
    except sqlite3.OperationalError:  # nothing recorded yet: no database, or no table
        return 0


@pytest.fixture(scope="module")
def demo(stack) -> Demo:
    now = datetime.now(timezone.utc)
    return Demo(load_fixture(now=now), now, stack.settings.order_db, stack.settings.identity_db)


def db_order(stack, number: str) -> Dict[str, object]:
    (row,) = query(stack.settings.order_db, "SELECT * FROM orders WHERE number = ?", number)
    return row


def db_requests(stack, number: str) -> List[Dict[str, object]]:
    return query(stack.settings.order_db, "SELECT * FROM after_sales_requests WHERE order_number = ?", number)


def status_label(order_status: str, lang: str) -> str:
    return STATUS_LABELS[order_status][lang]


def status_header(number: str, order_status: str, lang: str) -> str:
    """The first line of the "status" text."""
    return text("status", lang, order=number, status=status_label(order_status, lang), items="", total="",
                created="", extra="", recipient="", address="").split("\n")[0]


def logistics_header(order: Order, lang: str) -> str:
    return text("logistics", lang, order=order.number, carrier=carrier_name(order.carrier, lang),
                tracking=order.tracking_number,
                events="").rstrip()


def cancel_question(order: Order, lang: str) -> str:
    items = ("、" if lang == "zh" else ", ").join(f"{i.name(lang)} ×{i.quantity}" for i in order.items)
    return text("ask_confirm_cancel", lang, order=order.number, items=items, total=money(order.total))


def _shipped(demo: Demo, exception: bool) -> Callable[[Order], bool]:
    def accept(order: Order) -> bool:
        events = demo.events(order)
        return order.status == "shipped" and bool(events) and (events[-1].code == "exception") == exception
    return accept


def _paid(order: Order) -> bool:
    return order.status == "paid"


# --- 1. status, order number and last 4 in one message ----------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_status_with_number_and_last4_in_one_message(stack, demo, lang):
    order = demo.pick("shipped, delivered to a recipient whose phone is the customer's",
                      lambda o: o.status == "shipped" and o.address.phone == demo.customer(o).phone)
    me = chat(stack, f"status-{lang}")
    asked = me.say(SAY["status"][lang])
    assert texts_of(asked)[-1] == text("ask_order_number", lang), me.transcript

    reply = joined(me.say(f"{order.number} {demo.last4(order)}"))
    assert status_header(order.number, order.status, lang) in reply, me.transcript
    recipient = order.address.recipient
    assert mask_name(recipient) in reply and recipient not in reply, me.transcript
    assert demo.customer(order).phone not in reply and order.address.phone not in reply, me.transcript
    assert order.address.street not in reply, me.transcript
    assert order.address.district in reply and "****" in reply, me.transcript


SAY_NUMBER_AND_LAST4 = {"zh": "订单号 {number}，手机尾号 {last4}", "en": "order {number}, my phone ends in {last4}"}


@pytest.mark.parametrize("lang", LANGS)
def test_number_and_last4_before_the_task_are_not_asked_for_again(stack, demo, lang):
    """The number and the digits come first, without a task: the bot asks what for; once the customer
    names the task it answers at once, without asking for the digits again — and a wrong guess sent that
    way counts like any other."""
    order = demo.pick("shipped, for the number-first customer", _shipped(demo, False))
    me = chat(stack, f"number-first-{lang}")
    asked = me.say(SAY_NUMBER_AND_LAST4[lang].format(number=order.number, last4=demo.last4(order)))
    assert "/ask_order_status" in payloads(asked) and order.number in joined(asked), me.transcript
    reply = joined(me.say("/ask_order_status"))
    assert status_header(order.number, order.status, lang) in reply, me.transcript
    assert text("ask_phone_last4", lang, order=order.number) not in reply, me.transcript

    other = chat(stack, f"number-first-wrong-{lang}")
    other.say(SAY_NUMBER_AND_LAST4[lang].format(number=order.number, last4=demo.wrong4(order, 1)))
    assert texts_of(other.say("/ask_logistics")) == [
        text("verify_failed", lang, left=2), text("ask_phone_last4", lang, order=order.number)], other.transcript
    assert joined(other.say(demo.last4(order))).startswith(logistics_header(order, lang)), other.transcript


# --- 2. logistics, step by step ---------------------------------------------------------------------

@pytest.mark.parametrize("exception", [False, True], ids=["normal", "exception"])
@pytest.mark.parametrize("lang", LANGS)
def test_logistics_step_by_step(stack, demo, lang, exception):
    order = demo.pick("shipped" + (", last parcel event an exception" if exception else ""),
                      _shipped(demo, exception))
    me = chat(stack, f"track-{lang}")
    assert texts_of(me.say(SAY["logistics"][lang]))[-1] == text("ask_order_number", lang), me.transcript
    assert texts_of(me.say(order.number)) == [text("ask_phone_last4", lang, order=order.number)], me.transcript

    replies = me.say(demo.last4(order))
    reply = joined(replies)
    assert reply.startswith(logistics_header(order, lang)), me.transcript
    newest = mask_pii(demo.events(order)[-1].description(lang))  # a courier's phone is masked too
    first_event = reply.split("\n")[1]
    assert first_event.startswith("· ") and first_event.endswith(newest), me.transcript
    if exception:
        assert text("logistics_exception", lang) in reply, me.transcript
        assert payloads(replies) == [HUMAN], me.transcript
    else:
        assert text("logistics_exception", lang) not in reply and payloads(replies) == [], me.transcript


# --- 3. wrong verification: tries left, lockout, locked for everyone ---------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_wrong_last4_locks_the_order(stack, demo, lang):
    order = demo.pick("shipped (for the lockout)", _shipped(demo, False))
    secrets = [order.tracking_number, order.carrier, status_label(order.status, lang),
               order.items[0].name(lang), mask_name(order.address.recipient), order.address.district]
    me = chat(stack, f"lock-{lang}")
    me.say(SAY["logistics"][lang])

    first = texts_of(me.say(f"{order.number} {demo.wrong4(order, 1)}"))
    assert first == [text("verify_failed", lang, left=2), text("ask_phone_last4", lang, order=order.number)], \
        me.transcript
    second = texts_of(me.say(demo.wrong4(order, 2)))
    assert second == [text("verify_failed", lang, left=1), text("ask_phone_last4", lang, order=order.number)], \
        me.transcript
    third = me.say(demo.wrong4(order, 3))
    locked = text("blocked_locked", lang, minutes=stack.settings.verify_lockout_minutes)
    assert texts_of(third) == [locked] and payloads(third) == [HUMAN], me.transcript

    # The right digits now reveal nothing, in this conversation...
    again = me.say(SAY["logistics"][lang]) + me.say(f"{order.number} {demo.last4(order)}")
    assert locked in texts_of(again), me.transcript
    assert not any(s in joined(again) for s in secrets), me.transcript
    # ... nor in another one asking about the same order.
    other = chat(stack, f"lock-other-{lang}")
    other.say(SAY["logistics"][lang])
    replies = other.say(f"{order.number} {demo.last4(order)}")
    assert texts_of(replies) == [locked] and payloads(replies) == [HUMAN], other.transcript
    assert not any(s in joined(replies) for s in secrets), other.transcript


# --- 4. channel identity ----------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_signed_in_customer_picks_an_order_without_verification(stack, demo, lang):
    customer = demo.reserve_customer(
        "has 2 orders or more, a shipped one among the 5 newest",
        lambda cid, orders: len(orders) >= 2 and any(o.status == "shipped" for o in orders[:5]))
    own = {o.number: o for o in demo.orders_of(customer)}
    me = chat(stack, f"identity-{lang}", customer=customer)

    listed = me.say(SAY["status_listed"][lang])
    assert texts_of(listed)[-1] == text("ask_order_number_listed", lang), me.transcript
    choices = payloads(listed)
    numbers = [inform(p)["order_number"] for p in choices]
    assert numbers and set(numbers) <= set(own) and len(numbers) == min(5, len(own)), me.transcript
    assert numbers == [o.number for o in demo.orders_of(customer)[:len(numbers)]], me.transcript  # newest first

    shipped = next(own[n] for n in numbers if own[n].status == "shipped")
    status = me.say(next(p for p in choices if inform(p)["order_number"] == shipped.number))
    ask_last4 = text("ask_phone_last4", lang, order=shipped.number)
    assert status_header(shipped.number, "shipped", lang) in joined(status), me.transcript
    assert ask_last4 not in texts_of(status), me.transcript

    tracking = me.say(SAY["logistics_again"][lang])
    assert joined(tracking).startswith(logistics_header(shipped, lang)), me.transcript
    assert ask_last4 not in texts_of(tracking) and text("ask_order_number", lang) not in texts_of(tracking), \
        me.transcript


# --- 5. after-sales ---------------------------------------------------------------------------------

def _first_eligible_is_recent_delivered(demo: Demo) -> Callable[[str, List[Order]], bool]:
    """The first after-sales buttons the bot lists are items of an order delivered less than 5 days ago."""
    def accept(customer_id: str, orders: List[Order]) -> bool:
        first = next((o for o in orders[:10] if not policy.after_sales_block(o, demo.requests(o), demo.now)), None)
        return first is not None and first.status == "delivered" and demo.delivered_days_ago(first) < 5
    return accept


def _open_return_with_token(stack, demo: Demo, lang: str, prefix: str):
    customer = demo.reserve_customer("has a recently delivered order open to a return",
                                     _first_eligible_is_recent_delivered(demo))
    own = {o.number: o for o in demo.orders_of(customer)}
    me = chat(stack, prefix, customer=customer)
    listed = me.say(SAY["return"][lang])
    assert texts_of(listed)[-1] == text("ask_order_number_listed", lang), me.transcript
    choices = [inform(p) for p in payloads(listed)]
    assert choices and all(c["order_number"] in own and "item_sku" in c for c in choices), me.transcript
    choice = next(c for c in choices if own[c["order_number"]].status == "delivered")
    order = own[choice["order_number"]]
    item = order.item(choice["item_sku"])
    assert item is not None, me.transcript

    asked = me.say('/inform{"order_number": "%s", "item_sku": "%s"}' % (order.number, item.sku))
    assert texts_of(asked) == [text("ask_reason", lang, type=TYPE_LABELS["return"][lang])], me.transcript
    confirm = me.say(SAY["reason_damaged"][lang])
    expected = text("ask_confirm_aftersales", lang, order=order.number, item=item.name(lang),
                    type=TYPE_LABELS["return"][lang], reason=REASON_LABELS["damaged"][lang])
    assert texts_of(confirm) == [expected] and payloads(confirm) == ["/affirm", "/deny"], me.transcript
    return me, order, item


@pytest.mark.parametrize("lang", LANGS)
def test_return_with_token_opens_a_request(stack, demo, lang):
    me, order, item = _open_return_with_token(stack, demo, lang, f"return-{lang}")
    done = joined(me.say("/affirm"))
    found = AS_NUMBER.search(done)
    assert found, me.transcript
    assert done == text("aftersales_created", lang, type=TYPE_LABELS["return"][lang], request=found.group(0),
                        next=text("next_return", lang)), me.transcript

    (request,) = [r for r in db_requests(stack, order.number) if r["number"] == found.group(0)]
    assert (request["sku"], request["type"], request["reason"], request["state"]) == \
        (item.sku, "return", "damaged", "open")
    assert db_order(stack, order.number)["status"] == "after_sales"


@pytest.mark.parametrize("lang", LANGS)
def test_return_denied_at_confirmation_changes_nothing(stack, demo, lang):
    me, order, _ = _open_return_with_token(stack, demo, lang, f"return-deny-{lang}")
    assert texts_of(me.say("/deny")) == [text("not_confirmed", lang)], me.transcript
    assert [r["number"] for r in db_requests(stack, order.number)] == [r.number for r in demo.requests(order)]
    assert db_order(stack, order.number)["status"] == order.status


@pytest.mark.parametrize("lang", LANGS)
def test_return_without_token_in_few_steps(stack, demo, lang):
    order = demo.pick("delivered less than 5 days ago, one item, no request",
                      lambda o: o.status == "delivered" and len(o.items) == 1 and demo.delivered_days_ago(o) < 5
                      and not policy.after_sales_block(o, demo.requests(o), demo.now))
    me = chat(stack, f"return-plain-{lang}")
    assert texts_of(me.say(SAY["return"][lang]))[-1] == text("ask_order_number", lang), me.transcript

    # The one item is taken without asking: reason, yes, done (2 steps after the number and digits).
    asked = texts_of(me.say(f"{order.number} {demo.last4(order)}"))
    assert asked == [text("ask_reason", lang, type=TYPE_LABELS["return"][lang])], me.transcript
    confirm = texts_of(me.say(SAY["reason_damaged"][lang]))
    assert confirm == [text("ask_confirm_aftersales", lang, order=order.number, item=order.items[0].name(lang),
                            type=TYPE_LABELS["return"][lang], reason=REASON_LABELS["damaged"][lang])], \
        me.transcript
    found = AS_NUMBER.search(joined(me.say(SAY["affirm"][lang])))
    assert found, me.transcript
    (request,) = [r for r in db_requests(stack, order.number) if r["number"] == found.group(0)]
    assert (request["sku"], request["state"]) == (order.items[0].sku, "open")
    assert db_order(stack, order.number)["status"] == "after_sales"


@pytest.mark.parametrize("lang", LANGS)
def test_change_of_mind_as_the_reason_is_not_a_stop(stack, demo, lang):
    """"不想要了" / "I don't want it anymore" reads as `stop`, but asked for a reason it is one."""
    order = demo.pick("delivered less than 6.5 days ago, one item, no request",
                      lambda o: o.status == "delivered" and len(o.items) == 1 and demo.delivered_days_ago(o) < 6.5
                      and not policy.after_sales_block(o, demo.requests(o), demo.now))
    me = chat(stack, f"return-mind-{lang}")
    me.say(SAY["return"][lang])
    me.say(f"{order.number} {demo.last4(order)}")
    confirm = texts_of(me.say({"zh": "不想要了", "en": "I don't want it anymore"}[lang]))
    assert confirm == [text("ask_confirm_aftersales", lang, order=order.number, item=order.items[0].name(lang),
                            type=TYPE_LABELS["return"][lang], reason=REASON_LABELS["changed_mind"][lang])], \
        me.transcript


@pytest.mark.parametrize("lang", LANGS)
def test_courier_phone_in_tracking_is_masked(stack, demo, lang):
    phone = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
    order = demo.pick("shipped, a courier's phone in its tracking",
                      lambda o: o.status == "shipped" and any(phone.search(e.description(lang))
                                                               for e in demo.events(o)[-5:]))
    me = chat(stack, f"courier-{lang}")
    me.say(SAY["logistics"][lang])
    reply = joined(me.say(f"{order.number} {demo.last4(order)}"))
    assert logistics_header(order, lang) in reply, me.transcript
    assert not phone.search(reply) and "****" in reply, me.transcript


# --- 6. cancel ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_cancel_a_paid_order(stack, demo, lang):
    order = demo.pick("paid", _paid)
    me = chat(stack, f"cancel-{lang}")
    me.say(SAY["cancel"][lang])
    confirm = me.say(f"{order.number} {demo.last4(order)}")
    assert texts_of(confirm) == [cancel_question(order, lang)], me.transcript
    assert payloads(confirm) == ["/affirm", "/deny"], me.transcript
    assert db_order(stack, order.number)["status"] == "paid"  # not before the yes

    done = texts_of(me.say(SAY["affirm"][lang]))
    assert done == [text("cancelled", lang, order=order.number, total=money(order.total))], me.transcript
    row = db_order(stack, order.number)
    assert row["status"] == "cancelled" and row["cancelled_at"]


@pytest.mark.parametrize("lang", LANGS)
def test_cancel_a_shipped_order_is_explained(stack, demo, lang):
    order = demo.pick("shipped (cancel refused)", _shipped(demo, False))
    before = db_order(stack, order.number)
    me = chat(stack, f"cancel-shipped-{lang}")
    me.say(SAY["cancel"][lang])
    replies = me.say(f"{order.number} {demo.last4(order)}")
    assert texts_of(replies) == [text("blocked_already_shipped", lang, order=order.number)], me.transcript
    assert payloads(replies) == ["/ask_logistics"], me.transcript
    assert db_order(stack, order.number) == before


# --- 7. stop in the middle ----------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_stop_at_the_confirmation(stack, demo, lang):
    order = demo.pick("paid (stopped cancel)", _paid)
    before = db_order(stack, order.number)
    me = chat(stack, f"stop-{lang}")
    me.say(SAY["cancel"][lang])
    assert texts_of(me.say(f"{order.number} {demo.last4(order)}")) == [cancel_question(order, lang)], \
        me.transcript

    assert texts_of(me.say(SAY["stop"][lang])) == [text("stopped", lang)], me.transcript
    assert db_order(stack, order.number) == before
    hello = texts_of(me.say(SAY["hello"][lang]))
    assert any(GREETING[lang] in t for t in hello), me.transcript
    assert db_order(stack, order.number) == before


# --- 8. a question in the middle ----------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_faq_while_asked_for_the_order_number(stack, demo, lang):
    order = demo.pick("paid (digression)", _paid)
    me = chat(stack, f"digress-{lang}")
    assert texts_of(me.say(SAY["status"][lang]))[-1] == text("ask_order_number", lang), me.transcript

    answered = texts_of(me.say(SAY["faq_payment"][lang]))
    assert any(PAYMENT_ANSWER[lang] in t for t in answered[:-1]), me.transcript
    assert answered[-1] == text("ask_order_number", lang), me.transcript  # asked again

    done = joined(me.say(f"{order.number} {demo.last4(order)}"))
    assert status_header(order.number, "paid", lang) in done, me.transcript
    assert text("status_extra_paid", lang).strip() in done, me.transcript


# --- 9. unknown and malformed order numbers -----------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_unknown_order_number_looks_like_wrong_digits(stack, demo, lang):
    real = demo.pick("delivered (wrong digits, compared)", lambda o: o.status == "delivered")
    unknown = demo.unknown_number()

    wrong = chat(stack, f"wrong-{lang}")
    wrong.say(SAY["status"][lang])
    wrong_reply = texts_of(wrong.say(f"{real.number} {demo.wrong4(real)}"))

    me = chat(stack, f"unknown-{lang}")
    me.say(SAY["status"][lang])
    unknown_reply = texts_of(me.say(f"{unknown} {demo.last4(real)}"))
    assert unknown_reply == [text("verify_failed", lang, left=2),
                             text("ask_phone_last4", lang, order=unknown)], me.transcript
    assert wrong_reply == [r.replace(unknown, real.number) for r in unknown_reply], wrong.transcript
    assert text("blocked_unknown_order", lang, order=unknown) not in unknown_reply


@pytest.mark.parametrize("lang", LANGS)
def test_malformed_order_number_gets_the_format_message(stack, lang):
    me = chat(stack, f"malformed-{lang}")
    assert texts_of(me.say(SAY["status"][lang]))[-1] == text("ask_order_number", lang), me.transcript
    replies = texts_of(me.say("12345"))
    assert text("bad_order_number", lang, value="12345") in replies, me.transcript
    # ... and the form is still waiting for the number
    assert replies[-1] == text("ask_order_number", lang), me.transcript


# --- 10. the order system is down ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def down_stack(stack, model, tmp_path_factory) -> Iterator[Stack]:
    """A second stack whose order backend is an HTTP API nobody listens on."""
    var_dir = tmp_path_factory.mktemp("var-orders-down")
    settings = Settings(rasa_port=free_port(), action_port=free_port(), web_port=free_port(),
                        var_dir=var_dir, faq_dir=stack.settings.faq_dir, kb_dir=stack.settings.kb_dir,
                        order_backend="http", order_api_url=f"http://127.0.0.1:{free_port()}",
                        order_api_token="x", order_api_retries=1, order_api_timeout=1.0,
                        identity_secret=IDENTITY_SECRET)
    supervisor = Supervisor(build_services(settings, model), settings.var_dir, settings.host)
    supervisor.start()
    try:
        yield Stack(settings, supervisor)
    finally:
        supervisor.stop()


def _logged(path, needle: str, timeout: float = 10.0) -> List[str]:
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in path.read_text(errors="replace").splitlines() if needle in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.2)


@pytest.mark.parametrize("lang", LANGS)
def test_order_system_down(down_stack, demo, lang):
    order = demo.fixture.orders[0]  # read-only: the order system is unreachable anyway
    me = chat(down_stack, f"down-{lang}")
    assert texts_of(me.say(SAY["status"][lang]))[-1] == text("ask_order_number", lang), me.transcript

    replies = me.say(f"{order.number} {demo.last4(order)}")
    reply = joined(replies)
    found = REF.search(reply)
    assert found, me.transcript
    assert texts_of(replies) == [text("blocked_unavailable", lang, ref=found.group(0))], me.transcript
    assert payloads(replies) == [HUMAN], me.transcript

    log = down_stack.supervisor.log_path("actions")
    assert log.parent == down_stack.settings.var_dir / "log"
    lines = _logged(log, found.group(1))
    assert lines and any("order action failed" in line for line in lines), log.read_text()[-3000:]

    hello = texts_of(me.say(SAY["hello"][lang]))
    assert any(GREETING[lang] in t for t in hello), me.transcript
