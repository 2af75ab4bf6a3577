"""Order tasks: start (clean slate), do the task once the form has what it needs, stop, identify.

`action_order_task` runs when order_form ends: it answers status/logistics, or — only after an
explicit yes — cancels or opens an after-sales request, or explains why not (orders/policy.py codes).
It re-checks that the session proved access to the order before it shows or changes anything.
"""
from __future__ import annotations

import re
import uuid
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import intent_of
from actions.order_context import (
    TASK_SLOTS,
    channel_customer,
    human_button,
    logger,
    new_request_id,
    order_backend,
    report_failure,
    settings,
)
from actions.order_form import after_sales_type, task_of
from actions.order_texts import TEXTS, text
from actions.order_views import money, render_logistics, render_status, type_label
from orders import policy
from orders.backend import RuleViolation
from orders.model import NewAfterSalesRequest, Order
from orders.verification import last4_in

ASK_WHAT_FOR = "utter_ask_what_for_order"  # the bot's answer to an order number that came without a task
_KEYS = uuid.UUID("6b1f0f7e-3c1a-4d4e-9a55-0c2f5d0e7a11")


def _reset() -> List[EventType]:
    return [SlotSet(slot, None) for slot in TASK_SLOTS]


def idempotency_key(tracker: Tracker, task: str, number: str) -> str:
    """The same for a re-run of the same confirmed turn, different for any other turn."""
    message_id = (tracker.latest_message or {}).get("message_id") or ""
    return str(uuid.uuid5(_KEYS, f"{tracker.sender_id}|{message_id}|{task}|{number}"))


def explain_block(dispatcher: CollectingDispatcher, code: str, order_number: str, language: Optional[str],
                  reason: Optional[str] = None) -> None:
    buttons: List[dict] = []
    values: Dict[str, object] = {"order": order_number}
    if code == "locked":
        values["minutes"] = settings().verify_lockout_minutes
        buttons.append(human_button(language))
    elif code == "window_passed":
        values["days"] = policy.window_days(reason)
        values["kind"] = text("window_quality" if policy.window_days(reason) == policy.QUALITY_DAYS
                              else "window_change_of_mind", language)
        buttons.append(human_button(language))
    elif code == "not_shipped":
        buttons.append({"title": text("cancel_instead", language), "payload": "/cancel_order"})
    elif code in ("already_shipped", "in_transit"):
        buttons.append({"title": text("track_instead", language), "payload": "/ask_logistics"})
    key = f"blocked_{code}"
    if key not in TEXTS:
        key = "blocked_not_cancellable" if code.startswith("already") else "blocked_error"
        values.setdefault("ref", "-")
    dispatcher.utter_message(text=text(key, language, **values), buttons=buttons or None)


def digits_given_before_the_task(events: List[dict], order_number: Optional[str]) -> Optional[str]:
    """The phone's last 4 digits the customer sent with the order number in the message just before
    this one, when that message named no task and the bot asked what it was for ("240813006624 尾号
    1234" → "请问需要办理什么？" → "查状态"): the customer answered the question the form would ask, so
    it is not asked again. They are checked (and a wrong guess counted) when the form starts."""
    if not order_number:
        return None
    users = [i for i, e in enumerate(events) if e.get("event") == "user"]
    if len(users) < 2:
        return None
    before, latest = users[-2], users[-1]
    asked = any(e.get("event") == "action" and e.get("name") == ASK_WHAT_FOR
                for e in events[before + 1:latest])
    message = events[before]
    entities = (message.get("parse_data") or {}).get("entities") or []
    typed = message.get("text") or ""
    if not asked or intent_of(message) != "inform" or typed.startswith("/") or not any(
            e.get("entity") == "order_number" and re.sub(r"\D", "", str(e.get("value") or "")) == order_number
            for e in entities):
        return None
    return last4_in(typed)


class ActionStartOrderTask(Action):
    """Every order task starts clean: nothing confirmed, chosen or refused by an earlier task leaks in —
    except what the customer gave for this very task just before naming it (the order number, kept by
    its slot, and the last 4 digits sent with it)."""

    def name(self) -> Text:
        return "action_start_order_task"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        digits = digits_given_before_the_task(tracker.events, tracker.get_slot("order_number"))
        events = _reset() + [SlotSet("phone_last4", digits)]
        # A button that named an item of a specific order (/inform{...}) keeps it.
        entities = {e.get("entity") for e in (tracker.latest_message or {}).get("entities") or []}
        return [e for e in events if e["name"] not in entities]


