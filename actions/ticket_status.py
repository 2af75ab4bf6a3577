"""`action_ticket_status`: the customer asks about their ticket — quotes its number ("T000012") or asks
for their tickets' progress (common/ticket_query.py; the handoff policy picks this action). The handoff
service renders the answer in the customer's language from their own tickets only (by this
conversation, or the verified customer)."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff_client import HandoffUnavailable, handoff_client
from actions.texts import text
from actions.tickets import TICKET_REPLY_SLOT
from common.ticket_query import ticket_query

logger = logging.getLogger(__name__)


class ActionTicketStatus(Action):
    def name(self) -> Text:
        return "action_ticket_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        language = tracker.get_slot("language") or "zh"
        _, number = ticket_query((tracker.latest_message or {}).get("text") or "")
        try:
            answer = await handoff_client().ticket_lookup(tracker.sender_id, tracker.get_slot("verified_customer"),
                                                          language, number)
        except HandoffUnavailable as exc:
            logger.error("ticket lookup failed", extra={"sender_id": tracker.sender_id, "error": str(exc)})
            dispatcher.utter_message(text=text("ticket_lookup_failed", language))
            return []
        dispatcher.utter_message(text=answer["text"])
        # The one ticket shown that waits on the customer: their next message is its answer (as after the
        # question itself, actions/tickets.py), also when they had turned to something else meanwhile.
        awaiting = answer.get("awaiting")
        return [SlotSet(TICKET_REPLY_SLOT, awaiting)] if awaiting else []
