"""The order actions (actions/order_form.py, actions/orders.py) run for real against the SQLite order system.

Every test gets its own CS_VAR_DIR: the order database is seeded there from the demo fixture, the
verification log (lockouts) lives there too. Orders are picked from the fixture by their properties
(status, delivery age, items, owner), never by number. A second SqliteOrderBackend on the same file
reads back what the actions wrote. The "order system down" tests point the actions at the HTTP
backend on a closed local port.
"""
from __future__ import annotations

import json
import logging
import os
import re
import socket
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Dict, List, Optional

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import order_context
from actions.order_form import (
    ActionAskConfirmed,
    ActionAskItemSku,
    ActionAskOrderNumber,
    ValidateOrderForm,
)
from actions.order_texts import text
from actions.order_views import looks_like_question, mask_name, money, pick_item, reason_of, service_type_of
from actions.orders import (
    ActionIdentifyCustomer,
    ActionOrderStopped,
    ActionOrderTask,
    ActionStartOrderTask,
    idempotency_key,
)
from common.identity import issue_token
from common.settings import ROOT
from orders.fixture import Fixture, load_fixture
from orders.model import Address, Customer, NewAfterSalesRequest, Order, OrderItem
from orders.sqlite_backend import SqliteOrderBackend
from orders.verification import VerificationLog

DOMAIN = yaml.safe_load((ROOT / "bot" / "domain" / "core.yml").read_text(encoding="utf-8"))
SLOT_NAMES = list(DOMAIN["slots"]) + ["requested_slot", "session_started_metadata"]
TASK_SLOTS = ("item_sku", "aftersales_reason", "aftersales_note", "confirmed", "order_blocked")
RESET = [SlotSet(name, None) for name in TASK_SLOTS]
SECRET = "unit-identity-secret-0123456789"
HUMAN = "/request_human"
REF = re.compile(r"E-([0-9a-f]{12})")
CJK = re.compile(r"[\u4e00-\u9fff]")
ACTIVE = ("open", "approved", "completed")  # request states that take an item out of after-sales


# --- environment and the seeded order system ------------------------------------------------------

def _clear_caches() -> None:
    order_context.settings.cache_clear()
    order_context.order_backend.cache_clear()
    order_context.verification_log.cache_clear()


def configure(monkeypatch, **env: str) -> None:
    """Set CS_* variables and let the actions read them afresh."""
    for name, value in env.items():
        monkeypatch.setenv(f"CS_{name.upper()}", value)
    _clear_caches()


