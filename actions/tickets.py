"""The bot's side of tickets (the rules are the handoff service's: handoff/ticket_service.py,
docs/tickets.md). Notices about a ticket arrive as the service's messages (action_deliver_agent_message,
actions/handoff.py); when one asks the customer something (`ticket_ask` "reply"), their next message is
the answer and `action_ticket_reply` adds it to the ticket; when one resolves the ticket (`ticket_ask`
"csat"), the follow-up rating is asked and recorded against the ticket (action_record_csat).
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff_client import HandoffUnavailable, handoff_client, ticket_body
from actions.handoff_outbox import handoff_outbox
from actions.texts import text
from common.language import pick

logger = logging.getLogger(__name__)

TICKET_REPLY_SLOT, CSAT_TICKET_SLOT = "ticket_reply", "csat_ticket"
CSAT_SLOT = "csat_step"


def survey_buttons() -> List[dict]:
    return [{"title": str(n), "payload": str(n)} for n in range(5, 0, -1)]


def after_notice(dispatcher: CollectingDispatcher, language: Optional[str], number: Optional[str],
                 ask: Optional[str], status: Optional[str] = None,
                 awaiting: Optional[str] = None) -> List[EventType]:
    """What a ticket notice leaves behind: the customer's next message answers its question, or the
    rating of the resolved ticket is asked. A notice that the ticket whose answer the bot was waiting for
    (`awaiting`) no longer waits on the customer (the agent went on without it) ends that wait."""
    if not number:
        return []
    if ask == "reply":  # a question of the ticket supersedes a survey left unanswered
        return [SlotSet(TICKET_REPLY_SLOT, number), SlotSet(CSAT_SLOT, None), SlotSet(CSAT_TICKET_SLOT, None)]
    if ask == "csat":
        dispatcher.utter_message(text=text("ticket_csat_ask", language, number=number), buttons=survey_buttons())
        return [SlotSet(TICKET_REPLY_SLOT, None), SlotSet(CSAT_SLOT, "score"), SlotSet(CSAT_TICKET_SLOT, number)]
    if awaiting == number and status is not None and status != "waiting_customer":
        return [SlotSet(TICKET_REPLY_SLOT, None)]
    return []


async def record_ticket_csat(sender_id: str, customer_id: Optional[str], number: str, score: int,
                             comment: str) -> None:
    """Record the rating of a resolved ticket; while the service is down it waits in the outbox."""
    try:
        await handoff_client().ticket_csat(sender_id, customer_id, number, score, comment)
    except HandoffUnavailable as exc:
        if not exc.retryable:
            logger.error("ticket rating not recorded", extra={"sender_id": sender_id, "ticket": number,
                                                              "error": str(exc)})
            return
        handoff_outbox().add(sender_id, "/api/tickets/csat",
                             ticket_body(sender_id, customer_id, number, score=score, comment=comment))


def language_before_answer(tracker: Tracker) -> Optional[str]:
    """The conversation's language before the customer's latest message: an answer to a ticket's
    question ("iPhone 12", an e-mail address, a serial number) says nothing about the language the
    customer reads, though the detector (common/language.py) takes any Latin word for English."""
    answered = False
    for event in reversed(tracker.events):
        if not answered:
            answered = event.get("event") == "user"
        elif event.get("event") == "slot" and event.get("name") == "language":
            return event.get("value")
        elif event.get("event") == "restart":  # slots were reset there: nothing older counts
            return None
    return None


class ActionTicketReply(Action):
    """The customer's answer to the question their ticket asked (the conversation keeps its language)."""

    def name(self) -> Text:
        return "action_ticket_reply"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        language = language_before_answer(tracker) or tracker.get_slot("language")
        number = tracker.get_slot(TICKET_REPLY_SLOT)
        said = ((tracker.latest_message or {}).get("text") or "").strip()
        done = [SlotSet(TICKET_REPLY_SLOT, None)]
        if language != tracker.get_slot("language"):
            done.append(SlotSet("language", language))
        if not number or not said:
            return done
        customer_id = tracker.get_slot("verified_customer")
        try:
            answer = await handoff_client().ticket_message(tracker.sender_id, customer_id, number, said)
        except HandoffUnavailable as exc:
            if not exc.retryable:
                logger.error("ticket reply refused", extra={"sender_id": tracker.sender_id, "ticket": number,
                                                            "error": str(exc)})
                dispatcher.utter_message(text=text("ticket_reply_failed", language, number=number))
                return done
            handoff_outbox().add(tracker.sender_id, "/api/tickets/customer-message",
                                 ticket_body(tracker.sender_id, customer_id, number, text=said))
            logger.warning("ticket reply queued until the handoff service is back",
                           extra={"sender_id": tracker.sender_id, "ticket": number, "error": str(exc)})
            dispatcher.utter_message(text=text("ticket_reply_pending", language, number=number))
            return done
        due = ((answer or {}).get("ticket") or {}).get("due")
        if due:  # the time the wait on their answer moved on
            dispatcher.utter_message(text=text("ticket_reply_received_due", language, number=number,
                                               due=pick(due, language)))
        else:
            dispatcher.utter_message(text=text("ticket_reply_received", language, number=number))
        return done
