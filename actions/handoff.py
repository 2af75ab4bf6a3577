"""The bot's side of the handoff bridge (the service is handoff/, the policy deciding when these run
is bot/policies/handoff_policy.py):

- `action_handoff`: work out why (reason code) and who (tier), build the summary packet from the
  conversation, file it with the handoff service, tell the customer their place and wait (or that
  nobody is available and their next message becomes a ticket). Ends any form.
- `action_relay_to_agent`: a customer's message while a person owns the conversation, passed on.
- `action_deliver_agent_message`: an agent's (or the service's) message, sent on the customer's
  channel; it is in the same conversation history as everything else.
- `action_handoff_ended`: the agent closed (-> satisfaction survey) or handed back (-> the bot again,
  slots kept).
- `action_record_csat`: the rating 1-5, then an optional comment.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.faq import query_log
from actions.handoff_client import HandoffUnavailable, NoConversation, handoff_client
from actions.handoff_outbox import handoff_outbox
from actions.order_context import order_backend, settings
from actions.texts import text
from actions.tickets import CSAT_TICKET_SLOT, after_notice, record_ticket_csat
from common.handoff_triggers import (
    TriggerConfig,
    negatives_since_handoff,
    parse_score,
    reason_enabled,
    trigger_reason,
)
from customers.profile import ORDERS_READ
from customers.rfm import Rfm, RfmConfig, rfm_of_orders
from handoff.summary import build_summary

logger = logging.getLogger(__name__)

HANDOFF_SLOT, HANDOFF_ID_SLOT, CSAT_SLOT = "handoff", "handoff_id", "csat_step"
DECLINE_WORDS = {"不用了", "不用", "没有", "没有了", "no", "no thanks", "nope", "nothing", "/deny"}


def triggers() -> TriggerConfig:
    return TriggerConfig.from_settings(settings())


async def customer_standing(tracker: Tracker) -> Tuple[str, Optional[Rfm]]:
    """(tier for routing, RFM result) of the verified customer, from the order system's record and their
    orders (customers/rfm.py: VIP by the record, or core over CS_RFM_VIP_YUAN). This is the one place the
    tier of a handoff is worked out; the handoff service routes by it. Anonymous: ('normal', None)."""
    customer_id = tracker.get_slot("verified_customer")
    if not customer_id:
        return "normal", None
    backend = order_backend()
    try:
        customer = await backend.get_customer(customer_id)
        orders = await backend.recent_orders(customer_id, ORDERS_READ) if customer else []
    except Exception:  # noqa: BLE001 - without the record the customer is served as normal
        logger.exception("customer record unavailable for tier", extra={"sender_id": tracker.sender_id})
        return "normal", None
    if customer is None:
        return "normal", None
    standing = rfm_of_orders(orders, datetime.now(timezone.utc), RfmConfig.from_settings(settings()),
                             tier=customer.tier)
    return standing.tier, standing


def handoff_reason(tracker: Tracker, tier: str, default: str = "customer_request") -> str:
    message = tracker.latest_message or {}
    intent = (message.get("intent") or {}).get("name")
    return trigger_reason(intent, message.get("text") or "", negatives_since_handoff(tracker.events), tier, triggers(),
                          in_task=bool(tracker.active_loop.get("name"))) or default


def faq_attempts(sender_id: str) -> List[dict]:
    try:
        lookups = query_log().recent(limit=5, sender_id=sender_id)
    except Exception:  # noqa: BLE001 - the summary is still useful without them
        logger.exception("knowledge-base log unavailable for the summary")
        return []
    return [{"question": lk.query, "entry": lk.chosen or (lk.top[0][0] if lk.top else None),
             "score": round(lk.top[0][1], 3) if lk.top else None, "decision": lk.decision}
            for lk in reversed(lookups)]


def _wait_text(language: Optional[str], position: Optional[int], eta: Optional[float]) -> str:
    if not position or position <= 1 or eta is None:
        return text("handoff_wait_next", language)
    return text("handoff_wait_position", language, ahead=str(position - 1), minutes=str(max(1, round(eta / 60))))


async def hand_over(dispatcher: CollectingDispatcher, tracker: Tracker, reason: Optional[str] = None
                    ) -> List[EventType]:
    """File the handoff and tell the customer; the events end any form and mark the conversation."""
    language = tracker.get_slot("language")
    tier, standing = await customer_standing(tracker)
    reason = reason or handoff_reason(tracker, tier)
    if not reason_enabled(reason, triggers()) and reason in ("customer_request", "vip", "complaint"):
        # no transfer promised when complaints are not handed over here
        dispatcher.utter_message(text=text("complaint_noted" if reason == "complaint" else "handoff_off", language))
        return []
    if reason in ("complaint", "escalation"):
        dispatcher.utter_message(text=text("complaint_ack", language))
    events = tracker.events
    slots = tracker.slots
    channel = tracker.get_latest_input_channel() or "unknown"
    summary = build_summary(events, sender_id=tracker.sender_id, reason=reason, queue="", channel=channel,
                            customer_id=slots.get("verified_customer"), tier=tier, agent_language="zh",
                            faq_attempts=faq_attempts(tracker.sender_id),
                            segment=standing.segment if standing else None)
    # request_id: the outbox retries this very body, so a first call that timed out on our side but was
    # filed by the service is not filed twice (the service answers a repeat with the first's conversation)
    body = {"request_id": uuid.uuid4().hex,
            "sender_id": tracker.sender_id, "channel": channel, "language": language or "zh", "reason": reason,
            "customer_id": slots.get("verified_customer"), "tier": tier,
            "segment": standing.segment if standing else None,
            "intents": summary.intents, "order_task": slots.get("order_task"),
            "summary": summary.as_dict()}
    try:
        opened = await handoff_client().open(body)
    except HandoffUnavailable as exc:
        if not exc.retryable:
            logger.error("handoff refused", extra={"sender_id": tracker.sender_id, "reason": reason,
                                                   "error": str(exc)})
            dispatcher.utter_message(text=text("handoff_failed", language))
            return []
        # the service is down or failing: the request waits in the outbox and goes as soon as it is back
        queued = handoff_outbox().add(tracker.sender_id, "/api/handoffs", body)
        logger.warning("handoff queued until the service is back", extra={
            "sender_id": tracker.sender_id, "reason": reason, "error": str(exc), "outbox_id": queued})
        dispatcher.utter_message(text=text("handoff_pending", language))
        return _handed_over(tracker, "waiting", None)
    ref = opened["ref"]
    logger.info("handoff filed", extra={"sender_id": tracker.sender_id, "reason": reason, "ref": ref,
                                        "ticket": opened["ticket"]})
    if opened.get("existing"):
        dispatcher.utter_message(text=text("handoff_already", language, ref=ref))
    elif opened["ticket"]:
        dispatcher.utter_message(text=text("handoff_ticket", language, ref=ref, hours=settings().handoff_hours))
    else:
        dispatcher.utter_message(text=text("handoff_queued", language, ref=ref,
                                           wait=_wait_text(language, opened.get("position"),
                                                           opened.get("eta_seconds"))))
    return _handed_over(tracker, "ticket" if opened["ticket"] else "waiting", str(opened["conversation"]["id"]))


def _handed_over(tracker: Tracker, mode: str, handoff_id: Optional[str]) -> List[EventType]:
    result: List[EventType] = [SlotSet(HANDOFF_SLOT, mode), SlotSet(HANDOFF_ID_SLOT, handoff_id),
                               SlotSet(CSAT_SLOT, None)]
    if tracker.active_loop.get("name"):
        result[:0] = [ActiveLoop(None), SlotSet("requested_slot", None)]
    return result


class ActionHandoff(Action):
    def name(self) -> Text:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        return await hand_over(dispatcher, tracker)


class ActionRelayToAgent(Action):
    def name(self) -> Text:
        return "action_relay_to_agent"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        language = tracker.get_slot("language")
        message = (tracker.latest_message or {}).get("text") or ""
        ticket = tracker.get_slot(HANDOFF_SLOT) == "ticket"
        outbox = handoff_outbox()
        body = {"sender_id": tracker.sender_id, "text": message, "ticket": ticket}
        try:
            if outbox.pending(tracker.sender_id):
                # earlier calls (the handoff itself, perhaps) wait in the outbox: this one goes after them
                raise HandoffUnavailable("earlier calls of this customer are still queued")
            await handoff_client().relay(tracker.sender_id, message, ticket=ticket)
        except NoConversation:
            dispatcher.utter_message(text=text("relay_gone", language))
            return [SlotSet(HANDOFF_SLOT, None)]
        except HandoffUnavailable as exc:
            if not exc.retryable:
                logger.error("message not relayed", extra={"sender_id": tracker.sender_id, "error": str(exc)})
                dispatcher.utter_message(text=text("relay_failed", language))
                return []
            queued = outbox.add(tracker.sender_id, "/api/relay", body)
            logger.warning("message queued until the handoff service is back", extra={
                "sender_id": tracker.sender_id, "error": str(exc), "outbox_id": queued})
        if tracker.get_slot(HANDOFF_SLOT) == "ticket":
            dispatcher.utter_message(text=text("ticket_recorded", language))
            return [SlotSet(HANDOFF_SLOT, None)]
        return []


def _entity(tracker: Tracker, name: str) -> Optional[str]:
    for entity in (tracker.latest_message or {}).get("entities") or []:
        if entity.get("entity") == name:
            return entity.get("value")
    return None


class ActionDeliverAgentMessage(Action):
    def name(self) -> Text:
        return "action_deliver_agent_message"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        body = _entity(tracker, "agent_text")
        if body:
            dispatcher.utter_message(text=body)
        # a notice about a ticket may ask the customer something or resolve it (actions/tickets.py)
        return after_notice(dispatcher, tracker.get_slot("language"), _entity(tracker, "ticket_number"),
                            _entity(tracker, "ticket_ask"), _entity(tracker, "ticket_status"),
                            tracker.get_slot("ticket_reply"))


def survey_buttons(language: Optional[str]) -> List[dict]:
    return [{"title": str(n), "payload": str(n)} for n in range(5, 0, -1)]


class ActionHandoffEnded(Action):
    def name(self) -> Text:
        return "action_handoff_ended"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        language = tracker.get_slot("language")
        outcome = _entity(tracker, "outcome")
        handoff_id = _entity(tracker, "handoff_id") or tracker.get_slot(HANDOFF_ID_SLOT)
        if outcome == "close":
            dispatcher.utter_message(text=text("csat_ask", language), buttons=survey_buttons(language))
            return [SlotSet(HANDOFF_SLOT, None), SlotSet(HANDOFF_ID_SLOT, handoff_id), SlotSet(CSAT_SLOT, "score"),
                    SlotSet(CSAT_TICKET_SLOT, None)]
        if outcome != "ticket":  # made a ticket: the ticket's own notice follows and says what happens next
            dispatcher.utter_message(text=text("handback", language))
        return [SlotSet(HANDOFF_SLOT, None), SlotSet(CSAT_SLOT, None)]


class ActionRecordCsat(Action):
    def name(self) -> Text:
        return "action_record_csat"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        language = tracker.get_slot("language")
        step = tracker.get_slot(CSAT_SLOT) or ""
        handoff_id = tracker.get_slot(HANDOFF_ID_SLOT)
        ticket = tracker.get_slot(CSAT_TICKET_SLOT)  # the survey after a resolved ticket
        said = ((tracker.latest_message or {}).get("text") or "").strip()

        async def record(score: int, comment: str) -> None:
            if ticket:
                await record_ticket_csat(tracker.sender_id, tracker.get_slot("verified_customer"), ticket, score,
                                         comment)
            elif handoff_id:
                await _csat(tracker.sender_id, handoff_id, score, comment)

        if step == "score":
            score = parse_score(said)
            if score is None or not (handoff_id or ticket):
                return [SlotSet(CSAT_SLOT, None), SlotSet(CSAT_TICKET_SLOT, None)]
            await record(score, "")
            dispatcher.utter_message(text=text("csat_comment", language),
                                     buttons=[{"title": text("csat_no_comment_button", language),
                                               "payload": text("csat_no_comment_button", language)}])
            return [SlotSet(CSAT_SLOT, f"comment:{score}")]
        if step.startswith("comment:"):
            intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
            declined = said.lower().rstrip("。.!！ ") in DECLINE_WORDS or said in (
                text("csat_no_comment_button", "zh"), text("csat_no_comment_button", "en")) or intent == "deny"
            if not declined:
                await record(int(step.split(":", 1)[1]), said)
            dispatcher.utter_message(text=text("csat_thanks", language))
        return [SlotSet(CSAT_SLOT, None), SlotSet(CSAT_TICKET_SLOT, None)]


async def _csat(sender_id: str, handoff_id: str, score: int, comment: str) -> None:
    """Record a rating; while the service is down it waits in the outbox."""
    try:
        await handoff_client().csat(handoff_id, score, comment)
    except HandoffUnavailable as exc:
        if not exc.retryable:
            logger.error("rating not recorded", extra={"sender_id": sender_id, "error": str(exc)})
            return
        handoff_outbox().add(sender_id, "/api/csat", {"handoff_id": handoff_id, "score": score, "comment": comment})
        logger.warning("rating queued until the handoff service is back", extra={"sender_id": sender_id,
                                                                                "error": str(exc)})