@pytest.fixture(autouse=True)
def var_dir(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("CS_"):
            monkeypatch.delenv(name)
    var = tmp_path / "var"
    monkeypatch.setenv("CS_VAR_DIR", str(var))
    monkeypatch.setenv("CS_VERIFY_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("CS_VERIFY_LOCKOUT_MINUTES", "30")
    _clear_caches()
    yield var
    _clear_caches()


@pytest.fixture(scope="session")
def demo() -> Fixture:
    # Parsed once (0.4 s); each test seeds its own database from it. Times are shifted to the
    # session's start, a few seconds off the tests' "now": orders are picked with hours of margin.
    return load_fixture(now=datetime.now(timezone.utc))


@dataclass
class Shop:
    fixture: Fixture
    path: Path

    def view(self) -> SqliteOrderBackend:
        """A second, independent view of the database the actions use."""
        return SqliteOrderBackend(self.path)

    def orders(self, test: Callable[[Order], bool]) -> List[Order]:
        return [o for o in self.fixture.orders if test(o)]

    def find(self, what: str, test: Callable[[Order], bool]) -> Order:
        found = self.orders(test)
        if not found:
            pytest.fail(f"the demo fixture has no order that is {what}")
        return found[0]

    def owner(self, order: Order) -> Customer:
        return next(c for c in self.fixture.customers if c.id == order.customer_id)

    def requests(self, order: Order):
        return [r for r in self.fixture.requests if r.order_number == order.number]

    def active_skus(self, order: Order) -> set:
        return {r.sku for r in self.requests(order) if r.state in ACTIVE}

    def events(self, order: Order):
        return [e for number, e in self.fixture.logistics if number == order.number]

    def customer_orders(self, customer_id: str) -> List[Order]:
        """Newest first, as the order system lists them."""
        return sorted((o for o in self.fixture.orders if o.customer_id == customer_id),
                      key=lambda o: o.created_at, reverse=True)


@pytest.fixture
def shop(var_dir, demo) -> Shop:
    path = var_dir / "orders.sqlite3"  # where CS_VAR_DIR puts the embedded order system
    SqliteOrderBackend(path).seed(demo)
    return Shop(demo, path)


def delivered_ago(order: Order, low_days: float, high_days: float) -> bool:
    if order.delivered_at is None:
        return False
    age = datetime.now(timezone.utc) - order.delivered_at
    return timedelta(days=low_days) <= age <= timedelta(days=high_days)


def other_digits(last4: str) -> str:
    return f"{(int(last4) + 1) % 10000:04d}"


# --- trackers and running actions ---------------------------------------------------------------

def user_event(text_: str, intent: str = "inform", entities=(), metadata=None, message_id: str = "msg-1") -> dict:
    return {"event": "user", "text": text_, "message_id": message_id, "metadata": metadata or {},
            "parse_data": {"text": text_, "intent": {"name": intent, "confidence": 0.95},
                           "entities": list(entities), "message_id": message_id}}


def entity(name: str, value: str) -> dict:
    return {"entity": name, "value": value, "start": 0, "end": len(value), "extractor": "RegexEntityExtractor"}


def make_tracker(slots: Optional[dict] = None, candidates: Optional[dict] = None, message: Optional[dict] = None,
                 history=(), sender_id: str = "order-user") -> Tracker:
    """A Tracker as Rasa sends it to the action server: every slot, the history, the latest user message,
    then this turn's slot candidates (what `slots_to_validate()` returns)."""
    message = message or user_event("", "inform")
    values: Dict[str, object] = {name: None for name in SLOT_NAMES}
    values.update(slots or {})
    values.update(candidates or {})
    events = list(history) + [message] + [SlotSet(k, v) for k, v in (candidates or {}).items()]
    latest = dict(message["parse_data"], metadata=message["metadata"], message_id=message["message_id"])
    return Tracker(sender_id, values, latest, events, False, None, {"name": "order_form"}, "action_listen")


def task_tracker(order: Order, task: str, language: str = "zh", verified: bool = True,
                 message: Optional[dict] = None, **slots) -> Tracker:
    """What action_order_task gets once order_form has ended."""
    values = {"order_task": task, "order_number": order.number, "language": language,
              "verified_order": order.number if verified else None, **slots}
    return make_tracker(values, message=message or user_event("好的", "affirm"))


async def run(action, tracker: Tracker):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, DOMAIN)
    return dispatcher.messages, events


def sets(events) -> dict:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def texts(messages) -> List[str]:
    return [m.get("text") or "" for m in messages]


def payloads(messages) -> List[str]:
    return [b["payload"] for m in messages for b in m.get("buttons") or []]


def assert_no_personal_data(reply: str, order: Order, owner: Customer) -> None:
    for secret in (order.address.phone, owner.phone, order.address.street, order.address.recipient):
        assert secret not in reply


def free_closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


# --- required_slots -------------------------------------------------------------------------------

REQUIRED = {
    "status": ["order_number"],
    "logistics": ["order_number"],
    "aftersales": ["order_number", "item_sku", "aftersales_reason", "confirmed"],
    "cancel": ["order_number", "confirmed"],
}


@pytest.mark.parametrize("task", sorted(REQUIRED))
async def test_required_slots_ask_for_proof_until_the_order_is_verified(task, shop):
    order = shop.find("any", lambda o: True)
    other = shop.find("another order", lambda o: o.number != order.number)
    form = ValidateOrderForm()
    domain_slots = form.domain_slots(DOMAIN)
    with_proof = REQUIRED[task][:1] + ["phone_last4"] + REQUIRED[task][1:]

    async def required(**slots):
        return await form.required_slots(domain_slots, CollectingDispatcher(), make_tracker(slots), DOMAIN)

    assert await required(order_task=task) == with_proof
    assert await required(order_task=task, order_number=order.number) == with_proof
    assert await required(order_task=task, order_number=order.number, verified_order=other.number) == with_proof
    assert await required(order_task=task, order_number=order.number, verified_order=order.number) == REQUIRED[task]
    assert await required(order_task=task, order_number=order.number, verified_order=order.number,
                          order_blocked="already_shipped") == []
    assert await required(order_task=task, order_blocked="locked") == []


async def test_required_slots_default_task_is_status(shop):
    form = ValidateOrderForm()
    tracker = make_tracker({})
    assert await form.required_slots(form.domain_slots(DOMAIN), CollectingDispatcher(), tracker, DOMAIN) \
        == ["order_number", "phone_last4"]


# --- validate_order_number --------------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["12345", "abc", "2611113914961", "订单号忘了"])
async def test_bad_order_number_is_refused_with_a_message(typed, shop):
    dispatcher = CollectingDispatcher()
    tracker = make_tracker({"order_task": "status"}, candidates={"order_number": typed})
    result = await ValidateOrderForm().validate_order_number(typed, dispatcher, tracker, DOMAIN)
    assert result == {"order_number": None}
    assert texts(dispatcher.messages) == [text("bad_order_number", None, value=typed)]
    assert "12" in dispatcher.messages[0]["text"]


async def test_order_number_with_spaces_and_dashes_is_normalised(shop):
    order = shop.find("any", lambda o: True)
    typed = f"{order.number[:4]}-{order.number[4:8]} {order.number[8:]}"
    dispatcher = CollectingDispatcher()
    tracker = make_tracker({"order_task": "status"}, candidates={"order_number": typed})
    result = await ValidateOrderForm().validate_order_number(typed, dispatcher, tracker, DOMAIN)
    assert result == {"order_number": order.number, "phone_last4": None}
    assert dispatcher.messages == []


async def test_bad_order_number_in_english_keeps_the_form_asking(shop):
    tracker = make_tracker({"order_task": "status", "language": "en"}, candidates={"order_number": "12-34"},
                           message=user_event("order 12-34", "ask_order_status"))
    messages, events = await run(ValidateOrderForm(), tracker)
    assert texts(messages) == [text("bad_order_number", "en", value="12-34")]
    assert sets(events) == {"order_number": None, "requested_slot": "order_number"}


async def test_locked_sender_is_blocked_before_any_lookup(shop, var_dir):
    order, other = shop.orders(lambda o: True)[:2]
    log = VerificationLog(var_dir / "identity.sqlite3", 3, 30)
    for _ in range(3):
        log.failed("order-user", other.number)
    tracker = make_tracker({"order_task": "status"}, candidates={"order_number": order.number},
                           message=user_event(order.number, "inform", [entity("order_number", order.number)]))
    messages, events = await run(ValidateOrderForm(), tracker)
    assert sets(events) == {"order_number": order.number, "order_blocked": "locked", "requested_slot": None}
    assert messages == []


async def test_channel_customer_owning_the_order_is_not_asked_for_the_phone(shop):
    order = shop.find("shipped", lambda o: o.status == "shipped")
    tracker = make_tracker({"order_task": "status", "verified_customer": order.customer_id},
                           candidates={"order_number": order.number},
                           message=user_event(f"查一下订单{order.number}", "ask_order_status",
                                              [entity("order_number", order.number)]))
    messages, events = await run(ValidateOrderForm(), tracker)
    assert messages == []
    result = sets(events)
    assert result["order_number"] == order.number
    assert result["verified_order"] == order.number
    assert result["requested_slot"] is None  # nothing more needed: the status can be shown
    assert "phone_last4" not in result


async def test_channel_customer_not_owning_the_order_is_told_and_asked_for_the_phone(shop):
    order = shop.find("any", lambda o: True)
    stranger = next(c for c in shop.fixture.customers if c.id != order.customer_id)
    tracker = make_tracker({"order_task": "status", "verified_customer": stranger.id, "phone_last4": "0000"},
                           candidates={"order_number": order.number},
                           message=user_event(order.number, "inform", [entity("order_number", order.number)]))
    messages, events = await run(ValidateOrderForm(), tracker)
    assert texts(messages) == [text("not_your_order", None, order=order.number)]
    result = sets(events)
    assert result["phone_last4"] is None
    assert result["requested_slot"] == "phone_last4"
    assert "verified_order" not in result and "verified_customer" not in result


async def test_precheck_blocks_cancelling_a_shipped_order(shop):
    order = shop.find("shipped", lambda o: o.status == "shipped")
    tracker = make_tracker({"order_task": "cancel", "verified_customer": order.customer_id},
                           candidates={"order_number": order.number},
                           message=user_event(f"取消订单{order.number}", "cancel_order",
                                              [entity("order_number", order.number)]))
    messages, events = await run(ValidateOrderForm(), tracker)
    assert messages == []
    result = sets(events)
    assert result["verified_order"] == order.number
    assert result["order_blocked"] == "already_shipped"
    assert result["requested_slot"] is None  # the form ends; action_order_task explains


async def test_precheck_lets_a_paid_order_go_on_to_the_confirmation(shop):
    order = shop.find("paid", lambda o: o.status == "paid")
    tracker = make_tracker({"order_task": "cancel", "verified_customer": order.customer_id},
                           candidates={"order_number": order.number})
    _, events = await run(ValidateOrderForm(), tracker)
    result = sets(events)
    assert "order_blocked" not in result
    assert result["requested_slot"] == "confirmed"


async def test_precheck_picks_the_only_item_of_a_delivered_order(shop):
    order = shop.find("delivered a few days ago, one item, no request",
                      lambda o: o.status == "delivered" and len(o.items) == 1 and delivered_ago(o, 0.5, 13)
                      and not shop.active_skus(o))
    tracker = make_tracker({"order_task": "aftersales", "verified_customer": order.customer_id},
                           candidates={"order_number": order.number},
                           message=user_event(f"订单{order.number}要退货", "request_return",
                                              [entity("order_number", order.number)]))
    messages, events = await run(ValidateOrderForm(), tracker)
    assert messages == []
    result = sets(events)
    assert result["item_sku"] == order.items[0].sku
    assert "order_blocked" not in result
    assert result["requested_slot"] == "aftersales_reason"


async def test_precheck_does_not_pick_an_item_when_several_qualify(shop):
    order = shop.find("delivered a few days ago, several items, no request",
                      lambda o: o.status == "delivered" and len(o.items) > 1 and delivered_ago(o, 0.5, 13)
                      and not shop.active_skus(o))
    tracker = make_tracker({"order_task": "aftersales", "verified_customer": order.customer_id},
                           candidates={"order_number": order.number})
    _, events = await run(ValidateOrderForm(), tracker)
    result = sets(events)
    assert "item_sku" not in result and "order_blocked" not in result
    assert result["requested_slot"] == "item_sku"


async def test_precheck_refuses_after_sales_on_a_parcel_still_on_its_way(shop):
    order = shop.find("shipped", lambda o: o.status == "shipped")
    tracker = make_tracker({"order_task": "aftersales", "verified_customer": order.customer_id},
                           candidates={"order_number": order.number})
    _, events = await run(ValidateOrderForm(), tracker)
    assert sets(events)["order_blocked"] == "in_transit"


# --- validate_phone_last4 and the lockout ----------------------------------------------------------

async def test_order_number_and_last4_in_one_message_verify_the_order(shop):
    order = shop.find("shipped", lambda o: o.status == "shipped")
    owner = shop.owner(order)
    typed = f"{order.number} {owner.phone[-4:]}"
    tracker = make_tracker({"order_task": "status"}, candidates={"order_number": order.number},
                           message=user_event(typed, "inform", [entity("order_number", order.number)]))
    messages, events = await run(ValidateOrderForm(), tracker)
    assert messages == []
    assert sets(events) == {"order_number": order.number, "phone_last4": owner.phone[-4:],
                            "verified_customer": owner.id, "verified_order": order.number,
                            "requested_slot": None}


async def test_right_last4_for_cancel_runs_the_precheck(shop):
    order = shop.find("delivered", lambda o: o.status == "delivered")
    owner = shop.owner(order)
    tracker = make_tracker({"order_task": "cancel", "order_number": order.number, "requested_slot": "phone_last4"},
                           message=user_event(owner.phone[-4:], "inform"))
    _, events = await run(ValidateOrderForm(), tracker)
    result = sets(events)
    assert result["verified_order"] == order.number
    assert result["order_blocked"] == "already_delivered"


@pytest.mark.parametrize("max_attempts", [2, 3])
async def test_wrong_last4_counts_down_then_locks(max_attempts, shop, monkeypatch, var_dir):
    configure(monkeypatch, verify_max_attempts=str(max_attempts))
    order = shop.find("any", lambda o: True)
    wrong = other_digits(shop.owner(order).phone[-4:])
    tracker_for = lambda: make_tracker(  # noqa: E731
        {"order_task": "status", "order_number": order.number, "requested_slot": "phone_last4",
         "language": "en"}, message=user_event(wrong, "inform"))
    for attempt in range(1, max_attempts):
        messages, events = await run(ValidateOrderForm(), tracker_for())
        assert texts(messages) == [text("verify_failed", "en", left=max_attempts - attempt)]
        assert sets(events) == {"phone_last4": None, "requested_slot": "phone_last4"}
    messages, events = await run(ValidateOrderForm(), tracker_for())
    assert sets(events) == {"phone_last4": None, "order_blocked": "locked", "requested_slot": None}
    assert not any("verified" in name for name in sets(events))
    # The lockout is stored (a restarted action server still knows).
    assert VerificationLog(var_dir / "identity.sqlite3", max_attempts, 30).state("order-user", order.number).locked


async def test_lockout_holds_for_the_right_digits_a_new_sender_and_another_order(shop):
    order, another = shop.orders(lambda o: True)[:2]
    last4 = shop.owner(order).phone[-4:]
    for _ in range(3):
        await run(ValidateOrderForm(), make_tracker(
            {"order_task": "status", "order_number": order.number, "requested_slot": "phone_last4"},
            message=user_event(other_digits(last4), "inform")))

    # The same sender, now with the right digits: still locked, nothing verified.
    _, events = await run(ValidateOrderForm(), make_tracker(
        {"order_task": "status", "order_number": order.number, "requested_slot": "phone_last4"},
        message=user_event(last4, "inform")))
    assert sets(events)["order_blocked"] == "locked"
    assert "verified_order" not in sets(events)

    # A new conversation (new sender id) about the same order: the order itself is locked.
    _, events = await run(ValidateOrderForm(), make_tracker(
        {"order_task": "status"}, candidates={"order_number": order.number},
        message=user_event(f"{order.number} {last4}", "inform", [entity("order_number", order.number)]),
        sender_id="fresh-session"))
    assert sets(events)["order_blocked"] == "locked"
    assert "verified_order" not in sets(events)

    # The same sender trying another order: the sender is locked.
    owner = shop.owner(another)
    _, events = await run(ValidateOrderForm(), make_tracker(
        {"order_task": "status"}, candidates={"order_number": another.number},
        message=user_event(f"{another.number} {owner.phone[-4:]}", "inform",
                           [entity("order_number", another.number)])))
    assert sets(events)["order_blocked"] == "locked"
    assert "verified_order" not in sets(events)


async def test_unknown_order_number_fails_like_wrong_digits(shop):
    numbers = {o.number for o in shop.fixture.orders}
    unknown = next(str(n) for n in range(100000000000, 100000001000) if str(n) not in numbers)
    tracker = make_tracker({"order_task": "status"}, candidates={"order_number": unknown},
                           message=user_event(f"{unknown} 1234", "inform", [entity("order_number", unknown)]))
    messages, events = await run(ValidateOrderForm(), tracker)
    assert texts(messages) == [text("verify_failed", None, left=2)]  # no hint that the order does not exist
    assert sets(events)["phone_last4"] is None


async def test_last4_before_the_order_number_is_kept_for_later(shop):
    dispatcher = CollectingDispatcher()
    tracker = make_tracker({"order_task": "status"}, candidates={"phone_last4": "1234"})
    assert await ValidateOrderForm().validate_phone_last4("1234", dispatcher, tracker, DOMAIN) \
        == {"phone_last4": "1234"}
    assert await ValidateOrderForm().validate_phone_last4("12a4", dispatcher, tracker, DOMAIN) \
        == {"phone_last4": None}


# --- extraction from what the customer typed ----------------------------------------------------------

async def extract(method: str, tracker: Tracker) -> dict:
    return await getattr(ValidateOrderForm(), f"extract_{method}")(CollectingDispatcher(), tracker, DOMAIN)


async def test_extract_last4_next_to_the_order_number(shop):
    order = shop.find("any", lambda o: True)
    for requested in (None, "order_number", "phone_last4"):
        tracker = make_tracker({"requested_slot": requested}, message=user_event(
            f"{order.number} 5678", "inform", [entity("order_number", order.number)]))
        assert await extract("phone_last4", tracker) == {"phone_last4": "5678"}
    tracker = make_tracker({"requested_slot": "phone_last4"}, message=user_event("尾号５６７８", "inform"))
    assert await extract("phone_last4", tracker) == {"phone_last4": "5678"}  # full-width digits


async def test_extract_last4_from_a_full_mobile_number(shop):
    owner = shop.owner(shop.find("any", lambda o: True))
    tracker = make_tracker({"requested_slot": "phone_last4"},
                           message=user_event(f"我的手机号是{owner.phone}", "inform"))
    assert await extract("phone_last4", tracker) == {"phone_last4": owner.phone[-4:]}


@pytest.mark.parametrize("message,requested", [
    (user_event("5678 不办了", "stop"), "phone_last4"),
    (user_event("5678 转人工", "request_human"), "phone_last4"),
    (user_event('/inform{"phone": "5678"}', "inform"), "phone_last4"),
    (user_event("5678", "inform"), "item_sku"),
    (user_event("1234 或者 5678", "inform"), "phone_last4"),
    (user_event("我2024年买的东西还没到", "ask_order_status"), None),  # no order number: a year, not a phone
])
async def test_last4_not_extracted(message, requested, shop):
    assert await extract("phone_last4", make_tracker({"requested_slot": requested}, message=message)) == {}


@pytest.mark.parametrize("typed,reason", [
    ("收到的时候杯子碎了", "damaged"),
    ("用了两天就开不了机", "defective"),
    ("发错颜色了", "wrong_item"),
    ("尺码太小了", "size"),
    ("不想要了", "changed_mind"),
    ("It arrived broken", "damaged"),
    ("it stopped working after a day", "defective"),
    ("too small for me", "size"),
    ("I changed my mind", "changed_mind"),
    ("just because", "other"),
])
async def test_extract_reason_from_free_text(typed, reason, shop):
    tracker = make_tracker({"requested_slot": "aftersales_reason"}, message=user_event(typed, "inform"))
    assert await extract("aftersales_reason", tracker) == {"aftersales_reason": reason, "aftersales_note": typed}


async def test_extract_reason_masks_a_phone_number_in_the_note(shop):
    phone = shop.owner(shop.find("any", lambda o: True)).phone
    typed = f"屏幕裂了，有问题打我电话{phone}"
    tracker = make_tracker({"requested_slot": "aftersales_reason"}, message=user_event(typed, "inform"))
    result = await extract("aftersales_reason", tracker)
    assert result["aftersales_reason"] == "damaged"
    assert phone not in result["aftersales_note"]
    assert f"{phone[:3]}****{phone[-4:]}" in result["aftersales_note"]


@pytest.mark.parametrize("message", [
    user_event("退货运费谁出？", "ask_faq"),
    user_event("how long does a refund take", "ask_faq"),
    user_event("不办了", "stop"),
    user_event('/inform{"aftersales_reason": "damaged"}', "inform"),
])
async def test_reason_not_extracted_from_a_question_a_stop_or_a_button(message, shop):
    tracker = make_tracker({"requested_slot": "aftersales_reason"}, message=message)
    assert await extract("aftersales_reason", tracker) == {}


async def test_reason_extracted_from_a_statement_misread_as_a_question_intent(shop):
    tracker = make_tracker({"requested_slot": "aftersales_reason"}, message=user_event("质量有问题", "ask_faq"))
    assert (await extract("aftersales_reason", tracker))["aftersales_reason"] == "defective"


async def test_reason_only_extracted_when_asked_for(shop):
    tracker = make_tracker({"requested_slot": "confirmed"}, message=user_event("杯子碎了", "inform"))
    assert await extract("aftersales_reason", tracker) == {}


async def test_extract_item_by_its_name(shop):
    order = shop.find("delivered with several items",
                      lambda o: o.status == "delivered" and len(o.items) > 1
                      and pick_item(o, o.items[1].name_en, "en") == o.items[1].sku)
    tracker = make_tracker({"requested_slot": "item_sku", "order_number": order.number},
                           message=user_event(order.items[1].name_en, "inform"))
    assert await extract("item_sku", tracker) == {"item_sku": order.items[1].sku}


# --- validate_item_sku, validate_aftersales_reason --------------------------------------------------

def verified_slots(order: Order, task: str = "aftersales", **more) -> dict:
    return {"order_task": task, "order_number": order.number, "verified_order": order.number, **more}


async def test_unknown_item_is_refused(shop):
    order = shop.find("delivered", lambda o: o.status == "delivered" and delivered_ago(o, 0, 13))
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(verified_slots(order), candidates={"item_sku": "NO-SUCH-SKU"})
    result = await ValidateOrderForm().validate_item_sku("NO-SUCH-SKU", dispatcher, tracker, DOMAIN)
    assert result == {"item_sku": None}
    assert texts(dispatcher.messages) == [text("unknown_item", None)]


async def test_item_with_a_request_already_is_blocked_the_other_is_not(shop):
    order = shop.find("in after-sales with a second item free",
                      lambda o: o.status == "after_sales" and delivered_ago(o, 0, 13)
                      and 0 < len(shop.active_skus(o)) < len(o.items))
    taken = sorted(shop.active_skus(order))[0]
    free = next(i.sku for i in order.items if i.sku not in shop.active_skus(order))
    form = ValidateOrderForm()

    tracker = make_tracker(verified_slots(order), candidates={"item_sku": taken})
    assert await form.validate_item_sku(taken, CollectingDispatcher(), tracker, DOMAIN) \
        == {"item_sku": taken, "order_blocked": "already_requested"}
    tracker = make_tracker(verified_slots(order), candidates={"item_sku": free})
    assert await form.validate_item_sku(free, CollectingDispatcher(), tracker, DOMAIN) == {"item_sku": free}


async def test_item_button_of_an_unverified_order_is_kept_for_later(shop):
    order = shop.find("any", lambda o: True)
    tracker = make_tracker({"order_task": "aftersales", "order_number": order.number}, candidates={"item_sku": "X"})
    assert await ValidateOrderForm().validate_item_sku("X", CollectingDispatcher(), tracker, DOMAIN) \
        == {"item_sku": "X"}


async def test_change_of_mind_after_seven_days_is_out_of_the_window_damage_is_not(shop):
    order = shop.find("delivered 8-13 days ago with an item free",
                      lambda o: o.status == "delivered" and delivered_ago(o, 8, 13)
                      and len(shop.active_skus(o)) < len(o.items))
    sku = next(i.sku for i in order.items if i.sku not in shop.active_skus(order))
    form = ValidateOrderForm()

    async def validate(reason):
        tracker = make_tracker(verified_slots(order, item_sku=sku), candidates={"aftersales_reason": reason})
        return await form.validate_aftersales_reason(reason, CollectingDispatcher(), tracker, DOMAIN)

    assert await validate("changed_mind") == {"aftersales_reason": "changed_mind", "order_blocked": "window_passed"}
    assert await validate("size") == {"aftersales_reason": "size", "order_blocked": "window_passed"}
    assert await validate("damaged") == {"aftersales_reason": "damaged"}
    assert await validate("defective") == {"aftersales_reason": "defective"}
    assert await validate("made-up") == {"aftersales_reason": "other", "order_blocked": "window_passed"}


async def test_quality_problem_after_fifteen_days_is_out_of_the_window(shop):
    order = shop.find("delivered 16-40 days ago, no request",
                      lambda o: o.status == "delivered" and delivered_ago(o, 16, 40) and not shop.active_skus(o))
    tracker = make_tracker(verified_slots(order, item_sku=order.items[0].sku),
                           candidates={"aftersales_reason": "damaged"})
    assert await ValidateOrderForm().validate_aftersales_reason("damaged", CollectingDispatcher(), tracker, DOMAIN) \
        == {"aftersales_reason": "damaged", "order_blocked": "window_passed"}


async def test_reason_typed_in_the_form_is_checked_against_the_window(shop):
    order = shop.find("delivered 8-13 days ago, one item, no request",
                      lambda o: o.status == "delivered" and delivered_ago(o, 8, 13) and len(o.items) == 1
                      and not shop.active_skus(o))
    tracker = make_tracker(verified_slots(order, item_sku=order.items[0].sku, requested_slot="aftersales_reason"),
                           message=user_event("不想要了", "inform"))
    messages, events = await run(ValidateOrderForm(), tracker)
    result = sets(events)
    assert result["aftersales_reason"] == "changed_mind"
    assert result["aftersales_note"] == "不想要了"
    assert result["order_blocked"] == "window_passed"
    assert result["requested_slot"] is None


async def test_reason_and_masked_note_typed_in_the_form_reach_the_request(shop):
    order = fresh_delivery(shop)
    phone = shop.owner(order).phone
    typed = f"It arrived cracked, call me on {phone}"
    history = [user_event("I want a refund for this", "request_return", message_id="m0")]
    slots = verified_slots(order, item_sku=order.items[0].sku, requested_slot="aftersales_reason", language="en")
    _, events = await run(ValidateOrderForm(), make_tracker(slots, message=user_event(typed, "inform", message_id="m1"),
                                                            history=history))
    result = sets(events)
    assert result["aftersales_reason"] == "damaged"
    assert result["requested_slot"] == "confirmed"
    note = result.get("aftersales_note")  # extracted with the reason: must reach the tracker too
    assert note and phone not in note and phone[-4:] in note
    # The customer says yes: the request is opened with that reason and note.
    slots.update(result, confirmed=True)
    history.append(user_event(typed, "inform", message_id="m1"))
    messages, _ = await run(ActionOrderTask(), make_tracker(slots, message=user_event("yes", "affirm", message_id="m2"),
                                                            history=history))
    (request,) = await shop.view().after_sales_requests(order.number)
    assert (request.type, request.reason, request.note) == ("refund", "damaged", note)
    assert request.number in messages[0]["text"]


async def test_signed_in_owner_typing_other_digits_is_not_counted_as_a_failure(shop, var_dir):
    order = shop.find("shipped", lambda o: o.status == "shipped")
    wrong = other_digits(shop.owner(order).phone[-4:])
    tracker = make_tracker({"order_task": "status", "verified_customer": order.customer_id},
                           candidates={"order_number": order.number},
                           message=user_event(f"{order.number} {wrong}", "inform",
                                              [entity("order_number", order.number)]))
    messages, events = await run(ValidateOrderForm(), tracker)
    assert messages == []  # no "the digits don't match" for an order that is already proven theirs
    assert sets(events)["verified_order"] == order.number
    assert sets(events)["requested_slot"] is None
    log = VerificationLog(var_dir / "identity.sqlite3", 3, 30)
    assert log.state("order-user", order.number).attempts_left == 3


# --- ActionOrderTask: status and logistics --------------------------------------------------------------

def zh_shipped(shop: Shop) -> Order:
    return shop.find("shipped, Chinese recipient", lambda o: o.status == "shipped" and CJK.search(o.address.recipient)
                     and shop.events(o))


async def test_status_in_chinese_shows_the_order_masked(shop):
    order = zh_shipped(shop)
    messages, events = await run(ActionOrderTask(), task_tracker(order, "status"))
    assert events == RESET
    assert len(messages) == 1
    reply = messages[0]["text"]
    recipient = order.address.recipient
    assert order.number in reply
    assert "已发货，运输中" in reply
    assert recipient[0] + "*" * (len(recipient) - 1) in reply
    assert order.tracking_number in reply
    assert shop.events(order)[-1].description_zh in reply
    assert_no_personal_data(reply, order, shop.owner(order))


async def test_status_in_english_shows_the_order_masked(shop):
    order = shop.find("delivered to a Latin-named recipient",
                      lambda o: o.status == "delivered" and " " in o.address.recipient
                      and not CJK.search(o.address.recipient))
    messages, events = await run(ActionOrderTask(), task_tracker(order, "status", "en"))
    assert events == RESET
    reply = messages[0]["text"]
    first, last = order.address.recipient.split()[0], order.address.recipient.split()[-1]
    assert order.number in reply
    assert "delivered" in reply
    assert f"{first} {last[0]}." in reply
    assert money(order.total) in reply
    assert not CJK.search(reply.replace(order.address.province, "").replace(order.address.city, "")
                          .replace(order.address.district, "")), reply
    assert_no_personal_data(reply, order, shop.owner(order))


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_logistics_lists_the_parcel_events_newest_first(language, shop):
    order = shop.find("shipped, several events, no exception",
                      lambda o: o.status == "shipped" and len(shop.events(o)) >= 2
                      and shop.events(o)[-1].code != "exception")
    messages, events = await run(ActionOrderTask(), task_tracker(order, "logistics", language))
    assert events == RESET
    reply = messages[0]["text"]
    newest, older = shop.events(order)[-1].description(language), shop.events(order)[-2].description(language)
    assert order.number in reply and order.tracking_number in reply
    assert reply.index(newest) < reply.index(older)
    assert payloads(messages) == []
    assert_no_personal_data(reply, order, shop.owner(order))


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_logistics_of_a_parcel_in_trouble_offers_a_person(language, shop):
    order = shop.find("shipped, latest event an exception",
                      lambda o: o.status == "shipped" and shop.events(o) and shop.events(o)[-1].code == "exception")
    messages, _ = await run(ActionOrderTask(), task_tracker(order, "logistics", language))
    assert payloads(messages) == [HUMAN]
    assert text("logistics_exception", language) in messages[0]["text"]
    assert shop.events(order)[-1].description(language) in messages[0]["text"]


async def test_logistics_of_an_unshipped_order_says_so_with_its_status(shop):
    order = shop.find("paid", lambda o: o.status == "paid")
    messages, _ = await run(ActionOrderTask(), task_tracker(order, "logistics", "en"))
    assert messages[0]["text"] == text("logistics_not_shipped", "en", order=order.number,
                                       status="paid, preparing to ship")


# --- ActionOrderTask: cancel -------------------------------------------------------------------------

async def test_confirmed_cancel_cancels_in_the_order_system(shop):
    order = shop.find("paid", lambda o: o.status == "paid")
    messages, events = await run(ActionOrderTask(), task_tracker(order, "cancel", confirmed=True))
    assert events == RESET
    stored = await shop.view().get_order(order.number)
    assert stored.status == "cancelled" and stored.cancelled_at is not None
    reply = messages[0]["text"]
    assert order.number in reply
    assert f"¥{order.total / 100:,.2f}" in reply


async def test_confirmed_cancel_of_an_unpaid_order_mentions_no_refund(shop):
    order = shop.find("awaiting payment", lambda o: o.status == "pending_payment")
    messages, _ = await run(ActionOrderTask(), task_tracker(order, "cancel", "en", confirmed=True))
    assert (await shop.view().get_order(order.number)).status == "cancelled"
    assert messages[0]["text"] == text("cancelled_unpaid", "en", order=order.number)


@pytest.mark.parametrize("confirmed", [False, None])
async def test_cancel_without_a_yes_changes_nothing(confirmed, shop):
    order = shop.find("paid", lambda o: o.status == "paid")
    messages, events = await run(ActionOrderTask(), task_tracker(order, "cancel", confirmed=confirmed))
    assert events == RESET
    assert texts(messages) == [text("not_confirmed", "zh")]
    assert await shop.view().get_order(order.number) == order


async def test_rerun_of_the_same_confirmed_turn_cancels_once(shop):
    order = shop.find("paid", lambda o: o.status == "paid")
    tracker = lambda message_id: task_tracker(  # noqa: E731
        order, "cancel", confirmed=True, message=user_event("确认", "affirm", message_id=message_id))
    first, _ = await run(ActionOrderTask(), tracker("turn-1"))
    again, _ = await run(ActionOrderTask(), tracker("turn-1"))
    assert texts(again) == texts(first)
    later, _ = await run(ActionOrderTask(), tracker("turn-2"))  # another turn: the order is cancelled now
    assert texts(later) == [text("blocked_already_cancelled", "zh", order=order.number)]


async def test_order_shipped_between_check_and_cancel_is_explained(shop):
    order = shop.find("paid", lambda o: o.status == "paid")
    with sqlite3.connect(shop.path) as db:  # the warehouse ships it while the customer confirms
        db.execute("UPDATE orders SET status = 'shipped' WHERE number = ?", (order.number,))
    messages, events = await run(ActionOrderTask(), task_tracker(order, "cancel", confirmed=True))
    assert events == RESET
    assert texts(messages) == [text("blocked_already_shipped", "zh", order=order.number)]
    assert payloads(messages) == ["/ask_logistics"]
    assert (await shop.view().get_order(order.number)).status == "shipped"


# --- ActionOrderTask: after-sales --------------------------------------------------------------------

def fresh_delivery(shop: Shop) -> Order:
    return shop.find("delivered within 6 days, several items, no request",
                     lambda o: o.status == "delivered" and delivered_ago(o, 0.2, 6) and len(o.items) > 1
                     and not shop.active_skus(o))


async def test_confirmed_after_sales_opens_a_request(shop):
    order = fresh_delivery(shop)
    item = order.items[1]
    history = [user_event("我要换货", "request_return"), user_event("屏幕碎了", "inform", message_id="m0")]
    tracker = task_tracker(order, "aftersales", item_sku=item.sku, aftersales_reason="damaged",
                           aftersales_note="屏幕碎了", confirmed=True)
    tracker.events[:0] = history
    before = {r.number for r in await shop.view().after_sales_requests(order.number)}
    messages, events = await run(ActionOrderTask(), tracker)
    assert events == RESET
    created = [r for r in await shop.view().after_sales_requests(order.number) if r.number not in before]
    assert len(created) == 1
    request = created[0]
    assert (request.sku, request.type, request.reason, request.state, request.note) \
        == (item.sku, "exchange", "damaged", "open", "屏幕碎了")
    assert request.number in messages[0]["text"]
    assert "换货" in messages[0]["text"]
    assert (await shop.view().get_order(order.number)).status == "after_sales"


async def test_after_sales_in_english_defaults_to_a_return(shop):
    order = fresh_delivery(shop)
    tracker = task_tracker(order, "aftersales", "en", item_sku=order.items[0].sku, aftersales_reason="changed_mind",
                           confirmed=True)
    tracker.events[:0] = [user_event("I want to send this back", "request_return")]
    messages, _ = await run(ActionOrderTask(), tracker)
    (request,) = await shop.view().after_sales_requests(order.number)
    assert request.type == "return"
    assert messages[0]["text"] == text("aftersales_created", "en", type="return", request=request.number,
                                       next=text("next_return", "en"))


async def test_item_requested_between_check_and_write_is_explained(shop):
    order = fresh_delivery(shop)
    sku = order.items[0].sku
    await shop.view().create_after_sales(NewAfterSalesRequest(order.number, sku, "return", "damaged"),
                                         idempotency_key="from-the-app")
    tracker = task_tracker(order, "aftersales", item_sku=sku, aftersales_reason="damaged", confirmed=True)
    tracker.events[:0] = [user_event("我要退货", "request_return")]
    messages, events = await run(ActionOrderTask(), tracker)
    assert events == RESET
    assert texts(messages) == [text("blocked_already_requested", "zh")]
    assert len(await shop.view().after_sales_requests(order.number)) == 1


async def test_blocked_task_is_explained_with_the_window(shop):
    order = shop.find("delivered 8-13 days ago", lambda o: o.status == "delivered" and delivered_ago(o, 8, 13))
    messages, events = await run(ActionOrderTask(), task_tracker(
        order, "aftersales", order_blocked="window_passed", aftersales_reason="changed_mind"))
    assert events == RESET
    assert texts(messages) == [text("blocked_window_passed", "zh", order=order.number, days=7,
                                    kind=text("window_change_of_mind", "zh"))]
    assert payloads(messages) == [HUMAN]
    assert await shop.view().after_sales_requests(order.number) == []


async def test_locked_is_explained_and_already_reported_is_silent(shop):
    order = shop.find("any", lambda o: True)
    messages, events = await run(ActionOrderTask(), task_tracker(order, "status", "en", verified=False,
                                                                 order_blocked="locked"))
    assert texts(messages) == [text("blocked_locked", "en", minutes=30)]
    assert payloads(messages) == [HUMAN]
    assert events == RESET
    messages, events = await run(ActionOrderTask(), task_tracker(order, "status", order_blocked="reported"))
    assert messages == [] and events == RESET


@pytest.mark.parametrize("task,verified_other", [("status", False), ("logistics", True), ("cancel", True),
                                                 ("aftersales", False)])
async def test_unverified_access_shows_and_changes_nothing(task, verified_other, shop, caplog):
    order = shop.find("paid", lambda o: o.status == "paid")
    other = shop.find("another order", lambda o: o.number != order.number)
    tracker = task_tracker(order, task, verified=False, confirmed=True, item_sku=order.items[0].sku,
                           aftersales_reason="damaged", verified_order=other.number if verified_other else None)
    with caplog.at_level(logging.INFO, logger="actions.orders"):
        messages, events = await run(ActionOrderTask(), tracker)
    assert events == RESET
    assert len(messages) == 1
    reply = messages[0]["text"]
    ref = REF.search(reply)
    assert ref, reply
    assert payloads(messages) == [HUMAN]
    for shown in (order.number, order.address.recipient[0], money(order.total), order.items[0].name_zh):
        assert shown not in reply
    assert await shop.view().get_order(order.number) == order
    assert await shop.view().after_sales_requests(order.number) == []
    assert any(getattr(r, "request_id", None) == ref.group(1) for r in caplog.records)


async def test_order_gone_from_the_system_is_explained(shop):
    order = shop.find("any", lambda o: True)
    with sqlite3.connect(shop.path) as db:
        db.execute("DELETE FROM order_items WHERE order_number = ?", (order.number,))
        db.execute("DELETE FROM logistics_events WHERE order_number = ?", (order.number,))
        db.execute("DELETE FROM after_sales_requests WHERE order_number = ?", (order.number,))
        db.execute("DELETE FROM orders WHERE number = ?", (order.number,))
    messages, _ = await run(ActionOrderTask(), task_tracker(order, "status"))
    assert texts(messages) == [text("blocked_unknown_order", "zh", order=order.number)]


# --- the order system is down ----------------------------------------------------------------------

@pytest.fixture
def backend_down(monkeypatch, shop):
    configure(monkeypatch, order_backend="http", order_api_url=f"http://127.0.0.1:{free_closed_port()}",
              order_api_token="x", order_api_retries="0", order_api_timeout="0.5")
    return shop


async def close_backend() -> None:
    await order_context.order_backend().close()


def assert_reported(messages, caplog) -> str:
    assert len(messages) == 1
    ref = REF.search(messages[0]["text"])
    assert ref, messages
    assert payloads(messages) == [HUMAN]
    failures = [r for r in caplog.records if r.name == "actions.orders" and r.levelno == logging.ERROR]
    assert [r.request_id for r in failures] == [ref.group(1)]
    return ref.group(1)


async def test_form_with_the_order_system_down_ends_politely(backend_down, caplog):
    order = backend_down.find("any", lambda o: True)
    tracker = make_tracker({"order_task": "status"}, candidates={"order_number": order.number},
                           message=user_event(f"{order.number} 1234", "inform", [entity("order_number", order.number)]))
    try:
        with caplog.at_level(logging.INFO):
            messages, events = await run(ValidateOrderForm(), tracker)
    finally:
        await close_backend()
    assert events == [SlotSet("order_blocked", "reported"), SlotSet("requested_slot", None)]
    assert messages[0]["text"] == text("blocked_unavailable", "zh", ref=REF.search(messages[0]["text"]).group(0))
    ref = assert_reported(messages, caplog)
    # The HTTP backend logged the failed call with the same id (one id per turn across the hop).
    assert any(r.name == "orders.http_backend" and r.request_id == ref for r in caplog.records)


async def test_channel_customer_form_with_the_order_system_down(backend_down, caplog):
    order = backend_down.find("any", lambda o: True)
    tracker = make_tracker({"order_task": "cancel", "verified_customer": order.customer_id, "language": "en"},
                           candidates={"order_number": order.number})
    try:
        messages, events = await run(ValidateOrderForm(), tracker)
    finally:
        await close_backend()
    assert events == [SlotSet("order_blocked", "reported"), SlotSet("requested_slot", None)]
    assert "reference E-" in messages[0]["text"]
    assert_reported(messages, caplog)


async def test_order_task_with_the_order_system_down(backend_down, caplog):
    order = backend_down.find("paid", lambda o: o.status == "paid")
    try:
        messages, events = await run(ActionOrderTask(), task_tracker(order, "cancel", confirmed=True))
    finally:
        await close_backend()
    assert events == RESET
    assert_reported(messages, caplog)
    assert (await backend_down.view().get_order(order.number)).status == "paid"


async def test_listing_orders_with_the_order_system_down_asks_plainly(backend_down, caplog):
    order = backend_down.find("any", lambda o: True)
    try:
        messages, events = await run(ActionAskOrderNumber(),
                                     make_tracker({"order_task": "status", "verified_customer": order.customer_id}))
    finally:
        await close_backend()
    assert events == []
    assert texts(messages) == [text("ask_order_number", "zh")]


async def test_asking_for_the_item_with_the_order_system_down(backend_down, caplog):
    order = backend_down.find("any", lambda o: True)
    try:
        messages, events = await run(ActionAskItemSku(), make_tracker(verified_slots(order)))
    finally:
        await close_backend()
    assert events == []
    assert_reported(messages, caplog)


# --- ActionIdentifyCustomer --------------------------------------------------------------------------

@pytest.fixture
def customer_id(shop) -> str:
    return shop.fixture.customers[0].id


@pytest.mark.parametrize("where", ["metadata", "customData", "session"])
async def test_channel_token_identifies_the_customer(where, customer_id, monkeypatch):
    configure(monkeypatch, identity_secret=SECRET)
    token = issue_token(SECRET, customer_id)
    slots, metadata = {}, None
    if where == "metadata":
        metadata = {"customer_token": token}
    elif where == "customData":
        metadata = {"customData": {"customer_token": token, "language": "en"}}
    else:
        slots["session_started_metadata"] = {"customData": {"customer_token": token}}
    tracker = make_tracker(slots, message=user_event("hi", "greet", metadata=metadata))
    _, events = await run(ActionIdentifyCustomer(), tracker)
    assert events == [SlotSet("verified_customer", customer_id)]
    # Already known: nothing to set.
    tracker = make_tracker({**slots, "verified_customer": customer_id},
                           message=user_event("hi", "greet", metadata=metadata))
    assert (await run(ActionIdentifyCustomer(), tracker))[1] == []


def _forged(customer_id: str, other_id: str) -> str:
    payload = issue_token(SECRET, other_id).split(".")[0]
    return f"{payload}.{issue_token(SECRET, customer_id).split('.')[1]}"


@pytest.mark.parametrize("make_token", [
    lambda c, o: issue_token("another-secret-0123456789", c),  # signed by someone else
    lambda c, o: _forged(c, o),  # someone else's id under a valid signature
    lambda c, o: issue_token(SECRET, c, ttl=-60),  # expired
    lambda c, o: c,  # a bare customer id
])
async def test_untrusted_tokens_identify_nobody(make_token, shop, monkeypatch):
    configure(monkeypatch, identity_secret=SECRET)
    customer, other = shop.fixture.customers[:2]
    token = make_token(customer.id, other.id)
    tracker = make_tracker({}, message=user_event("hi", "greet", metadata={"customer_token": token,
                                                                           "customer_id": customer.id}))
    assert (await run(ActionIdentifyCustomer(), tracker))[1] == []


async def test_without_a_secret_no_token_is_trusted(customer_id):
    token = issue_token(SECRET, customer_id)
    tracker = make_tracker({}, message=user_event("hi", "greet", metadata={"customer_token": token}))
    assert (await run(ActionIdentifyCustomer(), tracker))[1] == []


async def test_read_message_sets_language_and_customer_in_one_call(customer_id, monkeypatch):
    from actions.turn import ActionReadMessage

    configure(monkeypatch, identity_secret=SECRET)
    token = issue_token(SECRET, customer_id)
    tracker = make_tracker({"language": "zh"},
                           message=user_event("where is my parcel", "ask_logistics",
                                              metadata={"customer_token": token}))
    _, events = await run(ActionReadMessage(), tracker)
    assert events == [SlotSet("language", "en"), SlotSet("verified_customer", customer_id)]
    # Nothing new in the message: nothing set.
    tracker = make_tracker({"language": "en", "verified_customer": customer_id},
                           message=user_event("hello", "greet", metadata={"customer_token": token}))
    assert (await run(ActionReadMessage(), tracker))[1] == []


# --- ActionStartOrderTask, ActionOrderStopped -------------------------------------------------------

async def test_start_order_task_resets_everything_from_the_last_task():
    tracker = make_tracker({"item_sku": "A", "confirmed": True, "order_blocked": "locked", "phone_last4": "1234"},
                           message=user_event("我要退货", "request_return"))
    _, events = await run(ActionStartOrderTask(), tracker)
    assert sets(events) == {name: None for name in TASK_SLOTS + ("phone_last4",)}


async def test_start_order_task_keeps_what_the_same_message_named(shop):
    order = fresh_delivery(shop)
    sku = order.items[0].sku
    payload = '/request_return{"order_number": "%s", "item_sku": "%s"}' % (order.number, sku)
    tracker = make_tracker({"item_sku": sku, "order_number": order.number, "confirmed": False},
                           message=user_event(payload, "request_return",
                                              [entity("order_number", order.number), entity("item_sku", sku)]))
    _, events = await run(ActionStartOrderTask(), tracker)
    assert sets(events) == {name: None for name in TASK_SLOTS + ("phone_last4",) if name != "item_sku"}


def _asked_what_for(message: dict) -> list:
    """The turn before: the customer's message, the bot asking what the order number is for."""
    return [message, {"event": "action", "name": "action_read_message"},
            {"event": "action", "name": "utter_ask_what_for_order"}, {"event": "action", "name": "action_listen"}]


@pytest.mark.parametrize("typed, kept", [
    ("订单号 240813006624，手机尾号 1234", "1234"),
    ("order 240813006624, my phone ends in 5678", "5678"),
    ("240813006624 13800138000", "8000"),  # a whole mobile number: its end
    ("240813006624", None),  # no digits given
    ("订单号 240813006624，尾号 1234 或者 5678", None),  # two guesses: none is taken
])
async def test_start_order_task_keeps_the_digits_sent_with_the_number_just_before(typed, kept):
    before = user_event(typed, "inform", [entity("order_number", "240813006624")])
    tracker = make_tracker({"order_number": "240813006624", "phone_last4": None},
                           message=user_event("/ask_order_status", "ask_order_status"),
                           history=_asked_what_for(before))
    _, events = await run(ActionStartOrderTask(), tracker)
    assert sets(events) == {**{name: None for name in TASK_SLOTS}, "phone_last4": kept}


@pytest.mark.parametrize("case", ["other intent", "no question between", "another order", "a button", "long ago"])
async def test_start_order_task_keeps_no_digits_from_anything_else(case):
    number = "240813006624"
    before = user_event(f"订单号 {number}，手机尾号 1234", "inform", [entity("order_number", number)])
    history = _asked_what_for(before)
    slots = {"order_number": number}
    if case == "other intent":
        before["parse_data"]["intent"]["name"] = "ask_order_status"
    elif case == "no question between":
        history = [before, {"event": "action", "name": "utter_greet"}, {"event": "action", "name": "action_listen"}]
    elif case == "another order":
        slots["order_number"] = "240813009999"
    elif case == "a button":
        before["text"] = '/inform{"order_number": "%s"} 1234' % number
    elif case == "long ago":  # another message came in between
        history = history + [user_event("你好", "greet"), {"event": "action", "name": "utter_greet"}]
    tracker = make_tracker(slots, message=user_event("查状态", "ask_order_status"), history=history)
    _, events = await run(ActionStartOrderTask(), tracker)
    assert sets(events)["phone_last4"] is None


async def test_stop_says_nothing_changed_and_resets():
    messages, events = await run(ActionOrderStopped(), make_tracker({"language": "en"}))
    assert texts(messages) == [text("stopped", "en")]
    assert events == RESET


# --- ActionAskOrderNumber and the other questions ------------------------------------------------------

@pytest.mark.parametrize("language", ["zh", "en"])
async def test_unknown_customer_is_asked_for_number_and_last4(language, shop):
    messages, events = await run(ActionAskOrderNumber(), make_tracker({"order_task": "status", "language": language}))
    assert events == []
    assert texts(messages) == [text("ask_order_number", language)]
    assert payloads(messages) == []


def listed(messages) -> List[dict]:
    out = []
    for payload in payloads(messages):
        assert payload.startswith("/inform{"), payload
        out.append(json.loads(payload[len("/inform"):]))
    return out


def customer_where(shop: Shop, test: Callable[[List[Order]], bool], what: str) -> str:
    for customer in shop.fixture.customers:
        if test(shop.customer_orders(customer.id)[:10]):
            return customer.id
    pytest.fail(f"the demo fixture has no customer whose recent orders {what}")


async def test_cancel_lists_only_the_customers_unshipped_orders(shop):
    cancellable = ("pending_payment", "paid")
    customer = customer_where(shop, lambda orders: any(o.status in cancellable for o in orders)
                              and any(o.status not in cancellable for o in orders),
                              "mix cancellable and other orders")
    messages, _ = await run(ActionAskOrderNumber(), make_tracker({"order_task": "cancel",
                                                                 "verified_customer": customer}))
    expected = [o.number for o in shop.customer_orders(customer)[:10] if o.status in cancellable][:5]
    assert [choice["order_number"] for choice in listed(messages)] == expected
    assert texts(messages) == [text("ask_order_number_listed", "zh")]
    for o in shop.orders(lambda o: o.number in expected):
        assert o.customer_id == customer


async def test_after_sales_lists_each_eligible_item(shop):
    def eligible(o: Order) -> List[str]:
        if o.status not in ("delivered", "completed", "after_sales") or not delivered_ago(o, 0, 15):
            return []
        return [i.sku for i in o.items if i.sku not in shop.active_skus(o)]

    customer = customer_where(shop, lambda orders: any(len(eligible(o)) > 1 for o in orders)
                              and any(not eligible(o) for o in orders),
                              "include a multi-item delivery and an order that does not qualify")
    messages, _ = await run(ActionAskOrderNumber(), make_tracker({"order_task": "aftersales",
                                                                 "verified_customer": customer, "language": "en"}))
    expected = [{"order_number": o.number, "item_sku": sku}
                for o in shop.customer_orders(customer)[:10] for sku in eligible(o)][:5]
    assert listed(messages) == expected
    titles = [b["title"] for m in messages for b in m["buttons"]]
    by_sku = {i.sku: i for o in shop.fixture.orders for i in o.items}
    assert all(by_sku[c["item_sku"]].name_en in t for c, t in zip(expected, titles, strict=True))


async def test_customer_without_a_qualifying_order_is_told(shop):
    customer = customer_where(shop, lambda orders: orders and all(o.status not in ("pending_payment", "paid")
                                                                  for o in orders), "are all past cancelling")
    messages, _ = await run(ActionAskOrderNumber(), make_tracker({"order_task": "cancel",
                                                                 "verified_customer": customer}))
    assert texts(messages) == [text("ask_order_number_none_listed", "zh")]
    assert payloads(messages) == []


async def test_status_lists_the_latest_orders(shop):
    customer = customer_where(shop, lambda orders: len(orders) > 5, "are more than five")
    messages, _ = await run(ActionAskOrderNumber(), make_tracker({"order_task": "status",
                                                                 "verified_customer": customer}))
    assert [c["order_number"] for c in listed(messages)] == [o.number for o in shop.customer_orders(customer)[:5]]


async def test_ask_item_offers_only_items_without_a_request(shop):
    order = shop.find("in after-sales with a second item free",
                      lambda o: o.status == "after_sales" and 0 < len(shop.active_skus(o)) < len(o.items))
    messages, _ = await run(ActionAskItemSku(), make_tracker(verified_slots(order)))
    expected = [i.sku for i in order.items if i.sku not in shop.active_skus(order)]
    assert [json.loads(p[len("/inform"):])["item_sku"] for p in payloads(messages)] == expected


async def test_ask_confirm_cancel_states_items_and_amount(shop):
    order = shop.find("paid", lambda o: o.status == "paid")
    messages, _ = await run(ActionAskConfirmed(), make_tracker(verified_slots(order, "cancel", language="en")))
    reply = messages[0]["text"]
    assert order.number in reply and money(order.total) in reply and order.items[0].name_en in reply
    assert payloads(messages) == ["/affirm", "/deny"]


# --- idempotency_key ---------------------------------------------------------------------------------

def test_idempotency_key_is_stable_per_turn_and_differs_otherwise():
    def key(sender="s1", message_id="m1", task="cancel", number="261101000001"):
        tracker = make_tracker({}, message=user_event("确认", "affirm", message_id=message_id), sender_id=sender)
        return idempotency_key(tracker, task, number)

    assert key() == key()
    assert len({key(), key(sender="s2"), key(message_id="m2"), key(task="aftersales"),
                key(number="261101000002")}) == 5


# --- order_views -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,masked", [
    ("张丽", "张*"), ("欧阳娜娜", "欧***"), ("王", "王*"), ("James Rossi", "James R."), ("Cher", "C***"),
    ("Anna Maria Larsen", "Anna L."), ("  ", ""),
])
def test_mask_name(name, masked):
    assert mask_name(name) == masked