class ActionOrderStopped(Action):
    def name(self) -> Text:
        return "action_order_stopped"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        dispatcher.utter_message(text=text("stopped", tracker.get_slot("language")))
        return _reset()


class ActionIdentifyCustomer(Action):
    """`verified_customer`: the customer a channel vouches for; part of action_read_message
    (actions/turn.py), run on every user message."""

    def name(self) -> Text:
        return "action_identify_customer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        customer = channel_customer(tracker)
        if customer and customer != tracker.get_slot("verified_customer"):
            return [SlotSet("verified_customer", customer)]
        return []


class ActionOrderTask(Action):
    def name(self) -> Text:
        return "action_order_task"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        request_id = new_request_id()
        try:
            await self._do(dispatcher, tracker, request_id)
        except Exception as exc:  # noqa: BLE001 - whatever broke, the customer gets an answer
            report_failure(dispatcher, tracker, exc, request_id, self.name())
        return _reset()

    async def _do(self, dispatcher: CollectingDispatcher, tracker: Tracker, request_id: str) -> None:
        language = tracker.get_slot("language")
        blocked = tracker.get_slot("order_blocked")
        number = tracker.get_slot("order_number")
        task = task_of(tracker)
        if blocked == "reported":
            return  # the customer was already told, with a reference
        if blocked == "locked":
            explain_block(dispatcher, "locked", number or "-", language)
            return
        if not number or tracker.get_slot("verified_order") != number:
            # The form never ends unverified; if it ever does, show nothing.
            logger.error("order task reached without verification", extra={
                "request_id": request_id, "sender_id": tracker.sender_id, "task": task})
            raise PermissionError("order access not verified")
        backend = order_backend()
        order = await backend.get_order(number, request_id=request_id)
        if order is None:
            explain_block(dispatcher, "unknown_order", number, language)
            return
        if blocked:
            explain_block(dispatcher, blocked, number, language, tracker.get_slot("aftersales_reason"))
            return
        if task in ("status", "logistics"):
            events = await backend.logistics(number, request_id=request_id)
            if task == "status":
                dispatcher.utter_message(text=render_status(order, events, language))
            else:
                exception = bool(events) and events[-1].code == "exception"
                dispatcher.utter_message(text=render_logistics(order, events, language),
                                         buttons=[human_button(language)] if exception else None)
            return
        if tracker.get_slot("confirmed") is not True:
            dispatcher.utter_message(text=text("not_confirmed", language))
            return
        key = idempotency_key(tracker, task, number)
        try:
            if task == "cancel":
                await self._cancel(dispatcher, order, key, request_id, language)
            else:
                await self._after_sales(dispatcher, tracker, order, key, request_id, language)
        except RuleViolation as exc:  # the order changed since we checked: explain the order system's reason
            explain_block(dispatcher, exc.code, number, language, tracker.get_slot("aftersales_reason"))

    async def _cancel(self, dispatcher, order: Order, key: str, request_id: str, language) -> None:
        cancelled = await order_backend().cancel_order(order.number, idempotency_key=key, request_id=request_id)
        logger.info("order cancelled", extra={"request_id": request_id, "order_number": order.number})
        kind = "cancelled_unpaid" if cancelled.paid_at is None else "cancelled"
        dispatcher.utter_message(text=text(kind, language, order=order.number, total=money(order.total)))

    async def _after_sales(self, dispatcher, tracker: Tracker, order: Order, key: str, request_id: str,
                           language) -> None:
        kind = after_sales_type(tracker.events)
        new = NewAfterSalesRequest(order_number=order.number, sku=tracker.get_slot("item_sku") or "",
                                   type=kind, reason=tracker.get_slot("aftersales_reason") or "other",
                                   note=tracker.get_slot("aftersales_note") or "")
        created = await order_backend().create_after_sales(new, idempotency_key=key, request_id=request_id)
        logger.info("after-sales request opened", extra={
            "request_id": request_id, "order_number": order.number, "request": created.number, "type": kind})
        dispatcher.utter_message(text=text("aftersales_created", language, type=type_label(kind, language),
                                           request=created.number, next=text(f"next_{kind}", language)))
