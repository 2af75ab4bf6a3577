"""The order form: which order, proof it is the customer's, and what the task still needs.

`validate_order_form` decides the slots still needed (required_slots): the order number; the
phone's last 4 digits unless this session already proved the order is theirs; for after-sales an
item, a reason and a confirmation; for a cancellation a confirmation. It checks the shop's rules as
soon as the facts are known, so a customer is never asked for something that cannot be done: the
reason goes into `order_blocked` and the form ends (action_order_task explains).
The `action_ask_<slot>` actions ask, with buttons where the choices are known.
"""
from __future__ import annotations

import contextvars
import logging
import re
import unicodedata
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.conversation import user_events
from actions.order_context import (
    human_button,
    logger,
    new_request_id,
    order_backend,
    report_failure,
    verification_log,
)
from actions.order_texts import text
from actions.order_views import (
    item_list,
    looks_like_question,
    money,
    order_button_title,
    pick_item,
    reason_buttons,
    reason_label,
    reason_of,
    service_type_of,
    type_label,
)
from common.masking import mask_pii
from orders import policy
from orders.model import REASONS, AfterSalesRequest, Order
from orders.verification import last4_in, matches

# Intents that leave or interrupt the form: never read as an answer to its question.
LEAVING = frozenset({"stop", "request_human", "complain", "deny"})


@dataclass
class _Run:
    """One action run (one webhook call): its request id, and the order reads already made in it —
    extraction, the validations and the rule checks of one run ask about the same order, and nothing
    in a form run writes, so each order is read once per run."""
    request_id: str = field(default_factory=new_request_id)
    orders: Dict[str, Optional[Order]] = field(default_factory=dict)
    requests: Dict[str, List[AfterSalesRequest]] = field(default_factory=dict)


_RUN: contextvars.ContextVar[Optional[_Run]] = contextvars.ContextVar("order_run", default=None)

_audit = logging.getLogger("actions.orders.audit")


def now() -> datetime:
    return datetime.now(timezone.utc)


def start_run() -> None:
    _RUN.set(_Run())


def _run() -> _Run:
    run = _RUN.get()
    if run is None:
        run = _Run()
        _RUN.set(run)
    return run


def request_id() -> str:
    return _run().request_id


async def fetch_order(number: str) -> Optional[Order]:
    run = _run()
    if number not in run.orders:
        run.orders[number] = await order_backend().get_order(number, request_id=run.request_id)
    return run.orders[number]


async def fetch_requests(number: str) -> List[AfterSalesRequest]:
    run = _run()
    if number not in run.requests:
        run.requests[number] = await order_backend().after_sales_requests(number, request_id=run.request_id)
    return run.requests[number]


def _intent(tracker: Tracker) -> Optional[str]:
    return ((tracker.latest_message or {}).get("intent") or {}).get("name")


def _typed_text(tracker: Tracker) -> str:
    """What the customer typed this turn ("" for a button payload like /inform{...})."""
    message = (tracker.latest_message or {}).get("text") or ""
    return "" if message.startswith("/") else message


def task_of(tracker: Tracker) -> str:
    return tracker.get_slot("order_task") or "status"


def after_sales_type(events: List[dict]) -> str:
    """return/refund/exchange from the words of the customer's latest after-sales request."""
    for event in reversed(user_events(events)):
        if ((event.get("parse_data") or {}).get("intent") or {}).get("name") == "request_return":
            return service_type_of(event.get("text") or "")
    return "return"


async def precheck(order: Order, tracker: Tracker) -> Dict[str, Any]:
    """Slots that follow once the customer may act on `order`: a rule that blocks the task, or the
    item when only one item qualifies."""
    task = task_of(tracker)
    if task == "cancel":
        code = policy.cancel_block(order)
        return {"order_blocked": code} if code else {}
    if task == "aftersales":
        requests = await fetch_requests(order.number)
        code = policy.after_sales_block(order, requests, now())
        if code:
            return {"order_blocked": code}
        items = policy.eligible_items(order, requests)
        if len(items) == 1 and tracker.get_slot("item_sku") is None:
            return {"item_sku": items[0].sku}
    return {}


class ValidateOrderForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_order_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        start_run()
        try:
            return await super().run(dispatcher, tracker, domain)
        except Exception as exc:  # noqa: BLE001 - the conversation must go on, politely
            report_failure(dispatcher, tracker, exc, request_id(), self.name())
            return [SlotSet("order_blocked", "reported"), SlotSet("requested_slot", None)]

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        if tracker.get_slot("order_blocked"):
            return []
        needed = ["order_number"]
        number = tracker.get_slot("order_number")
        if number is None or tracker.get_slot("verified_order") != number:
            needed.append("phone_last4")
        task = task_of(tracker)
        if task == "aftersales":
            needed += ["item_sku", "aftersales_reason", "confirmed"]
        elif task == "cancel":
            needed.append("confirmed")
        return needed

    async def get_validation_events(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> List[EventType]:
        extracted = tracker.slots_to_validate()
        events = await super().get_validation_events(dispatcher, tracker, domain)
        # rasa_sdk returns only the slots of required_slots: the note extract_aftersales_reason took from
        # the same message as the reason is not one, so it is passed on here or it never reaches the tracker.
        if "aftersales_note" in extracted and not any(e["name"] == "aftersales_note" for e in events):
            events.append(SlotSet("aftersales_note", extracted["aftersales_note"]))
        return events

    # --- extraction from free text ---------------------------------------------------------------
    async def extract_phone_last4(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: DomainDict) -> Dict[Text, Any]:
        requested = tracker.get_slot("requested_slot")
        if requested not in (None, "order_number", "phone_last4") or _intent(tracker) in LEAVING:
            return {}
        # Before the question is asked, 4 digits count only next to an order number ("261114945258 4696"),
        # so that a year or an amount in the first message does not burn a verification attempt.
        entities = (tracker.latest_message or {}).get("entities") or []
        if requested != "phone_last4" and not any(e.get("entity") == "order_number" for e in entities):
            return {}
        digits = last4_in(_typed_text(tracker))
        return {"phone_last4": digits} if digits else {}

    async def extract_order_number(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                   domain: DomainDict) -> Dict[Text, Any]:
        """A number of the wrong length, typed when the order number was asked for: kept, so that
        validation can say what an order number looks like (the NLU only finds 12-digit ones)."""
        entities = (tracker.latest_message or {}).get("entities") or []
        if tracker.get_slot("requested_slot") != "order_number" or _intent(tracker) in LEAVING \
                or any(e.get("entity") == "order_number" for e in entities):
            return {}
        runs = [r for r in re.findall(r"\d+", unicodedata.normalize("NFKC", _typed_text(tracker)))
                if len(r) >= 5]
        return {"order_number": runs[0]} if len(runs) == 1 else {}

    async def extract_item_sku(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: DomainDict) -> Dict[Text, Any]:
        typed = _typed_text(tracker)
        number = tracker.get_slot("order_number")
        if tracker.get_slot("requested_slot") != "item_sku" or not typed or not number \
                or _intent(tracker) in LEAVING:
            return {}
        order = await fetch_order(number)
        sku = pick_item(order, typed) if order else None
        return {"item_sku": sku} if sku else {}

    async def extract_aftersales_reason(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                        domain: DomainDict) -> Dict[Text, Any]:
        typed = _typed_text(tracker)
        intent = _intent(tracker)
        if tracker.get_slot("requested_slot") != "aftersales_reason" or not typed:
            return {}
        # "不想要了" / "don't want it anymore" read as `stop` are the reason "changed my mind" here;
        # a plain "算了" / "never mind" (no reason in it) still leaves the form.
        if intent in LEAVING and not (intent == "stop" and reason_of(typed) != "other"):
            return {}
        if intent == "ask_faq" and looks_like_question(typed):
            return {}  # a question in the middle: answered by the FAQ rule, then the form asks again
        return {"aftersales_reason": reason_of(typed), "aftersales_note": mask_pii(typed)[:200]}

    # --- validation ------------------------------------------------------------------------------
    async def validate_order_number(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> Dict[Text, Any]:
        language = tracker.get_slot("language")
        number = re.sub(r"\D", "", str(value or ""))
        if len(number) != 12:
            dispatcher.utter_message(text=text("bad_order_number", language, value=str(value)[:40]))
            return {"order_number": None}
        if verification_log().state(tracker.sender_id, number).locked:
            return {"order_number": number, "order_blocked": "locked"}
        result: Dict[Text, Any] = {"order_number": number}
        last4_now = "phone_last4" in tracker.slots_to_validate()
        customer = tracker.get_slot("verified_customer")
        if tracker.get_slot("verified_order") == number or customer:
            order = await fetch_order(number)
            owned = order is not None and (tracker.get_slot("verified_order") == number
                                           or order.customer_id == customer)
            if owned:
                return {**result, "verified_order": number, **await precheck(order, tracker)}
            if customer and not last4_now:
                dispatcher.utter_message(text=text("not_your_order", language, order=number))
        if not last4_now:
            result["phone_last4"] = None
        return result

    async def validate_phone_last4(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                   domain: DomainDict) -> Dict[Text, Any]:
        number = tracker.get_slot("order_number")
        digits = str(value or "")
        if not re.fullmatch(r"\d{4}", digits):
            return {"phone_last4": None}
        if not number:
            return {"phone_last4": digits}  # checked once the order number comes
        if tracker.get_slot("verified_order") == number:
            return {"phone_last4": digits}  # already proven (signed-in owner): nothing to check or count
        log = verification_log()
        if log.state(tracker.sender_id, number).locked:
            return {"phone_last4": None, "order_blocked": "locked"}
        backend = order_backend()
        order = await fetch_order(number)
        owner = await backend.get_customer(order.customer_id, request_id=request_id()) if order else None
        if owner is not None and matches(owner.phone, digits):
            _audit.info("order access verified", extra={"request_id": request_id(), "sender_id": tracker.sender_id,
                                                        "order_number": number, "by": "phone_last4"})
            return {"phone_last4": digits, "verified_customer": owner.id, "verified_order": number,
                    **await precheck(order, tracker)}
        state = log.failed(tracker.sender_id, number)
        _audit.warning("order access refused", extra={
            "request_id": request_id(), "sender_id": tracker.sender_id, "order_number": number,
            "attempts_left": state.attempts_left, "locked": state.locked})
        if state.locked:
            return {"phone_last4": None, "order_blocked": "locked"}
        dispatcher.utter_message(text=text("verify_failed", tracker.get_slot("language"),
                                           left=state.attempts_left))
        return {"phone_last4": None}

    async def validate_item_sku(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: DomainDict) -> Dict[Text, Any]:
        number = tracker.get_slot("order_number")
        if not number or tracker.get_slot("verified_order") != number:
            return {"item_sku": value}  # checked after verification (and again when the request is made)
        order = await fetch_order(number)
        if order is None:
            return {"item_sku": None}
        if order.item(str(value)) is None:
            dispatcher.utter_message(text=text("unknown_item", tracker.get_slot("language")))
            return {"item_sku": None}
        requests = await fetch_requests(number)
        code = policy.after_sales_block(order, requests, now(), sku=str(value))
        return {"item_sku": str(value), **({"order_blocked": code} if code else {})}

    async def validate_aftersales_reason(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                         domain: DomainDict) -> Dict[Text, Any]:
        reason = value if value in REASONS else "other"
        number = tracker.get_slot("order_number")
        if not number or tracker.get_slot("verified_order") != number:
            return {"aftersales_reason": reason}
        order = await fetch_order(number)
        if order is None:
            return {"aftersales_reason": reason}
        requests = await fetch_requests(number)
        code = policy.after_sales_block(order, requests, now(), sku=tracker.get_slot("item_sku"), reason=reason)
        return {"aftersales_reason": reason, **({"order_blocked": code} if code else {})}

    async def validate_confirmed(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                 domain: DomainDict) -> Dict[Text, Any]:
        return {"confirmed": bool(value)}


# --- asking ------------------------------------------------------------------------------------

class _Ask(Action, ABC):
    """An `action_ask_<slot>`: never fails the turn; if the order system is down, says so."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        start_run()
        try:
            await self.ask(dispatcher, tracker, tracker.get_slot("language"))
        except Exception as exc:  # noqa: BLE001
            report_failure(dispatcher, tracker, exc, request_id(), self.name())
        return []

    @abstractmethod
    async def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker, language: Optional[str]) -> None:
        """Send the question."""


class ActionAskOrderNumber(_Ask):
    """Lists the customer's recent orders that fit the task when the customer is known; otherwise
    asks for the number and the phone's last 4 digits together (one step instead of two)."""

    def name(self) -> Text:
        return "action_ask_order_number"

    async def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker, language: Optional[str]) -> None:
        customer = tracker.get_slot("verified_customer")
        if not customer:
            dispatcher.utter_message(text=text("ask_order_number", language))
            return
        try:
            buttons = await self._choices(customer, task_of(tracker), language)
        except Exception as exc:  # noqa: BLE001 - the list is a convenience: ask plainly instead
            logger.warning("recent orders unavailable", extra={"request_id": request_id(), "error": str(exc)})
            dispatcher.utter_message(text=text("ask_order_number", language))
            return
        if buttons:
            dispatcher.utter_message(text=text("ask_order_number_listed", language), buttons=buttons)
        else:
            dispatcher.utter_message(text=text("ask_order_number_none_listed", language))

    async def _choices(self, customer: str, task: str, language: Optional[str]) -> List[dict]:
        backend = order_backend()
        orders = await backend.recent_orders(customer, 10, request_id=request_id())
        buttons: List[dict] = []
        for order in orders:
            if task == "cancel" and policy.cancel_block(order):
                continue
            if task == "aftersales":
                if policy.after_sales_block(order, [], now()):
                    continue
                requests = await fetch_requests(order.number)
                for item in policy.eligible_items(order, requests):
                    buttons.append({"title": order_button_title(order, language, item),
                                    "payload": '/inform{"order_number": "%s", "item_sku": "%s"}'
                                               % (order.number, item.sku)})
            else:
                buttons.append({"title": order_button_title(order, language),
                                "payload": '/inform{"order_number": "%s"}' % order.number})
        return buttons[:5]


class ActionAskPhoneLast4(_Ask):
    def name(self) -> Text:
        return "action_ask_phone_last4"

    async def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker, language: Optional[str]) -> None:
        dispatcher.utter_message(text=text("ask_phone_last4", language, order=tracker.get_slot("order_number")))