@pytest.mark.parametrize("fen,shown", [(0, "¥0.00"), (5, "¥0.05"), (12900, "¥129.00"), (123456789, "¥1,234,567.89")])
def test_money(fen, shown):
    assert money(fen) == shown


@pytest.mark.parametrize("message,kind", [
    ("我要换货", "exchange"), ("想换个尺码", "exchange"), ("仅退款就行", "refund"), ("我要退款", "refund"),
    ("我要退货", "return"), ("I want to exchange it", "exchange"), ("can I get a refund", "refund"),
    ("I'd like to send it back", "return"), ("售后", "return"), ("", "return"),
])
def test_service_type_of(message, kind):
    assert service_type_of(message) == kind


@pytest.mark.parametrize("message,reason", [
    ("外壳摔坏了", "damaged"), ("充不进电", "defective"), ("发错货了", "wrong_item"),
    ("和描述不符", "not_as_described"),
    ("鞋子偏大", "size"), ("买多了", "changed_mind"), ("没什么原因", "other"),
    ("the box was smashed", "damaged"), ("it won't turn on", "defective"), ("wrong item sent", "wrong_item"),
    ("not as described", "not_as_described"), ("I no longer need it", "changed_mind"), ("", "other"),
])
def test_reason_of(message, reason):
    assert reason_of(message) == reason


@pytest.mark.parametrize("message,question", [
    ("退货运费谁出？", True), ("退款要多久", True), ("可以上门取件吗", True), ("How long does a refund take", True),
    ("is return shipping free?", True), ("杯子碎了", False), ("it arrived broken", False), ("", False),
])
def test_looks_like_question(message, question):
    assert looks_like_question(message) is question


def test_pick_item_by_name_sku_or_part_of_a_name():
    address = Address("张丽", "13812345678", "上海市", "上海市", "浦东新区", "花木路1号")
    kettle = OrderItem("KT-17L-WHT", "1.7L 电热水壶 白色", "1.7 L electric kettle, white", 1, 12900)
    mouse = OrderItem("MS-WL-GRY", "无线鼠标 灰色", "Wireless mouse, grey", 1, 5900)
    order = Order("261101000001", "C1", "delivered", (kettle, mouse), 18800, datetime.now(timezone.utc), address)
    assert pick_item(order, "电热水壶坏了") == kettle.sku
    assert pick_item(order, "the wireless mouse") == mouse.sku
    assert pick_item(order, "ms-wl-gry") == mouse.sku
    assert pick_item(order, "鼠标") == mouse.sku
    assert pick_item(order, "水壶和鼠标都有问题") is None  # two items named: ask which
    assert pick_item(order, "随便") is None