class ActionAskItemSku(_Ask):
    def name(self) -> Text:
        return "action_ask_item_sku"

    async def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker, language: Optional[str]) -> None:
        number = tracker.get_slot("order_number")
        order = await fetch_order(number)
        requests = await fetch_requests(number)
        items = policy.eligible_items(order, requests) if order else []
        dispatcher.utter_message(text=text("ask_item", language, order=number), buttons=[
            {"title": item.name(language), "payload": '/inform{"item_sku": "%s"}' % item.sku} for item in items])


class ActionAskAftersalesReason(_Ask):
    def name(self) -> Text:
        return "action_ask_aftersales_reason"

    async def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker, language: Optional[str]) -> None:
        kind = type_label(after_sales_type(tracker.events), language)
        dispatcher.utter_message(text=text("ask_reason", language, type=kind), buttons=reason_buttons(language))


class ActionAskConfirmed(_Ask):
    def name(self) -> Text:
        return "action_ask_confirmed"

    async def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker, language: Optional[str]) -> None:
        number = tracker.get_slot("order_number")
        order = await fetch_order(number)
        if order is None:
            raise LookupError(f"order {number} vanished while confirming")
        buttons = [{"title": text("yes", language), "payload": "/affirm"},
                   {"title": text("no", language), "payload": "/deny"}]
        if task_of(tracker) == "cancel":
            message = text("ask_confirm_cancel", language, order=number, items=item_list(order.items, language),
                           total=money(order.total))
        else:
            item = order.item(tracker.get_slot("item_sku") or "")
            message = text("ask_confirm_aftersales", language, order=number,
                           item=item.name(language) if item else "?",
                           type=type_label(after_sales_type(tracker.events), language),
                           reason=reason_label(tracker.get_slot("aftersales_reason") or "other", language))
        dispatcher.utter_message(text=message, buttons=buttons)


__all__ = ["ValidateOrderForm", "ActionAskOrderNumber", "ActionAskPhoneLast4", "ActionAskItemSku",
           "ActionAskAftersalesReason", "ActionAskConfirmed", "human_button"]
